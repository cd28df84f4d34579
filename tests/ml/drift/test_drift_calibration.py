"""Calibrated drift thresholds: the false-alarm rate they promise, the shifts they catch, the floor, the file.

Statistical bounds. A per-batch false-alarm rate measured over N stable batches is compared with the target
``alpha`` within 3 binomial standard errors, ``3 * sqrt(alpha * (1 - alpha) / N)``, on the side that matters
(the rate must not exceed ``alpha + 3 SE``) and, since Bonferroni is conservative only by the overlap of column
alarms, it must not fall below ``alpha / 2`` either (a calibration that never alarms would pass the first
check). Batches sharing one reference are not independent (the rate given one reference varies around
``alpha``), so every check spreads its batches over several references. All draws are seeded.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml.contract import ContractError, DriftCalibrationSpec, load_contract
from ml.drift.calibration import (
    Calibration,
    CalibrationError,
    cached_calibration,
    calibrate,
    column_alpha,
    evaluate,
    judge_batch,
    stretch_wander,
    stretches_by_period,
)
from ml.drift.compare import compare
from ml.drift.stats import ReferenceStats


def _upper_bound(alpha: float, n: int) -> float:
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / n)


def _synthetic(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1, n),
            "lognormal": rng.lognormal(0, 0.7, n),
            "few_ints": rng.integers(0, 4, n),
            "category": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


SYNTHETIC = {"numeric": ["normal", "lognormal", "few_ints"], "categorical": ["category"]}


def test_stable_synthetic_batches_alarm_at_the_target_rate():
    """12 references x 80 stable batches of 400 rows, target 5 % per batch over 4 columns (two methods)."""
    alpha, references, batches, rows = 0.05, 12, 80, 400
    alarms = 0
    for r in range(references):
        rng = np.random.default_rng(1000 + r)
        stats = ReferenceStats.from_frame(_synthetic(3000, rng), **SYNTHETIC)
        calibration = calibrate(stats, batch_rows=rows, false_alarm_rate=alpha, draws=1000, min_effect=0.0, seed=r)
        assert [c.method for c in calibration.columns] == [
            "wasserstein",
            "wasserstein",
            "jensenshannon",
            "jensenshannon",
        ]
        alarms += sum(judge_batch(calibration, stats, _synthetic(rows, rng), threads=1).drifted for _ in range(batches))
    n = references * batches
    rate = alarms / n
    assert alpha / 2 <= rate <= _upper_bound(alpha, n), f"false-alarm rate {rate:.4f} over {n} stable batches"


@pytest.fixture(scope="module")
def weather():
    from ml.simulation.sources import load_source

    contract = load_contract("include/contracts/weather.yaml")
    return contract, load_source(contract)


def test_shuffled_weather_batches_alarm_at_the_target_rate(weather):
    """Shuffled weather rows (no time order, so no drift): 4 references of 4,000 rows x 150 batches of 365 rows
    drawn from the other rows, 8 features, target 5 % per batch.

    The two sea-level pressure readings of 94 sd (two consecutive days in 1958; the validation stage tolerates
    them) are left out: one alone moves that column's normed Wasserstein by about 94 / 365 = 0.26, so every batch
    holding one alarms, which no resample of a reference without them can foresee (measured with them, 4
    references of 4,000 rows x 200 batches: 71 alarms in 800 batches, 36 of them on that column).
    """
    contract, frame = weather
    features = contract.numeric_features
    frame = frame[frame["sea_level_pressure"].abs() < 10]
    assert len(frame) == 18_157
    alpha, references, batches, rows = 0.05, 4, 150, 365
    alarms = 0
    for r in range(references):
        rng = np.random.default_rng(2000 + r)
        order = rng.permutation(len(frame))
        reference, pool = frame.iloc[order[:4000]], frame.iloc[order[4000:]]
        stats = ReferenceStats.from_frame(reference, numeric=features, method="wasserstein")
        calibration = calibrate(stats, batch_rows=rows, false_alarm_rate=alpha, draws=1700, min_effect=0.0, seed=r)
        for _ in range(batches):
            batch = pool.iloc[rng.choice(len(pool), rows, replace=False)]
            alarms += judge_batch(calibration, stats, batch, threads=1).drifted
    n = references * batches
    rate = alarms / n
    assert alpha / 2 <= rate <= _upper_bound(alpha, n), f"false-alarm rate {rate:.4f} over {n} stable batches"


def test_a_quarter_sd_shift_in_one_feature_is_caught_at_5000_rows():
    """Target 1 % per batch over 4 normal features; +0.25 sd in one of them is caught in every one of 20 batches,
    and only that column drifts (the others are stable: at most 1 % of batches may name one)."""
    rng = np.random.default_rng(7)
    names = ["x0", "x1", "x2", "x3"]
    reference = pd.DataFrame(rng.normal(size=(5000, 4)), columns=names)
    stats = ReferenceStats.from_frame(reference, numeric=names, method="wasserstein")
    calibration = calibrate(stats, batch_rows=5000, false_alarm_rate=0.01, draws=4000, seed=3)
    caught, others = 0, 0
    for _ in range(20):
        batch = pd.DataFrame(rng.normal(size=(5000, 4)), columns=names)
        batch["x2"] += 0.25
        decision = judge_batch(calibration, stats, batch)
        caught += "x2" in decision.drifted_columns
        others += any(c != "x2" for c in decision.drifted_columns)
        row = next(c for c in decision.columns if c["column"] == "x2")
        assert row["effect"] == pytest.approx(0.25, abs=0.06) and row["score"] >= row["threshold"]
    assert caught == 20
    assert others <= 1


def test_the_effect_floor_silences_a_trivial_shift_in_a_huge_batch():
    """At 30,000 rows a 0.035 sd shift passes the calibrated threshold, but not a 0.05 floor."""
    rng = np.random.default_rng(11)
    stats = ReferenceStats.from_frame(pd.DataFrame({"x": rng.normal(size=30_000)}), numeric=["x"])
    batch = pd.DataFrame({"x": rng.normal(0.035, 1, 30_000)})
    floored = calibrate(stats, batch_rows=30_000, false_alarm_rate=0.01, draws=1000, min_effect=0.05)
    unfloored = replace(floored, columns=tuple(replace(c, min_effect=0.0) for c in floored.columns), min_effect=0.0)
    decision = judge_batch(floored, stats, batch)
    (row,) = decision.columns
    assert row["beyond_threshold"] and row["effect"] < 0.05 and not decision.drifted
    assert judge_batch(unfloored, stats, batch).drifted_columns == ("x",)
    assert floored.column("x").threshold < 0.025  # the threshold alone would call 0.035 sd drift


def test_vectorised_null_scores_equal_drift_stats_on_the_same_resamples(monkeypatch):
    """The Wasserstein fast path is the same number ml.drift.stats (and so Evidently) gives for each resample."""
    from ml.drift import calibration as drift_calibration

    rng = np.random.default_rng(5)
    values = np.sort(np.round(rng.normal(size=1500), 2))  # ties included
    drawn = []
    real = drift_calibration._resample_counts

    def keep(*args):
        counts = real(*args)
        drawn.append(counts.copy())
        return counts

    monkeypatch.setattr(drift_calibration, "_resample_counts", keep)
    null = drift_calibration._wasserstein_null(values, 300, 5, np.random.default_rng(0))
    ref_counts, cur_counts = drawn
    for i in range(5):
        pseudo = ReferenceStats.from_frame(
            pd.DataFrame({"x": np.repeat(values, ref_counts[i])}), numeric=["x"], method="wasserstein"
        )
        (stat,) = compare(pseudo, pd.DataFrame({"x": np.repeat(values, cur_counts[i])}))
        assert null[i] == pytest.approx(stat.score, rel=1e-9)


def test_calibration_round_trips_through_json(tmp_path):
    rng = np.random.default_rng(0)
    stats = ReferenceStats.from_frame(_synthetic(2000, rng), **SYNTHETIC)
    calibration = calibrate(stats, batch_rows=300, false_alarm_rate=0.05, draws=1000, correction="sidak", seed=4)
    assert Calibration.load(calibration.save(tmp_path / "c.json")) == calibration
    data = json.loads(calibration.to_json())
    assert {"batch_rows", "draws", "seed", "false_alarm_rate", "correction", "alpha_column", "min_effect"} <= set(data)
    assert data["alpha_column"] == pytest.approx(1 - 0.95**0.25)
    decision = judge_batch(calibration, stats, _synthetic(300, rng, shift=1.0)).to_dict()
    assert decision["drifted_columns"] == ["normal"]
    assert {"column", "score", "threshold", "effect", "min_effect", "drifted"} <= set(decision["columns"][0])
    json.dumps(decision)


def test_same_seed_same_thresholds_and_ks_is_calibrated_on_p_values():
    rng = np.random.default_rng(1)
    stats = ReferenceStats.from_frame(pd.DataFrame({"x": rng.normal(size=800)}), numeric=["x"])
    first = calibrate(stats, batch_rows=200, false_alarm_rate=0.05, draws=300, seed=9)
    assert first == calibrate(stats, batch_rows=200, false_alarm_rate=0.05, draws=300, seed=9)
    (column,) = first.columns
    assert (column.method, column.basis, column.threshold) == ("ks", "p_value", 0.05)
    shifted = judge_batch(first, stats, pd.DataFrame({"x": rng.normal(1.0, 1, 200)}))
    assert shifted.drifted_columns == ("x",) and shifted.columns[0]["score"] <= 0.05


def test_corrections():
    assert column_alpha(0.01, 9, "bonferroni") == pytest.approx(0.01 / 9)
    assert column_alpha(0.01, 9, "sidak") == pytest.approx(1 - 0.99 ** (1 / 9))
    assert column_alpha(0.01, 9, "sidak") > column_alpha(0.01, 9, "bonferroni")


@pytest.mark.parametrize(
    ("settings", "fix"),
    [
        ({"batch_rows": 0}, "integer >= 2"),
        ({"false_alarm_rate": 0.7}, "in (0, 0.5)"),
        ({"draws": 150}, "set draws >= 667"),
        ({"min_effect": -1.0}, ">= 0"),
        ({"correction": "holm"}, "bonferroni"),
        ({"seed": -1}, "non-negative"),
    ],
)
def test_bad_settings_say_what_to_fix(settings, fix):
    stats = ReferenceStats.from_frame(pd.DataFrame({"x": np.arange(2000.0)}), numeric=["x"])
    kwargs = {"batch_rows": 100, "false_alarm_rate": 0.05, "draws": 1000} | settings
    if settings.get("draws") == 150:
        kwargs["false_alarm_rate"] = 0.015
    with pytest.raises(CalibrationError, match=fix.replace("(", r"\(").replace(")", r"\)")):
        calibrate(stats, **kwargs)


def test_bad_reference_and_mismatched_scores_say_what_to_fix():
    stats = ReferenceStats.from_frame(pd.DataFrame({"x": [np.nan] * 2000}), numeric=["x"])
    with pytest.raises(CalibrationError, match="fix the reference data or drop the column"):
        calibrate(stats, batch_rows=100, false_alarm_rate=0.05, draws=1000)
    small = ReferenceStats.from_frame(pd.DataFrame({"c": ["a", "b"] * 300}), categorical=["c"])
    with pytest.raises(CalibrationError, match="set drift.method"):
        calibrate(small, batch_rows=100, false_alarm_rate=0.05, draws=1000)
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=2000)})
    calibration = calibrate(
        ReferenceStats.from_frame(reference, numeric=["x"]), batch_rows=100, false_alarm_rate=0.05, draws=1000
    )
    other = ReferenceStats.from_frame(reference, numeric=["x"], method="psi")
    with pytest.raises(CalibrationError, match="score batches with the reference statistics"):
        evaluate(calibration, compare(other, reference.iloc[:100]))
    with pytest.raises(CalibrationError, match="recalibrate"):
        Calibration.from_dict({"format": "something else"})


def test_a_column_without_a_score_does_not_drift_and_is_named():
    rng = np.random.default_rng(0)
    stats = ReferenceStats.from_frame(
        pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)}), numeric=["x", "y"]
    )
    calibration = calibrate(stats, batch_rows=100, false_alarm_rate=0.05, draws=1000)
    decision = judge_batch(calibration, stats, pd.DataFrame({"x": [np.nan] * 100, "y": rng.normal(3, 1, 100)}))
    assert decision.drifted_columns == ("y",)
    assert any(note.startswith("x: all_null") for note in decision.notes)


def test_contract_calibration_is_opt_in_and_validated():
    from ml.contract import parse_contract

    contract = load_contract("include/contracts/weather.yaml")
    assert contract.drift.calibration is None
    data = contract.model_dump(mode="json")
    data["drift"]["calibration"] = {"false_alarm_rate": 0.01, "draws": 10000, "min_effect": 0.1, "correction": "sidak"}
    assert parse_contract(data).drift.calibration == DriftCalibrationSpec(correction="sidak")
    data["drift"]["calibration"] = {"false_alarm_rate": 0.01, "drws": 10000}
    with pytest.raises(ContractError, match="drws"):
        parse_contract(data)


def test_monitor_calibrates_once_per_champion_and_batch_size(tmp_path, weather):
    from ml.drift.reference import calibrated_drift
    from ml.settings import PlatformPaths

    contract, frame = weather
    spec = DriftCalibrationSpec(false_alarm_rate=0.05, draws=2000, min_effect=0.05)
    contract = contract.model_copy(update={"drift": contract.drift.model_copy(update={"calibration": spec})})
    features = contract.numeric_features
    stats = ReferenceStats.from_frame(frame.iloc[:3000], numeric=features, method="wasserstein")
    paths = PlatformPaths(tmp_path)
    batch = frame.iloc[15000:15365][features]  # after the documented 1981 drift
    reference = frame.iloc[:3000]  # 1949-01-01 .. 1957-03-19, in time order with its dates
    decision = calibrated_drift(paths, contract, "run123", stats, batch, reference)
    cached = tmp_path / "drift_calibration" / "weather" / "run123-365.json"
    assert Calibration.load(cached).batch_rows == 365
    before = cached.stat().st_mtime_ns
    assert calibrated_drift(paths, contract, "run123", stats, batch, reference) == decision
    assert cached.stat().st_mtime_ns == before
    assert decision.to_dict()["columns"][0]["threshold"] == Calibration.load(cached).columns[0].threshold

    # resample: stretches recalibrates on the reference's 8 calendar years (the weather's batch period)
    spec = spec.model_copy(update={"resample": "stretches"})
    contract = contract.model_copy(update={"drift": contract.drift.model_copy(update={"calibration": spec})})
    by_years = calibrated_drift(paths, contract, "run123", stats, batch, reference)
    stored = Calibration.load(cached)
    assert (stored.resample, stored.stretches) == ("stretches", 8)
    assert all(c.wander is not None and c.wander >= 0 for c in stored.columns)
    assert by_years.drifted  # the 1982 batch is past the documented drift either way


# ---------------------------------------------------------------------------------------------------------------
# resample: stretches (batches that are periods of consecutive time)


def _wandering_periods(k: int, rows: int, rng: np.random.Generator, tau: float) -> list[pd.DataFrame]:
    """``k`` periods: column ``wander``'s mean moves by N(0, tau^2) between periods, ``steady``'s never."""
    return [
        pd.DataFrame({"wander": rng.normal(rng.normal(0, tau), 1, rows), "steady": rng.normal(0, 1, rows)})
        for _ in range(k)
    ]


def test_stretches_keep_the_promised_rate_where_periods_wander():
    """20 references of 16 periods x 50 new periods of 200 rows, target 5 %: one column's mean wanders 0.3 sd.

    Treating rows as exchangeable alarms on about 60 % of stable periods; calibrating on the reference's own
    periods brings it to the target (the t-distributed wander; a normal one measured 6.4 % here).
    """
    alpha, references, batches, rows = 0.05, 20, 50, 200
    by_rows = by_stretches = 0
    for r in range(references):
        rng = np.random.default_rng(2000 + r)
        stretches = _wandering_periods(16, rows, rng, 0.3)
        stats = ReferenceStats.from_frame(
            pd.concat(stretches, ignore_index=True), numeric=["wander", "steady"], method="wasserstein"
        )
        settings = {"batch_rows": rows, "false_alarm_rate": alpha, "draws": 1000, "min_effect": 0.0, "seed": r}
        plain, wandering = calibrate(stats, **settings), calibrate(stats, **settings, stretches=stretches)
        assert wandering.resample == "stretches" and wandering.stretches == 16
        assert wandering.column("wander").threshold > plain.column("wander").threshold
        for batch in _wandering_periods(batches, rows, rng, 0.3):
            by_rows += judge_batch(plain, stats, batch, threads=1).drifted
            by_stretches += judge_batch(wandering, stats, batch, threads=1).drifted
    n = references * batches
    assert by_rows / n > 0.3, f"rows null: {by_rows}/{n} false alarms (expected far above {alpha})"
    assert alpha / 2 <= by_stretches / n <= _upper_bound(alpha, n), f"stretches null: {by_stretches}/{n}"


def test_stretch_wander_finds_the_wander_and_none_in_exchangeable_rows():
    estimates = {0.0: [], 0.3: []}
    for seed in range(20):
        for tau in estimates:
            stretches = _wandering_periods(16, 200, np.random.default_rng(seed), tau)
            stats = ReferenceStats.from_frame(pd.concat(stretches), numeric=["wander", "steady"])
            estimates[tau].append(stretch_wander(stretches, stats))
    assert np.mean([e["wander"] for e in estimates[0.0]]) < 0.05
    assert 0.2 < np.mean([e["wander"] for e in estimates[0.3]]) < 0.4
    assert np.mean([e["steady"] for e in estimates[0.3]]) < 0.05


def test_wandering_null_scores_equal_drift_stats_on_the_same_resamples():
    """The quantile-function sum is the normed Wasserstein ml.drift.stats gives for each shifted resample."""
    from ml.drift.calibration import _wandering_wasserstein_null

    class Recording:
        def __init__(self, rng):
            self.rng, self.draws = rng, []

        def integers(self, *args, **kwargs):
            self.draws.append(self.rng.integers(*args, **kwargs))
            return self.draws[-1]

        def standard_t(self, *args, **kwargs):
            self.draws.append(self.rng.standard_t(*args, **kwargs))
            return self.draws[-1]

    values = np.sort(np.round(np.random.default_rng(6).normal(size=700), 2))  # ties included
    rng = Recording(np.random.default_rng(0))
    null = _wandering_wasserstein_null(values, 130, 4, rng, 0.4, 9)
    ref_index, cur_index, t = rng.draws
    for i in range(4):
        pseudo = ReferenceStats.from_frame(
            pd.DataFrame({"x": values[ref_index[i]]}), numeric=["x"], method="wasserstein"
        )
        shift = t[i] * 0.4 * math.sqrt(1 + 1 / 9) * values.std()
        (stat,) = compare(pseudo, pd.DataFrame({"x": values[cur_index[i]] + shift}))
        assert null[i] == pytest.approx(stat.score, rel=1e-9)


def test_stretches_follow_the_batch_period_and_leave_out_partial_ones():
    days = pd.date_range("2001-10-01", "2008-03-31", freq="D")  # a quarter of 2001 and of 2008
    ordered = pd.DataFrame({"day": days, "x": np.arange(len(days), dtype=float)})
    stretches = stretches_by_period(ordered.sample(2000, random_state=0).sort_values("day"), "day", "YS")
    assert [s["day"].dt.year.unique().tolist() for s in stretches] == [[y] for y in range(2002, 2008)]
    with pytest.raises(CalibrationError, match="no timestamp column 'date'"):
        stretches_by_period(ordered, "date", "YS")


def test_stretches_bad_input_says_what_to_fix(tmp_path):
    rng = np.random.default_rng(1)
    stretches = _wandering_periods(4, 100, rng, 0.3)
    stats = ReferenceStats.from_frame(pd.concat(stretches), numeric=["wander", "steady"])
    with pytest.raises(CalibrationError, match="at least 5 stretches .* it has 4: keep a longer training window"):
        calibrate(stats, batch_rows=100, false_alarm_rate=0.05, draws=1000, stretches=stretches)
    mixed = [s.assign(kind=rng.choice(["a", "b"], len(s))) for s in _wandering_periods(12, 100, rng, 0.3)]
    mixed_stats = ReferenceStats.from_frame(pd.concat(mixed), numeric=["wander"], categorical=["kind"])
    with pytest.raises(CalibrationError, match=r"only calibrated for numeric columns .*\['kind'\]"):
        calibrate(mixed_stats, batch_rows=100, false_alarm_rate=0.05, draws=1000, stretches=mixed)
    with pytest.raises(CalibrationError, match="needs the reference cut into batch periods"):
        cached_calibration(
            tmp_path / "c.json",
            stats,
            batch_rows=100,
            false_alarm_rate=0.05,
            draws=1000,
            min_effect=0.1,
            correction="bonferroni",
            seed=0,
            resample="stretches",
        )


def test_drift_leaves_out_values_outside_the_contracts_ranges(weather):
    """1958 holds the two 94 sd sea-level pressure readings (contract range -6..6): left out, the year's pressure
    distance to the 1961-1976 reference falls from over 3 to that of an ordinary year; the batch keeps them."""
    from ml.drift.reference import plausible_values

    contract, frame = weather
    years = pd.to_datetime(frame["date"]).dt.year
    reference = frame[(years >= 1961) & (years <= 1976)]
    year = frame[years == 1958][contract.feature_names]
    cleaned, left_out = plausible_values(year, contract)
    assert left_out == {"sea_level_pressure": 2}
    assert cleaned["sea_level_pressure"].isna().sum() == 2 and year["sea_level_pressure"].abs().max() > 90
    stats = ReferenceStats.from_frame(reference, numeric=["sea_level_pressure"], method="wasserstein")
    (raw,) = compare(stats, year)
    (plausible,) = compare(stats, cleaned)
    assert raw.score > 3 and plausible.score < 0.2
    same, none = plausible_values(reference[contract.feature_names], contract)
    assert none == {} and same is not None and same.equals(reference[contract.feature_names])
