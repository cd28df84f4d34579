"""The Agrawal source: deterministic per seed, typed as its contract says, and its concept changes at drift_at.

Why the drift assertions are not flaky: with perturbation 0 every label is an exact function of its row, so
the labels before ``drift_at`` equal classification function 2 and those after equal function 6, row for
row. The two functions agree on about 50 % of rows (measured over 20,000 rows), so the rule, or a tree fitted
before the drift, scores near chance after it (AUC 0.49-0.51 on 1,500 rows, standard error about 0.015)
against 1.0 before it (the rule is axis-aligned); the bounds below leave ten standard errors, on five seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier

from ml.contract import Contract, load_contract
from ml.data.batches import publish_batch
from ml.simulation.sources import load_source
from ml.simulation.synthetic import AGRAWAL_FEATURES, agrawal_stream
from ml.validation.batch import validate_batch
from ml.validation.common import PASSED, QUALITY

REPO = Path(__file__).resolve().parents[3]
CONTRACT = REPO / "include" / "contracts" / "agrawal.yaml"
SMALL = {
    "n_rows": 3000,
    "drift_at": 1500,
    "function_before": 2,
    "function_after": 6,
    "start": "2024-01-01",
    "step": "2min",
}


def _function_2(frame: pd.DataFrame) -> np.ndarray:
    """Agrawal et al.'s function 2: approval by age band and education level."""
    age, elevel = frame["age"], frame["elevel"]
    young = (age < 40) & elevel.isin([0, 1])
    middle = (age >= 40) & (age < 60) & elevel.isin([1, 2, 3])
    old = (age >= 60) & elevel.isin([2, 3, 4])
    return (young | middle | old).astype(int).to_numpy()


def _function_6(frame: pd.DataFrame) -> np.ndarray:
    """Agrawal et al.'s function 6: approval when disposable income after the loan is not positive (sic)."""
    disposable = 2 * (frame["salary"] + frame["commission"]) / 3 - frame["loan"] / 5 - 20000
    return (disposable <= 1).astype(int).to_numpy()


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract(CONTRACT)


@pytest.fixture(scope="module")
def history(contract: Contract) -> pd.DataFrame:
    return load_source(contract)


# ----------------------------------------------------------------------------------------- determinism, shape


def test_same_seed_same_frame_and_another_seed_another_frame() -> None:
    first, again = agrawal_stream(seed=3, **SMALL), agrawal_stream(seed=3, **SMALL)
    pd.testing.assert_frame_equal(first, again)
    other = agrawal_stream(seed=4, **SMALL)
    assert not np.allclose(first["salary"], other["salary"])


