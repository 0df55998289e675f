"""The closed list of rule atoms shared by ADRG `rule_kind` and DRG `condition`.

Code atoms are evaluated from hits of the case's codes on a rule's code lists and are encoded as
bits; the other atoms are evaluated from per-case features. `px_groups` is the procedure-group rule
(`px_gN` lists with `px_group_expr`).
"""

from __future__ import annotations

# code atoms -> bit
PRINCIPAL_DX = 1 << 0
ANY_DX = 1 << 1
SECONDARY_DX = 1 << 2
PRINCIPAL_PX = 1 << 3
ANY_PX = 1 << 4
ANY_PX1 = 1 << 5
ANY_PX2 = 1 << 6
SECONDARY_PX = 1 << 7
PX_GROUP_SHIFT = 8  # px_gN sets bit PX_GROUP_SHIFT + N - 1, N = 1..8
MAX_PX_GROUPS = 8
PRINCIPAL_DX_IN_DX2 = 1 << 16  # a hit that makes the negative atom principal_dx_not_dx2 fail

CODE_ATOMS: dict[str, int] = {
    "principal_dx": PRINCIPAL_DX,
    "any_dx": ANY_DX,
    "secondary_dx": SECONDARY_DX,
    "principal_px": PRINCIPAL_PX,
    "any_px": ANY_PX,
    "any_px1": ANY_PX1,
    "any_px2": ANY_PX2,
    "secondary_px": SECONDARY_PX,
}

# atoms answered from case features; the value is the feature column (None: special)
FEATURE_ATOMS: dict[str, str | None] = {
    "always": None,
    "never": None,
    "principal_px_is_or": "px0_is_or",
    "no_or_px": "no_or_px",
    "mcc": "has_mcc",
    "cc": "has_cc",
    "cc_or_mcc": "has_cc_or_mcc",
    "has_or_px": "has_or_px",  # internal: the QY ambiguity point
    "px_groups": None,
}

# Feature atoms as bits of one per-case integer (`fbits`); a rule holds on features when
# (fbits & need_feat) == need_feat. `never` is a bit no case has; `always`/`px_groups` need none.
FEATURE_BITS: dict[str, int] = {
    "principal_px_is_or": 1, "no_or_px": 2, "mcc": 4, "cc": 8, "cc_or_mcc": 16,
    "has_or_px": 32, "never": 64,
}

# negative code atoms: hold when the case has NO hit setting their bit
NEG_CODE_ATOMS: dict[str, int] = {"principal_dx_not_dx2": PRINCIPAL_DX_IN_DX2}

RULE_ATOMS = frozenset(CODE_ATOMS) | frozenset(FEATURE_ATOMS) | frozenset(NEG_CODE_ATOMS)

MDC_ATOMS = frozenset(
    {"always", "principal_dx", "any_dx", "principal_px_is_or", "principal_px_is_or_or_listed",
     "multi_trauma", "principal_dx_or_dx_prefix"}
)

# Which bits a hit on list L at the principal position (0) / a later position sets for an atom.
# (list, atom) -> (bits at position 0, bits at positions >= 1)
DX_LIST_BITS: dict[tuple[str, str], tuple[int, int]] = {
    ("dx", "principal_dx"): (PRINCIPAL_DX, 0),
    ("dx", "any_dx"): (ANY_DX, ANY_DX),
    ("dx1", "secondary_dx"): (0, SECONDARY_DX),
    ("dx2", "principal_dx_not_dx2"): (PRINCIPAL_DX_IN_DX2, 0),
}
PX_LIST_BITS: dict[tuple[str, str], tuple[int, int]] = {
    ("px", "principal_px"): (PRINCIPAL_PX, 0),
    ("px", "any_px"): (ANY_PX, ANY_PX),
    ("px", "secondary_px"): (0, SECONDARY_PX),
    ("px1", "any_px1"): (ANY_PX1, ANY_PX1),
    ("px2", "any_px2"): (ANY_PX2, ANY_PX2),
}
DX_LISTS = frozenset({"dx", "dx1", "dx2"})
PX_LISTS = frozenset({"px", "px1", "px2"} | {f"px_g{n}" for n in range(1, MAX_PX_GROUPS + 1)})


def split_atoms(expr: str) -> list[str]:
    """`principal_dx+mcc` -> ['principal_dx', 'mcc']; `always` -> ['always']."""
    return [a for a in expr.split("+") if a]


def parse_px_group_expr(expr: str) -> list[int]:
    """`1|2+3` -> [0b001, 0b110]: the alternatives as masks over group numbers (bit N-1)."""
    masks = []
    for alt in expr.split("|"):
        mask = 0
        for part in alt.split("+"):
            n = int(part)
            if not 1 <= n <= MAX_PX_GROUPS:
                raise ValueError(f"group number {n} outside 1..{MAX_PX_GROUPS}")
            mask |= 1 << (n - 1)
        masks.append(mask)
    return masks


def px_group_bit(list_name: str) -> int:
    return 1 << (PX_GROUP_SHIFT + int(list_name.removeprefix("px_g")) - 1)
