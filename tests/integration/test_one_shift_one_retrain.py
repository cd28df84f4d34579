"""One shift, one retrain: a replayed stream with one abrupt shift retrains exactly once; a stable one never.

The stream (``tests/integration/contracts/shift.yaml``, ``ml.simulation.synthetic.covariate_shift_stream``) has four
standard-normal features and a fixed label rule; on its 9th day ``x0`` moves by 0.5 sd and stays there.
Drift is judged by calibrated thresholds (1 false alarm per 100 stable batches) and the contract's policy
(2 of 3 batches, cooldown 2). Each stream is replayed through the platform's Airflow DAGs with ``dag.test()``
(``ct simulate``): ingest -> monitor (decides) -> drift DAG (its DriftSensor emits the asset event) -> retrain.
Retrains are counted in Airflow's metadata DB, not only in the ledger. Whatever the gate decides about the
challenger, the shift must start one retrain: after a promotion the new champion's reference holds the shift;
after a rejection the policy acknowledges the shifted columns.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ct.simulate import simulate
from ml.contract import parse_contract
from ml.ledger import read_events
from ml.settings import PlatformPaths
from ml.simulation.scenario import Scenario

pytestmark = pytest.mark.slow

SHIFT_CONTRACT = Path(__file__).with_name("contracts") / "shift.yaml"
BOOTSTRAP = {"start": "2024-01-01", "end": "2024-01-06"}


def _replay(root: Path, name: str, replay_end: str, **source_options) -> tuple[PlatformPaths, list[dict]]:
    data = yaml.safe_load(SHIFT_CONTRACT.read_text())
    data["name"] = name
    data["source"]["options"].update(source_options)
    contract = parse_contract(data)
    (root / "contracts").mkdir(parents=True)
    (root / "contracts" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    paths = PlatformPaths(root / "home")
    scenario = Scenario.model_validate(
        {"contract": name, "bootstrap": BOOTSTRAP, "replay": {"start": "2024-01-06", "end": replay_end}}
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CT_HOME", str(paths.home))
        env.setenv("CT_CONTRACTS_DIR", str(root / "contracts"))
        env.setenv("CT_CONTRACTS", name)
        simulate(paths, contract, scenario, engine="airflow")
    return paths, read_events(paths.ledger, name)


def _retrain_runs(name: str) -> list[tuple[str, str]]:
    """Runs of the retrain DAG in the metadata DB this process uses (its DAG id is unique to the contract)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == f"ct_retrain_{name}").order_by(DagRun.id))
        return [(run.run_id, str(run.state)) for run in runs]


def _reasons(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["batch_id"], e["reason"]) for e in events if e["kind"] == "drift_signal_emitted"]


@pytest.fixture(scope="module")
def shifted(airflow_db, tmp_path_factory):
    # Days 6-8 stable, the shift from day 9, then three more shifted days to show the quiet after the retrain.
    return _replay(tmp_path_factory.mktemp("shifted"), "shifted", "2024-01-14")


@pytest.fixture(scope="module")
def stable(airflow_db, tmp_path_factory):
    return _replay(tmp_path_factory.mktemp("stable"), "stable", "2024-01-12", shift_at=6720)  # never shifts


def test_the_shift_starts_exactly_one_retrain(shifted):
    _, events = shifted
    emitted = _reasons(events)
    assert emitted[0][0].startswith("backfill") and emitted[0][1] == "bootstrap"
    assert [reason for _, reason in emitted[1:]] in (["data_drift"], ["prediction_drift"]), emitted
    batch, _ = emitted[1]
    assert batch in ("2024-01-09", "2024-01-10"), f"signal at {batch}: debounce 2 of 3 needs the 9th and 10th day"
    signal = next(e for e in events if e["kind"] == "drift_signal" and e["batch_id"] == batch)
    assert "x0" in signal["drifted_columns"] and {"x1", "x2", "x3"}.isdisjoint(signal["drifted_columns"])
    runs = _retrain_runs("shifted")
    assert len(runs) == 2 and all(state == "success" for _, state in runs), runs  # bootstrap + the shift
    decided = [e["decision"] for e in events if e["kind"] == "gate_decision"]
    assert len(decided) == 2


def test_batches_after_the_shift_stay_quiet(shifted):
    _, events = shifted
    batch = _reasons(events)[1][0]
    later = [
        e for e in events if e["kind"] == "drift_decided" and e["batch_id"].startswith("2024") and e["batch_id"] > batch
    ]
    assert len(later) >= 3 and not any(e["confirmed"] for e in later), later
    # after a promotion the new champion's reference holds the shift; after a rejection the policy says why
    if [e["decision"] for e in events if e["kind"] == "gate_decision"][-1] != "promote":
        assert all(
            "only acknowledged columns drifted" in e["explanation"] or e["explanation"] == "batch not drifted"
            for e in later
        ), later


def test_a_stable_stream_never_retrains_after_the_first_model(stable):
    _, events = stable
    assert [reason for _, reason in _reasons(events)] == ["bootstrap"]
    assert len(_retrain_runs("stable")) == 1
    monitored = [e for e in events if e["kind"] == "batch_monitored" and not e.get("no_champion")]
    assert len(monitored) == 6  # days 6-11
