"""Per-column drift thresholds calibrated on the reference, for a known false-alarm rate per batch.

Evidently's fixed thresholds (normed Wasserstein >= 0.1, K-S p <= 0.05, ...) mean different things at different
batch sizes: an unshifted column scores about 0.1 at 500 rows, while K-S flags a 0.01 sd shift at millions. This
module replaces them, per column, by the quantile of the column's score under NO drift at the batch's own size,
and adds an effect-size floor.

Null distribution (two-sample bootstrap). For each column, ``draws`` times: a pseudo-reference of ``n_ref``
values and a pseudo-batch of ``batch_rows`` values are drawn with replacement from the column's reference values,
and the column's drift score (the same method and formula as :mod:`ml.drift.stats`, so the same as Evidently
0.7.23's) is computed between them. Drawing the pseudo-reference too matters: a real batch is a NEW sample, so its
distance to the reference carries the reference's own sampling noise as well as the batch's (variance ~ 1/n_ref
+ 1/batch_rows); comparing a resample of the reference with the reference itself would leave out the 1/n_ref
part and give too low thresholds when batches are not small against the reference.

Thresholds. With the contract's target false-alarm rate ``alpha`` per batch and ``m`` columns (features plus the
prediction column), each column gets ``alpha_col``:

- ``"bonferroni"`` (default): ``alpha / m``. By the union bound the chance that ANY column of a stable batch
  alarms is at most ``alpha`` whatever the dependence between columns; weather features are strongly correlated
  (temperature, dew point, minimum and maximum temperature), so no independence is assumed.
- ``"sidak"``: ``1 - (1 - alpha) ** (1 / m)``: exact for independent columns and valid under positive dependence,
  but not guaranteed under arbitrary dependence; it is only about 0.5 % (relative) less strict than Bonferroni
  at alpha = 0.01.

A distance column's threshold is the ``1 - alpha_col`` quantile of its null scores (drift when score >=
threshold). A p-value column (``ks``) needs no resampling: its p-value is already uniform under no drift for
continuous data, so its threshold is ``alpha_col`` itself (drift when p <= threshold); resampling would add ties
that make bootstrap p-values too small (measured: the 5 % quantile of 300 bootstrap K-S p-values was 0.066 at 800
reference and 200 batch rows). Under positive dependence between columns both corrections are conservative: the
realised per-batch rate is at or below the target.

Effect floor. A column drifts only if its score passes its calibrated threshold AND its effect size is at least
``min_effect``: the normed Wasserstein distance (shift in reference standard deviations, for numeric columns) or
the Jensen-Shannon distance (categorical columns). The threshold shrinks as batch and reference grow (at 30,000
rows on both sides it is below 0.025, so a 0.035 sd shift passes it); the floor says what size of shift is worth
a retrain. The floor only removes alarms, so the
false-alarm guarantee stands.

The result is a small frozen :class:`Calibration` (JSON with :meth:`Calibration.to_json`); :func:`evaluate` turns
a batch's per-column statistics into a :class:`CalibratedDecision` naming drifted columns, scores, thresholds and
effect sizes.

Limits:

- By default (``resample: rows``) the bootstrap treats reference rows as independent draws from one
  distribution. Daily weather is autocorrelated and wanders between years: a real batch (one year of
  consecutive days) differs from the reference more than a random sample of days would, so with this null every
  year of the weather data, even inside the reference's own window, alarms (``bench/results/drift_detection.md``).
  ``resample: stretches`` is for such batches: the reference is cut into the batch periods
  (:func:`stretches_by_period`), each numeric column's between-period wander of the mean is estimated
  (:func:`stretch_wander`) and every pseudo-batch is moved by a draw of it. It models a wandering mean, not a
  wandering shape, needs at least :data:`MIN_STRETCHES` periods in the reference, and covers numeric columns
  scored by normed Wasserstein only. A column that wanders widely (weather's visibility: 0.59 sd between years)
  gets a wide threshold and so sees only large shifts; a steady one (temperature: 0.0) keeps the exchangeable
  threshold.
- A value far outside the reference alarms a small batch that holds it; no resample of a reference without it
  can foresee it. The monitor leaves out values outside the contract's feature ranges
  (:func:`ml.steps.monitor.plausible_values`: the weather data's two 94 sd pressure readings), not rare but
  plausible extremes.
- Quantile resolution: with ``draws`` B, a ``1 - alpha_col`` quantile rests on about ``alpha_col * B`` null draws
  beyond it. Calibration refuses fewer than :data:`MIN_TAIL_DRAWS` (say ``draws >= 10 / alpha_col``): at alpha
  0.01 over 9 columns (Bonferroni) that is 9,000 draws. The realised tail probability then has a relative
  standard error of about ``1 / sqrt(alpha_col * B)`` (about 30 % at 10 draws beyond).
- The guarantee is averaged over references: given one fixed reference, the rate can be above or below ``alpha``.
- Null scores are computed at ONE batch size; batches of other sizes need their own calibration (the monitor
  calibrates and caches per champion and batch size).

Fast paths (vectorised over draws, in chunks): numeric Wasserstein (CDFs of the draws on the reference's sorted
support, from counts, no sorting), and shares-based methods (Jensen-Shannon, PSI) for categorical columns and
numeric columns with at most 20 distinct reference values. PSI or Jensen-Shannon on binned numeric columns call
:func:`ml.drift.compare.compare` once per draw: exact, slower.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.drift.compare import compare
from ml.drift.stats import CATEGORICAL, NUMERIC, OK, P_VALUE, ColumnStat, ReferenceStats

logger = logging.getLogger(__name__)

CORRECTIONS = ("bonferroni", "sidak")
MIN_TAIL_DRAWS = 10  # null draws at least this many beyond each column's quantile
MIN_STRETCHES = 5  # null "stretches": the between-stretch wander is estimated from at least this many stretches
RESAMPLES = ("rows", "stretches")
STRETCHES_NULL = "two-sample bootstrap from the reference, pseudo-batches moved by the between-stretch wander"
FORMAT = "ct-drift-calibration/1"
EFFECT_METHOD = {NUMERIC: "wasserstein", CATEGORICAL: "jensenshannon"}
_FEW_DISTINCT = 5  # Evidently's auto rule: a numeric column with at most 5 distinct values is binned by value
_BINNED_BY_VALUE = 20  # Evidently bins a numeric column by value when its reference has at most 20 distinct values
_CHUNK_CELLS = 4_000_000  # draws x reference values per vectorised chunk (about 32 MB per float64 array)


class CalibrationError(ValueError):
    """Settings or input that cannot be calibrated; the message says how to fix them."""


@dataclass(frozen=True)
class ColumnCalibration:
    """One column's calibrated threshold, floor and a summary of its null distribution."""

    column: str
    kind: str
    method: str
    score_kind: str  # "distance" (drift when score >= threshold) or "p_value" (drift when score <= threshold)
    threshold: float
    min_effect: float
    effect_method: str
    basis: str  # "bootstrap" (a quantile of null scores) or "p_value" (the test's own level: alpha per column)
    null_median: float | None  # bootstrap only
    null_max: float | None  # bootstrap only: the largest null score
    # null "stretches" only: the between-stretch wander of the column's mean (reference standard deviations)
    # added to every pseudo-batch; None under the default null (rows exchangeable).
    wander: float | None = None


