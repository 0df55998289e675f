"""Exceptions of the store and the weight tables (one family under `DrgDipError`)."""

from __future__ import annotations

from grouper.errors import DrgDipError, RefusedError


class StoreError(DrgDipError):
    """The store file is unusable (missing, locked, at an unknown schema version …)."""


class WeightTableError(DrgDipError):
    """A weight table, version or parameter is wrong (unknown version, bad import file …)."""


class PublishedVersionError(WeightTableError, RefusedError):
    """An attempt to change a published (immutable) or retired version: refused by the
    store's state (CLI exit 4)."""
