"""A fitted policy written as a file: the base policy's TOML text with each fund pool's budget,
point value / base rate (and the cap against last year, which a fit drops) replaced by the
fitted ones — every other line, comment and value as the base file has it. `drgdip demo` writes
its fit next to the store (`engine.policy.store_policy_dir`), loads it back and settles with
it, so later commands that name the policy (`settle`, `clear`, `report`, `simulate`) pay what
the demo paid.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

from engine.policy import Policy, PolicyError, parse_policy

_POOL_KEYS = ("budget", "base_rate", "pv_budget", "pv_prev_year")


def _fmt(key: str, value: Decimal) -> str:
    return f"{value:.2f}" if key == "budget" else f"{value:.4f}"


def fitted_policy_text(text: str, fitted: Policy, *, note: str) -> str:
    """`text` (a policy's TOML) with the pools' values of `fitted`, a `-fitted` version and
    `note` as a header comment; the result parses to `fitted`'s pools (checked)."""
    lines = text.splitlines()
    out: list[str] = [f"# {line}" if line else "#" for line in note.splitlines()]
    pool: str | None = None
    section = ""
    seen: dict[str, set[str]] = {}
    for line in lines:
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            if pool is not None:
                out.extend(_missing(fitted, pool, seen[pool]))
            name = section = header.group(1).strip()
            pool = name.split(".", 1)[1] if name.startswith("pool.") else None
            if pool is not None:
                seen[pool] = set()
            out.append(line)
            continue
        key = re.match(r"\s*([A-Za-z_]+)\s*=", line)
        if pool is not None and key and key.group(1) in _POOL_KEYS:
            k = key.group(1)
            seen[pool].add(k)
            value = getattr(fitted.pool[pool], k)
            if value is not None:
                out.append(f"{k} = {_fmt(k, value)}")
            continue
        if section == "policy" and key and key.group(1) == "version":
            version = re.sub(r"^\s*version\s*=\s*", "", line).split("#")[0].strip().strip('"')
            out.append(f'version = "{version}-fitted"')
            continue
        out.append(line)
    if pool is not None:
        out.extend(_missing(fitted, pool, seen[pool]))
    result = "\n".join(out) + "\n"
    check = parse_policy(result, name=fitted.name, source="fitted policy")
    if check.pool != fitted.pool:
        raise PolicyError("fitted policy: the written pools differ from the fit")
    return result


def _missing(fitted: Policy, pool: str, seen: set[str]) -> list[str]:
    p = fitted.pool[pool]
    return [f"{k} = {_fmt(k, getattr(p, k))}" for k in _POOL_KEYS
            if k not in seen and getattr(p, k) is not None]


def write_policy_file(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
