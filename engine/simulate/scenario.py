"""Scenarios of a simulation: a policy, a weight/catalogue version and parameter overrides.

`POLICY[@WEIGHTS]` names a policy (shipped name or .toml path) and optionally the weight or DIP
catalogue version to pay with (drafts allowed; default: the published one). `--set
section.key=value` overrides a field of the policy file (`outliers.k_high=2.5`,
`pool.employee.pv_budget=21.5`, `pool.*.base_rate=9800` for every fund pool,
`policy.ruleset=chs_drg_20`), and the result is validated exactly like a policy file, so a
value a policy file could not hold is refused with the same one line.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from engine.policy import Policy, PolicyError, policy_source, validate_policy
from grouper.errors import DrgDipError

NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


class ScenarioError(DrgDipError):
    """A scenario, override or sweep cannot be read."""


@dataclass(frozen=True)
class Scenario:
    """One settlement of the same cases: `label` names it in every sim table."""

    label: str
    spec: str
    policy: Policy
    weights_version: str | None = None
    sets: tuple[tuple[str, str], ...] = field(default=())

    def record(self) -> dict[str, Any]:
        """What a repeat of this scenario needs, for `sim_runs`."""
        return {"label": self.label, "spec": self.spec, "policy": self.policy.name,
                "policy_checksum": self.policy.checksum, "weights": self.weights_version,
                "sets": [f"{k}={v}" for k, v in self.sets]}


def parse_value(text: str) -> Any:
    """A --set value: numbers stay text (read exactly as Decimal by the policy model), booleans
    and TOML arrays/tables are parsed, anything else is a string."""
    text = text.strip()
    if NUMBER.match(text):
        return text
    if text in ("true", "false"):
        return text == "true"
    if text[:1] in ("[", "{", '"', "'"):
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"--set value {text!r} is not a TOML value: {exc}") from exc
    return text


def parse_assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or "." not in key:
        raise ScenarioError(f"--set {text!r}: expected section.key=value, e.g. "
                            f"outliers.k_high=2.5 or pool.employee.pv_budget=21.5")
    return key.strip(), value.strip()


def _assign(raw: dict[str, Any], key: str, value: Any, source: str) -> None:
    parts = key.split(".")
    if parts[0] == "pool" and len(parts) == 3 and parts[1] == "*":
        pools = raw.get("pool") or {}
        if not pools:
            raise ScenarioError(f"--set {key}: {source} has no fund pools")
        for name in pools:
            _assign(raw, f"pool.{name}.{parts[2]}", value, source)
        return
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"--set {key}: {part!r} of {source} is a value, not a section")
        node = child
    node[parts[-1]] = value


def apply_sets(raw: dict[str, Any], sets: tuple[tuple[str, str], ...],
               source: str) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    for key, value in sets:
        _assign(out, key, parse_value(value), source)
    return out


def scenario(spec: str, *, label: str, sets: tuple[tuple[str, str], ...] = ()) -> Scenario:
    """`POLICY[@WEIGHTS]` with overrides, validated as a policy file would be."""
    name, _, weights = spec.partition("@")
    if not name:
        raise ScenarioError(f"scenario {spec!r}: expected POLICY[@WEIGHTS]")
    path, text = policy_source(name)
    raw = tomllib.loads(text)
    source = f"{path.name} with --set {', '.join(f'{k}={v}' for k, v in sets)}" if sets \
        else str(path)
    checksum = hashlib.sha256(text.encode()).hexdigest()[:16]
    if sets:
        raw = apply_sets(raw, sets, path.name)
        canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
        checksum = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    try:
        policy = validate_policy(raw, name=path.stem, source=source, checksum=checksum)
    except PolicyError as exc:
        raise ScenarioError(str(exc)) from exc
    _check_effect(policy, sets, source)
    return Scenario(label, spec, policy, weights or None, sets)


def _check_effect(policy: Policy, sets: tuple[tuple[str, str], ...], source: str) -> None:
    """Overrides the policy would not read are refused, never silently ignored."""
    keys = {k for k, _ in sets}
    if "outliers.k_high" in keys and policy.outliers.k_high_tiers:
        raise ScenarioError(f"{source}: outliers.k_high is not used while the policy has "
                            f"outliers.k_high_tiers; override the tiers instead, e.g. "
                            f"outliers.k_high_tiers=[{{k = 2.5}}] / 该政策按权重分档取k值")
    fields = {k.split(".")[-1] for k in keys if k.startswith("pool.")}
    if "base_rate" in fields and not policy.fixed_point_value:
        raise ScenarioError(f"{source}: base_rate is used by the DRG rate method only; this "
                            f"policy pays points (set pool.*.pv_budget) / 点数法请设置点值")
    if "pv_budget" in fields and policy.fixed_point_value:
        raise ScenarioError(f"{source}: the DRG rate method pays base_rate, not pv_budget / "
                            f"费率法请设置费率")


def parse_sweep(specs: tuple[str, ...]) -> list[tuple[tuple[str, str], ...]]:
    """`key=v1,v2,…` for one or two keys → every point (the product), in the given order."""
    if not specs:
        return []
    if len(specs) > 2:
        raise ScenarioError(f"--sweep takes one or two parameters, got {len(specs)}")
    axes = []
    for spec in specs:
        key, values = parse_assignment(spec)
        points = [v.strip() for v in values.split(",") if v.strip()]
        if not points:
            raise ScenarioError(f"--sweep {spec!r}: no values after '='")
        axes.append([(key, v) for v in points])
    return [tuple(point) for point in product(*axes)]


@dataclass(frozen=True)
class Plan:
    """What to settle: the baseline, the scenarios and the sweep points (CLI and HTTP)."""

    baseline: Scenario
    scenarios: list[Scenario]
    sweep: list[tuple[tuple[str, str], ...]]
    solve: bool


def plan(baseline: str, scenario_specs: tuple[str, ...] | list[str] = (),
         sets: tuple[str, ...] | list[str] = (), ruleset: str | None = None,
         sweeps: tuple[str, ...] | list[str] = (), solve: bool = False) -> Plan:
    """`--baseline`, `--scenario`, `--set`, `--ruleset`, `--sweep`, `--solve` read and
    validated; without `--scenario` the scenario is the baseline with the overrides."""
    overrides = tuple(parse_assignment(s) for s in sets)
    if ruleset:
        overrides += (("policy.ruleset", ruleset),)
    base = scenario(baseline, label="baseline")
    specs = tuple(scenario_specs) or ((baseline,) if overrides or sweeps or solve else ())
    if not specs:
        raise ScenarioError("nothing to compare: give --scenario, --set, --ruleset, --sweep or "
                            "--solve / 请给出对比情景")
    scenarios = [scenario(spec, label=f"s{i}", sets=overrides) for i, spec in enumerate(specs, 1)]
    return Plan(base, scenarios, parse_sweep(tuple(sweeps)), solve)
