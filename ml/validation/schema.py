"""Stage 2 of validation: the columns are the contract's and each arrived type fits the declared one."""

from __future__ import annotations

import difflib
import logging
import math
import re
from typing import Any

import pandas as pd

from ml.contract import Contract, FeatureSpec
from ml.validation.common import MANGLED_DUPLICATE, MAX_EXAMPLES, CheckFailure

logger = logging.getLogger(__name__)

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


def check_schema(frame: pd.DataFrame, contract: Contract, *, labelled: bool = True) -> list[CheckFailure]:
    """Missing, extra, renamed and re-typed columns; empty when the batch has the contract's schema.

    ``labelled=False``: the batch comes without its target column (``labels.arrive: delayed``).
    """
    expected = contract.landed_columns(labelled)
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
    duplicates = {c for c in extra if (m := MANGLED_DUPLICATE.match(c)) and m.group(1) in arrived}
    for column in sorted(duplicates):
        original = MANGLED_DUPLICATE.match(column).group(1)
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


def column_kind(contract: Contract, column: str) -> str:
    """The kind a column of the contract is checked as: datetime, float, int, bool, category or category_int."""
    return _expected_kinds(contract)[column]


def as_contract_type(series: pd.Series, contract: Contract, column: str) -> pd.Series:
    """One column in its contract type (see :func:`to_contract_types`); the timestamp as tz-aware UTC."""
    if column == contract.timestamp:
        return (
            series
            if pd.api.types.is_datetime64_any_dtype(series)
            else pd.to_datetime(series, utc=True, format="ISO8601")
        )
    return _as_kind(series, column_kind(contract, column))


def _expected_kinds(contract: Contract) -> dict[str, str]:
    """Like :func:`declared_types`, with categories split: ``category_int`` (integer codes) or ``category``."""
    kinds = {contract.timestamp: "datetime"}
    kinds.update({feature.name: _feature_kind(feature) for feature in contract.features})
    kinds[contract.target] = "int" if contract.target_domain is not None else "float"
    return kinds


def _feature_kind(feature: FeatureSpec) -> str:
    if feature.type == "category" and all(is_int(value) for value in feature.domain or ()):
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


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def to_contract_types(frame: pd.DataFrame, contract: Contract, *, labelled: bool = True) -> pd.DataFrame:
    """The batch in contract column order and types (call after :func:`check_schema` found nothing).

    Timestamps are tz-aware UTC, float features float64, integers int64 (float64 when they hold blanks),
    category labels text (integers for integer codes). ``labelled=False``: a batch without its target column.
    """
    columns = {}
    kinds = _expected_kinds(contract)
    if not labelled:
        kinds.pop(contract.target)
    for column, kind in kinds.items():
        series = frame[column]
        if column == contract.timestamp:
            columns[column] = (
                series if pd.api.types.is_datetime64_any_dtype(series) else pd.to_datetime(series, utc=True)
            )
        else:
            columns[column] = _as_kind(series, kind)
    # Built in one go, the frame holds one consolidated block per dtype. Assigning column by column would leave
    # one block per column, and GX's pandas engine copies (and re-consolidates) the whole frame for every column
    # expectation: measured 2-3x slower validation of wide batches (bench/results/validation.md).
    return pd.DataFrame(columns, index=frame.index)  # in contract column order (_expected_kinds follows it)


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
