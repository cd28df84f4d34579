"""Stage 1 of validation: the bytes match the manifest and parse as a CSV."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pandas as pd

from ml.contract import Contract
from ml.validation.common import BINARY_SIGNATURES, MAX_EXAMPLES, OTHER_DELIMITERS, BatchReadError

logger = logging.getLogger(__name__)

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
    for signature, what in BINARY_SIGNATURES:
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
    for delimiter, name in OTHER_DELIMITERS.items():
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
