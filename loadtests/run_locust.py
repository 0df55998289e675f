"""Load test of the per-case endpoints: a fresh demo store, `drgdip serve` on a loopback port,
locust headless beside it; prints requests/s, p50, p99 and errors per endpoint.

    python loadtests/run_locust.py --users 16 --duration 60 [--rate 0] [--mix drg|mixed]

The store is made at run time by `drgdip demo` (synthetic region, published weights, hospitals)
in a temporary directory; nothing is committed. The server runs with one worker, no access log,
uvloop and httptools (uvicorn's defaults when installed). Needs the `load` extra (locust).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIP_CATALOG = ROOT / "data" / "fixtures" / "dip_golden_catalog.csv"
HOSPITAL = "H0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def drgdip(*args: str, cwd: Path) -> str:
    exe = shutil.which("drgdip") or str(Path(sys.executable).with_name("drgdip"))
    run = subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, check=False)
    if run.returncode != 0:
        raise SystemExit(f"drgdip {' '.join(args)} failed:\n{run.stderr[-2000:]}")
    return run.stdout


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server ended during start-up")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def report(prefix: Path) -> int:
    """Print the locust stats table; returns the number of failed requests."""
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    print(f"{'endpoint':<24} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'max ms':>7}")
    for r in rows:
        name = r["Name"] if r["Name"] != "Aggregated" else "ALL"
        print(f"{name:<24} {int(r['Request Count']):>9} {int(r['Failure Count']):>7} "
              f"{float(r['Requests/s']):>9.1f} {r['50%']:>7} {r['99%']:>7} "
              f"{float(r['Max Response Time']):>7.0f}")
    total = next(r for r in rows if r["Name"] == "Aggregated")
    return int(total["Failure Count"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--spawn-rate", type=float, default=16)
    ap.add_argument("--duration", type=int, default=60, help="seconds")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="requests/s per user (0 = as fast as possible)")
    ap.add_argument("--mix", choices=("drg", "mixed"), default="drg")
    ap.add_argument("--demo-cases", type=int, default=20000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="drgdip-load-"))
    db = work / "store.duckdb"
    server = None
    try:
        drgdip("demo", "--cases", str(args.demo_cases), "--hospitals", "10", "--dir",
               str(work / "demo"), "--db", str(db), cwd=work)
        key = drgdip("keys", "create", "--role", "hospital", "--hospital", HOSPITAL,
                     "--label", "load test", "--db", str(db), cwd=work).strip()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        exe = shutil.which("drgdip") or str(Path(sys.executable).with_name("drgdip"))
        server = subprocess.Popen(
            [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--db", str(db),
             "--dip-catalog", f"golden={DIP_CATALOG}", "--no-access-log",
             "--log-level", "warning"], cwd=work)
        wait_ready(url, server)
        env = {**os.environ, "DRGDIP_LOAD_KEY": key, "DRGDIP_LOAD_MIX": args.mix,
               "DRGDIP_LOAD_RATE": str(args.rate), "DRGDIP_LOAD_HOSPITAL": HOSPITAL}
        prefix = work / "locust"
        locust = shutil.which("locust") or str(Path(sys.executable).with_name("locust"))
        cmd = [locust, "-f", str(ROOT / "loadtests" / "locustfile.py"), "--headless",
               "--host", url, "-u", str(args.users), "-r", str(args.spawn_rate),
               "-t", f"{args.duration}s", "--csv", str(prefix), "--only-summary",
               "--loglevel", "WARNING"]
        subprocess.run(cmd, env=env, cwd=work, check=False, capture_output=True)
        print(f"machine: {os.cpu_count()} cores; server: 1 uvicorn worker (uvloop, httptools, "
              f"no access log); locust: {args.users} users, rate "
              f"{args.rate or 'max'}/user, {args.duration} s, mix {args.mix}")
        errors = report(prefix)
        print(f"errors: {errors}")
        return 1 if errors else 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
