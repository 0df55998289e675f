"""Ingestion of claim files: formats, Chinese header aliases, types and per-row problems.

`read_cases(path_or_frame)` is used by every command that reads cases.
"""

from engine.ingest.codes import MESSAGES, IngestCode
from engine.ingest.coerce import MONEY, fen_to_money
from engine.ingest.fields import COST_CATEGORIES, COST_COLUMNS, FIELDS
from engine.ingest.read import IngestResult, read_cases

__all__ = ["COST_CATEGORIES", "COST_COLUMNS", "FIELDS", "MESSAGES", "MONEY", "IngestCode",
           "IngestResult", "fen_to_money", "read_cases"]
