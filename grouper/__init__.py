"""Grouping layer: rulesets, columnar DRG grouping and per-case explanation.

Pure functions over tables; knows nothing of the store, settlement rules, HTTP or the CLI.
"""

from grouper.dip import group_dip
from grouper.dip_catalog import DipCatalog
from grouper.dip_explain import DipExplanation, explain_dip
from grouper.drg import OUTPUT_COLUMNS, group_drg
from grouper.explain import Explanation, Step, explain, group_one
from grouper.errors import DrgDipError, ErrorCode, InputError, RulesetError, WarningCode
from grouper.ruleset import Ruleset, load_ruleset
from grouper.ruleset_files import available_rulesets

__all__ = [
    "OUTPUT_COLUMNS", "DrgDipError", "ErrorCode", "Explanation", "Step", "explain", "group_one", "InputError", "Ruleset", "RulesetError",
    "WarningCode", "available_rulesets", "group_drg", "load_ruleset",
    "DipCatalog", "DipExplanation", "explain_dip", "group_dip",
]
