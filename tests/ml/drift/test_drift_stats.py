"""ml.drift.stats gives Evidently's statistics and verdicts, from stored reference statistics, on numpy and torch."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml.drift.compare import compare
from ml.drift.stats import (
    ALL_NULL,
    EMPTY,
    MISSING,
    NON_FINITE,
    OK,
    UNSUPPORTED,
    WRONG_TYPE,
    DriftStatsError,
    ReferenceStats,
)

REL = 1e-9  # stated agreement with Evidently (measured: about 1e-13 relative, often bit-identical)
METHODS = ("wasserstein", "ks", "psi", "jensenshannon")


def _frames(n_ref: int, n_cur: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Several distributions, some shifted: continuous, heavy ties, few integer values, categories (one new)."""
    rng = np.random.default_rng(seed)

    def side(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "normal": rng.normal(shift, 1, n),
                "normal_same": rng.normal(0, 1, n),
                "lognormal": rng.lognormal(shift, 1, n),
                "ties": rng.exponential(1 + shift, n).round(1),
                "few_ints": rng.integers(0, 7 + int(shift > 0), n),
                "uniform_int": rng.integers(0, 200, n),
                "category": rng.choice(["a", "b", "c", "d"] + (["new"] if shift else []), n),
                "code": rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2] if not shift else [0.3, 0.3, 0.4]),
            }
        )

    return side(n_ref, 0.0), side(n_cur, 0.3)


NUMERIC = ["normal", "normal_same", "lognormal", "ties", "few_ints", "uniform_int"]
CATEGORICAL = ["category", "code"]


def _evidently(method: str | None, reference: pd.Series, current: pd.Series, categorical: bool):
    """Evidently's own stattest on Evidently's cleaned columns: (method id, score, drifted)."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Categorical if categorical else ColumnType.Numerical
    ref = reference.replace([-np.inf, np.inf], np.nan).dropna()
    cur = current.replace([-np.inf, np.inf], np.nan).dropna()
    test = get_stattest(ref, cur, kind, method)
    result = test(ref, cur, kind, None)
    return test.name, float(result.drift_score), bool(result.drifted)


def _assert_matches_evidently(stats, reference, current, method):
    for stat in stats:
        assert stat.status == OK, stat
        name, score, drifted = _evidently(
            method, reference[stat.column], current[stat.column], stat.kind == "categorical"
        )
        assert stat.method == name, stat
        assert stat.score == pytest.approx(score, rel=REL, abs=1e-300), (stat, score)
        assert stat.drifted == drifted, (stat, score)


@pytest.mark.parametrize("method", [None, *METHODS])
@pytest.mark.parametrize(("n_ref", "n_cur", "seed"), [(3000, 2000, 1), (12000, 15000, 2)])
def test_random_data_matches_evidently_stattests(method, n_ref, n_cur, seed):
    """Small sizes use scipy's exact K-S p-value, large ones the asymptotic one; both sides of every rule."""
    reference, current = _frames(n_ref, n_cur, seed)
    categorical = [] if method in ("wasserstein", "ks") else CATEGORICAL
    stats = ReferenceStats.from_frame(reference, numeric=NUMERIC, categorical=categorical, method=method)
    result = compare(stats, current, threads=2)
    _assert_matches_evidently(result, reference, current, method)
    verdicts = {s.drifted for s in result}
    assert verdicts == {True, False} or method == "ks"  # shifted and unshifted columns both present


def test_unshifted_data_is_not_drifted_and_matches():
    reference, _ = _frames(5000, 10, 3)
    current, _ = _frames(4000, 10, 4)
    stats = ReferenceStats.from_frame(reference, numeric=NUMERIC, categorical=CATEGORICAL)
    result = compare(stats, current)
    _assert_matches_evidently(result, reference, current, None)
    assert not any(s.drifted for s in result)


@pytest.mark.parametrize("method", METHODS)
def test_torch_cpu_equals_numpy(method):
    pytest.importorskip("torch")
    reference, current = _frames(4000, 30000, 5)
    current.loc[::97, "normal"] = np.nan
    current.loc[::101, "lognormal"] = np.inf
    stats = ReferenceStats.from_frame(reference, numeric=NUMERIC, method=method)
    by_numpy = compare(stats, current)
    by_torch = compare(stats, current, backend="torch", device="cpu")
    for a, b in zip(by_numpy, by_torch, strict=True):
        assert (a.column, a.method, a.drifted, a.status, a.n_current) == (
            b.column,
            b.method,
            b.drifted,
            b.status,
            b.n_current,
        )
        assert b.score == pytest.approx(a.score, rel=1e-12, abs=1e-300)


@pytest.mark.gpu
def test_cuda_equals_numpy():
    reference, current = _frames(20000, 200000, 6)
    for method in METHODS:
        stats = ReferenceStats.from_frame(reference, numeric=NUMERIC, method=method)
        by_numpy, by_cuda = compare(stats, current), compare(stats, current, backend="torch", device="cuda")
        assert [s.drifted for s in by_numpy] == [s.drifted for s in by_cuda]
        for a, b in zip(by_numpy, by_cuda, strict=True):
            assert b.score == pytest.approx(a.score, rel=1e-12, abs=1e-300)


def test_reference_stats_round_trip_through_their_file(tmp_path):
    reference, current = _frames(3000, 2500, 7)
    reference.loc[::50, "normal"] = np.nan
    stats = ReferenceStats.from_frame(
        reference, numeric=NUMERIC, categorical=CATEGORICAL, method="psi", threshold={"normal": 0.2}
    )
    path = stats.save(tmp_path / "drift_stats.npz")
    loaded = ReferenceStats.load(path)
    assert loaded.columns == stats.columns
    assert compare(loaded, current) == compare(stats, current)
    assert compare(loaded, current)[0].threshold == 0.2
    assert path.stat().st_size < 200_000


