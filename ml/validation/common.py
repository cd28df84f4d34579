"""Statuses, failures and verdicts of batch validation, and small helpers shared by its stages."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

PASSED = "passed"
SCHEMA_CHANGE = "schema_change"
QUALITY = "quality"
UNREADABLE = "unreadable"

MAX_EXAMPLES = 5
# SUMMARY keeps a bounded sample of offending values and their row indices; Data Docs show up to 20.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}

OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}
BINARY_SIGNATURES = (
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one)"),
    (b"\x1f\x8b", "gzip-compressed"),
    (b"ARROW1", "an Arrow IPC file"),
    (b"%PDF", "a PDF document"),
)
MANGLED_DUPLICATE = re.compile(r"^(.+)\.(\d+)$")  # pandas reads a repeated header `a` as `a.1`

# Order in which failures are listed: the order a person would fix them in.
RULE_ORDER = (
    "columns",
    "manifest_rows",
    "row_count",
    "not_null",
    "label_not_null",
    "finite",
    "range",
    "domain",
    "target_domain",
    "unique_key",
    "unique_label_key",
    "period",
    "not_after_produced_at",
    "freshness",
)
CHECK_NAMES = {"freshness": "freshness.stale"}  # other rules are named after their GX expectation


class BatchReadError(ValueError):
    """A batch file cannot be read as the CSV its contract expects; the message says what to fix."""


@dataclass(frozen=True)
class CheckFailure:
    """One failed check: its name, the column, a sentence a person can act on, a few offending values."""

    check: str
    column: str | None
    message: str
    examples: list = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "examples", [json_plain(value) for value in list(self.examples)[:MAX_EXAMPLES]])

    def to_dict(self) -> dict:
        return {"check": self.check, "column": self.column, "message": self.message, "examples": list(self.examples)}


@dataclass(frozen=True)
class ValidationVerdict:
    """The outcome of validating one batch: passed, or which stage rejected it and why."""

    batch_id: str
    status: str
    failures: tuple[CheckFailure, ...]
    rows: int
    schema_before: dict | None = None
    schema_after: dict | None = None
    gx_success: bool | None = None
    gx_result_path: str | None = None
    data_docs_path: str | None = None
    data_docs_page: str | None = None  # this batch's own page in the Data Docs site

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def reason(self) -> str:
        """A multi-line summary: the status, then each failed check with its column and examples."""
        if self.passed:
            return f"batch {self.batch_id} passed every check ({self.rows} rows)"
        count = len(self.failures)
        lines = [f"batch {self.batch_id} rejected: {self.status}, {count} failed check{'s' * (count != 1)}"]
        for failure in self.failures:
            where = f" [{failure.column}]" if failure.column else ""
            examples = f" (examples: {failure.examples})" if failure.examples else ""
            lines.append(f"  - {failure.check}{where}: {failure.message}{examples}")
        if self.schema_before is not None:
            lines.append(f"  expected: {self.schema_before}")
            lines.append(f"  arrived:  {self.schema_after}")
        if self.data_docs_page or self.data_docs_path:
            lines.append(f"  Data Docs: {self.data_docs_page or self.data_docs_path}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "status": self.status,
            "passed": self.passed,
            "rows": self.rows,
            "failures": [failure.to_dict() for failure in self.failures],
            "schema_before": self.schema_before,
            "schema_after": self.schema_after,
            "gx_success": self.gx_success,
            "gx_result_path": self.gx_result_path,
            "data_docs_path": self.data_docs_path,
            "data_docs_page": self.data_docs_page,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ValidationVerdict:
        """Rebuild a verdict from :meth:`to_dict` output (e.g. read back from XCom or the ledger)."""
        fields = {key: value for key, value in data.items() if key != "passed"}
        fields["failures"] = tuple(CheckFailure(**failure) for failure in data.get("failures", ()))
        return cls(**fields)


# ------------------------------------------------------------------------------------------------- helpers


def utc_timestamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"{value!r} is not a timestamp")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def iso_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def json_plain(value: Any) -> Any:
    """A JSON-friendly version of an example value (numpy scalars, timestamps, infinities, dicts)."""
    if isinstance(value, dict):
        return {str(key): json_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_plain(item) for item in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar to its Python twin
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "inf", "-inf", "nan": visible, and valid JSON
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
