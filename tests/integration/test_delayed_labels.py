"""Concept drift that only delayed labels reveal, through the Airflow DAGs (``dag.test()``).

The agrawal scenario with delayed labels (include/scenarios/agrawal_delayed_labels.yaml): a labelled backfill,
then six daily batches that land WITHOUT their label; each day's labels land as their own file after the next
day's batch and go through ``ct_labels_agrawal`` (sensor, checks, join as a data version, evaluation, drift
policy). At 2024-01-10 the labelling rule changes; the features do not.

What must hold: the monitor alone (features and predictions) never flags a batch; the labels of the two days
before the drift show no drop; the labels of the drifted days raise exactly one drift signal, reason
`performance`, emitted by the drift DAG, whose retrain learns only from rows whose labels had arrived and
gives a champion that scores the next day's labels at its validation quality again. Each labelled batch has an
Evidently report (target drift, quality beside the champion's validation numbers) in the Evidently workspace
and linked from its task. A bad label file fails its DAG run red and is quarantined.

Why this is not flaky: the stream and seeds are fixed and the margins wide (AUC about 0.998 before the drift
against a bound of about 0.95; about 0.5 after it, p < 1e-90; the retrain's gate compares 0.997 with 0.47 on
432 rows). The same story runs through the direct engine (``ct simulate --engine direct``).
"""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from ct.airflow_env import REPO_ROOT
from ct.simulate import AirflowDriver, simulate
from ml.contract import load_contract
from ml.data.labels import publish_labels
from ml.ledger import read_events
from ml.registry.store import get_version
from ml.settings import PlatformPaths
from ml.simulation.scenario import load_scenario
from ml.simulation.sources import load_source
from ml.simulation.summary import simulation_report

CONTRACT = load_contract(REPO_ROOT / "include" / "contracts" / "agrawal.yaml")
SCENARIO = load_scenario(REPO_ROOT / "include" / "scenarios" / "agrawal_delayed_labels.yaml")
DRIFT_DAY = pd.Timestamp(CONTRACT.source.options["drift_at"], tz="UTC")
DAYS = [f"2024-01-{d:02d}" for d in range(8, 14)]


@pytest.fixture(scope="module")
def replay(airflow_db, tmp_path_factory) -> tuple[PlatformPaths, dict, list[dict]]:
    paths = PlatformPaths(tmp_path_factory.mktemp("delayed-labels") / "home")
    timings = simulate(paths, CONTRACT, SCENARIO, engine="airflow")
    return paths, simulation_report(paths.ledger, CONTRACT.name), timings


def _monitored(paths: PlatformPaths, *, labelled: bool) -> dict[str, dict]:
    records = read_events(paths.ledger, CONTRACT.name, ["batch_monitored"])
    return {e["batch_id"]: e for e in records if bool(e.get("labelled")) == labelled and not e.get("no_champion")}


def _signals(paths: PlatformPaths) -> list[dict]:
    return read_events(paths.ledger, CONTRACT.name, ["drift_signal"])


def test_every_landing_went_through_the_dags(replay):
    _, report, timings = replay
    assert report["totals"]["quarantined"] == 0
    assert [t["state"] for t in timings if t["state"] != "success"] == []
    assert sum(t["dag"] == "labels" for t in timings) == len(DAYS)
    assert sum(t["dag"] == "ingest" for t in timings) == len(DAYS) + 1  # and the backfill


def test_the_monitor_alone_sees_nothing(replay):
    paths, _, _ = replay
    monitored = _monitored(paths, labelled=False)
    assert sorted(monitored) == DAYS
    for record in monitored.values():  # features unchanged, labels not there yet
        assert (record["reasons"], record["drifted_columns"], record["prediction_drift"]) == ([], [], False)
        assert record["performance"] == {"checked": False, "why": "no labels yet"}
    assert {s["reason"] for s in _signals(paths)} <= {"bootstrap", "performance"}


