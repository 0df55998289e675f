"""Settlement policies: the shipped files load and say they are illustrative; bad files stop
with one line naming the field and the value (issue 6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import engine
from engine.cli import cli
from engine.policy import PolicyError, load_policy, parse_policy, shipped_policies

MINIMAL = """
[policy]
region = "r"
year = 2025
version = "v1"
method = "dip"
[pool.employee]
budget = 100.00
pv_budget = 10.0
"""


def test_shipped_policies_cover_the_four_places_and_are_marked_illustrative():
    names = shipped_policies()
    assert names == ["chaozhou_dip_2025", "foshan_drg_2025", "fuzhou_drg_2025",
                     "jiangmen_dip_2025"]
    for name in names:
        p = load_policy(name)
        text = (Path(engine.__file__).parent / "policies" / f"{name}.toml").read_text("utf-8")
        assert p.policy.illustrative and "ILLUSTRATIVE" in text
        assert set(p.pool) == {"employee", "resident"}
        assert len(p.checksum) == 16
    chaozhou = load_policy("chaozhou_dip_2025")
    assert str(chaozhou.institution_coef.type_min["tcm"]) == "0.88"
    assert chaozhou.clearing.reserve_left == "redistribute"
    assert load_policy("fuzhou_drg_2025").policy.payment_basis == "points"
    assert load_policy("foshan_drg_2025").fixed_point_value


def test_policy_by_path_and_checksum_changes_with_content(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL)
    a = load_policy(path)
    path.write_text(MINIMAL.replace("v1", "v2"))
    b = load_policy(path)
    assert a.name == "mine" and a.checksum != b.checksum and b.policy.version == "v2"


@pytest.mark.parametrize(("edit", "message"), [
    (("method = \"dip\"", "method = \"fee\""), "policy.method"),
    (("budget = 100.00", "budget = -1"), "pool.employee.budget"),
    (("budget = 100.00", "budget = 100.001"), "more than 2 decimal places"),
    (("[pool.employee]", "[pool.retired]"), "pool keys must be among employee, resident"),
    (("pv_budget = 10.0", ""), "pv_budget is required"),
    (("version = \"v1\"", "version = \"v1\"\ncolour = \"red\""), "policy.colour"),
    (("[pool.employee]", "[outliers]\nk_low = 1.5\n[pool.employee]"), "outliers.k_low"),
    (("[pool.employee]", ("[outliers]\nk_high_tiers = [{ weight_max = 1.0, k = 3.0 }]\n"
                          "[pool.employee]")), "catch-all"),
    (("[pool.employee]", ("[per_diem]\nbands = [{ from_day = 2, factor = 1.0 }]\n"
                          "[pool.employee]")), "from_day=2, expected 1"),
    (("[pool.employee]", "[institution_coef]\nby_level = { \"3\" = 1.0 }\n[pool.employee]"),
     "by_level needs exactly"),
    (("[pool.employee]", "[pool.employee"), "not valid TOML"),
])
def test_bad_policy_is_refused_with_the_field_named(edit, message):
    with pytest.raises(PolicyError, match=message) as info:
        parse_policy(MINIMAL.replace(*edit), source="bad.toml")
    assert str(info.value).startswith("bad.toml") and "\n" not in str(info.value)


def test_unknown_policy_names_the_shipped_ones():
    with pytest.raises(PolicyError, match="shipped: chaozhou_dip_2025"):
        load_policy("atlantis_2025")


def test_policies_command_lists_them():
    out = CliRunner().invoke(cli, ["policies"], catch_exceptions=False).output
    assert "jiangmen_dip_2025" in out and "fuzhou" in out