@dataclass(frozen=True)
class Calibration:
    """Calibrated per-column thresholds for one reference and one batch size, with how they were made."""

    columns: tuple[ColumnCalibration, ...]
    false_alarm_rate: float
    correction: str
    alpha_column: float
    batch_rows: int
    reference_rows: Mapping[str, int]
    draws: int
    seed: int
    min_effect: float
    null: str = "two-sample bootstrap from the reference"
    format: str = FORMAT
    resample: str = "rows"  # "rows" (exchangeable rows) or "stretches" (time-ordered: see stretch_wander)
    stretches: int | None = None  # resample "stretches": how many reference periods the wander was estimated from

    def column(self, name: str) -> ColumnCalibration:
        for col in self.columns:
            if col.column == name:
                return col
        raise CalibrationError(f"column {name!r} was not calibrated (calibrated: {[c.column for c in self.columns]})")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["reference_rows"] = dict(self.reference_rows)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        if data.get("format") != FORMAT:
            raise CalibrationError(
                f"not a drift calibration of format {FORMAT} (format={data.get('format')!r}): "
                "recalibrate with ml.drift.calibration.calibrate"
            )
        fields = dict(data)
        fields["columns"] = tuple(ColumnCalibration(**c) for c in data["columns"])
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        from ml.files import atomic_write_bytes

        path = Path(path)
        atomic_write_bytes(path, self.to_json().encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class CalibratedDecision:
    """A batch judged against calibrated thresholds: which columns drifted, with score, threshold and effect."""

    columns: tuple[dict, ...]
    drifted_columns: tuple[str, ...]
    batch_rows: int
    calibrated_rows: int
    false_alarm_rate: float
    correction: str
    notes: tuple[str, ...] = field(default=())

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_columns)

    def to_dict(self) -> dict:
        return {
            "drifted": self.drifted,
            "drifted_columns": list(self.drifted_columns),
            "columns": [dict(c) for c in self.columns],
            "batch_rows": self.batch_rows,
            "calibrated_rows": self.calibrated_rows,
            "false_alarm_rate": self.false_alarm_rate,
            "correction": self.correction,
            "notes": list(self.notes),
        }