def test_labels_before_the_drift_show_no_drop(replay):
    paths, _, _ = replay
    labelled = _monitored(paths, labelled=True)
    for day in ("2024-01-08", "2024-01-09"):
        performance = labelled[day]["performance"]
        assert performance["checked"] and not performance["dropped"], performance
        assert performance["value"] > 0.95 and labelled[day]["reasons"] == []


def test_the_drifted_days_labels_raise_exactly_one_performance_signal(replay):
    paths, report, _ = replay
    signals = _signals(paths)
    assert [s["reason"] for s in signals] == ["bootstrap", "performance"]
    signal = signals[1]
    assert (signal["batch_id"], signal["onset_batch"]) == ("2024-01-11", "2024-01-10")  # 2nd drifted day, 2 of 3
    assert pd.Timestamp(signal["onset_period_start"]) == DRIFT_DAY
    assert signal["performance"]["dropped"] and signal["performance"]["p_value"] < 1e-30
    joined = [e for e in read_events(paths.ledger, CONTRACT.name, ["labels_ingested"]) if e["batch_id"] == "2024-01-11"]
    assert signal["data_rev"] == joined[-1]["data_version"]["rev"]  # the version holding the labels behind it
    assert signal["labels_report_html"].endswith("agrawal-2024-01-11-labels-v1.html")
    emitted = [
        e
        for e in read_events(paths.ledger, CONTRACT.name, ["drift_signal_emitted"])
        if e["signal_id"] == signal["signal_id"]
    ]
    assert len(emitted) == 1 and emitted[0]["run_id"] != "direct"  # emitted by the drift DAG's sensor
    labelled = _monitored(paths, labelled=True)
    for day in ("2024-01-10", "2024-01-11"):
        assert labelled[day]["reasons"] == ["performance"] and labelled[day]["performance"]["value"] < 0.6
    assert [b["batch_id"] for b in report["batches"] if b["alarm"]] == ["backfill-20240103-20240108", "2024-01-11"]


def test_the_retrain_learns_only_from_labelled_rows_and_the_new_champion_recovers(replay):
    paths, report, _ = replay
    gates = {g["trigger"]: g for g in report["gates"]}
    retrain = gates["performance"]
    assert retrain["decision"] == "promote" and retrain["p_value"] < CONTRACT.gate.alpha, retrain["reason"]
    tags = get_version(paths, CONTRACT.model_name, retrain["version"]).tags
    # since the drift onset, 2024-01-10 and 2024-01-11 were labelled; 2024-01-12 had landed without labels
    assert pd.Timestamp(tags["ct.window_start"]) >= DRIFT_DAY
    assert pd.Timestamp(tags["ct.window_end"]) < pd.Timestamp("2024-01-12", tz="UTC")
    assert int(tags["ct.window_rows"]) + int(tags["ct.holdout_rows"]) == 2 * 720
    labelled = _monitored(paths, labelled=True)
    stale = labelled["2024-01-12"]  # scored by the replaced champion before the retrain
    assert stale["scored_by"] == gates["bootstrap"]["version"] and stale["performance"]["dropped"]
    assert stale["reasons"] == [] and "no evidence against the one serving" in stale["performance"]["not_counted"]
    recovered = labelled["2024-01-13"]
    assert recovered["scored_by"] == retrain["version"]
    assert not recovered["performance"]["dropped"] and recovered["performance"]["value"] > 0.95


def test_unlabelled_batches_joined_their_labels_as_later_data_versions(replay):
    from ml.data.versioning import committed_batches, current_version, labelled_batches, read_dataset

    paths, _, _ = replay
    assert committed_batches(paths.data_repo, CONTRACT.name)[1:] == DAYS
    assert labelled_batches(paths.data_repo, CONTRACT.name) == DAYS
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=paths.data_repo, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert sum(line.startswith("Join labels of agrawal batch") for line in log) == len(DAYS)
    frame = read_dataset(
        paths.data_repo, CONTRACT.name, current_version(paths.data_repo, CONTRACT.name).rev, order_by="ts"
    )
    source = load_source(CONTRACT)
    expected = source[
        (source.ts >= pd.Timestamp("2024-01-03", tz="UTC")) & (source.ts < pd.Timestamp("2024-01-14", tz="UTC"))
    ].reset_index(drop=True)
    assert frame["label"].notna().all()
    assert (frame["label"].astype("int64").to_numpy() == expected["label"].to_numpy()).all()


