"""Validating one landed batch against its contract; every check is derived from the contract.

Three stages, each short-circuiting the next:

1. **file** (status ``unreadable``): the bytes match the manifest's SHA-256 and parse as a CSV
   (:func:`read_batch_file`).
2. **schema** (status ``schema_change``): the columns are the contract's, in any order, and each arrived
   type fits the declared one (:func:`check_schema`).
3. **quality** (status ``quality``): the Great Expectations suite derived from the contract
   (:func:`build_expectation_suite`). What differs per batch (its period, production time and row bounds)
   reaches the suite as suite parameters (:func:`expectation_parameters`), so one stored suite serves every
   batch and the GX project is written only at bootstrap (:mod:`ml.gx_project`).

With ``gx_root`` the contract's Checkpoint runs, which stores the result and updates Data Docs; without it
an in-memory context validates (tests, CLI). A corrupt batch is a verdict with reasons, never an exception.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import logging
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from ml.batches import BatchManifest
from ml.contract import Contract, ContractError, FeatureSpec, duration_seconds
from ml.gx_project import BATCH_DEFINITION, DATASOURCE, GxProjectError, asset_name, suite_name

logger = logging.getLogger(__name__)

PASSED = "passed"
SCHEMA_CHANGE = "schema_change"
QUALITY = "quality"
UNREADABLE = "unreadable"

MAX_EXAMPLES = 5
# SUMMARY keeps a bounded sample of offending values and their row indices; Data Docs show up to 20.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}

_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}
_BINARY_SIGNATURES = (
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one)"),
    (b"\x1f\x8b", "gzip-compressed"),
    (b"ARROW1", "an Arrow IPC file"),
    (b"%PDF", "a PDF document"),
)
_MANGLED_DUPLICATE = re.compile(r"^(.+)\.(\d+)$")  # pandas reads a repeated header `a` as `a.1`

# Order in which failures are listed: the order a person would fix them in.
_RULE_ORDER = (
    "columns",
    "manifest_rows",
    "row_count",
    "not_null",
    "finite",
    "range",
    "domain",
    "target_domain",
    "unique_key",
    "period",
    "not_after_produced_at",
    "freshness",
)
_CHECK_NAMES = {"freshness": "freshness.stale"}  # other rules are named after their GX expectation


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
        object.__setattr__(self, "examples", [_plain(value) for value in list(self.examples)[:MAX_EXAMPLES]])

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
        if self.data_docs_path:
            lines.append(f"  Data Docs: {self.data_docs_path}")
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
        }

    @classmethod
    def from_dict(cls, data: dict) -> ValidationVerdict:
        """Rebuild a verdict from :meth:`to_dict` output (e.g. read back from XCom or the ledger)."""
        fields = {key: value for key, value in data.items() if key != "passed"}
        fields["failures"] = tuple(CheckFailure(**failure) for failure in data.get("failures", ()))
        return cls(**fields)


# --------------------------------------------------------------------------------------------- stage 1: file


def read_batch_file(path: Path, contract: Contract) -> pd.DataFrame:
    """Parse a landed CSV; the contract's timestamp column comes back as tz-aware UTC when every value parses.

    Raise :class:`BatchReadError` for an empty file, bytes that are not UTF-8 or not text at all (Parquet,
    ZIP, ...), another delimiter than ``,``, and rows with a different number of fields than the header
    (a truncated or ragged file). A header without rows is readable: its row count fails in the quality stage.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise BatchReadError(f"cannot read {path}: {error.strerror}; check that the file exists") from None
    return _parse_csv(raw, path, contract)