def column_alpha(false_alarm_rate: float, n_columns: int, correction: str) -> float:
    """The per-column false-alarm rate that keeps the per-batch rate at ``false_alarm_rate`` over ``n_columns``."""
    if correction == "bonferroni":
        return false_alarm_rate / n_columns
    if correction == "sidak":
        return -math.expm1(math.log1p(-false_alarm_rate) / n_columns)
    raise CalibrationError(f"correction={correction!r}: use one of {list(CORRECTIONS)}")


def calibrate(
    reference: ReferenceStats,
    *,
    batch_rows: int,
    false_alarm_rate: float = 0.01,
    draws: int = 10_000,
    min_effect: float = 0.1,
    correction: str = "bonferroni",
    seed: int = 0,
    stretches: Sequence[pd.DataFrame] | None = None,
) -> Calibration:
    """Calibrate every column of ``reference`` (methods as its own settings resolve them) at ``batch_rows`` rows.

    ``stretches``: the reference's rows cut into batch periods (:func:`stretches_by_period`), when batches are
    stretches of consecutive time rather than exchangeable draws (``resample: stretches``): each column's null
    then adds its between-stretch wander (:func:`stretch_wander`).
    """
    _check_settings(batch_rows, false_alarm_rate, draws, min_effect, correction, seed)
    wander = None if stretches is None else stretch_wander(stretches, reference)
    names = reference.columns
    alpha_col = column_alpha(false_alarm_rate, len(names), correction)
    if draws * alpha_col < MIN_TAIL_DRAWS:
        need = math.ceil(MIN_TAIL_DRAWS / alpha_col)
        raise CalibrationError(
            f"draws={draws} leaves {draws * alpha_col:.1f} null draws beyond each column's "
            f"quantile (alpha per column {alpha_col:.5f} over {len(names)} columns); set draws >= "
            f"{need} or raise false_alarm_rate"
        )
    seeds = np.random.SeedSequence(seed).spawn(len(names))
    columns, sizes = [], {}
    refs = [(ref, NUMERIC) for ref in reference.numeric] + [(ref, CATEGORICAL) for ref in reference.categorical]
    for (ref, kind), child in zip(refs, seeds, strict=True):
        rng = np.random.default_rng(child)
        column, n_ref = _calibrate_column(
            reference,
            ref,
            kind,
            batch_rows,
            draws,
            alpha_col,
            min_effect,
            rng,
            None if wander is None else (wander[ref.name], len(stretches)),
        )
        columns.append(column)
        sizes[ref.name] = n_ref
    by_stretches = (
        {} if wander is None else {"null": STRETCHES_NULL, "resample": "stretches", "stretches": len(stretches)}
    )
    return Calibration(
        tuple(columns),
        float(false_alarm_rate),
        correction,
        alpha_col,
        int(batch_rows),
        sizes,
        int(draws),
        int(seed),
        float(min_effect),
        **by_stretches,
    )


