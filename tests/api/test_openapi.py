"""`/openapi.json` is kept as a snapshot so contract changes show up in review.

Regenerate with `DRGDIP_UPDATE_OPENAPI=1 pytest tests/api/test_openapi.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.api.conftest import Live

SNAPSHOT = Path(__file__).with_name("openapi.json")


def render(spec: dict) -> str:
    return json.dumps(spec, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def test_openapi_snapshot(live: Live) -> None:
    spec = live.client.get("/openapi.json").json()
    if os.environ.get("DRGDIP_UPDATE_OPENAPI") == "1":
        SNAPSHOT.write_text(render(spec), encoding="utf-8")
    assert SNAPSHOT.exists(), "no snapshot: run with DRGDIP_UPDATE_OPENAPI=1 once"
    assert render(spec) == SNAPSHOT.read_text(encoding="utf-8"), (
        "the OpenAPI changed; if intended, regenerate with DRGDIP_UPDATE_OPENAPI=1 and review")


def test_openapi_is_complete(live: Live) -> None:
    """Every operation has a summary, an error answer in the one shape, and examples."""
    spec = live.client.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op.get("summary"), (method, path)
            if path.startswith("/v1"):
                assert "401" in op["responses"] and "422" in op["responses"], (method, path)
                assert op.get("security"), (method, path)
    schemas = spec["components"]["schemas"]
    for name in ("CaseIn", "DrgGroupIn", "DrgGroupOut", "DipGroupOut", "EstimateIn",
                 "EstimateOut", "JobOut", "RowsOut", "ErrorOut"):
        assert schemas[name].get("examples"), name
