"""The generator's parameters: `params.toml` next to this module, optionally overridden."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

PARAMS_FILE = Path(__file__).with_name("params.toml")
LEVELS = ("三级", "二级", "一级", "基层")
TYPES = ("general", "TCM", "maternal_child", "psychiatric", "rehabilitation")


@lru_cache
def default_params() -> dict[str, Any]:
    with PARAMS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def merged(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Default parameters with `overrides` (same nesting) laid over them."""
    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for k, v in extra.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
                else v
        return out
    return merge(default_params(), overrides or {})