def test_columns_types_and_timestamps() -> None:
    frame = agrawal_stream(seed=0, **SMALL)
    assert list(frame.columns) == ["ts", *AGRAWAL_FEATURES, "label"]
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        "ts": "datetime64[ns, UTC]",
        **AGRAWAL_FEATURES,
        "label": "int64",
    }
    assert frame["ts"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert (frame["ts"].diff().dropna() == pd.Timedelta("2min")).all()
    assert set(frame["label"]) == {0, 1}


def test_drift_at_a_timestamp_is_the_first_row_at_or_after_it() -> None:
    by_row = agrawal_stream(seed=1, **{**SMALL, "drift_at": 1470})
    on_a_row = agrawal_stream(seed=1, **{**SMALL, "drift_at": "2024-01-03 01:00"})  # 49 h of 2 min = row 1,470
    between_rows = agrawal_stream(seed=1, **{**SMALL, "drift_at": "2024-01-03T00:59:30+00:00"})
    assert on_a_row["ts"].iloc[1470] == pd.Timestamp("2024-01-03 01:00", tz="UTC")
    pd.testing.assert_frame_equal(on_a_row, by_row)
    pd.testing.assert_frame_equal(between_rows, by_row)
    np.testing.assert_array_equal(by_row["label"].iloc[1470:], _function_6(by_row.iloc[1470:]))
    np.testing.assert_array_equal(by_row["label"].iloc[:1470], _function_2(by_row.iloc[:1470]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_rows": 0}, "n_rows"),
        ({"drift_at": 3001}, "outside"),
        ({"drift_at": "2023-01-01", "n_rows": 10}, None),  # before the start: the whole stream is after the drift
        ({"drift_at": 1.5}, "row index or a timestamp"),
        ({"step": "0h"}, "positive duration"),
        ({"function_after": 10}, "classification_function"),
    ],
)
def test_arguments_are_checked(change: dict, message: str | None) -> None:
    arguments = {**SMALL, "seed": 0, **change}
    if message is None:
        frame = agrawal_stream(**arguments)
        np.testing.assert_array_equal(frame["label"], _function_6(frame))
        return
    with pytest.raises(ValueError, match=message):
        agrawal_stream(**arguments)


# ---------------------------------------------------------------------------------------- the known drift


@pytest.mark.parametrize("seed", range(5))
def test_labels_follow_function_before_then_function_after(seed: int) -> None:
    frame = agrawal_stream(seed=seed, **SMALL)
    before, after = frame.iloc[:1500], frame.iloc[1500:]
    np.testing.assert_array_equal(before["label"], _function_2(before))
    np.testing.assert_array_equal(after["label"], _function_6(after))
    # the old rule, perfect before the drift, is a coin toss after it
    assert (_function_2(after) == after["label"]).mean() < 0.6


@pytest.mark.parametrize("seed", range(5))
def test_a_model_fitted_before_the_drift_fails_after_it(seed: int) -> None:
    frame = agrawal_stream(seed=seed, **SMALL)
    features = list(AGRAWAL_FEATURES)
    fit, before, after = frame.iloc[:1000], frame.iloc[1000:1500], frame.iloc[1500:]
    tree = DecisionTreeClassifier(max_depth=8, random_state=seed).fit(fit[features], fit["label"])
    auc_before = roc_auc_score(before["label"], tree.predict_proba(before[features])[:, 1])
    auc_after = roc_auc_score(after["label"], tree.predict_proba(after[features])[:, 1])
    assert auc_before > 0.9 and auc_after < 0.65, (auc_before, auc_after)


def test_the_drift_is_in_the_concept_not_in_the_features() -> None:
    """Pure concept drift: a feature-drift monitor sees nothing, only labelled performance can."""
    frame = agrawal_stream(seed=0, **SMALL)
    before, after = frame.iloc[:1500], frame.iloc[1500:]
    for column in ("salary", "age", "hvalue", "loan"):
        assert ks_2samp(before[column], after[column]).pvalue > 0.001, column


# ----------------------------------------------------------------------------------- against the contract


def test_contract_source_has_the_contract_columns_and_types(contract: Contract, history: pd.DataFrame) -> None:
    assert list(history.columns) == contract.batch_columns
    assert len(history) == contract.source.options["n_rows"]
    for feature in contract.features:
        column = history[feature.name]
        if feature.type == "float":
            assert column.dtype == np.float64, feature.name
        else:
            assert column.dtype == np.int64, feature.name
        if feature.type == "category":
            assert set(column) == set(feature.domain), feature.name  # every category occurs, none else
        else:
            assert feature.min <= column.min() and column.max() <= feature.max, feature.name


def test_contract_source_drifts_where_the_contract_says(contract: Contract, history: pd.DataFrame) -> None:
    drift = pd.Timestamp(contract.source.options["drift_at"], tz="UTC")
    before, after = history[history["ts"] < drift], history[history["ts"] >= drift]
    assert len(before) and len(after)
    np.testing.assert_array_equal(before["label"], _function_2(before))
    np.testing.assert_array_equal(after["label"], _function_6(after))


def _one_day(history: pd.DataFrame, day: str) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta("1D")
    rows = history[(history["ts"] >= start) & (history["ts"] < end)].reset_index(drop=True)
    return rows, start, end


def _publish(landing: Path, frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp):
    return publish_batch(
        frame,
        contract="agrawal",
        landing=landing,
        batch_id=f"{start:%Y-%m-%d}",
        period_start=start,
        period_end=end,
        produced_at=end + pd.Timedelta("1D"),
    )


def test_a_clean_day_passes_validation_and_comes_back_typed(
    tmp_path: Path, contract: Contract, history: pd.DataFrame
) -> None:
    day, start, end = _one_day(history, "2024-01-06")
    manifest = _publish(tmp_path, day, start, end)
    verdict, typed = validate_batch(manifest.data_path(tmp_path), manifest, contract)

    assert verdict.status == PASSED, verdict.reason()
    assert verdict.rows == 720
    pd.testing.assert_frame_equal(typed, day, check_dtype=False)
    assert typed["car"].dtype == np.int64 and typed["salary"].dtype == np.float64


def test_a_category_outside_its_domain_is_rejected(tmp_path: Path, contract: Contract, history: pd.DataFrame) -> None:
    day, start, end = _one_day(history, "2024-01-06")
    day.loc[[3, 7], "car"] = 21  # a car maker the contract does not know
    manifest = _publish(tmp_path, day, start, end)
    verdict, typed = validate_batch(manifest.data_path(tmp_path), manifest, contract)

    assert verdict.status == QUALITY and typed is None
    assert [(f.check, f.column) for f in verdict.failures] == [("expect_column_values_to_be_in_set", "car")]
    assert "2 of 720" in verdict.failures[0].message
