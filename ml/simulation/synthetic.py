"""Synthetic sources with a known concept drift, for contracts whose ``source.uri`` is ``python://``.

:func:`agrawal_stream` is river's Agrawal loan-approval stream (Agrawal, Imielinski and Swami, 1993) with
one abrupt concept drift at a known row: the features keep their distribution throughout, only the rule
that labels them changes. That is the drift a feature-drift monitor cannot see and a performance check
on labelled batches must catch, and because the drift point is known, tests can assert when the alarm fires.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

# river's feature names, in its order, with the dtype each column gets here. elevel (0-4), car (1-20) and
# zipcode (0-8) are integer codes of categories (river draws each uniformly); the rest are numbers.
AGRAWAL_FEATURES = {
    "salary": "float64",  # uniform 20k-150k
    "commission": "float64",  # 0 when salary >= 75k, else uniform 10k-85k
    "age": "int64",  # uniform 20-80
    "elevel": "int64",  # education level, category 0-4
    "car": "int64",  # car maker, category 1-20
    "zipcode": "int64",  # category 0-8
    "hvalue": "float64",  # house value, (8 - zipcode) x uniform 50k-150k: 0 to 1.2M
    "hyears": "int64",  # years the house is owned, uniform 1-30
    "loan": "float64",  # uniform 0-500k
}
TIMESTAMP = "ts"
TARGET = "label"


def agrawal_stream(
    *,
    n_rows: int,
    drift_at: int | str,
    function_before: int,
    function_after: int,
    seed: int,
    start: str,
    step: str = "1h",
    perturbation: float = 0.0,
    balance_classes: bool = False,
) -> pd.DataFrame:
    """``n_rows`` rows of the Agrawal stream whose labelling function changes abruptly at ``drift_at``.

    Rows ``[0, drift_at)`` are labelled by classification function ``function_before`` (0-9, see
    ``river.datasets.synth.Agrawal``), rows ``[drift_at, n_rows)`` by ``function_after``. ``drift_at`` is a
    row index, or a timestamp: the drift then starts at the first row stamped at or after it. Row ``i`` is
    stamped ``start + i * step`` (tz-aware UTC) in column ``ts``; the label is column ``label`` (0 or 1).

    Why two chained generators: river's ``ConceptDriftStream`` blends two streams with a sigmoid of
    ``position / width`` that overflows once that ratio passes about 177 (FIELD_NOTES), and
    ``Agrawal.generate_drift`` picks the new function at random. Taking the first ``drift_at`` rows of one
    generator and the rest from a second one gives an abrupt drift at an exact row with a chosen function.
    The two generators get independent seeds derived from ``seed`` (same seed, same frame), so no feature
    row repeats across the drift and the feature distribution is unchanged by it.

    ``perturbation`` is river's feature noise; keep it 0 for contracts with ranges: river 0.26 clamps a
    perturbed ``hvalue`` to 0 or ``(9 - zipcode) x 100k`` (its arguments are swapped). ``balance_classes``
    alternates the labels 0/1 by rejection sampling, which changes the feature distribution per function.
    """
    from river.datasets.synth import Agrawal

    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
        raise ValueError(f"n_rows={n_rows!r} must be a positive integer")
    first, step_ = _utc(start), pd.Timedelta(step)
    stamps = first + step_ * pd.RangeIndex(n_rows)
    cut = _drift_row(drift_at, n_rows, first, step_)
    before_seed, after_seed = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2))
    settings = {"balance_classes": balance_classes, "perturbation": perturbation}
    before = Agrawal(classification_function=function_before, seed=before_seed, **settings)
    after = Agrawal(classification_function=function_after, seed=after_seed, **settings)
    rows = list(itertools.chain(itertools.islice(before, cut), itertools.islice(after, n_rows - cut)))
    frame = pd.DataFrame([x for x, _ in rows], columns=list(AGRAWAL_FEATURES)).astype(AGRAWAL_FEATURES)
    frame.insert(0, TIMESTAMP, stamps)
    frame[TARGET] = np.fromiter((y for _, y in rows), dtype="int64", count=n_rows)
    return frame


def _drift_row(drift_at: int | str, n_rows: int, start: pd.Timestamp, step: pd.Timedelta) -> int:
    """The index of the first row labelled by the function after the drift."""
    if step <= pd.Timedelta(0):
        raise ValueError(f"step={step} must be a positive duration, e.g. 1h or 2min")
    if isinstance(drift_at, str):
        offset = (_utc(drift_at) - start) / step
        row = max(0, math.ceil(offset))
    elif isinstance(drift_at, int) and not isinstance(drift_at, bool):
        row = drift_at
    else:
        raise ValueError(f"drift_at={drift_at!r} must be a row index or a timestamp such as '2024-01-13'")
    if not 0 <= row <= n_rows:
        raise ValueError(f"drift_at={drift_at!r} is row {row}, outside the stream's {n_rows} rows")
    return row


def _utc(text: str) -> pd.Timestamp:
    stamp = pd.Timestamp(text)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def covariate_shift_stream(
    *,
    n_rows: int,
    start: str,
    shift_at: int | str,
    shift_sd: float,
    seed: int,
    step: str = "1h",
) -> pd.DataFrame:
    """``n_rows`` rows whose feature ``x0`` moves by ``shift_sd`` standard deviations at ``shift_at``.

    Features ``x0 .. x3`` are independent standard normals; the label (column ``label``) is drawn from a fixed
    logistic rule, ``P(label=1) = sigmoid(x . w)`` with ``w = (1.5, -1, 0.5, 0)``, that does not change. From row
    ``shift_at`` on (a row index, or the first row stamped at or after a timestamp) ``x0`` has mean
    ``shift_sd``: an abrupt covariate shift, the drift a feature monitor must see
    once and, with the rule unchanged, the champion may well survive. Row ``i`` is stamped
    ``start + i * step`` in column ``ts``. Same seed, same frame.
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
        raise ValueError(f"n_rows={n_rows!r} must be a positive integer")
    names = ["x0", "x1", "x2", "x3"]
    first, step_ = _utc(start), pd.Timedelta(step)
    cut = _drift_row(shift_at, n_rows, first, step_)
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n_rows, len(names)))
    weights = np.array([1.5, -1.0, 0.5, 0.0])
    labels = (rng.random(n_rows) < 1 / (1 + np.exp(-(values @ weights)))).astype("int64")
    values[cut:, 0] += shift_sd
    frame = pd.DataFrame(values, columns=names)
    frame.insert(0, TIMESTAMP, first + step_ * pd.RangeIndex(n_rows))
    frame[TARGET] = labels
    return frame
