"""The whole loop through Airflow's DAGs (``dag.test()``) on a short weather scenario.

One module-scoped replay: bootstrap 1961-1976, then 1977-1984 one batch a year, with a corrupt batch
after 1978. The documented drift starts in November 1981. Asserts what the platform promises: the corrupt
batch is quarantined without moving the data version, the drifted stretch raises an alarm and a retrain,
registered versions carry their whole release bundle, and the champion alias moves only on a gate pass.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from ct.airflow_env import REPO_ROOT
from ct.simulate import AirflowDriver, simulate
from ml.contract import load_contract
from ml.ledger import read_events
from ml.registry.bundle import REQUIRED_BUNDLE_TAGS
from ml.registry.store import CHAMPION, client, version_by_alias
from ml.settings import PlatformPaths
from ml.simulation.scenario import Scenario
from ml.simulation.summary import simulation_report

CONTRACT = load_contract(REPO_ROOT / "include" / "contracts" / "weather.yaml")
SCENARIO = Scenario.model_validate(
    {
        "contract": "weather",
        "bootstrap": {"start": "1961-01-01", "end": "1977-01-01"},
        "replay": {"start": "1977-01-01", "end": "1985-01-01"},
        "corruptions": [
            {"after": "1978", "batch_id": "1979-hotfix", "kind": "number_to_string", "column": "visibility"}
        ],
    }
)


@pytest.fixture(scope="module")
def loop(airflow_db, tmp_path_factory):
    paths = PlatformPaths(tmp_path_factory.mktemp("loop") / "home")
    timings = simulate(paths, CONTRACT, SCENARIO, engine="airflow")
    return paths, simulation_report(paths.ledger, "weather"), timings


def test_every_batch_went_through_the_dags(loop):
    paths, report, timings = loop
    assert report["totals"]["batches"] == 10  # backfill + 8 years + 1 corrupt
    assert {t["dag"] for t in timings} == {"ingest", "monitor", "drift", "retrain"}
    failed = [t for t in timings if t["state"] != "success"]
    assert [t["dag"] for t in failed] == ["ingest"], "only the corrupt batch's ingest may fail"


def test_corrupt_batch_is_quarantined_without_a_new_data_version(loop):
    paths, report, _ = loop
    rows = {b["batch_id"]: b for b in report["batches"]}
    assert rows["1979-hotfix"]["validation"] == "schema_change"
    assert rows["1979-hotfix"]["data_version"] is None
    folder = paths.quarantine_for("weather") / "1979-hotfix"
    assert (folder / "reason.md").read_text().count("visibility") >= 1
    assert json.loads((folder / "verdict.json").read_text())["status"] == "schema_change"
    assert (folder / "1979-hotfix.csv").exists(), "the bad batch itself is kept, not lost"
    ingested = [e for e in read_events(paths.ledger, "weather", ["batch_ingested"])]
    # one data version (commit) per accepted batch, none for the quarantined one
    log = subprocess.run(
        ["git", "log", "--format=%H", "--", "datasets/weather.dvc"],
        cwd=paths.data_repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(log) == len(ingested) == 9


def test_drift_raises_one_alarm_and_a_promoted_retrain(loop):
    _, report, _ = loop
    alarms = [b for b in report["batches"] if b["alarm"]]
    assert [a["alarm_reason"] for a in alarms][0] == "bootstrap"
    drift_alarms = [a for a in alarms if a["alarm_reason"] != "bootstrap"]
    assert len(drift_alarms) == 1
    assert drift_alarms[0]["batch_id"] in {"1982", "1983"}
    stable = [b for b in report["batches"] if b["batch_id"] in {"1977", "1978", "1979", "1980"}]
    assert not any(b["alarm"] for b in stable)
    decisions = [(g["trigger"], g["decision"]) for g in report["gates"]]
    assert decisions[0] == ("bootstrap", "promote")
    assert ("performance", "promote") in decisions or ("data_drift", "promote") in decisions


def test_registered_versions_carry_the_whole_bundle(loop):
    paths, _, _ = loop
    versions = client(paths).search_model_versions(f"name='{CONTRACT.model_name}'")
    assert versions
    for version in versions:
        missing = [tag for tag in REQUIRED_BUNDLE_TAGS if tag not in version.tags]
        assert missing == [], f"version {version.version} lacks {missing}"
        assert version.tags["ct.contract"] == "weather"


def test_champion_alias_moves_only_on_a_pass(loop):
    paths, _, _ = loop
    driver = AirflowDriver(paths, CONTRACT)
    # A manual retrain uses the most recent rows; whatever the gate says, a second manual retrain on the same
    # data version trains the identical model (same window, same seed), which can never beat itself.
    assert driver.run("retrain", {"reason": "manual"}) == "success"
    champion_before = version_by_alias(paths, CONTRACT.model_name, CHAMPION)
    assert driver.run("retrain", {"reason": "manual"}) == "success"
    last_gate = read_events(paths.ledger, "weather", ["gate_decision"])[-1]
    assert last_gate["trigger"] == "manual" and last_gate["decision"] in {"reject", "inconclusive"}
    assert version_by_alias(paths, CONTRACT.model_name, CHAMPION).version == champion_before.version
    # Over the whole history, the alias moved exactly after the promote decisions, to the promoted versions.
    events = read_events(paths.ledger, "weather", ["gate_decision", "champion_changed"])
    promoted = [e["version"] for e in events if e["kind"] == "gate_decision" and e["decision"] == "promote"]
    changed = [e["version"] for e in events if e["kind"] == "champion_changed"]
    assert promoted == changed
    assert champion_before.tags["ct.gate.decision"] == "promote"
    previous = version_by_alias(paths, CONTRACT.model_name, "previous")
    assert (
        previous is not None
        and previous.version == [e["previous"] for e in events if e["kind"] == "champion_changed"][-1]
    )


def test_asset_events_were_emitted(loop):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        count = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "ct.weather.validated_batch")
            .count()
        )
    assert count >= 9


def test_gate_show_prints_the_decision(loop):
    paths, _, _ = loop
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ct.cli",
            "--home",
            str(paths.home),
            "gate",
            "show",
            "2",
            "--contract",
            "weather",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(result.stdout)
    assert record["decision"] in {"promote", "reject", "inconclusive"}
    assert {"metric", "n", "comparison", "decision_id"} <= set(record)
    readable = subprocess.run(
        [sys.executable, "-m", "ct.cli", "--home", str(paths.home), "gate", "show", "2", "--contract", "weather"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert readable.startswith("# Gate decision:") and record["decision"] in readable


def test_report_written_by_cli_matches_the_ledger(loop, tmp_path):
    paths, report, _ = loop
    out = tmp_path / "status.txt"
    result = subprocess.run(
        [sys.executable, "-m", "ct.cli", "--home", str(paths.home), "status", "--contract", "weather"],
        capture_output=True,
        text=True,
        check=True,
    )
    out.write_text(result.stdout)
    assert "1979-hotfix" in result.stdout and "schema_change" in result.stdout


def _ct(paths, *args, check=True):
    return subprocess.run(
        [sys.executable, "-m", "ct.cli", "--home", str(paths.home), *args], capture_output=True, text=True, check=check
    )


def test_lineage_prints_the_chain_from_batches_to_gate(loop):
    paths, _, _ = loop
    record = json.loads(_ct(paths, "lineage", "2", "--contract", "weather", "--json").stdout)
    assert record["data_batches"][0] == "backfill-19610101-19770101"
    assert "1979-hotfix" not in record["data_batches"]
    assert {
        "data_rev",
        "contract_hash",
        "code_commit",
        "env_lock_hash",
        "seed",
        "gate.decision",
        "lib.torch",
        "hw.device",
    } <= set(record["bundle"])
    text = _ct(paths, "lineage", "2", "--contract", "weather").stdout
    assert "[data]" in text and "[gate]" in text and "[environment and hardware]" in text
    missing = _ct(paths, "lineage", "999", "--contract", "weather", check=False)
    assert missing.returncode == 2 and "has no version '999'" in missing.stderr


def test_quarantine_list_and_release(loop):
    paths, _, _ = loop
    listed = _ct(paths, "quarantine", "list", "--contract", "weather").stdout
    assert "1979-hotfix" in listed and "schema_change" in listed
    still_bad = _ct(paths, "quarantine", "release", "1979-hotfix", "--contract", "weather", check=False)
    assert still_bad.returncode == 1 and "still fails" in still_bad.stdout
    # The producer fixes the batch in place (a correct file and a manifest that matches it): release passes.
    from ml.data.batches import publish_batch
    from ml.simulation.scenario import plan_batches
    from ml.simulation.sources import load_source

    folder = paths.quarantine_for("weather") / "1979-hotfix"
    good = next(b for b in plan_batches(SCENARIO, CONTRACT, load_source(CONTRACT)) if b.batch_id == "1979")
    publish_batch(
        good.frame,
        contract="weather",
        landing=folder,
        batch_id="1979-hotfix",
        period_start=good.period_start,
        period_end=good.period_end,
        produced_at=good.period_end + pd.Timedelta("1D"),
    )
    released = _ct(paths, "quarantine", "release", "1979-hotfix", "--contract", "weather", check=False)
    assert released.returncode == 0, released.stdout + released.stderr
    assert (paths.landing_for("weather") / "1979-hotfix.manifest.json").exists()
    assert not folder.exists()


def test_schema_change_keeps_the_data_version_and_the_champion_reproduces(loop):
    """Issue 4's proof: the schema-change batch is quarantined, the data version does not move, the next clean
    batch is ingested, and `ct reproduce` of the current champion (trained in the loop's DAG runs) matches."""
    paths, _, _ = loop
    events = read_events(paths.ledger, "weather", ["batch_ingested", "batch_quarantined"])
    order = [(e["kind"], e["batch_id"]) for e in events]
    at = order.index(("batch_quarantined", "1979-hotfix"))
    before, after = events[at - 1], events[at + 1]
    assert before["kind"] == after["kind"] == "batch_ingested" and after["batch_id"] == "1979"
    parent = subprocess.run(
        ["git", "rev-parse", f"{after['data_version']['rev']}^"],
        cwd=paths.data_repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert parent == before["data_version"]["rev"]  # the quarantined batch left no commit in between
    champion = version_by_alias(paths, "ct-weather", CHAMPION)
    result = _ct(paths, "reproduce", champion.version, "--contract", "weather", check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "MATCHES" in result.stdout and "bit-identical" in result.stdout
