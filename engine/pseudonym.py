"""Patient identifiers pseudonymised with a keyed hash (数据可用不可见, docs/privacy.md).

Ingestion (`engine.ingest.read_cases`) replaces every `patient_id` by
`<key id>-<HMAC-SHA256(key, trimmed id), first 32 hex digits>`, e.g.
`3f2a9c1e-5b0d…`. The same key gives the same pseudonym, so readmission merging and the
supervision screens still link a patient's stays across files and runs; without the key the
clear id cannot be recovered or confirmed by guessing. The key id (8 hex digits, an HMAC of a
fixed label, not the key) tells which key made a pseudonym, so a run under another key than the
year's earlier runs is refused instead of silently linking nothing.

The key comes from the settings — `DRGDIP_PATIENT_KEY` (the secret itself) or
`DRGDIP_PATIENT_KEY_FILE` (a file holding it; preferred) — and is never written to the store,
a log or an answer. A file with patient ids and no key configured is refused (exit 4): a bureau
expects clear ids never to reach storage, and a run without them would merge no readmissions.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from grouper.errors import DrgDipError, RefusedError

MIN_KEY_BYTES = 16
DIGEST_HEX = 32  # 128 bits of the HMAC: no collision among billions of patients
_LABEL = b"drgdip patient key id v1"
PSEUDONYM_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{32}$"
NO_KEY = ("患者编号须以密钥假名化，但未配置密钥 / the cases carry patient ids (patient_id) but no "
          "pseudonymisation key is configured: set DRGDIP_PATIENT_KEY_FILE to a file holding a "
          "secret of at least 16 bytes (e.g. `drgdip keys patient-key --out FILE`), or "
          "DRGDIP_PATIENT_KEY; docs/privacy.md")

_override: list[PatientKey] = []


class PatientKeyError(DrgDipError):
    """The configured key is unusable (missing file, too short)."""


class PatientKey:
    """A loaded key: `pseudonym(text)` and `key_id`; the secret is never shown by repr/str."""

    __slots__ = ("_inner", "_outer", "key_id")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise PatientKeyError(f"患者编号密钥过短 / the patient id key has {len(secret)} "
                                  f"bytes; use at least {MIN_KEY_BYTES} (32 random hex digits)")
        # HMAC-SHA256 (RFC 2104) with the padded key's two hash states computed once: per id
        # two SHA-256 copies, ~3× faster than hmac.digest, equal to it (tests/engine/test_pseudonym)
        padded = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
        self.key_id = hmac.new(secret, _LABEL, hashlib.sha256).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"PatientKey(key_id={self.key_id!r})"

    def pseudonym(self, patient_id: str) -> str:
        inner = self._inner.copy()
        inner.update(patient_id.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return f"{self.key_id}-{outer.hexdigest()[:DIGEST_HEX]}"

    def column(self, ids: pl.Series) -> pl.Series:
        """The pseudonyms of a column of ids (trimmed; blank → null), same length and order."""
        text = ids.cast(pl.String).str.strip_chars()
        text = pl.Series(ids.name, text).replace("", None)
        uniq = text.drop_nulls().unique().to_list()
        table = pl.DataFrame({"id": uniq, "pseudonym": [self.pseudonym(v) for v in uniq]},
                             schema={"id": pl.String, "pseudonym": pl.String})
        return (pl.DataFrame({"id": text}).join(table, on="id", how="left",
                                                 maintain_order="left")["pseudonym"]
                .alias(ids.name))


def new_secret() -> str:
    """A fresh key: 32 random bytes as 64 hex digits."""
    return secrets.token_hex(32)


def write_key_file(path: Path) -> Path:
    """A new key in `path` (owner read/write only); refuses to overwrite an existing one."""
    if path.exists():
        raise RefusedError(f"{path} exists; a key is never overwritten (rotation: docs/privacy.md)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        fh.write(new_secret() + "\n")
    return path


def load_key_file(path: Path) -> PatientKey:
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise PatientKeyError(f"患者编号密钥文件无法读取 / DRGDIP_PATIENT_KEY_FILE {path} cannot "
                              f"be read: {exc.strerror or exc}") from None
    return PatientKey(secret)


_KEY_VARS = ("drgdip_patient_key_file", "drgdip_patient_key")  # Settings reads them case-blind
_key_cache: dict[tuple[Any, ...], PatientKey | None] = {}


def _key_state() -> tuple[Any, ...] | None:
    """What the configured key depends on: the two settings' environment variables and, for a
    key file, its identity and modification time; None when the file cannot be looked at."""
    env = tuple(sorted((k.lower(), v) for k, v in os.environ.items() if k.lower() in _KEY_VARS))
    files = [v for k, v in env if k == "drgdip_patient_key_file" and v]
    if not files:
        return env
    try:
        st = os.stat(files[-1])
    except OSError:
        return None  # let the settings path report it
    return (*env, os.path.abspath(files[-1]), st.st_ino, st.st_size, st.st_mtime_ns)


def configured_key() -> PatientKey | None:
    """The key in force: one set by `use_patient_key`, else the settings' (a changed
    environment or key file takes effect on the next call), else None. The settings are
    parsed once per state of the environment and key file (`_key_state`): building
    `Settings()` on every call was three quarters of a per-case estimate's time."""
    if _override:
        return _override[-1]
    state = _key_state()
    if state is not None and state in _key_cache:
        return _key_cache[state]
    from engine.settings import Settings

    s = Settings()
    key: PatientKey | None = None
    if s.patient_key_file is not None:
        key = load_key_file(s.patient_key_file)
    elif s.patient_key is not None:
        key = PatientKey(s.patient_key.get_secret_value().strip().encode("utf-8"))
    if state is not None:
        _key_cache.clear()  # one state at a time
        _key_cache[state] = key
    return key


@contextmanager
def use_patient_key(key: PatientKey) -> Iterator[PatientKey]:
    """Pseudonymise with `key` inside the block (e.g. `drgdip demo`'s own key)."""
    _override.append(key)
    try:
        yield key
    finally:
        _override.pop()


def pseudonymise(cases: pl.DataFrame, mode: str = "pseudonymise") -> pl.DataFrame:
    """`cases` with `patient_id` pseudonymised (`mode="pseudonymise"`; refused without a key
    when any id is present) or emptied (`mode="drop"`, for readers that never link stays:
    grouping, weight building, synth fitting)."""
    if "patient_id" not in cases.columns:
        return cases
    if mode == "drop":
        return cases.with_columns(pl.lit(None, pl.String).alias("patient_id"))
    if mode != "pseudonymise":
        raise ValueError(f"patient id mode {mode!r}")
    ids = cases["patient_id"]
    key = configured_key()
    if key is None:
        if ids.cast(pl.String).str.strip_chars().replace("", None).null_count() == len(ids):
            return cases.with_columns(pl.lit(None, pl.String).alias("patient_id"))
        raise RefusedError(NO_KEY)
    return cases.with_columns(key.column(ids).alias("patient_id"))


def pseudonym_one(patient_id: object) -> str | None:
    """One case's pseudonym (the estimate): None when blank or when no key is configured (a
    per-case answer stores nothing, so it needs no key, but never echoes the clear id)."""
    if patient_id is None or not str(patient_id).strip():
        return None
    key = configured_key()
    return None if key is None else key.pseudonym(str(patient_id).strip())


def demo_key(folder: Path) -> tuple[PatientKey, Path]:
    """`drgdip demo` without a configured key: the key in `folder/patient.key`, made once."""
    path = folder / "patient.key"
    if not path.exists():
        write_key_file(path)
    return load_key_file(path), path