def stretches_by_period(ordered: pd.DataFrame, timestamp: str, period: str) -> list[pd.DataFrame]:
    """The reference's rows cut into the periods batches are cut into (``batch.period``, e.g. ``YS``).

    Cutting by time rather than by row count matters for seasonal columns: a sampled reference has fewer rows per
    day than a batch, so a stretch of ``batch_rows`` reference rows spans more than one period and carries an extra
    season, which would pass for wander. Periods the reference only partly covers (under half the median period's
    rows, as at the edges of a training window) are left out.
    """
    if timestamp not in ordered.columns:
        raise CalibrationError(
            f"the reference has no timestamp column {timestamp!r} to cut it into {period} periods "
            f"(columns: {list(ordered.columns)}); retrain to store a reference with it"
        )
    frame = ordered.assign(**{timestamp: pd.to_datetime(ordered[timestamp])})
    groups = [g for _, g in frame.groupby(pd.Grouper(key=timestamp, freq=period)) if len(g)]
    median = np.median([len(g) for g in groups]) if groups else 0
    return [g for g in groups if len(g) >= median / 2]


def stretch_wander(stretches: Sequence[pd.DataFrame], reference: ReferenceStats) -> dict[str, float]:
    """How far each numeric column's mean wanders between stretches of consecutive time in the reference.

    ``stretches``: the reference's rows cut as batches are (:func:`stretches_by_period`). Each column is scaled by
    its standard deviation over all stretches. Stretch ``i``'s mean varies by ``tau^2 + sigma_i^2 / n_i``: the
    second part is what exchangeable rows would give (``sigma_i^2`` its within-stretch variance, ``n_i`` its rows),
    the first the excess of real stretches, from persistence (autocorrelated days) and from the world wandering
    between periods. ``tau`` is the method-of-moments estimate ``max(0, var(means) - mean(sigma_i^2 / n_i))``, the
    between-subgroup variance of a random-effects model (Wheeler's three-way control chart sets the limits of
    subgroup averages from it for the same reason). It is a point estimate from ``k`` stretches and noisy when
    ``k`` is small, so at least :data:`MIN_STRETCHES` are required.
    """
    if len(stretches) < MIN_STRETCHES:
        raise CalibrationError(
            f"null 'stretches' needs at least {MIN_STRETCHES} stretches (batch periods) in the reference, it has "
            f"{len(stretches)}: keep a longer training window or calibrate with resample: rows"
        )
    unsupported = [c.name for c in reference.categorical] + [
        c.name for c in reference.numeric if _resolve_method(reference, c, NUMERIC) != "wasserstein"
    ]
    if unsupported:
        raise CalibrationError(
            f"null 'stretches' is only calibrated for numeric columns scored by normed Wasserstein; {unsupported} "
            "are not: set drift.method: wasserstein, drop those columns from drift, or calibrate with resample: rows"
        )
    wander = {}
    for ref in reference.numeric:
        if any(ref.name not in s.columns for s in stretches):
            raise CalibrationError(f"column {ref.name!r} is missing from the reference's time-ordered rows")
        parts = [pd.to_numeric(s[ref.name], errors="coerce").to_numpy(dtype=float) for s in stretches]
        parts = [p[np.isfinite(p)] for p in parts]
        scale = np.std(np.concatenate(parts))
        if not np.isfinite(scale) or scale <= 0 or min(len(p) for p in parts) < 2:
            wander[ref.name] = 0.0
            continue
        means = np.array([p.mean() for p in parts]) / scale
        within = np.mean([p.var(ddof=1) / len(p) for p in parts]) / scale**2
        wander[ref.name] = float(np.sqrt(max(means.var(ddof=1) - within, 0.0)))
    return wander