def _report_link_urls(dag_id: str, task_id: str) -> list[str]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from ct_platform.reports import XCOM_KEY

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, task_id=task_id, key=XCOM_KEY).all()
        return [XComModel.deserialize_value(row) for row in rows]


def test_the_labels_report_has_target_drift_and_quality_and_is_in_the_workspace(replay):
    from evidently.core.report import Snapshot

    from ml.reports.workspace import list_snapshots

    paths, _, _ = replay
    record = _monitored(paths, labelled=True)["2024-01-10"]
    html, snapshot_json = record["labels_report_html"], record["labels_report_json"]
    assert html.endswith("agrawal-2024-01-10-labels-v1.html") and "RocAuc" in open(html).read()
    result = Snapshot.load(snapshot_json).dict()
    types = {m["config"]["type"].rsplit(":", 1)[-1]: m for m in result["metrics"]}
    assert types["ValueDrift"]["config"]["column"] == "label"  # target drift
    assert {"Accuracy", "Precision", "Recall", "F1Score", "RocAuc", "LogLoss"} <= set(types)
    assert abs(types["RocAuc"]["value"] - record["performance"]["value"]) < 1e-9
    assert record["target_drift"]["column"] == "label" and record["labels_reference"] == "champion holdout"
    metadata = json.loads(open(snapshot_json).read())["metadata"]
    champion = get_version(paths, CONTRACT.model_name, "1").tags
    assert metadata["champion_holdout_metric"] == champion["ct.holdout_metric"]  # validation numbers alongside
    assert int(metadata["reference_rows"]) == int(champion["ct.holdout_rows"])
    runs = {(s["kind"], s["batch_id"]): s["snapshot_id"] for s in list_snapshots(paths, CONTRACT.name)}
    assert {("labels", day) for day in DAYS} <= set(runs)
    assert runs[("labels", "2024-01-10")] == record["labels_workspace"]["snapshot_id"]
    assert record["labels_report_url"].endswith("/agrawal/agrawal-2024-01-10-labels-v1.html")
    urls = _report_link_urls("ct_labels_agrawal", "evaluate_labels")
    assert any(url.endswith("/agrawal/agrawal-2024-01-10-labels-v1.html") for url in urls), urls


def test_a_bad_label_file_fails_its_run_red_and_is_quarantined(replay):
    from ml.data.versioning import current_version

    paths, _, _ = replay
    before = current_version(paths.data_repo, CONTRACT.name).rev
    start = pd.Timestamp("2024-01-20", tz="UTC")
    labels = pd.DataFrame({"ts": pd.date_range(start, periods=720, freq="2min"), "label": 1})
    publish_labels(
        labels,
        contract=CONTRACT,
        landing=paths.labels_landing(CONTRACT.name),
        batch_id="2024-01-20",
        period_start=start,
        period_end=start + pd.Timedelta("1D"),
        produced_at=start + pd.Timedelta("2D"),
    )
    assert AirflowDriver(paths, CONTRACT).run("labels") == "failed"
    folder = paths.quarantine_for(CONTRACT.name) / "labels-2024-01-20"
    assert (folder / "2024-01-20.csv").exists() and "no batch '2024-01-20'" in (folder / "reason.md").read_text()
    event = read_events(paths.ledger, CONTRACT.name, ["labels_quarantined"])[-1]
    assert (event["batch_id"], event["status"]) == ("2024-01-20", "unknown_batch")
    assert current_version(paths.data_repo, CONTRACT.name).rev == before
