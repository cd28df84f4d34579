"""Label files checked against the rows they label: file, columns, values (a GX suite), keys.

A label file must label exactly the rows of a batch the champion scored: every row once, no unknown key.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ml.contract import Contract
from ml.data.batches import BatchManifest
from ml.data.labels import LABELS_KIND, comparable_keys

if TYPE_CHECKING:  # pandas stays out of import time: DAG files import this module while parsing
    import pandas as pd

    from ml.validation.common import CheckFailure, ValidationVerdict
logger = logging.getLogger(__name__)


KEYS = "keys"  # verdict status: the label file's keys are not the scored batch's rows


UNKNOWN_BATCH = "unknown_batch"  # verdict status: labels for a batch that was never scored


CONFLICT = "conflict"  # verdict status: the batch already has different labels


MAX_KEY_EXAMPLES = 5


def _failure(check: str, column: str | None, message: str, examples: list | None = None) -> CheckFailure:
    from ml.validation.common import CheckFailure

    return CheckFailure(check, column, message, examples or [])


def _verdict(batch_id: str, status: str, failures: list[CheckFailure], rows: int = 0) -> ValidationVerdict:
    from ml.validation.common import ValidationVerdict

    return ValidationVerdict(batch_id, status, tuple(failures), rows)


def rejected_verdict(batch_id: str, status: str, check: str, message: str) -> ValidationVerdict:
    """A verdict with one failure, for rejections decided before the file is read (e.g. an unknown batch)."""
    return _verdict(batch_id, status, [_failure(check, None, message)])


def label_reason(verdict: ValidationVerdict) -> str:
    """The verdict's reason, worded for a label file."""
    return verdict.reason().replace(
        f"batch {verdict.batch_id} rejected", f"labels of batch {verdict.batch_id} rejected", 1
    )


def _file_problem(path: Path, manifest: BatchManifest, contract: Contract) -> CheckFailure | None:
    if manifest.contract != contract.name:
        return _failure(
            "manifest.contract",
            None,
            f"label manifest names contract {manifest.contract!r} but "
            f"landed for {contract.name!r}: move it to landing/{manifest.contract}/labels/",
        )
    if manifest.kind != LABELS_KIND or manifest.format != "csv":
        return _failure(
            "manifest.kind",
            None,
            f"label manifest declares kind {manifest.kind!r} and format "
            f"{manifest.format!r}; label files are kind 'labels', format 'csv'",
        )
    from ml.validation.batch import checksum_problem

    return checksum_problem(path, manifest, what="label file", republish="the labels")


def _read(path: Path, manifest: BatchManifest, contract: Contract, batch_rows: int):
    """(frame, failure): the label file parsed, refused unread when it holds more rows than the batch."""
    from ml.validation.common import BatchReadError
    from ml.validation.reading import load_batch_file, scan_batch_file

    try:
        shape = scan_batch_file(path)
        if shape.rows > batch_rows:
            return None, _failure(
                "expect_table_row_count_to_equal",
                None,
                f"{path.name} holds {shape.rows} label "
                f"rows, more than the {batch_rows} rows of batch {manifest.batch_id}; it was not "
                "loaded: send one row per scored row",
            )
        return load_batch_file(path, contract), None
    except BatchReadError as error:
        return None, _failure("file.unreadable", None, str(error))


def _column_failures(frame: pd.DataFrame, contract: Contract) -> list[CheckFailure]:
    expected, arrived = contract.label_columns, [str(c) for c in frame.columns]
    failures = [
        _failure(
            "schema.missing_column",
            c,
            f"column {c!r} is missing from the label file; a label file "
            f"holds exactly {expected} (labels.key and the target)",
        )
        for c in expected
        if c not in arrived
    ]
    failures += [
        _failure(
            "schema.extra_column",
            c,
            f"column {c!r} does not belong in a label file of contract {contract.name!r}; send exactly {expected}",
        )
        for c in arrived
        if c not in expected
    ]
    return failures


def _typed_keys(frame: pd.DataFrame, contract: Contract) -> tuple[pd.DataFrame | None, list[CheckFailure]]:
    """The key columns in the batch's types (timestamps UTC, nanoseconds), or failures naming what did not parse."""
    from ml.validation.schema import as_contract_type

    keys, failures = {}, []
    for column in contract.label_key:
        try:
            keys[column] = comparable_keys(as_contract_type(frame[column], contract, column))
        except (ValueError, TypeError) as error:
            examples = frame[column].head(MAX_KEY_EXAMPLES).tolist()
            failures.append(
                _failure(
                    "schema.type_changed",
                    column,
                    f"key column {column!r} does not parse as the "
                    f"batch's {column!r} ({error}); send the values exactly as the batch had them",
                    examples,
                )
            )
    if failures:
        return None, failures
    import pandas as pd

    return pd.DataFrame(keys, index=frame.index), []