def evaluate(
    calibration: Calibration, stats: Sequence[ColumnStat], effects: Mapping[str, float | None] | None = None
) -> CalibratedDecision:
    """Judge a batch from its per-column statistics (``ml.drift.compare.compare`` with the calibrated methods).

    ``effects``: each column's effect size (normed Wasserstein / Jensen-Shannon); columns whose method already is
    the effect measure use their score. A column without a score (bad input: its status says why) or without an
    effect size does not drift; the decision's ``notes`` name it.
    """
    by_name = {s.column: s for s in stats}
    rows = max((s.n_current for s in stats), default=0)
    notes = (
        []
        if rows == calibration.batch_rows
        else [f"batch of {rows} rows judged with thresholds calibrated at {calibration.batch_rows} rows"]
    )
    columns, drifted = [], []
    for cal in calibration.columns:
        stat = by_name.get(cal.column)
        row, note = _judge(cal, stat, effects)
        columns.append(row)
        if note:
            notes.append(note)
        if row["drifted"]:
            drifted.append(cal.column)
    return CalibratedDecision(
        tuple(columns),
        tuple(drifted),
        rows,
        calibration.batch_rows,
        calibration.false_alarm_rate,
        calibration.correction,
        tuple(notes),
    )


def effect_stats(reference: ReferenceStats) -> ReferenceStats:
    """The same reference statistics, scoring effect sizes: normed Wasserstein (numeric), Jensen-Shannon (other)."""
    methods = {c.name: EFFECT_METHOD[NUMERIC] for c in reference.numeric}
    methods |= {c.name: EFFECT_METHOD[CATEGORICAL] for c in reference.categorical}
    return replace(reference, methods=methods, thresholds=dict.fromkeys(methods), _device_cache={})


def judge_batch(
    calibration: Calibration, reference: ReferenceStats, current: pd.DataFrame, threads: int | None = None
) -> CalibratedDecision:
    """Compare ``current`` with ``reference`` (``ml.drift.stats``, ``threads`` workers) and judge it."""
    stats = compare(reference, current, threads=threads)
    needs_effect = [c for c in calibration.columns if c.method != c.effect_method]
    effects = None
    if needs_effect:
        effects = {s.column: s.score for s in compare(effect_stats(reference), current, threads=threads)}
    return evaluate(calibration, stats, effects)


# ---------------------------------------------------------------------------------------------------------------
# Judging one column


def _judge(
    cal: ColumnCalibration, stat: ColumnStat | None, effects: Mapping[str, float | None] | None
) -> tuple[dict, str | None]:
    row = {
        "column": cal.column,
        "method": cal.method,
        "score_kind": cal.score_kind,
        "score": None,
        "threshold": cal.threshold,
        "effect": None,
        "effect_method": cal.effect_method,
        "min_effect": cal.min_effect,
        "beyond_threshold": False,
        "drifted": False,
        "status": "missing",
    }
    if stat is None:
        return row, f"{cal.column}: no statistic for this column"
    row["status"] = stat.status
    if stat.status != OK or stat.score is None:
        return row, f"{cal.column}: {stat.status} {stat.detail}".strip()
    if stat.method != cal.method:
        raise CalibrationError(
            f"column {cal.column!r} was scored with {stat.method!r} but calibrated for "
            f"{cal.method!r}: score batches with the reference statistics the calibration used"
        )
    effect = stat.score if cal.method == cal.effect_method else (effects or {}).get(cal.column)
    beyond = stat.score <= cal.threshold if cal.score_kind == "p_value" else stat.score >= cal.threshold
    row.update(
        score=stat.score,
        effect=effect,
        beyond_threshold=bool(beyond),
        drifted=bool(beyond and effect is not None and effect >= cal.min_effect),
    )
    return row, None if effect is not None else f"{cal.column}: no effect size"


# ---------------------------------------------------------------------------------------------------------------
# Calibrating one column


