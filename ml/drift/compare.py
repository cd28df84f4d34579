"""Drift of a batch against stored reference statistics: every column, on the numpy or the torch backend.

The statistics themselves (Evidently's formulas, the reference side, the per-column kernels) are in
:mod:`ml.drift.stats`; the torch backend is :mod:`ml.drift.stats_torch`. This module only checks the current
frame's columns, hands the usable ones to a backend and puts the results back in the reference's column order.
It imports stats_torch (and so torch) only when ``backend="torch"``: stats and stats_torch never import it, so
the three form no import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd

from ml.drift.stats import (
    CATEGORICAL,
    MISSING,
    NUMERIC,
    WRONG_TYPE,
    ColumnStat,
    DriftStatsError,
    ReferenceStats,
    categorical_column,
    column_threshold,
    numeric_column,
)
from ml.environment import cpu_count

if TYPE_CHECKING:
    from ml.drift.stats import _NumericRef


def compare(
    reference: ReferenceStats,
    current: pd.DataFrame,
    *,
    backend: str = "numpy",
    device: str | None = None,
    threads: int | None = None,
) -> list[ColumnStat]:
    """Drift of every column of ``reference`` in ``current``, in the reference's column order.

    ``backend="numpy"`` uses ``threads`` workers (default: the cores this process may use); ``backend="torch"``
    runs on ``device`` (default ``"cuda"`` when available, else ``"cpu"``).
    """
    if backend not in ("numpy", "torch"):
        raise DriftStatsError(f"backend={backend!r}: use 'numpy' or 'torch'")
    by_name: dict[str, ColumnStat] = {}
    usable = []
    for ref in reference.numeric:
        problem = _numeric_input_problem(ref, current)
        if problem is None:
            usable.append(ref)
        else:
            by_name[ref.name] = problem
    if backend == "numpy":
        with ThreadPoolExecutor(max_workers=threads or cpu_count()) as pool:
            numeric = list(pool.map(lambda ref: numeric_column(reference, ref, current[ref.name]), usable))
    else:
        from ml.drift.stats_torch import numeric_columns_torch

        numeric = numeric_columns_torch(reference, usable, current, device)
    by_name.update((s.column, s) for s in numeric)
    for ref in reference.categorical:
        by_name[ref.name] = (
            categorical_column(reference, ref, current[ref.name])
            if ref.name in current.columns
            else _missing(reference, ref.name, CATEGORICAL, ref.n)
        )
    return [by_name[name] for name in reference.columns]


def drift_share(stats: Sequence[ColumnStat]) -> float:
    """Drifted columns / columns: columns without a score count as not drifted (their status says why)."""
    return sum(s.drifted for s in stats) / len(stats) if stats else 0.0


def _missing(reference: ReferenceStats, name: str, kind: str, n_reference: int) -> ColumnStat:
    method = reference.methods.get(name)
    return ColumnStat(
        name,
        kind,
        method,
        None,
        column_threshold(reference, name, method),
        False,
        MISSING,
        "current: the column is not in the frame",
        n_reference,
        0,
    )


def _numeric_input_problem(ref: _NumericRef, current: pd.DataFrame) -> ColumnStat | None:
    if ref.name not in current.columns:
        return _missing_numeric(ref)
    series = current[ref.name]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return ColumnStat(
            ref.name,
            NUMERIC,
            None,
            None,
            None,
            False,
            WRONG_TYPE,
            f"current: dtype {series.dtype} is not numeric (convert it with pd.to_numeric)",
            len(ref.values),
            0,
        )
    return None


def _missing_numeric(ref: _NumericRef) -> ColumnStat:
    return ColumnStat(
        ref.name,
        NUMERIC,
        None,
        None,
        None,
        False,
        MISSING,
        "current: the column is not in the frame",
        len(ref.values),
        0,
    )
