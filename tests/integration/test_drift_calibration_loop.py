"""The monitor step with ``drift.calibration``: calibrated lazily, cached per champion and batch size, recorded.

Direct engine (the step functions the DAGs call, without Airflow): the weather contract opted in (1 % per batch,
floor 0.5), a first model trained on 1961-1976, then 1977 monitored. 1977's visibility is far from the training
years' (normed Wasserstein about 1.5 against a calibrated threshold under 0.2, measured in a direct replay), so
the batch must be drifted for reason ``data_drift`` by the calibrated decision, with the column's score,
threshold and effect recorded in the ledger and the calibration cached beside the champion's run id.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ct.simulate import simulate
from ml.contract import DriftCalibrationSpec, load_contract
from ml.drift.calibration import Calibration
from ml.ledger import read_events
from ml.settings import PlatformPaths
from ml.simulation.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
BASE = load_contract(REPO / "include" / "contracts" / "weather.yaml")
SPEC = DriftCalibrationSpec(false_alarm_rate=0.01, draws=9000, min_effect=0.5)
CONTRACT = BASE.model_copy(update={"drift": BASE.drift.model_copy(update={"calibration": SPEC})})
SCENARIO = Scenario.model_validate(
    {
        "contract": "weather",
        "bootstrap": {"start": "1961-01-01", "end": "1977-01-01"},
        "replay": {"start": "1977-01-01", "end": "1978-01-01"},
    }
)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformPaths, dict]:
    paths = PlatformPaths(tmp_path_factory.mktemp("calibrated") / "home")
    simulate(paths, CONTRACT, SCENARIO, engine="direct")
    events = [
        e for e in read_events(paths.ledger, "weather") if e["kind"] == "batch_monitored" and e["batch_id"] == "1977"
    ]
    assert len(events) == 1
    return paths, events[0]


def test_the_calibrated_decision_drives_the_batch_verdict(monitored):
    _, event = monitored
    decision = event["calibration"]
    assert "data_drift" in event["reasons"] and event["batch_drifted"]
    assert "visibility" in decision["drifted_columns"]
    assert event["drifted_columns"] == [c for c in decision["drifted_columns"] if c != "prediction"]
    row = next(c for c in decision["columns"] if c["column"] == "visibility")
    assert row["score"] >= row["threshold"] and row["effect"] >= 0.5 and row["drifted"]
    assert decision["false_alarm_rate"] == 0.01 and decision["correction"] == "bonferroni"
    assert {c["column"] for c in decision["columns"]} == {*CONTRACT.feature_names, "prediction"}
    assert event["implausible_values_left_out"] == {}  # 1977 has no value outside the contract's ranges


def test_the_calibration_is_cached_per_champion_and_batch_size(monitored):
    paths, event = monitored
    (cached,) = (paths.home / "drift_calibration" / "weather").iterdir()
    calibration = Calibration.load(cached)
    assert cached.name.endswith(f"-{calibration.batch_rows}.json") and calibration.batch_rows == 365
    assert (calibration.draws, calibration.min_effect, calibration.alpha_column) == (9000, 0.5, 0.01 / 9)
    visibility = next(c for c in event["calibration"]["columns"] if c["column"] == "visibility")
    assert visibility["threshold"] == calibration.column("visibility").threshold


def test_resample_stretches_calibrates_on_the_champions_reference_years(monitored, tmp_path):
    """``resample: stretches`` end to end: the reference retrain stored (time-ordered, with dates) is cut into
    calendar years; visibility, which trends through the training years, gets its wander and a wider threshold,
    temperature (no wander beyond exchangeable days) keeps a threshold near the exchangeable one."""
    _, by_rows = monitored
    spec = SPEC.model_copy(update={"resample": "stretches"})
    contract = BASE.model_copy(update={"drift": BASE.drift.model_copy(update={"calibration": spec})})
    paths = PlatformPaths(tmp_path / "home")
    simulate(paths, contract, SCENARIO, engine="direct")
    (event,) = [
        e for e in read_events(paths.ledger, "weather") if e["kind"] == "batch_monitored" and e["batch_id"] == "1977"
    ]
    (cached,) = (paths.home / "drift_calibration" / "weather").iterdir()
    calibration = Calibration.load(cached)
    assert calibration.resample == "stretches" and calibration.stretches >= 5
    rows = {c["column"]: c for c in by_rows["calibration"]["columns"]}
    stretches = {c["column"]: c for c in event["calibration"]["columns"]}
    assert calibration.column("visibility").wander > 0.3
    assert stretches["visibility"]["threshold"] > 2 * rows["visibility"]["threshold"]
    assert calibration.column("temperature").wander < 0.1
    assert stretches["temperature"]["threshold"] < 1.5 * rows["temperature"]["threshold"]
    assert stretches["visibility"]["score"] == pytest.approx(rows["visibility"]["score"])  # same batch, same model
