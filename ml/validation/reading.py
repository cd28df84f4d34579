"""Stage 1 of validation: the bytes match the manifest and parse as a CSV, in bounded memory.

A landed file is never held in memory whole, neither as bytes nor as text. :func:`scan_batch_file` streams
it once (constant memory: one row at a time, fields capped by ``csv.field_size_limit``) to check that it is
UTF-8 CSV text with as many fields in every row as in its header, and counts its rows. Only then does
:func:`load_batch_file` let pandas parse it, and validation calls that only when the row count is within the
contract's limit for the batch (``batch.max_rows`` times the periods it spans): the largest frame ever built
is bounded by the contract, whatever size of file lands.
"""

from __future__ import annotations

import codecs
import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.contract import Contract
from ml.validation.common import BINARY_SIGNATURES, MAX_EXAMPLES, OTHER_DELIMITERS, BatchReadError

logger = logging.getLogger(__name__)

HEAD_BYTES = 65536  # how much of the file's start is inspected for binary formats and NUL bytes
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileShape:
    """What the streamed scan learned about a CSV file: its data rows (blank lines not counted) and columns."""

    rows: int
    columns: int


# --------------------------------------------------------------------------------------------- stage 1: file


def read_batch_file(path: Path, contract: Contract, *, max_rows: int | None = None) -> pd.DataFrame:
    """Parse a landed CSV; the contract's timestamp column comes back as tz-aware UTC when every value parses.

    Raise :class:`BatchReadError` for an empty file, bytes that are not UTF-8 or not text at all (Parquet,
    ZIP, ...), another delimiter than ``,``, rows with a different number of fields than the header (a
    truncated or ragged file), and, with ``max_rows``, a file of more data rows than that (it is not loaded).
    A header without rows is readable: its row count fails in the quality stage.
    """
    path = Path(path)
    shape = scan_batch_file(path)
    if max_rows is not None and shape.rows > max_rows:
        raise BatchReadError(f"{path.name} holds {shape.rows} rows, more than the {max_rows} allowed; not loaded")
    return load_batch_file(path, contract)


def scan_batch_file(path: Path) -> FileShape:
    """Stream ``path`` once in constant memory; raise :class:`BatchReadError` when it is not CSV text."""
    path = Path(path)
    try:
        _reject_empty_or_binary(path)
        return _check_rows(path)
    except OSError as error:
        raise BatchReadError(f"cannot read {path}: {error.strerror}; check that the file exists") from None


def load_batch_file(path: Path, contract: Contract) -> pd.DataFrame:
    """Parse a file that :func:`scan_batch_file` accepted into a frame (timestamps to UTC when they parse)."""
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise BatchReadError(f"{Path(path).name} is not a well-formed CSV: {error}. Re-export it as CSV") from None
    return _parse_timestamp(frame, contract.timestamp)


def _chunks(path: Path, size: int = CHUNK_BYTES):
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(size), b"")


def _reject_empty_or_binary(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    if not head.strip() and not any(chunk.strip() for chunk in _chunks(path)):
        size = path.stat().st_size
        raise BatchReadError(f"{path.name} is empty ({size} bytes): the producer wrote no data; re-publish it")
    for signature, what in BINARY_SIGNATURES:
        if head.startswith(signature):
            raise BatchReadError(f"{path.name} is {what}, not a CSV: the producer must write the batch as CSV")
    if b"\x00" in head:
        raise BatchReadError(f"{path.name} holds binary data (NUL bytes), not CSV text: re-export it as CSV")
    if head.decode("utf-8-sig", errors="ignore").lstrip()[:1] in ("{", "["):
        raise BatchReadError(f"{path.name} looks like JSON, not CSV: the producer must write the batch as CSV")


class _Ragged:
    """Rows whose field count differs from the header's: how many, the first few and the last (bounded)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[tuple[int, int]] = []
        self.last: tuple[int, int] | None = None

    def add(self, line: int, fields: int) -> None:
        self.count += 1
        self.last = (line, fields)
        if len(self.first) < MAX_EXAMPLES:
            self.first.append((line, fields))


def _check_rows(path: Path) -> FileShape:
    """Every row has as many fields as the header; the header is comma-separated. One row in memory at a time."""
    ragged, rows = _Ragged(), 0
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, [])
            _reject_other_delimiter(header, path)
            for row in reader:
                if row:
                    rows += 1
                    if len(row) != len(header):
                        ragged.add(reader.line_num, len(row))
        except UnicodeDecodeError:
            raise BatchReadError(_not_utf8_message(path)) from None
        except csv.Error as error:
            raise BatchReadError(f"{path.name} is not a well-formed CSV (line {reader.line_num}: {error})") from None
    if ragged.count:
        raise BatchReadError(_ragged_message(path, len(header), ragged, reader.line_num))
    return FileShape(rows=rows, columns=len(header))


def _not_utf8_message(path: Path) -> str:
    """Where the first byte that is not UTF-8 lies (offset and line), found by a second streamed pass."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = lines = 0
    for chunk in [*_chunks(path), b""]:
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            pending = len(error.object) - len(chunk)  # undecoded bytes carried over from the previous chunk
            bad = offset - pending + error.start
            line = lines + chunk[: max(0, bad - offset)].count(b"\n") + 1
            return (
                f"{path.name} is not UTF-8: byte 0x{error.object[error.start]:02x} at offset {bad} (line {line}) "
                "cannot be decoded; the producer must write UTF-8 (e.g. pandas to_csv(encoding='utf-8'))"
            )
        offset += len(chunk)
        lines += chunk.count(b"\n")
    return f"{path.name} is not UTF-8; the producer must write UTF-8 (e.g. pandas to_csv(encoding='utf-8'))"


def _reject_other_delimiter(header: list[str], path: Path) -> None:
    if len(header) != 1:
        return
    for delimiter, name in OTHER_DELIMITERS.items():
        if delimiter in header[0]:
            raise BatchReadError(
                f"{path.name} is separated by {name}, not commas (its header is one field: {header[0][:80]!r}); "
                "the producer must write comma-separated values"
            )


def _ends_with_line_break(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 1))
        return handle.read(1) in (b"\n", b"\r")


def _ragged_message(path: Path, width: int, ragged: _Ragged, last_line: int) -> str:
    line, fields = ragged.last
    if line == last_line and not _ends_with_line_break(path):
        return (
            f"{path.name} is truncated: its last row (line {line}) has {fields} of {width} fields and the file "
            "does not end with a line break; it was cut off or is still being written, re-publish it"
        )
    shown = ", ".join(f"line {number} has {count}" for number, count in ragged.first)
    return (
        f"{path.name} is ragged: {ragged.count} row(s) do not have the header's {width} fields ({shown}); "
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
