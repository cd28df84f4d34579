"""Run an Evidently data-drift report and return the per-column numbers a drift policy needs.

One call compares a reference frame with a current frame, column by column, with Evidently's
``ValueDrift`` metric (the per-column drift test of ``DataDriftPreset``), writes Evidently's snapshot as
JSON (authoritative, reloadable with ``evidently.core.report.Snapshot.load``) and optionally an HTML page
for people, and returns a :class:`DriftReport`: method, score, threshold and Evidently's own verdict for
each column. Deciding what to do about drift is the caller's job (a policy), not this module's.

Big batches (``fast_path_rows`` rows or more, default 50,000, with a reference over 1,000 rows and a method
that :mod:`ml.drift.stats` computes) take the scalable path: the numbers and verdicts come from
``ml.drift.compare.compare`` on ALL rows (equal to Evidently's; see that module), saved as
``<report_id>.drift_stats.json``, and Evidently runs only on a bounded sample for the HTML page and the snapshot.

Evidently (and pandas) are imported inside :func:`run_drift_report`, never at module import: importing
Evidently takes seconds, and DAG files and the CLI import this module while parsing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.files import atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd

    from ml.drift.stats import ReferenceStats

logger = logging.getLogger(__name__)

NUMERIC = "numeric"
CATEGORICAL = "categorical"
FAST_PATH_ROWS = 50_000  # current rows from which ml.drift.stats computes the numbers (Evidently: a sample, HTML)

# Evidently 0.7.23 stattests whose score is a p-value: drift when the score is BELOW the threshold
# (read from evidently/legacy/calculations/stattests/*.py; "TVD" is one despite its name). Every other
# registered numeric/categorical stattest (wasserstein, jensenshannon, psi, kl_div, hellinger, ed) scores
# a distance: drift when the score is AT OR ABOVE the threshold ("ed": strictly above).
P_VALUE_METHODS = frozenset(
    {
        "ks",
        "chisquare",
        "z",
        "anderson",
        "cramer_von_mises",
        "es",
        "fisher_exact",
        "g_test",
        "mannw",
        "t_test",
        "empirical_mmd",
        "TVD",
    }
)


class DriftInputError(ValueError):
    """The frames or settings given to :func:`run_drift_report` cannot be compared; the message says how to fix it."""


class DriftReportParseError(RuntimeError):
    """Evidently's snapshot lacks a per-column value this module expects (an Evidently upgrade changed it)."""


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's drift result for one column.

    ``score`` is the statistic Evidently reports: a p-value for tests (drift when small), a distance for
    distances (drift when large); see :attr:`score_kind`. ``drifted`` is Evidently's own verdict.
    """

    column: str
    kind: str  # "numeric" | "categorical"
    method: str  # Evidently stattest id, e.g. "wasserstein", "ks", "jensenshannon", "psi", "chisquare"
    score: float
    threshold: float
    drifted: bool

    @property
    def score_kind(self) -> str:
        """``"p_value"`` (drift when score < threshold) or ``"distance"`` (drift when score >= threshold)."""
        return "p_value" if self.method in P_VALUE_METHODS else "distance"

    def to_dict(self) -> dict:
        """JSON-safe dict: a NaN score (Evidently gives one for some degenerate columns) becomes ``None``."""
        return {
            "column": self.column,
            "kind": self.kind,
            "method": self.method,
            "score_kind": self.score_kind,
            "score": self.score if math.isfinite(self.score) else None,
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift of one current batch against a reference, and where the report files lie."""

    report_id: str
    columns: tuple[ColumnDrift, ...]
    drift_share: float  # drifted columns / all columns checked
    n_reference: int
    n_current: int
    html_path: str | None
    json_path: str
    stats_path: str | None = None  # scalable path only: ml.drift.stats' per-column numbers on all rows
    engine: str = "evidently"  # "evidently" (all rows) or "drift_stats" (all rows; Evidently on a sample)

    def drifted_columns(self) -> list[str]:
        """Names of the columns Evidently flagged, in the order they were checked."""
        return [c.column for c in self.columns if c.drifted]

    def to_dict(self) -> dict:
        """JSON-safe dict (for XCom-sized summaries, decision records and logs)."""
        return {
            "report_id": self.report_id,
            "columns": [c.to_dict() for c in self.columns],
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_columns(),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "html_path": self.html_path,
            "json_path": self.json_path,
            "stats_path": self.stats_path,
            "engine": self.engine,
        }


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    out_dir: Path,
    report_id: str,
    method: str | None = None,
    threshold: float | None = None,
    html: bool = True,
    max_rows_for_html: int = 20000,
    seed: int = 0,
    timestamp: datetime | None = None,
    drift_share: float = 0.5,
    fast_path_rows: int | None = FAST_PATH_ROWS,
    reference_stats: ReferenceStats | None = None,
    backend: str = "numpy",
    device: str | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column and write the report files.

    Every column in ``numeric`` and ``categorical`` (a model's prediction column may be listed among
    ``numeric``) is tested with Evidently's ``ValueDrift``. ``method`` (an Evidently stattest id such as
    ``"wasserstein"``, ``"ks"``, ``"psi"``, ``"jensenshannon"``, ``"chisquare"``) and ``threshold`` apply to
    every column when given; otherwise Evidently picks per column (reference over 1,000 rows: normed
    Wasserstein / Jensen-Shannon at 0.1; else KS / chi-square or Z at p < 0.05). The method and threshold
    actually used are reported per column.

    Files, each written atomically (temporary file, then ``os.replace``), in ``out_dir`` (created if missing):

    - ``<report_id>.json``: Evidently's full snapshot of the run on ALL rows (``Snapshot.dumps()``); reload
      with ``Snapshot.load(path)``, numbers with ``.dict()``. The returned numbers come from this run.
    - ``<report_id>.html`` when ``html``: a ``DataDriftPreset`` page built from a seeded random sample of at
      most ``max_rows_for_html`` rows of each side, with the methods and thresholds resolved on the full
      run, so huge batches stay cheap to render. With sampling its scores can differ slightly from the
      JSON; without (both sides within the bound) they are the same.

    ``timestamp`` is stored in the snapshot (Evidently uses its clock when it is ``None``). ``drift_share``
    only sets the HTML page's "dataset drift" headline; drift decisions are the caller's (``ml.drift.policy``).

    Scalable path: with ``fast_path_rows`` (``None`` switches it off) or more current rows, a reference over
    1,000 rows and ``method`` None or one of ``ml.drift.stats.METHODS``, the returned numbers come from
    ``ml.drift.stats`` on all rows (``reference_stats``: statistics precomputed for this reference, else built
    here; ``backend``/``device``: ``"numpy"``, or ``"torch"`` on a GPU worker), written to
    ``<report_id>.drift_stats.json``; ``<report_id>.json`` and the HTML are then Evidently's run on the bounded
    sample. A column that path cannot score as Evidently would (``unsupported``) sends the call back to Evidently.

    Raises:
        DriftInputError: a column is missing from a frame, listed twice, of a non-numeric dtype but listed
            as numeric, or has no values (empty frame, all null, or no finite numbers) on one side; or
            ``method``/``threshold``/``report_id``/``max_rows_for_html`` is unusable. Raised before
            Evidently runs (Evidently crashes on empty columns).
    """
    columns = _validate_inputs(reference, current, numeric, categorical, report_id, threshold, max_rows_for_html)
    kinds = {name: NUMERIC for name in numeric} | {name: CATEGORICAL for name in categorical}
    if method is not None:
        _validate_method(method, threshold, set(kinds.values()))

    started = time.perf_counter()
    if _use_fast_path(len(reference), len(current), method, fast_path_rows):
        report = _fast_report(
            reference[columns],
            current[columns],
            numeric,
            categorical,
            method,
            threshold,
            reference_stats,
            backend,
            device,
            out_dir,
            report_id,
            html,
            max_rows_for_html,
            seed,
            timestamp,
            drift_share,
        )
        if report is not None:
            _log_report(report, time.perf_counter() - started)
            return report
    snapshot = _run_value_drift(
        reference[columns], current[columns], numeric, categorical, method, threshold, timestamp, report_id
    )
    results = tuple(parse_column_drifts(snapshot.dict(), kinds))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{report_id}.json"
    _atomic_write_text(json_path, snapshot.dumps())

    html_path: Path | None = None
    if html:
        html_path = out_dir / f"{report_id}.html"
        page = _render_html(
            reference[columns],
            current[columns],
            numeric,
            categorical,
            results,
            max_rows_for_html,
            seed,
            timestamp,
            report_id,
            drift_share,
        )
        _atomic_write_text(html_path, page)

    report = DriftReport(
        report_id=report_id,
        columns=results,
        drift_share=sum(r.drifted for r in results) / len(results),
        n_reference=len(reference),
        n_current=len(current),
        html_path=str(html_path) if html_path is not None else None,
        json_path=str(json_path),
    )
    _log_report(report, time.perf_counter() - started)
    return report


def _log_report(report: DriftReport, seconds: float) -> None:
    logger.info(
        "drift report %s (%s): %d of %d columns drifted (%s), %d reference vs %d current rows, %.2f s",
        report.report_id,
        report.engine,
        len(report.drifted_columns()),
        len(report.columns),
        ", ".join(report.drifted_columns()) or "none",
        report.n_reference,
        report.n_current,
        seconds,
    )


def _use_fast_path(n_reference: int, n_current: int, method: str | None, fast_path_rows: int | None) -> bool:
    from ml.drift.stats import METHODS

    return (
        fast_path_rows is not None
        and n_current >= fast_path_rows
        and n_reference > 1000
        and (method is None or method in METHODS)
    )


def _fast_report(
    reference,
    current,
    numeric,
    categorical,
    method,
    threshold,
    reference_stats,
    backend,
    device,
    out_dir,
    report_id,
    html,
    max_rows,
    seed,
    timestamp,
    drift_share,
) -> DriftReport | None:
    """The scalable path: numbers from ml.drift.stats on all rows, Evidently's snapshot and page from a sample."""
    import json

    from ml.drift.compare import compare
    from ml.drift.stats import OK, ReferenceStats

    stats = reference_stats or ReferenceStats.from_frame(
        reference, numeric=numeric, categorical=categorical, method=method, threshold=threshold
    )
    column_stats = compare(stats, current, backend=backend, device=device)
    if any(s.status != OK for s in column_stats):
        logger.info(
            "drift report %s: %s; using Evidently on all rows",
            report_id,
            "; ".join(f"{s.column}: {s.status} {s.detail}" for s in column_stats if s.status != OK),
        )
        return None
    results = tuple(ColumnDrift(s.column, s.kind, s.method, s.score, s.threshold, s.drifted) for s in column_stats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats_path = out_dir / f"{report_id}.drift_stats.json"
    _atomic_write_text(
        stats_path,
        json.dumps(
            {
                "report_id": report_id,
                "engine": "ml.drift.stats",
                "backend": backend,
                "n_reference": len(reference),
                "n_current": len(current),
                "columns": [s.to_dict() for s in column_stats],
            },
            indent=1,
        ),
    )
    snapshot = _sample_snapshot(
        reference, current, numeric, categorical, results, max_rows, seed, timestamp, report_id, drift_share
    )
    json_path = out_dir / f"{report_id}.json"
    _atomic_write_text(json_path, snapshot.dumps())
    html_path = out_dir / f"{report_id}.html" if html else None
    if html_path is not None:
        _atomic_write_text(html_path, snapshot.get_html_str(as_iframe=False))
    return DriftReport(
        report_id=report_id,
        columns=results,
        drift_share=sum(r.drifted for r in results) / len(results),
        n_reference=len(reference),
        n_current=len(current),
        html_path=str(html_path) if html_path is not None else None,
        json_path=str(json_path),
        stats_path=str(stats_path),
        engine="drift_stats",
    )


def parse_column_drifts(snapshot_dict: Mapping[str, Any], kinds: Mapping[str, str]) -> list[ColumnDrift]:
    """Read each column's method, score, threshold and verdict from ``Snapshot.dict()`` (Evidently 0.7).

    Where Evidently 0.7.23 puts them (``Snapshot.dict()``, also of a snapshot reloaded from its JSON):

    - ``metrics[i]`` with ``config.type == "evidently:metric_v2:ValueDrift"`` and ``config.column``:
      ``value`` is the score; ``config.threshold`` the threshold; ``config.method`` the stattest, as
      passed when the caller named one (``"ks"``) but as Evidently's DISPLAY name when it chose one
      (``"Wasserstein distance (normed)"``, ``"K-S p_value"``): mapped back to the id via the registry.
    - the verdict is not in the metric: it is the test in ``tests`` whose ``metric_config.metric_id``
      equals the metric's ``id``: status ``FAIL`` = drift, ``SUCCESS`` = none. The test exists only when
      the report runs with ``include_tests=True``; without it the verdict is rederived from the score.
    """
    verdicts = {
        test.get("metric_config", {}).get("metric_id"): _status_name(test.get("status"))
        for test in snapshot_dict.get("tests", [])
    }
    by_column = {}
    for metric in snapshot_dict.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type") == "evidently:metric_v2:ValueDrift":
            by_column[config.get("column")] = metric
    results = []
    for column, kind in kinds.items():
        metric = by_column.get(column)
        if metric is None:
            raise DriftReportParseError(f"Evidently snapshot has no ValueDrift result for column {column!r}")
        config = metric["config"]
        method = _stattest_id(str(config.get("method")))
        score, threshold = float(metric.get("value", math.nan)), float(config.get("threshold", math.nan))
        drifted = _verdict(verdicts.get(metric.get("id")), method, score, threshold, column)
        results.append(ColumnDrift(column, kind, method, score, threshold, drifted))
    return results


def _status_name(status: object) -> str:
    # In memory a TestStatus enum, after a JSON round trip maybe its string value.
    return str(getattr(status, "value", status)).upper()


def _verdict(status: str | None, method: str, score: float, threshold: float, column: str) -> bool:
    if status == "FAIL":
        return True
    if status == "SUCCESS":
        return False
    if status is None and math.isfinite(score) and math.isfinite(threshold):
        return score < threshold if method in P_VALUE_METHODS else score >= threshold
    raise DriftReportParseError(f"no drift verdict for column {column!r} (test status {status!r}, score {score})")


def _stattest_id(name: str) -> str:
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    if name in _registered_stat_tests:
        return name
    by_display = {t.display_name: t_id for t_id, by_type in _registered_stat_tests.items() for t in by_type.values()}
    return by_display.get(name, name)


def _run_value_drift(reference, current, numeric, categorical, method, threshold, timestamp, report_id):
    from evidently import Dataset, Report
    from evidently.metrics import ValueDrift

    metrics = [ValueDrift(column=c, method=method, threshold=threshold) for c in [*numeric, *categorical]]
    current_ds, reference_ds = _datasets(Dataset, reference, current, numeric, categorical)
    # Evidently's argument order: current first, reference second.
    return Report(metrics, include_tests=True).run(current_ds, reference_ds, timestamp=timestamp, name=report_id)


def _render_html(
    reference, current, numeric, categorical, results, max_rows, seed, timestamp, report_id, drift_share
) -> str:
    snapshot = _sample_snapshot(
        reference, current, numeric, categorical, results, max_rows, seed, timestamp, report_id, drift_share
    )
    return snapshot.get_html_str(as_iframe=False)


def _sample_snapshot(
    reference, current, numeric, categorical, results, max_rows, seed, timestamp, report_id, drift_share
):
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    preset = DataDriftPreset(
        columns=[r.column for r in results],
        drift_share=drift_share,  # so the page's "dataset drift" headline uses the contract's share
        per_column_method={r.column: r.method for r in results},
        per_column_threshold={r.column: r.threshold for r in results},
    )
    ref_sample, cur_sample = _sample(reference, max_rows, seed), _sample(current, max_rows, seed + 1)
    if len(ref_sample) < len(reference) or len(cur_sample) < len(current):
        logger.info(
            "drift report %s: HTML from %d of %d reference and %d of %d current rows",
            report_id,
            len(ref_sample),
            len(reference),
            len(cur_sample),
            len(current),
        )
    current_ds, reference_ds = _datasets(Dataset, ref_sample, cur_sample, numeric, categorical)
    return Report([preset], include_tests=True).run(current_ds, reference_ds, timestamp=timestamp, name=report_id)


def _datasets(dataset_cls, reference, current, numeric, categorical):
    from evidently import DataDefinition

    definition = DataDefinition(numerical_columns=list(numeric), categorical_columns=list(categorical))
    return (
        dataset_cls.from_pandas(current, data_definition=definition),
        dataset_cls.from_pandas(reference, data_definition=definition),
    )


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= max_rows else frame.sample(n=max_rows, random_state=seed)


def _validate_inputs(reference, current, numeric, categorical, report_id, threshold, max_rows) -> list[str]:
    _check_report_id(report_id)
    columns = [*numeric, *categorical]
    if not columns:
        raise DriftInputError("no columns to check: pass at least one name in numeric= or categorical=")
    _check_unique(columns, categorical)
    _check_threshold(threshold)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise DriftInputError(f"max_rows_for_html={max_rows!r} must be an integer >= 1")
    for side, frame in (("reference", reference), ("current", current)):
        _check_frame(side, frame, numeric, categorical)
    return columns


def _check_threshold(threshold: float | None) -> None:
    if threshold is None:
        return
    try:
        ok = not isinstance(threshold, bool) and math.isfinite(float(threshold)) and float(threshold) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DriftInputError(f"threshold={threshold!r} must be a finite number > 0, or None for Evidently's default")


def _check_report_id(report_id: str) -> None:
    if not isinstance(report_id, str) or report_id in ("", ".", "..") or any(ch in report_id for ch in "/\\\x00"):
        raise DriftInputError(
            f"report_id={report_id!r} names the output files: use a non-empty name without '/', '\\' or NUL"
        )


def _check_unique(columns: Sequence[str], categorical: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            where = "both numeric and categorical" if name in categorical else "twice"
            raise DriftInputError(f"column {name!r} is listed {where}: list each column once, under one kind")
        seen.add(name)


def _check_frame(side: str, frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise DriftInputError(f"{side} must be a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise DriftInputError(f"the {side} frame has no rows: drift needs data on both sides; pass a non-empty batch")
    missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        raise DriftInputError(
            f"column(s) {missing} missing from the {side} frame (it has {list(frame.columns)[:20]}): "
            "add them to the frame or drop them from numeric=/categorical="
        )
    for name in numeric:
        _check_numeric(side, name, frame[name])
    for name in categorical:
        if not frame[name].notna().any():
            raise DriftInputError(
                f"categorical column {name!r} is all null in the {side} frame: "
                "fix the upstream data or drop it from categorical="
            )


def _check_numeric(side: str, name: str, series: pd.Series) -> None:
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(series):
        raise DriftInputError(
            f"column {name!r} is listed as numeric but has dtype {series.dtype} in the {side} frame: "
            "convert it (pd.to_numeric) or list it under categorical="
        )
    # Evidently drops NaN and +-inf before testing, and crashes when nothing is left.
    if not np.isfinite(series.to_numpy(dtype="float64", na_value=np.nan)).any():
        raise DriftInputError(
            f"numeric column {name!r} has no finite value in the {side} frame (all null or infinite): "
            "fix the upstream data or drop it from numeric="
        )


def _validate_method(method: str, threshold: float | None, kinds: set[str]) -> None:
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
    from evidently.legacy.core import ColumnType

    wanted = {NUMERIC: ColumnType.Numerical, CATEGORICAL: ColumnType.Categorical}
    known = sorted(n for n, by_type in _registered_stat_tests.items() if all(wanted[k] in by_type for k in kinds))
    if method not in known:
        raise DriftInputError(
            f"method={method!r} is not an Evidently stattest for {' and '.join(sorted(kinds))} columns; "
            f"use one of {known}, or None for Evidently's defaults (split the call to use one method per kind)"
        )
    if threshold is not None and method in P_VALUE_METHODS and threshold >= 1:
        raise DriftInputError(f"method={method!r} scores a p-value: threshold={threshold} must be below 1")


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
