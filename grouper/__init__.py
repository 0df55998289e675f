"""Grouping layer: rulesets, columnar DRG grouping and per-case explanation.

Pure functions over tables; knows nothing of the store, settlement rules, HTTP or the CLI.
"""

from grouper.dip import group_dip
from grouper.dip_catalog import DipCatalog
from grouper.dip_explain import DipExplanation, explain_dip, group_dip_one
from grouper.drg import OUTPUT_COLUMNS, group_drg
from grouper.errors import DrgDipError, ErrorCode, InputError, RulesetError, WarningCode
from grouper.explain import Explanation, Step, explain, group_one
from grouper.ruleset import Ruleset, load_ruleset
from grouper.ruleset_files import available_rulesets

__all__ = [
    "OUTPUT_COLUMNS",
    "DipCatalog",
    "DipExplanation",
    "DrgDipError",
    "ErrorCode",
    "Explanation",
    "InputError",
    "Ruleset",
    "RulesetError",
    "Step",
    "WarningCode",
    "available_rulesets",
    "explain",
    "explain_dip",
    "group_dip",
    "group_dip_one",
    "group_drg",
    "group_one",
    "load_ruleset",
]