def _calibrate_column(
    reference: ReferenceStats,
    ref: Any,
    kind: str,
    batch_rows: int,
    draws: int,
    alpha_col: float,
    min_effect: float,
    rng: np.random.Generator,
    wander: tuple[float, int] | None,
) -> tuple[ColumnCalibration, int]:
    if ref.status != OK:
        raise CalibrationError(
            f"column {ref.name!r}: the reference is {ref.status} ({ref.detail}); fix the reference "
            "data or drop the column from the contract's features"
        )
    method = _resolve_method(reference, ref, kind)
    n_ref = len(ref.values) if kind == NUMERIC else ref.n
    if method in P_VALUE:  # the test's p-value already has a known null: its level is the threshold
        return ColumnCalibration(
            ref.name, kind, method, "p_value", alpha_col, float(min_effect), EFFECT_METHOD[kind], "p_value", None, None
        ), n_ref
    if wander is None:
        null = _null_scores(reference, ref, kind, method, batch_rows, draws, rng)
    else:  # stretch_wander checked the method: normed Wasserstein
        null = _wandering_wasserstein_null(ref.values, batch_rows, draws, rng, *wander)
    if not np.all(np.isfinite(null)):
        raise CalibrationError(
            f"column {ref.name!r}: {method} is not finite on some resamples of the reference "
            "(e.g. a constant column); drop the column or choose another drift.method"
        )
    threshold = float(np.quantile(null, 1 - alpha_col, method="higher"))
    column = ColumnCalibration(
        ref.name,
        kind,
        method,
        "distance",
        threshold,
        float(min_effect),
        EFFECT_METHOD[kind],
        "bootstrap",
        float(np.median(null)),
        float(null.max()),
        None if wander is None else wander[0],
    )
    return column, n_ref


def _resolve_method(reference: ReferenceStats, ref: Any, kind: str) -> str:
    """Evidently's automatic choice (as ``ml.drift.stats`` makes it), where the contract names no method."""
    requested = reference.methods.get(ref.name)
    if requested:
        return requested
    n_ref = len(ref.values) if kind == NUMERIC else ref.n
    if n_ref > 1000:
        if kind == CATEGORICAL or len(ref.distinct) <= _FEW_DISTINCT:
            return "jensenshannon"
        return "wasserstein"
    if kind == NUMERIC and len(ref.distinct) > _FEW_DISTINCT:
        return "ks"
    raise CalibrationError(
        f"column {ref.name!r}: with {n_ref} reference values (<= 1000) Evidently picks "
        "chi-square or Z, which is not calibrated here; set drift.method (e.g. psi or "
        "jensenshannon) or keep a larger reference"
    )


def _null_scores(
    reference: ReferenceStats, ref: Any, kind: str, method: str, batch_rows: int, draws: int, rng: np.random.Generator
) -> np.ndarray:
    if kind == CATEGORICAL:
        return _shares_null(ref.counts, method, batch_rows, draws, rng)
    values = ref.values
    if method == "wasserstein":
        return _wasserstein_null(values, batch_rows, draws, rng)
    distinct = ref.distinct
    if len(distinct) <= _BINNED_BY_VALUE:
        counts = np.searchsorted(values, distinct, side="right") - np.searchsorted(values, distinct, side="left")
        return _shares_null(counts, method, batch_rows, draws, rng)
    return _generic_null(reference, ref, batch_rows, draws, rng)