def _bad_frames():
    n = 2000
    rng = np.random.default_rng(8)
    reference = pd.DataFrame(
        {
            "empty_cur": rng.normal(size=n),
            "null": rng.normal(size=n),
            "inf": rng.normal(size=n),
            "constant": np.ones(n),
            "one_category": ["x"] * n,
            "ref_null": [np.nan] * n,
            "text": rng.normal(size=n),
            "gone": rng.normal(size=n),
            "cat_null": ["a", "b"] * (n // 2),
        }
    )
    current = pd.DataFrame(
        {
            "empty_cur": [np.nan] * 500,
            "null": [np.nan] * 500,
            "inf": [np.inf, -np.inf, np.nan, np.inf] * 125,
            "constant": np.full(500, 2.0),
            "one_category": ["x"] * 500,
            "ref_null": rng.normal(size=500),
            "text": ["1.5"] * 500,
            "cat_null": [None] * 500,
        }
    )
    return reference, current


def test_bad_input_gets_a_named_verdict_never_a_crash_or_nan():
    reference, current = _bad_frames()
    numeric = ["empty_cur", "null", "inf", "constant", "ref_null", "text", "gone"]
    categorical = ["one_category", "cat_null"]
    stats = ReferenceStats.from_frame(reference, numeric=numeric, categorical=categorical, method="psi")
    by_name = {s.column: s for s in compare(stats, current)}
    expected = {
        "null": ALL_NULL,
        "inf": NON_FINITE,
        "ref_null": ALL_NULL,
        "text": WRONG_TYPE,
        "gone": MISSING,
        "cat_null": ALL_NULL,
        "constant": OK,
        "one_category": OK,
    }
    for name, status in expected.items():
        assert by_name[name].status == status, by_name[name]
    assert "reference" in by_name["ref_null"].detail and "current" in by_name["null"].detail
    empty = compare(stats, current.iloc[:0])
    assert {s.status for s in empty if s.column not in ("gone", "text", "ref_null")} == {EMPTY}
    for stat in [*by_name.values(), *empty]:
        assert stat.score is None or math.isfinite(stat.score)
        assert stat.score is not None or not stat.drifted
    # Constant and single-category columns are valid input, scored as Evidently scores them.
    for name, categorical in (("constant", False), ("one_category", True)):
        _, score, drifted = _evidently("psi", reference[name], current[name], categorical)
        assert by_name[name].score == pytest.approx(score, rel=REL) and by_name[name].drifted == drifted


def test_small_reference_auto_choice_is_reported_unsupported_not_guessed():
    reference, current = _frames(800, 900, 9)
    stats = ReferenceStats.from_frame(reference, numeric=["normal", "few_ints"], categorical=["category"])
    by_name = {s.column: s for s in compare(stats, current)}
    assert by_name["normal"].method == "ks" and by_name["normal"].status == OK  # Evidently's K-S at <= 1000 rows
    assert by_name["category"].status == UNSUPPORTED and by_name["category"].score is None


def test_settings_are_checked_with_a_message_that_says_how_to_fix_them():
    reference, _ = _frames(100, 10, 10)
    with pytest.raises(DriftStatsError, match="categorical"):
        ReferenceStats.from_frame(reference, categorical=["category"], method="ks")
    with pytest.raises(DriftStatsError, match="use one of"):
        ReferenceStats.from_frame(reference, numeric=["normal"], method="chisquare")
    with pytest.raises(DriftStatsError, match="missing"):
        ReferenceStats.from_frame(reference, numeric=["nope"])


@pytest.fixture(scope="module")
def weather():
    from ml.contract import load_contract
    from ml.simulation.sources import load_source

    contract = load_contract("include/contracts/weather.yaml")
    return contract, load_source(contract)


@pytest.mark.parametrize("method", [None, "psi"])
def test_weather_data_matches_evidently_value_drift_reports(weather, tmp_path, method):
    """Real data through Evidently's own reports (ValueDrift, via ml.drift.report) against ml.drift.stats.

    Reference 1961-1976, current the documented drift from row 12,000 (1981-11): drifted and quiet columns.
    """
    from ml.drift.report import run_drift_report

    contract, frame = weather
    numeric = contract.numeric_features
    reference, current = frame.iloc[4383:10227], frame.iloc[12000:15000]
    evidently = run_drift_report(
        reference,
        current,
        numeric=numeric,
        categorical=[],
        out_dir=tmp_path,
        report_id="ev",
        method=method,
        html=False,
        fast_path_rows=None,
    )
    fast = run_drift_report(
        reference,
        current,
        numeric=numeric,
        categorical=[],
        out_dir=tmp_path,
        report_id="fast",
        method=method,
        html=False,
        fast_path_rows=1,
        max_rows_for_html=500,
    )
    assert (evidently.engine, fast.engine) == ("evidently", "drift_stats")
    assert [(c.column, c.method, c.drifted) for c in fast.columns] == [
        (c.column, c.method, c.drifted) for c in evidently.columns
    ]
    for ours, theirs in zip(fast.columns, evidently.columns, strict=True):
        assert ours.score == pytest.approx(theirs.score, rel=REL, abs=1e-300)
    assert 0 < fast.drift_share < 1 or method == "psi"
    assert fast.stats_path and fast.json_path.endswith("fast.json")