def _key_index(frame: pd.DataFrame, contract: Contract) -> pd.MultiIndex:
    import pandas as pd

    return pd.MultiIndex.from_frame(frame[list(contract.label_key)].apply(comparable_keys))


def _examples(index: pd.MultiIndex) -> list:
    return [value[0] if len(value) == 1 else list(value) for value in index[:MAX_KEY_EXAMPLES]]


def key_failures(label_keys: pd.DataFrame, batch: pd.DataFrame, contract: Contract) -> list[CheckFailure]:
    """Unknown and missing keys: the label file must label every row of the scored batch, and only those."""
    key = list(contract.label_key)
    batch_index, label_index = _key_index(batch, contract), _key_index(label_keys, contract)
    if batch_index.has_duplicates:
        dup = batch_index[batch_index.duplicated()].unique()
        return [
            _failure(
                "keys.batch_not_unique",
                ",".join(key),
                f"{len(dup)} key value(s) {key} appear on more "
                f"than one row of the batch itself, so labels cannot be joined by them: set labels.key to "
                "columns that identify a row",
                _examples(dup),
            )
        ]
    failures = []
    unknown = label_index.unique().difference(batch_index)
    if len(unknown):
        failures.append(
            _failure(
                "keys.unknown",
                ",".join(key),
                f"{len(unknown)} label row(s) have a key {key} that "
                "no row of the scored batch has: labels for rows that were never scored (wrong "
                "batch, or keys changed on the way)",
                _examples(unknown),
            )
        )
    missing = batch_index.difference(label_index)
    if len(missing):
        failures.append(
            _failure(
                "keys.missing",
                ",".join(key),
                f"{len(missing)} of the batch's {len(batch_index)} "
                f"scored rows have no label: a label file labels its whole batch; send the missing "
                "rows in the same file",
                _examples(missing),
            )
        )
    return failures


def _gx_failures(frame: pd.DataFrame, manifest: BatchManifest, contract: Contract) -> list[CheckFailure]:
    from ml.validation.batch import validate_in_memory
    from ml.validation.expectations import build_label_suite
    from ml.validation.explain import gx_failures

    parameters = {"manifest_rows": int(manifest.rows)}
    result = validate_in_memory(frame, contract, parameters, build_label_suite(contract))
    return gx_failures(result, contract, parameters)


def check_label_file(
    path: Path, manifest: BatchManifest, contract: Contract, batch: pd.DataFrame
) -> tuple[ValidationVerdict, pd.DataFrame | None]:
    """Judge the label file at ``path`` against ``batch``, the rows the champion scored; return the verdict and,
    when it passed, the labels (key columns in the batch's types, the target in its contract type).

    Statuses: ``unreadable`` (manifest, checksum, CSV), ``schema_change`` (columns, key types), ``quality`` (empty
    cells, target values outside ``target_domain`` or not finite, a key twice, row count vs manifest), ``keys``
    (labels for rows the batch does not have, or rows of the batch without a label).
    """
    from ml.validation.common import PASSED, QUALITY, SCHEMA_CHANGE, UNREADABLE
    from ml.validation.schema import as_contract_type

    problem = _file_problem(path, manifest, contract)
    if problem is not None:
        return _verdict(manifest.batch_id, UNREADABLE, [problem]), None
    frame, failure = _read(path, manifest, contract, len(batch))
    if failure is not None:
        status = QUALITY if failure.check.startswith("expect_") else UNREADABLE
        return _verdict(manifest.batch_id, status, [failure]), None
    columns = _column_failures(frame, contract)
    keys, key_types = _typed_keys(frame, contract) if not columns else (None, [])
    if columns or key_types:
        return _verdict(manifest.batch_id, SCHEMA_CHANGE, columns + key_types, len(frame)), None
    quality = _gx_failures(frame, manifest, contract)
    mismatched = key_failures(keys, batch, contract)
    if quality or mismatched:
        return _verdict(manifest.batch_id, QUALITY if quality else KEYS, quality + mismatched, len(frame)), None
    labels = keys.assign(**{contract.target: as_contract_type(frame[contract.target], contract, contract.target)})
    return _verdict(manifest.batch_id, PASSED, [], len(frame)), labels.reset_index(drop=True)
