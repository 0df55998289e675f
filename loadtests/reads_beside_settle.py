"""Store reads through the service while the nightly `drgdip settle` runs beside it (issue 14):
the settle must succeed, and reads keep their throughput and p99.

    python loadtests/reads_beside_settle.py --users 8 --duration 40 [--demo-cases 20000]

Builds a store with `drgdip demo` in a temporary directory, starts `drgdip serve` on a loopback
port, runs locust (loadtests/locust_reads.py) against the read endpoints, and after a few
seconds runs `drgdip settle` of one month (a new run id) against the same store, repeatedly
until the load ends. Prints reads/s, p50/p99/max, errors, and each settle's exit status and
time. Exit status 1 when a settle failed or a read errored. Runs the worktree's code
(`python -m engine.cli`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_locust import free_port, report, wait_ready

ROOT = Path(__file__).resolve().parents[1]
HOSPITAL = "H0001"
POLICY = "fuzhou_drg_2025"


def drgdip(*args: str, check: bool = True, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True,
                         text=True, cwd=ROOT, check=False, env=env)
    if check and run.returncode != 0:
        raise SystemExit(f"drgdip {' '.join(args)} failed:\n{run.stderr[-2000:]}")
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--duration", type=int, default=40, help="seconds")
    ap.add_argument("--demo-cases", type=int, default=20000)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="drgdip-reads-"))
    db = work / "store.duckdb"
    server = None
    try:
        drgdip("demo", "--cases", str(args.demo_cases), "--hospitals", "10", "--dir",
               str(work / "demo"), "--db", str(db))
        cases = next((work / "demo" / "demo_data").glob("*/*2025*/cases.parquet"))
        key = drgdip("keys", "create", "--role", "hospital", "--hospital", HOSPITAL,
                     "--db", str(db)).stdout.strip()
        # the demo pseudonymised its patients with its own key: the nightly settle needs it
        settle_env = {**os.environ,
                      "DRGDIP_PATIENT_KEY_FILE": str(work / "demo" / "demo_data" / "patient.key")}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_log = open(work / "server.log", "wb")  # noqa: SIM115 (closed with the server)
        server = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--db", str(db), "--no-access-log", "--log-level", "warning"], cwd=ROOT,
            stderr=server_log)
        wait_ready(url, server)  # type: ignore[arg-type]
        env = {**os.environ, "DRGDIP_LOAD_KEY": key, "DRGDIP_LOAD_HOSPITAL": HOSPITAL}
        prefix = work / "locust"
        locust = shutil.which("locust") or str(Path(sys.executable).with_name("locust"))
        load = subprocess.Popen(
            [locust, "-f", str(ROOT / "loadtests" / "locust_reads.py"), "--headless",
             "--host", url, "-u", str(args.users), "-r", str(args.users), "-t",
             f"{args.duration}s", "--csv", str(prefix), "--only-summary", "--loglevel",
             "WARNING"], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(5)
        settles = []
        n = 0
        while load.poll() is None:
            n += 1
            started = time.monotonic()
            run = drgdip("settle", "--policy", f"{POLICY}", "--cases", str(cases), "--period",
                         "2025-03", "--run-id", f"nightly-{n}", "--db", str(db), "--out",
                         str(work / "results"), check=False, env=settle_env)
            settles.append((run.returncode, time.monotonic() - started,
                            (run.stderr.strip().splitlines() or [""])[-1]))
            if load.poll() is None:
                time.sleep(2)
        print(f"machine: {os.cpu_count()} cores; {args.users} locust users reading for "
              f"{args.duration} s; demo store {args.demo_cases:,} cases/year "
              f"({db.stat().st_size / 1e6:.0f} MB)")
        errors = report(prefix)
        for i, (rc, secs, last) in enumerate(settles, 1):
            print(f"settle nightly-{i}: exit {rc} in {secs:.1f} s {last if rc else ''}")
        failed = sum(1 for rc, _, _ in settles if rc)
        print(f"read errors: {errors}; settles: {len(settles)}, failed {failed}")
        return 1 if errors or failed or not settles else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
            server_log.close()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
