"""Exceptions of the store and the weight tables (one family under `DrgDipError`)."""

from __future__ import annotations

from grouper.errors import DrgDipError, RefusedError


class StoreError(DrgDipError):
    """The store file is unusable (missing, locked, at an unknown schema version …)."""


class StoreMissingError(StoreError):
    """The store file named by --db / DRGDIP_DB does not exist (and the command does not create
    stores): exit 3, like any unusable input."""

    exit_code = 3


class StoreBusyError(StoreError):
    """Another process holds the store's lock past the wait (`drgdip --wait SECONDS`): refused
    by the store's state, exit 4."""

    exit_code = 4


class WeightTableError(DrgDipError):
    """A weight table, version or parameter is wrong (unknown version, bad import file …)."""


class PublishedVersionError(WeightTableError, RefusedError):
    """An attempt to change a published (immutable) or retired version: refused by the
    store's state (CLI exit 4)."""
