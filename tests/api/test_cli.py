"""`drgdip keys` against the store of a running service: a key made on the command line works
without a restart, `list` never shows secrets, a revoked key stops working."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import service_data, service_settings, start_server


def drgdip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                          text=True, check=False, timeout=120)


def status_within(client: httpx.Client, key: str, want: int, seconds: float = 10) -> int:
    deadline = time.monotonic() + seconds
    while True:
        got = client.get("/v1/batches", headers={"X-API-Key": key}).status_code
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_keys_commands_with_a_running_service(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    service_data(db)
    server = start_server(service_settings(db, key_reload_seconds=1.0, run_jobs=False))
    try:
        bad = drgdip("keys", "create", "--role", "hospital", "--db", str(db))
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1
        assert "needs --hospital" in bad.stderr
        unknown = drgdip("keys", "create", "--role", "hospital", "--hospital", "NOPE",
                         "--db", str(db))
        assert unknown.returncode == 4 and unknown.stderr.count("\n") == 1
        assert "not in the hospital master" in unknown.stderr
        made = drgdip("keys", "create", "--role", "hospital", "--hospital", "H0009",
                      "--label", "cli", "--db", str(db))
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip()
        key_id, secret = key.split("_")[1:]
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert status_within(client, key, 200) == 200
            listed = drgdip("keys", "list", "--db", str(db)).stdout
            assert key_id in listed and secret not in listed
            revoked = drgdip("keys", "revoke", key_id, "--db", str(db))
            assert revoked.returncode == 0 and f"revoked {key_id}" in revoked.stdout
            assert status_within(client, key, 401) == 401
    finally:
        server.stop()