def _chunks(draws: int, n_ref: int) -> list[int]:
    size = max(1, _CHUNK_CELLS // max(n_ref, 1))
    return [min(size, draws - start) for start in range(0, draws, size)]


def _resample_counts(n_values: int, size: int, chunk: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of ``n_values`` sorted reference values is drawn, ``chunk`` resamples of ``size`` rows."""
    index = rng.integers(0, n_values, size=(chunk, size))
    index += (np.arange(chunk) * n_values)[:, None]
    return np.bincount(index.ravel(), minlength=chunk * n_values).reshape(chunk, n_values)


def _wasserstein_null(values: np.ndarray, batch_rows: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Normed Wasserstein between resampled pseudo-references and pseudo-batches, on the reference's support.

    Both resamples take only reference values, so their CDFs at the sorted reference values follow from draw
    counts; the distance is scipy's ``sum |F_ref - F_cur| * diff(x)`` (ties add 0), normed by the pseudo-reference's
    standard deviation floored at 0.001, as Evidently norms it.
    """
    n_ref = len(values)
    gaps = np.diff(values)
    out = []
    for chunk in _chunks(draws, n_ref):
        ref_counts = _resample_counts(n_ref, n_ref, chunk, rng)
        mean = ref_counts @ values / n_ref
        std = np.sqrt(np.maximum(ref_counts @ (values - values.mean()) ** 2 / n_ref - (mean - values.mean()) ** 2, 0.0))
        ref_cdf = np.cumsum(ref_counts, axis=1, dtype=np.float64) / n_ref
        del ref_counts
        ref_cdf -= np.cumsum(_resample_counts(n_ref, batch_rows, chunk, rng), axis=1, dtype=np.float64) / batch_rows
        np.abs(ref_cdf, out=ref_cdf)
        out.append(ref_cdf[:, :-1] @ gaps / np.maximum(std, 0.001))
    return np.concatenate(out)


def _wandering_wasserstein_null(
    values: np.ndarray, batch_rows: int, draws: int, rng: np.random.Generator, wander: float, stretches: int
) -> np.ndarray:
    """Normed Wasserstein between resampled pseudo-references and pseudo-batches moved by a wandering mean.

    Each pseudo-batch is shifted by ``delta * sd``, ``delta = wander * sqrt(1 + 1 / k) * T`` with ``T`` Student's
    t with ``k - 1`` degrees of freedom (``k`` stretches): the predictive distribution of a NEW period's mean when
    the between-period variance is itself estimated from ``k`` periods (as a prediction interval is wider than a
    confidence interval). Measured on simulated periods (16 reference periods of 200 rows, one of two columns
    wandering 0.3 sd): a normal ``delta`` alarmed on 1.8 % of 4,500 new periods at a 1 % target and on 6.4 % of
    1,200 at 5 %; the t gave 1.0 % and 5.5 %. The shift moves values off the
    reference's support and the counts trick of :func:`_wasserstein_null` does not apply. The distance is computed
    from quantile functions instead, ``W1 = integral_0^1 |Q_ref(u) - Q_cur(u)| du``: both are step functions with
    steps at multiples of ``1 / n_ref`` and ``1 / batch_rows``, so on the merged steps (the same for every draw,
    kept as integers over ``n_ref * batch_rows`` so that no rounding misplaces a step) the integral is an exact sum.
    """
    n_ref = len(values)
    steps = np.union1d(np.arange(1, n_ref + 1) * batch_rows, np.arange(1, batch_rows + 1) * n_ref)
    width = np.diff(steps, prepend=0) / (n_ref * batch_rows)
    ref_at = (steps + batch_rows - 1) // batch_rows - 1  # index of the sorted pseudo-reference on each step
    cur_at = (steps + n_ref - 1) // n_ref - 1
    sd = float(values.std())
    out = []
    for chunk in _chunks(draws, n_ref + batch_rows):
        pseudo_ref = values[np.sort(rng.integers(0, n_ref, size=(chunk, n_ref)), axis=1)]
        pseudo_cur = values[np.sort(rng.integers(0, n_ref, size=(chunk, batch_rows)), axis=1)]
        pseudo_cur += (rng.standard_t(stretches - 1, size=chunk) * (wander * math.sqrt(1 + 1 / stretches) * sd))[
            :, None
        ]
        distance = np.abs(pseudo_ref[:, ref_at] - pseudo_cur[:, cur_at]) @ width
        out.append(distance / np.maximum(pseudo_ref.std(axis=1), 0.001))
    return np.concatenate(out)


def _shares_null(counts: np.ndarray, method: str, batch_rows: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Jensen-Shannon or PSI between resampled category (or value) shares, Evidently's formulas via drift_stats."""
    from ml.drift.stats import share_score

    n_ref = int(counts.sum())
    p = counts / n_ref
    ref_shares = rng.multinomial(n_ref, p, size=draws) / n_ref
    cur_shares = rng.multinomial(batch_rows, p, size=draws) / batch_rows
    scores = np.empty(draws)
    for i in range(draws):
        seen = (ref_shares[i] > 0) | (cur_shares[i] > 0)  # Evidently's bins: values seen on either side
        scores[i] = share_score(method, ref_shares[i][seen], cur_shares[i][seen])
    return scores


def _generic_null(
    reference: ReferenceStats, ref: Any, batch_rows: int, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """Any other method: ``ml.drift.stats`` on each pair of resamples (exact, one compare per draw)."""
    values, name = ref.values, ref.name
    method, threshold = reference.methods.get(name), reference.thresholds.get(name)
    cast = np.int64 if ref.integer else np.float64  # integer columns keep numpy's integer binning
    scores = np.empty(draws)
    for i in range(draws):
        pseudo_ref = pd.DataFrame({name: values[rng.integers(0, len(values), len(values))].astype(cast)})
        pseudo_cur = pd.DataFrame({name: values[rng.integers(0, len(values), batch_rows)].astype(cast)})
        stats = ReferenceStats.from_frame(pseudo_ref, numeric=[name], method=method, threshold=threshold)
        stat = compare(stats, pseudo_cur, threads=1)[0]
        scores[i] = stat.score if stat.score is not None else np.nan
    return scores


def _check_settings(batch_rows: Any, rate: Any, draws: Any, min_effect: Any, correction: Any, seed: Any) -> None:
    def is_int(value: Any) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)

    if not is_int(batch_rows) or batch_rows < 2:
        raise CalibrationError(f"batch_rows={batch_rows!r}: give the batch size to calibrate for, an integer >= 2")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 0.5:
        raise CalibrationError(
            f"false_alarm_rate={rate!r}: give the target false alarms per stable batch, a number "
            "in (0, 0.5), e.g. 0.01 for one in 100 batches"
        )
    if not is_int(draws) or draws < 100:
        raise CalibrationError(f"draws={draws!r}: give the number of bootstrap draws, an integer >= 100")
    if (
        isinstance(min_effect, bool)
        or not isinstance(min_effect, int | float)
        or not (math.isfinite(min_effect) and min_effect >= 0)
    ):
        raise CalibrationError(
            f"min_effect={min_effect!r}: give the smallest effect worth an alarm, a finite number "
            ">= 0 (normed Wasserstein in reference standard deviations; 0 switches the floor off)"
        )
    if correction not in CORRECTIONS:
        raise CalibrationError(f"correction={correction!r}: use one of {list(CORRECTIONS)}")
    if not is_int(seed) or seed < 0:
        raise CalibrationError(f"seed={seed!r}: give a non-negative integer seed")


def cached_calibration(
    path: str | Path,
    reference: ReferenceStats,
    *,
    batch_rows: int,
    false_alarm_rate: float,
    draws: int,
    min_effect: float,
    correction: str,
    seed: int,
    resample: str = "rows",
    stretches: Sequence[pd.DataFrame] | None = None,
) -> Calibration:
    """The calibration stored at ``path`` when it was made with these settings, else a new one saved there.

    ``resample="stretches"`` needs ``stretches``, the reference cut into batch periods (see :func:`calibrate`).
    """
    if resample not in RESAMPLES:
        raise CalibrationError(f"resample={resample!r}: use one of {list(RESAMPLES)}")
    if resample == "stretches" and stretches is None:
        raise CalibrationError("resample='stretches' needs the reference cut into batch periods (stretches=...)")
    path = Path(path)
    settings = {
        "batch_rows": batch_rows,
        "false_alarm_rate": false_alarm_rate,
        "draws": draws,
        "min_effect": min_effect,
        "correction": correction,
        "seed": seed,
    }
    if path.exists():
        try:
            stored = Calibration.load(path)
        except (CalibrationError, ValueError, TypeError, KeyError) as error:
            logger.warning("drift calibration %s unreadable (%s): recalibrating", path, error)
        else:
            if (
                {k: getattr(stored, k) for k in settings} == settings
                and stored.resample == resample
                and set(stored.reference_rows) == set(reference.columns)
            ):
                return stored
    calibration = calibrate(reference, **settings, stretches=stretches if resample == "stretches" else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(path)
    logger.info("drift calibration at %d rows saved to %s", batch_rows, path)
    return calibration
