"""Property-based requests from the OpenAPI (schemathesis CLI) against a live service: no server
errors, and every answer conforms to the documented status codes, content types and schemas."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import demo_store, service_data, service_settings, start_server

MAX_EXAMPLES = os.environ.get("DRGDIP_FUZZ_EXAMPLES", "40")


@pytest.mark.slow
def test_schemathesis_run(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    demo_store(db)
    keys = service_data(db)
    server = start_server(service_settings(db, max_upload_bytes=1024 * 1024))
    exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    try:
        for role in ("admin", "h1"):
            run = subprocess.run(
                [exe, "run", f"{server.url}/openapi.json", "--header",
                 f"X-API-Key: {keys[role]}", "--checks", "all", "--exclude-checks",
                 "use_after_free,ensure_resource_availability,positive_data_acceptance",
                 "--max-examples", MAX_EXAMPLES, "--workers", "1", "--seed", "7",
                 "--suppress-health-check", "all", "--request-timeout", "30"],
                check=False, capture_output=True, text=True, timeout=900, cwd=tmp_path)
            (tmp_path / f"st-{role}.txt").write_text(run.stdout)
            assert run.returncode == 0, f"role {role}:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    finally:
        server.stop()