def _parse_csv(raw: bytes, path: Path, contract: Contract) -> pd.DataFrame:
    _reject_empty_or_binary(raw, path)
    text = _decode_utf8(raw, path)
    _check_rows(text, path)
    try:
        frame = pd.read_csv(io.StringIO(text), low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise BatchReadError(f"{path.name} is not a well-formed CSV: {error}. Re-export it as CSV") from None
    return _parse_timestamp(frame, contract.timestamp)


def _reject_empty_or_binary(raw: bytes, path: Path) -> None:
    if not raw.strip():
        raise BatchReadError(f"{path.name} is empty ({len(raw)} bytes): the producer wrote no data; re-publish it")
    for signature, what in _BINARY_SIGNATURES:
        if raw.startswith(signature):
            raise BatchReadError(f"{path.name} is {what}, not a CSV: the producer must write the batch as CSV")
    if b"\x00" in raw[:65536]:
        raise BatchReadError(f"{path.name} holds binary data (NUL bytes), not CSV text: re-export it as CSV")


def _decode_utf8(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        offset = min(error.start, len(raw) - 1)
        line = raw.count(b"\n", 0, offset) + 1
        raise BatchReadError(
            f"{path.name} is not UTF-8: byte 0x{raw[offset]:02x} at offset {offset} (line {line}) cannot be "
            "decoded; the producer must write UTF-8 (e.g. pandas to_csv(encoding='utf-8'))"
        ) from None


def _check_rows(text: str, path: Path) -> None:
    """Every row has as many fields as the header; the header is comma-separated."""
    if text.lstrip()[:1] in ("{", "["):
        raise BatchReadError(f"{path.name} looks like JSON, not CSV: the producer must write the batch as CSV")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, [])
        _reject_other_delimiter(header, path)
        bad: list[tuple[int, int]] = []
        for row in reader:
            if row and len(row) != len(header):
                bad.append((reader.line_num, len(row)))
    except csv.Error as error:
        raise BatchReadError(f"{path.name} is not a well-formed CSV (line {reader.line_num}: {error})") from None
    if bad:
        raise BatchReadError(_ragged_message(path, text, len(header), bad, reader.line_num))


def _reject_other_delimiter(header: list[str], path: Path) -> None:
    if len(header) != 1:
        return
    for delimiter, name in _OTHER_DELIMITERS.items():
        if delimiter in header[0]:
            raise BatchReadError(
                f"{path.name} is separated by {name}, not commas (its header is one field: {header[0][:80]!r}); "
                "the producer must write comma-separated values"
            )


def _ragged_message(path: Path, text: str, width: int, bad: list[tuple[int, int]], last_line: int) -> str:
    line, fields = bad[-1]
    if line == last_line and not text.endswith(("\n", "\r")):
        return (
            f"{path.name} is truncated: its last row (line {line}) has {fields} of {width} fields and the file "
            "does not end with a line break; it was cut off or is still being written, re-publish it"
        )
    shown = ", ".join(f"line {number} has {count}" for number, count in bad[:MAX_EXAMPLES])
    return (
        f"{path.name} is ragged: {len(bad)} row(s) do not have the header's {width} fields ({shown}); "
        "quote values that contain commas, or re-export the file"
    )


def _parse_timestamp(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Timestamps to tz-aware UTC if every value is ISO 8601; otherwise left as text for the schema check."""
    if column not in frame.columns:
        return frame
    series = frame[column]
    if series.notna().any() and series.dtype != object:
        return frame  # numbers are not timestamps: the schema check reports the type
    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    if parsed.notna().sum() == series.notna().sum():
        frame[column] = parsed
    return frame


# ------------------------------------------------------------------------------------------- stage 2: schema


def declared_types(contract: Contract) -> dict[str, str]:
    """``{column: type}`` as the contract declares it: datetime, float, int, bool or category."""
    types = {contract.timestamp: "datetime"}
    types.update({feature.name: feature.type for feature in contract.features})
    types[contract.target] = "int" if contract.target_domain is not None else "float"
    return types


def arrived_types(frame: pd.DataFrame) -> dict[str, str]:
    """``{column: type}`` as the batch arrived, in file order."""
    return {str(column): _arrived_type(frame[column]) for column in frame.columns}


def check_schema(frame: pd.DataFrame, contract: Contract) -> list[CheckFailure]:
    """Missing, extra, renamed and re-typed columns; empty when the batch has the contract's schema."""
    expected = contract.batch_columns
    arrived = [str(column) for column in frame.columns]
    missing = [column for column in expected if column not in arrived]
    extra = [column for column in arrived if column not in expected]
    failures = _column_set_failures(contract, arrived, missing, extra)
    for column, kind in _expected_kinds(contract).items():
        if column in arrived:
            failure = _type_failure(contract, column, kind, frame[column])
            if failure is not None:
                failures.append(failure)
    return failures


def _column_set_failures(
    contract: Contract, arrived: list[str], missing: list[str], extra: list[str]
) -> list[CheckFailure]:
    failures = []
    declared = declared_types(contract)
    duplicates = {c for c in extra if (m := _MANGLED_DUPLICATE.match(c)) and m.group(1) in arrived}
    for column in sorted(duplicates):
        original = _MANGLED_DUPLICATE.match(column).group(1)
        message = f"the header repeats column {original!r} (the repeat was read as {column!r}); drop the repeat"
        failures.append(CheckFailure("schema.duplicate_column", original, message, [column]))
    renames = _guess_renames(missing, [c for c in extra if c not in duplicates])
    for old, new in renames:
        message = (
            f"column {old!r} ({declared[old]}) is missing and {new!r} arrived instead: was it renamed? Rename it "
            f"back in the producer, or change contract {contract.name!r} (features or source.rename)"
        )
        failures.append(CheckFailure("schema.renamed_column", old, message, [new]))
    renamed_old = {old for old, _ in renames}
    renamed_new = {new for _, new in renames}
    for column in missing:
        if column not in renamed_old:
            message = (
                f"column {column!r} ({declared[column]}) is missing from the batch; the producer must send it, "
                f"or contract {contract.name!r} must drop it"
            )
            failures.append(CheckFailure("schema.missing_column", column, message, []))
    for column in extra:
        if column not in renamed_new and column not in duplicates:
            message = (
                f"column {column!r} is not in contract {contract.name!r}; stop sending it, or add it to the "
                "contract's features"
            )
            failures.append(CheckFailure("schema.extra_column", column, message, []))
    return failures


def _guess_renames(missing: list[str], extra: list[str]) -> list[tuple[str, str]]:
    """Pair missing with arrived columns whose names look alike; a lone pair left over is a rename too."""
    pairs = []
    missing, extra = list(missing), list(extra)
    for old in list(missing):
        close = difflib.get_close_matches(_normalise(old), [_normalise(new) for new in extra], n=1, cutoff=0.6)
        if close:
            new = next(candidate for candidate in extra if _normalise(candidate) == close[0])
            pairs.append((old, new))
            missing.remove(old)
            extra.remove(new)
    if len(missing) == 1 and len(extra) == 1:
        pairs.append((missing[0], extra[0]))
    return pairs


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _expected_kinds(contract: Contract) -> dict[str, str]:
    """Like :func:`declared_types`, with categories split: ``category_int`` (integer codes) or ``category``."""
    kinds = {contract.timestamp: "datetime"}
    kinds.update({feature.name: _feature_kind(feature) for feature in contract.features})
    kinds[contract.target] = "int" if contract.target_domain is not None else "float"
    return kinds


def _feature_kind(feature: FeatureSpec) -> str:
    if feature.type == "category" and all(_is_int(value) for value in feature.domain or ()):
        return "category_int"
    return feature.type


def _arrived_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    values = series.dropna()
    if len(values) and values.map(type).eq(bool).all():
        return "bool"  # True/False with blanks arrives as object
    return "string"


def _type_failure(contract: Contract, column: str, kind: str, series: pd.Series) -> CheckFailure | None:
    values = series.dropna()
    if values.empty:
        return None  # no values, no evidence of a type: an empty column is a null check's business
    arrived = _arrived_type(series)
    if _type_fits(kind, arrived, series, values):
        return None
    declared = "number" if kind in ("int", "float") and arrived == "string" else kind.removesuffix("_int")
    change = f"{declared} -> {arrived}"
    role = "target" if column == contract.target else "timestamp" if column == contract.timestamp else "feature"
    examples = _type_examples(kind, values)
    message = (
        f"{role} {column!r} is declared {kind.removesuffix('_int')} but arrived as {arrived} ({change}); fix the "
        f"producer, or change the declared type in contract {contract.name!r} (a schema change)"
    )
    return CheckFailure("schema.type_changed", column, message, examples)


def _type_fits(kind: str, arrived: str, series: pd.Series, values: pd.Series) -> bool:
    if kind == "datetime":
        return arrived == "datetime"
    if kind == "float":
        return arrived in ("int", "float")
    if kind in ("int", "category_int"):
        # an integer column with blanks arrives as float: fine while every value is a whole number
        return arrived == "int" or (arrived == "float" and bool(series.isna().any()) and _whole(values))
    if kind == "bool":
        return arrived == "bool"
    return True  # category labels: any values, compared as text against the domain


def _type_examples(kind: str, values: pd.Series) -> list:
    if kind == "datetime":
        bad = values[pd.to_datetime(values.astype(str), utc=True, format="ISO8601", errors="coerce").isna()]
    elif kind in ("int", "category_int") and pd.api.types.is_float_dtype(values):
        bad = values[~_whole_mask(values)]
    else:
        bad = values[pd.to_numeric(values, errors="coerce").isna()] if values.dtype == object else values
    return (bad if len(bad) else values).head(MAX_EXAMPLES).tolist()


def _whole_mask(values: pd.Series) -> pd.Series:
    numbers = values.astype("float64")
    return numbers.map(math.isfinite) & (numbers % 1 == 0)


def _whole(values: pd.Series) -> bool:
    return bool(_whole_mask(values).all())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def to_contract_types(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The batch in contract column order and types (call after :func:`check_schema` found nothing).

    Timestamps are tz-aware UTC, float features float64, integers int64 (float64 when they hold blanks),
    category labels text (integers for integer codes).
    """
    typed = frame[contract.batch_columns].copy()
    if not pd.api.types.is_datetime64_any_dtype(typed[contract.timestamp]):
        typed[contract.timestamp] = pd.to_datetime(typed[contract.timestamp], utc=True)
    for column, kind in _expected_kinds(contract).items():
        if column != contract.timestamp:
            typed[column] = _as_kind(typed[column], kind)
    return typed


def _as_kind(series: pd.Series, kind: str) -> pd.Series:
    if kind == "float":
        return series.astype("float64")
    if kind in ("int", "category_int"):
        return series.astype("float64" if series.isna().any() else "int64")
    if kind == "bool":
        return series.astype(bool) if series.notna().all() else series
    if kind == "category":
        whole = pd.api.types.is_float_dtype(series) and _whole(series.dropna())
        return series.map(lambda v: str(int(v)) if whole else str(v), na_action="ignore").astype(object)
    return series


# ------------------------------------------------------------------------------------------ stage 3: quality


def batch_periods(manifest: BatchManifest, contract: Contract) -> int:
    """How many batch periods ``[period_start, period_end)`` spans (at least 1): a backfill spans many."""
    start, end = _utc(manifest.period_start), _utc(manifest.period_end)
    return max(1, len(pd.date_range(start, end, freq=contract.batch.period, inclusive="left")))


def expectation_parameters(manifest: BatchManifest, contract: Contract) -> dict[str, Any]:
    """The values the suite's ``$PARAMETER`` placeholders take for this batch."""
    produced_at = _utc(manifest.produced_at)
    periods = batch_periods(manifest, contract)
    return {
        "period_start": _utc(manifest.period_start),
        "period_end": _utc(manifest.period_end),
        "produced_at": produced_at,
        "fresh_after": produced_at - pd.Timedelta(seconds=duration_seconds(contract.freshness.max_age)),
        "min_rows": contract.batch.min_rows * periods,
        "max_rows": contract.batch.max_rows * periods,
        "manifest_rows": int(manifest.rows),
    }


def build_expectation_suite(contract: Contract) -> Any:
    """The GX ``ExpectationSuite`` of a contract: columns, row counts, nulls, ranges, domains, keys, time.

    Per-batch bounds are ``$PARAMETER`` placeholders filled by :func:`expectation_parameters`. Each
    expectation's ``meta.rule`` names the contract rule it enforces.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    unknown = [column for column in contract.key if column not in contract.batch_columns]
    if unknown:
        raise ContractError(f"contract {contract.name!r}: key columns {unknown} are not batch columns; fix `key`")
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=contract.batch_columns, exact_match=True, meta=_rule("columns")),
        gxe.ExpectTableRowCountToEqual(value=_param("manifest_rows"), meta=_rule("manifest_rows")),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=_param("min_rows"), max_value=_param("max_rows"), meta=_rule("row_count")
        ),
        *_null_expectations(contract, gxe),
        *_value_expectations(contract, gxe),
        *_key_expectations(contract, gxe),
        *_time_expectations(contract, gxe),
    ]
    meta = {"contract": contract.name, "derived_by": "ml.validation.build_expectation_suite (do not edit by hand)"}
    return gx.ExpectationSuite(name=suite_name(contract), expectations=expectations, meta=meta)


def _param(name: str) -> dict:
    return {"$PARAMETER": name}


def _rule(name: str) -> dict:
    return {"rule": name}


def _null_expectations(contract: Contract, gxe: Any) -> list:
    allowed = {feature.name: feature.max_null_fraction for feature in contract.features}
    expectations = []
    for column in contract.batch_columns:
        fraction = allowed.get(column, 0.0)
        if fraction < 1:
            expectations.append(
                gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1 - fraction, meta=_rule("not_null"))
            )
    return expectations


def _value_expectations(contract: Contract, gxe: Any) -> list:
    expectations = []
    for feature in contract.features:
        if feature.is_numeric:
            expectations.append(_finite(gxe, feature.name))
            if feature.min is not None or feature.max is not None:
                expectations.append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=feature.name,
                        min_value=feature.min,
                        max_value=feature.max,
                        mostly=contract.batch.range_mostly,
                        meta=_rule("range"),
                    )
                )
        else:
            domain = [True, False] if feature.type == "bool" else _category_values(feature)
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(column=feature.name, value_set=domain, meta=_rule("domain"))
            )
    if contract.target_domain is not None:
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=contract.target, value_set=list(contract.target_domain), meta=_rule("target_domain")
            )
        )
    else:
        expectations.append(_finite(gxe, contract.target))
    return expectations


def _finite(gxe: Any, column: str) -> Any:
    infinities = [float("inf"), float("-inf")]
    return gxe.ExpectColumnValuesToNotBeInSet(column=column, value_set=infinities, meta=_rule("finite"))


def _category_values(feature: FeatureSpec) -> list:
    domain = list(feature.domain or ())
    return domain if all(_is_int(value) for value in domain) else [str(value) for value in domain]


def _key_expectations(contract: Contract, gxe: Any) -> list:
    if not contract.key:
        return []
    if len(contract.key) == 1:
        return [gxe.ExpectColumnValuesToBeUnique(column=contract.key[0], meta=_rule("unique_key"))]
    return [gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.key), meta=_rule("unique_key"))]


def _time_expectations(contract: Contract, gxe: Any) -> list:
    column = contract.timestamp
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=_param("period_start"),
            max_value=_param("period_end"),
            strict_max=True,
            meta=_rule("period"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column=column, max_value=_param("produced_at"), meta=_rule("not_after_produced_at")
        ),
        gxe.ExpectColumnMaxToBeBetween(column=column, min_value=_param("fresh_after"), meta=_rule("freshness")),
    ]


# --------------------------------------------------------------------------------------------- entry point


class _GxRun(NamedTuple):
    result: Any  # ExpectationSuiteValidationResult
    result_path: str | None
    docs_path: str | None


def validate_batch(
    path: Path, manifest: BatchManifest, contract: Contract, *, gx_root: Path | None = None
) -> tuple[ValidationVerdict, pd.DataFrame | None]:
    """Validate the batch file at ``path`` that ``manifest`` declares; return the verdict and, when it
    passed, the batch in contract types (timestamps tz-aware UTC).

    With ``gx_root`` holding a project made by :func:`ml.gx_project.init_gx_project`, the contract's
    Checkpoint runs (result stored, Data Docs updated); otherwise an in-memory context validates.
    """
    started = time.perf_counter()
    verdict, typed = _validate(Path(path), manifest, contract, gx_root)
    logger.info(
        "batch %s of %s: %s (%d rows, %d failed checks, %.2f s)",
        manifest.batch_id, contract.name, verdict.status, verdict.rows, len(verdict.failures),
        time.perf_counter() - started,
    )  # fmt: skip
    return verdict, typed


def _validate(
    path: Path, manifest: BatchManifest, contract: Contract, gx_root: Path | None
) -> tuple[ValidationVerdict, pd.DataFrame | None]:
    def make(status: str, failures: list[CheckFailure], rows: int = 0, **extra: Any) -> ValidationVerdict:
        return ValidationVerdict(manifest.batch_id, status, tuple(failures), rows, **extra)

    problem = _manifest_problem(manifest, contract)
    if problem is not None:
        return make(UNREADABLE, [problem]), None
    try:
        raw = path.read_bytes()
    except OSError as error:
        message = f"cannot read data file {path} named by the manifest ({error.strerror}); re-publish the batch"
        return make(UNREADABLE, [CheckFailure("file.missing", None, message)]), None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != manifest.sha256:
        message = (
            f"{path.name} does not match its manifest (sha256 {digest[:12]}... vs {manifest.sha256[:12]}...): "
            "the file is corrupt, half-written or was replaced; re-publish the batch"
        )
        return make(UNREADABLE, [CheckFailure("file.checksum", None, message)]), None
    try:
        frame = _parse_csv(raw, path, contract)
    except BatchReadError as error:
        return make(UNREADABLE, [CheckFailure("file.unreadable", None, str(error))]), None
    schema_failures = check_schema(frame, contract)
    if schema_failures:
        before, after = declared_types(contract), arrived_types(frame)
        return make(SCHEMA_CHANGE, schema_failures, len(frame), schema_before=before, schema_after=after), None
    typed = to_contract_types(frame, contract)
    parameters = expectation_parameters(manifest, contract)
    run = _run_suite(typed, manifest, contract, parameters, gx_root)
    failures = gx_failures(run.result, contract, parameters)
    status = PASSED if run.result.success and not failures else QUALITY
    verdict = make(
        status,
        failures,
        len(typed),
        gx_success=bool(run.result.success),
        gx_result_path=run.result_path,
        data_docs_path=run.docs_path,
    )
    return verdict, (typed if verdict.passed else None)


def _manifest_problem(manifest: BatchManifest, contract: Contract) -> CheckFailure | None:
    if manifest.contract != contract.name:
        message = (
            f"manifest names contract {manifest.contract!r} but was validated against {contract.name!r}: move "
            f"the batch to the landing folder of {manifest.contract!r}"
        )
        return CheckFailure("manifest.contract", None, message)
    if manifest.format != "csv":
        message = f"manifest declares format {manifest.format!r}; batches must be CSV files"
        return CheckFailure("file.format", None, message)
    try:
        start, end = _utc(manifest.period_start), _utc(manifest.period_end)
        _utc(manifest.produced_at)
    except (ValueError, TypeError) as error:
        message = f"manifest has a timestamp that does not parse ({error}); the producer must rewrite it"
        return CheckFailure("manifest.invalid", None, message)
    if end <= start:
        message = f"manifest period [{start}, {end}) is empty; the producer must rewrite the manifest"
        return CheckFailure("manifest.invalid", None, message)
    return None


def _run_suite(
    frame: pd.DataFrame, manifest: BatchManifest, contract: Contract, parameters: dict, gx_root: Path | None
) -> _GxRun:
    if gx_root is not None:
        try:
            return _run_checkpoint(Path(gx_root), frame, manifest, contract, parameters)
        except GxProjectError as error:
            logger.warning("%s; validating batch %s in memory, without Data Docs", error, manifest.batch_id)
    return _GxRun(_validate_in_memory(frame, contract, parameters), None, None)


def _validate_in_memory(frame: pd.DataFrame, contract: Contract, parameters: dict) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas(DATASOURCE).add_dataframe_asset(asset_name(contract))
    batch = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION).get_batch(
        batch_parameters={"dataframe": frame}
    )
    return batch.validate(
        build_expectation_suite(contract), expectation_parameters=parameters, result_format=RESULT_FORMAT
    )


def _run_checkpoint(
    gx_root: Path, frame: pd.DataFrame, manifest: BatchManifest, contract: Contract, parameters: dict
) -> _GxRun:
    from great_expectations.core.run_identifier import RunIdentifier

    from ml.gx_project import contract_checkpoint, data_docs_index, open_gx_project, validation_result_path

    context = open_gx_project(gx_root)
    checkpoint = contract_checkpoint(context, contract)
    # the run is named by the batch and timed by its production, so re-validating a batch replaces its result
    run_id = RunIdentifier(run_name=manifest.batch_id, run_time=parameters["produced_at"].to_pydatetime())
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters, run_id=run_id)
    key, result = next(iter(outcome.run_results.items()))
    result_path = validation_result_path(context, key)
    docs_path = data_docs_index(context)
    return _GxRun(result, str(result_path) if result_path else None, str(docs_path) if docs_path else None)


# ------------------------------------------------------------------------------------ GX results to failures


class _Explain(NamedTuple):
    contract: Contract
    parameters: dict
    kwargs: dict
    result: dict


def gx_failures(suite_result: Any, contract: Contract, parameters: dict) -> list[CheckFailure]:
    """The failed expectations of a GX suite result as :class:`CheckFailure`, in the order to fix them."""
    failures = []
    for result in suite_result.results:
        if result.success:
            continue
        config = result.expectation_config
        rule = (config.meta or {}).get("rule", "")
        kwargs = dict(config.kwargs)
        column = kwargs.get("column") or (",".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
        check = _CHECK_NAMES.get(rule, config.type)
        info = result.exception_info or {}
        if info.get("raised_exception"):
            message = f"GX could not evaluate {config.type}: {info.get('exception_message')}"
            failures.append((_rank(rule, column, contract), CheckFailure(check, column, message, [])))
            continue
        explain = _Explain(contract, parameters, kwargs, dict(result.result or {}))
        failure = CheckFailure(check, column, _message(rule, config.type, explain), _examples(rule, explain.result))
        failures.append((_rank(rule, column, contract), failure))
    return [failure for _, failure in sorted(failures, key=lambda pair: pair[0])]


def _rank(rule: str, column: str | None, contract: Contract) -> tuple[int, int]:
    rule_rank = _RULE_ORDER.index(rule) if rule in _RULE_ORDER else len(_RULE_ORDER)
    columns = contract.batch_columns
    return rule_rank, columns.index(column) if column in columns else -1


def _examples(rule: str, result: dict) -> list:
    if rule == "not_null":
        return list(result.get("partial_unexpected_index_list") or [])  # row indices: the values are all empty
    if "partial_unexpected_list" in result:
        return list(result["partial_unexpected_list"])
    observed = result.get("observed_value")
    return [] if observed is None or (pd.api.types.is_scalar(observed) and pd.isna(observed)) else [observed]


def _message(rule: str, expectation: str, explain: _Explain) -> str:
    builder = _MESSAGES.get(rule)
    if builder is None:
        return f"{expectation} failed with {_summary(explain.result)}"
    return builder(explain)


def _summary(result: dict) -> str:
    keys = ("observed_value", "unexpected_count", "element_count")
    return ", ".join(f"{key}={result[key]}" for key in keys if key in result) or "no details"


def _count(result: dict) -> str:
    bad, total = result.get("unexpected_count", 0), result.get("element_count", 0)
    missing = result.get("missing_count") or 0
    judged = max(total - missing, 0)
    share = f" ({bad / judged:.1%})" if judged else ""
    return f"{bad} of {judged}{share}"


def _lines(result: dict) -> str:
    """File lines of the first offending rows (row index + 2: the header is line 1)."""
    rows = list(result.get("partial_unexpected_index_list") or [])[:MAX_EXAMPLES]
    return f" at file line(s) {', '.join(str(int(row) + 2) for row in rows)}" if rows else ""


def _explain_columns(explain: _Explain) -> str:
    return f"columns are {explain.result.get('observed_value')}, contract expects {explain.kwargs.get('column_set')}"


def _explain_manifest_rows(explain: _Explain) -> str:
    return (
        f"the file holds {explain.result.get('observed_value')} rows but its manifest declares "
        f"{explain.kwargs.get('value')}: the file is incomplete or the manifest is wrong; re-publish the batch"
    )


def _explain_row_count(explain: _Explain) -> str:
    contract, kwargs = explain.contract, explain.kwargs
    periods = explain.parameters["min_rows"] // contract.batch.min_rows
    return (
        f"the batch has {explain.result.get('observed_value')} rows; contract {contract.name!r} expects "
        f"{kwargs.get('min_value')} to {kwargs.get('max_value')} for {periods} period(s) of "
        f"{contract.batch.period} (batch.min_rows/max_rows per period)"
    )


def _explain_not_null(explain: _Explain) -> str:
    column, allowed = explain.kwargs.get("column"), 1 - explain.kwargs.get("mostly", 1.0)
    bad, total = explain.result.get("unexpected_count", 0), explain.result.get("element_count", 0)
    share = f" ({bad / total:.1%})" if total else ""
    return (
        f"{bad} of {total} values of {column!r} are empty{share}{_lines(explain.result)}; the contract allows "
        f"{allowed:.1%} (max_null_fraction): fill them in the producer or relax the contract"
    )


def _explain_finite(explain: _Explain) -> str:
    return (
        f"{explain.result.get('unexpected_count', 0)} values of {explain.kwargs.get('column')!r} are infinite"
        f"{_lines(explain.result)}; numeric columns must be finite (look for a division by zero or overflow)"
    )


def _explain_range(explain: _Explain) -> str:
    kwargs = explain.kwargs
    low = "-inf" if kwargs.get("min_value") is None else kwargs["min_value"]
    high = "inf" if kwargs.get("max_value") is None else kwargs["max_value"]
    outside = 1 - kwargs.get("mostly", 1.0)
    return (
        f"{_count(explain.result)} values of {kwargs.get('column')!r} are outside [{low}, {high}]"
        f"{_lines(explain.result)}; the contract tolerates {outside:.1%} (batch.range_mostly): check the unit "
        "or scaling in the producer, or widen min/max in the contract"
    )


def _explain_domain(explain: _Explain) -> str:
    kwargs = explain.kwargs
    return (
        f"{_count(explain.result)} values of {kwargs.get('column')!r} are not in its domain "
        f"{kwargs.get('value_set')}{_lines(explain.result)}; fix the producer, or add the values to the contract"
    )


def _explain_target_domain(explain: _Explain) -> str:
    kwargs = explain.kwargs
    return (
        f"{_count(explain.result)} labels of target {kwargs.get('column')!r} are outside target_domain "
        f"{kwargs.get('value_set')}{_lines(explain.result)}; fix the labelling, or change target_domain"
    )


def _explain_unique_key(explain: _Explain) -> str:
    key = list(explain.contract.key)
    return (
        f"{explain.result.get('unexpected_count', 0)} rows share their key {key} with another row"
        f"{_lines(explain.result)}; keys must be unique: the producer sent a row twice"
    )


def _explain_period(explain: _Explain) -> str:
    kwargs = explain.kwargs
    return (
        f"{_count(explain.result)} values of {kwargs.get('column')!r} fall outside the manifest's period "
        f"[{_iso(kwargs.get('min_value'))}, {_iso(kwargs.get('max_value'))}){_lines(explain.result)}; "
        "re-cut the batch or fix period_start/period_end"
    )


def _explain_after_produced(explain: _Explain) -> str:
    kwargs = explain.kwargs
    return (
        f"{_count(explain.result)} values of {kwargs.get('column')!r} are later than the batch's produced_at "
        f"{_iso(kwargs.get('max_value'))}{_lines(explain.result)}: timestamps from the future; check the "
        "producer's clock and time zone"
    )


def _explain_freshness(explain: _Explain) -> str:
    contract = explain.contract
    newest = explain.result.get("observed_value")
    produced_at = explain.parameters["produced_at"]
    if newest is None or pd.isna(newest):
        return f"{contract.timestamp!r} has no values, so the batch's freshness is unknown"
    return (
        f"the newest {contract.timestamp!r} is {_iso(newest)}, {produced_at - newest} before produced_at "
        f"{_iso(produced_at)}; contract {contract.name!r} allows {contract.freshness.max_age} "
        "(freshness.max_age): the batch is stale, the feed is delayed or replays old data"
    )


_MESSAGES = {
    "columns": _explain_columns,
    "manifest_rows": _explain_manifest_rows,
    "row_count": _explain_row_count,
    "not_null": _explain_not_null,
    "finite": _explain_finite,
    "range": _explain_range,
    "domain": _explain_domain,
    "target_domain": _explain_target_domain,
    "unique_key": _explain_unique_key,
    "period": _explain_period,
    "not_after_produced_at": _explain_after_produced,
    "freshness": _explain_freshness,
}


# ------------------------------------------------------------------------------------------------- helpers


def _utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"{value!r} is not a timestamp")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _plain(value: Any) -> Any:
    """A JSON-friendly version of an example value (numpy scalars, timestamps, infinities, dicts)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
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
