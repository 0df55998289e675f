"""The patient key a benchmark settles with: the configured one (DRGDIP_PATIENT_KEY_FILE /
DRGDIP_PATIENT_KEY), else a key file made once in the benchmark's work folder, set in the
environment so the timed child process pseudonymises with the same key (ingestion refuses
cases with patient ids when no key is configured; docs/privacy.md)."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_patient_key(work: Path) -> None:
    from engine.pseudonym import configured_key, demo_key

    if configured_key() is None:
        _, path = demo_key(work)
        os.environ["DRGDIP_PATIENT_KEY_FILE"] = str(path)
