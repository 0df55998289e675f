"""One documented example per error code (api/error_catalog.py): every code the service's code
can answer with is catalogued with its status, every operation's error statuses carry examples,
and real answers over HTTP carry a code documented for that operation and status."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from api.error_catalog import BY_CODE, ERRORS
from tests.api.conftest import Live

API = Path(__file__).resolve().parents[2] / "api"
CODE = re.compile(r"^[A-Z][A-Z_]+$")


def raised_codes() -> set[tuple[int, str]]:
    """(status, code) of every `ApiError(status, "CODE", …)`, `body(status, "CODE", …)`,
    `STATUS_CODES` entry and `{"code": "CODE"}` literal in api/."""
    found: set[tuple[int, str]] = set()
    for path in API.rglob("*.py"):
        if path.name == "error_catalog.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("ApiError", "body") and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant)
                    and isinstance(node.args[0], ast.Constant)):
                found.add((node.args[0].value, node.args[1].value))
            elif isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if (isinstance(k, ast.Constant) and isinstance(k.value, int)
                            and isinstance(v, ast.Tuple) and isinstance(v.elts[0], ast.Constant)
                            and isinstance(v.elts[0].value, str) and CODE.match(v.elts[0].value)):
                        found.add((k.value, v.elts[0].value))  # STATUS_CODES
                    if (isinstance(k, ast.Constant) and k.value == "code"
                            and isinstance(v, ast.Constant) and isinstance(v.value, str)
                            and CODE.match(v.value)):
                        found.add((413 if v.value == "TOO_LARGE" else -1, v.value))
    return found


def test_every_raised_code_is_catalogued_with_its_status() -> None:
    found = raised_codes()
    assert len(found) > 20
    for status, code in found:
        assert code in BY_CODE, f"{code} is answered but not in api/error_catalog.py"
        assert status in (-1, BY_CODE[code].status), (code, status, BY_CODE[code].status)


def operation_examples(spec: dict[str, Any]) -> dict[tuple[str, str, str], set[str]]:
    out = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    ex = response.get("content", {}).get("application/json", {}).get("examples")
                    out[(method.upper(), path, status)] = set(ex or ())
    return out


def test_every_code_has_one_documented_example(live: Live) -> None:
    spec = live.client.get("/openapi.json").json()
    documented = operation_examples(spec)
    for key, codes in documented.items():
        assert codes, f"{key}: an error status without examples"
    everywhere = set().union(*documented.values())
    description = spec["info"]["description"]
    for e in ERRORS:
        assert f"`{e.code}`" in description, e.code  # the table of all codes
        if not e.any_path:
            assert e.code in everywhere, f"{e.code} is shown under no operation"
        assert "/" in e.message or e.code == "HTTP_ERROR", e.code  # 中文 / English
    # examples are the error shape, under the status of their code
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                examples = response.get("content", {}).get("application/json", {})
                for code, ex in (examples.get("examples") or {}).items():
                    assert set(ex["value"]) == {"code", "message", "field"}
                    assert ex["value"]["code"] == code and BY_CODE[code].status == int(status)
    # not the one VALIDATION_ERROR example everywhere (issue 13)
    estimate = spec["paths"]["/v1/estimate"]["post"]["responses"]
    assert {"UNKNOWN_HOSPITAL", "POLICY_UNAVAILABLE"} <= set(
        estimate["422"]["content"]["application/json"]["examples"])
    assert "UNAUTHENTICATED" in estimate["401"]["content"]["application/json"]["examples"]


CASE = {"case_id": "E1", "sex": 1, "age": 60, "diagnoses": ["I21.001"], "los": 5}


@pytest.mark.parametrize("method, path, template, who, kwargs", [
    ("POST", "/v1/drg/group", "/v1/drg/group", None, {"json": {"case": CASE}}),
    ("POST", "/v1/drg/group", "/v1/drg/group", "h1", {"content": b"{not json",
                                                       "headers": {"Content-Type":
                                                                   "application/json"}}),
    ("POST", "/v1/drg/group", "/v1/drg/group", "h1",
     {"json": {"case": {**CASE, "sex": "x"}}}),
    ("POST", "/v1/drg/group", "/v1/drg/group", "h1",
     {"json": {"case": CASE, "ruleset": "chs_drg_99"}}),
    ("POST", "/v1/drg/group", "/v1/drg/group", "h1",
     {"json": {"case": CASE, "ruleset": "auto"}}),
    ("POST", "/v1/dip/group", "/v1/dip/group", "h1",
     {"json": {"case": CASE, "catalog": "nope"}}),
    ("POST", "/v1/estimate", "/v1/estimate", "analyst",
     {"json": {"case": {**CASE, "hospital_id": "H9999"}, "policy": "fuzhou_drg_2025"}}),
    ("POST", "/v1/estimate", "/v1/estimate", "h1",
     {"json": {"case": {**CASE, "hospital_id": "H0002"}, "policy": "fuzhou_drg_2025"}}),
    ("POST", "/v1/keys", "/v1/keys", "h1", {"json": {"role": "hospital",
                                                      "hospital_id": "H0001"}}),
    ("POST", "/v1/keys", "/v1/keys", "admin", {"json": {"role": "hospital",
                                                         "hospital_id": "NOPE"}}),
    ("GET", "/v1/batches/job_nope", "/v1/batches/{job_id}", "h1", {}),
    ("POST", "/v1/batches", "/v1/batches", "h1",
     {"files": {"file": ("cases.txt", b"a,b\n1,2\n")}}),
    ("GET", "/v1/hospitals/H0002/period-results", "/v1/hospitals/{hospital_id}/{kind}", "h1",
     {}),
    ("POST", "/v1/weights/versions/none/publish", "/v1/weights/versions/{version}/publish",
     "admin", {"json": {"why": "test"}}),
])
def test_real_error_answers_are_documented(live: Live, method: str, path: str, template: str,
                                           who: str | None, kwargs: dict[str, Any]) -> None:
    documented = operation_examples(live.client.get("/openapi.json").json())
    headers = {**live.h(who), **kwargs.pop("headers", {})}
    r = live.client.request(method, path, headers=headers, **kwargs)
    assert r.status_code >= 400, r.text
    code = r.json()["code"]
    assert code in documented[(method, template, str(r.status_code))], (r.status_code, r.text)
