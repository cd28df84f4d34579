"""Delayed labels: the contract section, the label file's checks, the join, and what training reads.

Label files are checked against a real batch of the agrawal stream (one day, 720 rows keyed by the timestamp):
every kind of bad file must be rejected with a message that says what is wrong and what to do, and a good one
must give back exactly the stream's labels. The steps are then run on a real git + DVC data repository: a bad
file is quarantined beside the batch's own quarantine folder (nothing lost, a ledger event, a clear error), a
good one becomes a new data version whose batch file holds the labels, and a training read leaves out the rows
whose labels have not come.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ml.contract import ContractError, load_contract, parse_contract
from ml.data.batches import publish_batch, ready_manifests
from ml.data.labels import join_labels, labelled_rows, publish_labels
from ml.ledger import append_event, read_events
from ml.settings import PlatformPaths
from ml.simulation.scenario import Scenario, load_scenario, plan_batches
from ml.simulation.sources import load_source
from ml.validation.batch import validate_batch
from ml.validation.common import QUALITY, SCHEMA_CHANGE, UNREADABLE
from ml.validation.labels import KEYS, check_label_file
from ml.validation.quarantine import release

REPO = Path(__file__).resolve().parents[3]
CONTRACT = load_contract(REPO / "include" / "contracts" / "agrawal.yaml")
DAY = "2024-01-08"


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    return load_source(CONTRACT)


@pytest.fixture(scope="module")
def day(source: pd.DataFrame) -> pd.DataFrame:
    """One day of the stream with its labels, as the source has it."""
    stamps = source[CONTRACT.timestamp]
    start = pd.Timestamp(DAY, tz="UTC")
    return source[(stamps >= start) & (stamps < start + pd.Timedelta("1D"))].reset_index(drop=True)


@pytest.fixture(scope="module")
def batch(day: pd.DataFrame) -> pd.DataFrame:
    """The same day as the monitor scored it: no label column."""
    return day.drop(columns=[CONTRACT.target])


def _land(tmp_path: Path, labels: pd.DataFrame, batch_id: str = DAY):
    """Land ``labels`` as a producer would, whatever columns they have (publish_labels keeps the right ones)."""
    start = pd.Timestamp(batch_id, tz="UTC")
    window = {
        "period_start": start,
        "period_end": start + pd.Timedelta("1D"),
        "produced_at": start + pd.Timedelta("3D"),
    }
    if list(labels.columns) == CONTRACT.label_columns:
        manifest = publish_labels(labels, contract=CONTRACT, landing=tmp_path, batch_id=batch_id, **window)
    else:
        manifest = publish_batch(
            labels, contract=CONTRACT.name, landing=tmp_path, batch_id=batch_id, kind="labels", **window
        )
    return tmp_path / manifest.file, manifest


# ---------------------------------------------------------------------------------------------- contract


def test_labels_come_with_the_batch_unless_the_contract_says_otherwise():
    weather = load_contract(REPO / "include" / "contracts" / "weather.yaml")
    assert weather.labels.arrive == "with_batch" and not weather.labels_delayed
    assert weather.label_key == (weather.timestamp,)  # the default key
    assert CONTRACT.labels_delayed and CONTRACT.label_columns == ["ts", "label"]
    assert CONTRACT.landed_columns(labelled=False) == [c for c in CONTRACT.batch_columns if c != "label"]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"arrive": "later"}, "labels.arrive"),
        ({"arrive": "delayed", "key": ["label"]}, "labels.key names ['label']"),
        ({"arrive": "delayed", "key": ["customer"]}, "labels.key names ['customer']"),
        ({"arrive": "delayed", "key": []}, "labels.key"),
        ({"arrive": "delayed", "when": "soon"}, "labels.when"),
    ],
)
def test_a_bad_labels_section_is_refused_naming_the_key(labels: dict, expected: str):
    data = CONTRACT.model_dump(mode="json")
    data["labels"] = labels
    with pytest.raises(ContractError, match="invalid contract") as error:
        parse_contract(data, "agrawal.yaml")
    assert expected in str(error.value)


# ------------------------------------------------------------------------------------------ batch checks


def test_a_delayed_contract_accepts_batches_with_and_without_their_labels(tmp_path, day, batch):
    start = pd.Timestamp(DAY, tz="UTC")
    for name, frame in (("with", day), ("without", batch)):
        manifest = publish_batch(
            frame,
            contract=CONTRACT.name,
            landing=tmp_path,
            batch_id=name,
            period_start=start,
            period_end=start + pd.Timedelta("1D"),
            produced_at=start + pd.Timedelta("1D"),
        )
        verdict, typed = validate_batch(tmp_path / manifest.file, manifest, CONTRACT)
        assert verdict.passed, verdict.reason()
        assert (CONTRACT.target in typed.columns) == (name == "with")


def test_a_batch_without_labels_is_a_schema_change_when_labels_come_with_the_batch(tmp_path, batch):
    data = CONTRACT.model_dump(mode="json")
    data["labels"] = {"arrive": "with_batch"}
    contract = parse_contract(data)
    start = pd.Timestamp(DAY, tz="UTC")
    manifest = publish_batch(
        batch,
        contract=contract.name,
        landing=tmp_path,
        batch_id=DAY,
        period_start=start,
        period_end=start + pd.Timedelta("1D"),
        produced_at=start + pd.Timedelta("1D"),
    )
    verdict, _ = validate_batch(tmp_path / manifest.file, manifest, contract)
    assert verdict.status == SCHEMA_CHANGE
    assert "column 'label' (int) is missing from the batch" in verdict.reason()


# ------------------------------------------------------------------------------------------ label files


def test_good_labels_pass_and_join_in_the_batch_order(tmp_path, day, batch):
    shuffled = day[CONTRACT.label_columns].sample(frac=1.0, random_state=3)
    path, manifest = _land(tmp_path, shuffled)
    verdict, labels = check_label_file(path, manifest, CONTRACT, batch)
    assert verdict.passed, verdict.reason()
    joined = join_labels(batch, labels, CONTRACT)
    assert list(joined.columns) == CONTRACT.batch_columns
    pd.testing.assert_frame_equal(joined, day[CONTRACT.batch_columns], check_dtype=False)
    assert joined[CONTRACT.target].dtype == "int64"


def _labels(day: pd.DataFrame) -> pd.DataFrame:
    return day[CONTRACT.label_columns].copy()


def _unknown_key(day):
    labels = _labels(day)
    labels.loc[0, "ts"] = labels.loc[0, "ts"] + pd.Timedelta("1min")  # a row the batch does not have
    return labels


def _missing_keys(day):
    return _labels(day).iloc[5:]


def _duplicate_key(day):
    labels = _labels(day)
    labels.loc[1, "ts"] = labels.loc[0, "ts"]
    return labels


def _bad_values(day):
    labels = _labels(day)
    labels.loc[[3, 4], "label"] = [2, -1]
    return labels


def _text_values(day):
    return _labels(day).assign(label=lambda f: f["label"].map({0: "no", 1: "yes"}))


def _empty_label(day):
    labels = _labels(day).astype({"label": "float64"})
    labels.loc[7, "label"] = float("nan")
    return labels


def _extra_column(day):
    return _labels(day).assign(salary=day["salary"])


def _bad_timestamp(day):
    return _labels(day).assign(ts=[f"minute {2 * i}" for i in range(len(day))])


@pytest.mark.parametrize(
    ("make", "status", "checks", "words"),
    [
        (
            _unknown_key,
            KEYS,
            ["keys.unknown", "keys.missing"],
            [
                "1 label row(s) have a key ['ts'] that no row of the scored batch has",
                "2024-01-08T00:01:00",
                "1 of the batch's 720 scored rows have no label",
            ],
        ),
        (
            _missing_keys,
            KEYS,
            ["keys.missing"],
            ["5 of the batch's 720 scored rows have no label", "send the missing rows in the same file"],
        ),
        (
            _duplicate_key,
            QUALITY,
            ["expect_column_values_to_be_unique", "keys.missing"],
            ["2 label rows share their key ['ts'] with another row", "the producer sent a label twice"],
        ),
        (
            _bad_values,
            QUALITY,
            ["expect_column_values_to_be_in_set"],
            ["2 of 720 (0.3%) labels of target 'label' are outside target_domain [0, 1]", "file line(s) 5, 6"],
        ),
        (
            _text_values,
            QUALITY,
            ["expect_column_values_to_be_in_set"],
            ["720 of 720 (100.0%) labels of target 'label'"],
        ),
        (
            _empty_label,
            QUALITY,
            ["expect_column_values_to_not_be_null"],
            ["1 of 720", "values of 'label' are empty", "file line(s) 9"],
        ),
        (
            _extra_column,
            SCHEMA_CHANGE,
            ["schema.extra_column"],
            ["column 'salary' does not belong in a label file", "send exactly ['ts', 'label']"],
        ),
        (lambda day: _labels(day)[["ts"]], SCHEMA_CHANGE, ["schema.missing_column"], ["column 'label' is missing"]),
        (_bad_timestamp, SCHEMA_CHANGE, ["schema.type_changed"], ["key column 'ts' does not parse"]),
    ],
    ids=[
        "unknown_key",
        "missing_keys",
        "duplicate_key",
        "values_outside_domain",
        "text_values",
        "empty_label",
        "extra_column",
        "no_target",
        "unparsable_key",
    ],
)
def test_bad_label_files_are_rejected_with_a_reason(tmp_path, day, batch, make, status, checks, words):
    path, manifest = _land(tmp_path, make(day))
    verdict, labels = check_label_file(path, manifest, CONTRACT, batch)
    assert labels is None
    assert verdict.status == status, verdict.reason()
    assert [f.check for f in verdict.failures] == checks, verdict.reason()
    for word in words:
        assert word in verdict.reason()


def test_a_label_file_that_does_not_match_its_manifest_is_unreadable(tmp_path, day, batch):
    path, manifest = _land(tmp_path, _labels(day))
    path.write_text(path.read_text().replace(",1\n", ",0\n", 1))
    verdict, _ = check_label_file(path, manifest, CONTRACT, batch)
    assert verdict.status == UNREADABLE and "does not match its manifest" in verdict.reason()


def test_a_label_file_longer_than_its_batch_is_not_loaded(tmp_path, day, batch):
    path, manifest = _land(tmp_path, pd.concat([_labels(day), _labels(day)]))
    verdict, _ = check_label_file(path, manifest, CONTRACT, batch)
    assert verdict.status == QUALITY
    assert "holds 1440 label rows, more than the 720 rows of batch 2024-01-08; it was not loaded" in verdict.reason()


# ------------------------------------------------------------------------------------------ training reads


def test_training_reads_only_rows_whose_labels_arrived(day, batch):
    mixed = pd.concat([day, batch.assign(ts=batch["ts"] + pd.Timedelta("1D"))], ignore_index=True)
    rows, left_out = labelled_rows(mixed, CONTRACT)
    assert (len(rows), left_out) == (720, 720)
    assert rows[CONTRACT.target].dtype == "int64"
    rows, left_out = labelled_rows(batch, CONTRACT)  # no batch labelled yet: no target column at all
    assert (len(rows), left_out) == (0, 720) and CONTRACT.target in rows.columns
    assert labelled_rows(day, CONTRACT)[1] == 0


# ------------------------------------------------------------------------------------------ scenario


def test_the_delayed_scenario_lands_each_days_labels_after_the_next_day(source):
    scenario = load_scenario(REPO / "include" / "scenarios" / "agrawal_delayed_labels.yaml")
    planned = list(plan_batches(scenario, CONTRACT, source))
    landings = [(p.kind, p.batch_id) for p in planned]
    days = [f"2024-01-{d:02d}" for d in range(8, 14)]
    expected = [("backfill", "backfill-20240103-20240108"), ("batch", days[0])]
    for previous, current in zip(days, days[1:], strict=False):
        expected += [("batch", current), ("labels", previous)]
    assert landings == [*expected, ("labels", days[-1])]
    assert CONTRACT.target in planned[0].frame.columns  # labelled history
    assert all(CONTRACT.target not in p.frame.columns for p in planned if p.kind == "batch")
    labels = {p.batch_id: p for p in planned if p.kind == "labels"}
    assert list(labels["2024-01-09"].frame.columns) == ["ts", "label"]
    assert labels["2024-01-09"].produced == pd.Timestamp("2024-01-12", tz="UTC")  # with the 01-10 batch


def test_delay_zero_lands_labels_right_after_their_batch_and_needs_a_delayed_contract(source):
    scenario = Scenario.model_validate(
        {"contract": "agrawal", "replay": {"start": "2024-01-08", "end": "2024-01-10"}, "labels": {"delay_batches": 0}}
    )
    assert [(p.kind, p.batch_id) for p in plan_batches(scenario, CONTRACT, source)] == [
        ("batch", "2024-01-08"),
        ("labels", "2024-01-08"),
        ("batch", "2024-01-09"),
        ("labels", "2024-01-09"),
    ]
    data = CONTRACT.model_dump(mode="json")
    data["labels"] = {"arrive": "with_batch"}
    with pytest.raises(ContractError, match="set `labels: {arrive: delayed}`"):
        next(plan_batches(scenario, parse_contract(data), source))


# ------------------------------------------------------------------------------------------ the steps


@pytest.fixture
def home(tmp_path, batch) -> PlatformPaths:
    """A data repository holding the unlabelled day, monitored (its ledger record) as the monitor leaves it."""
    from ml.data.versioning import commit_batch, init_data_repo

    paths = PlatformPaths(tmp_path / "home")
    init_data_repo(paths.data_repo, paths.dvc_remote)
    version = commit_batch(paths.data_repo, CONTRACT.name, DAY, batch)
    other = batch.assign(ts=batch["ts"] + pd.Timedelta("1D"))
    commit_batch(paths.data_repo, CONTRACT.name, "2024-01-09", other)
    append_event(
        paths.ledger,
        CONTRACT.name,
        "batch_monitored",
        batch_id=DAY,
        data_rev=version.rev,
        champion_version="1",
        batch_drifted=False,
        reasons=[],
    )
    return paths


def _land_in(paths: PlatformPaths, labels: pd.DataFrame, batch_id: str = DAY) -> Path:
    folder = paths.labels_landing(CONTRACT.name)
    _land(folder, labels, batch_id=batch_id)
    return ready_manifests(folder)[0]


def test_labels_for_a_batch_never_scored_are_quarantined(home, day):
    from ml.steps.labels import LabelsRejected, validate_landed_labels

    manifest = _land_in(home, _labels(day).assign(ts=lambda f: f["ts"] + pd.Timedelta("10D")), batch_id="2024-01-18")
    with pytest.raises(LabelsRejected, match="no batch '2024-01-18' was accepted into the agrawal dataset") as error:
        validate_landed_labels(home, CONTRACT, str(manifest))
    assert "quarantined (unknown_batch)" in str(error.value)
    folder = home.quarantine_for(CONTRACT.name) / "labels-2024-01-18"
    assert sorted(p.name for p in folder.iterdir()) == [
        "2024-01-18.csv",
        "2024-01-18.manifest.json",
        "reason.md",
        "verdict.json",
    ]
    assert (folder / "reason.md").read_text().startswith("# Labels of batch 2024-01-18 quarantined")
    assert json.loads((folder / "verdict.json").read_text())["status"] == "unknown_batch"
    assert ready_manifests(home.labels_landing(CONTRACT.name)) == []
    event = read_events(home.ledger, CONTRACT.name, ["labels_quarantined"])[-1]
    assert (event["batch_id"], event["status"]) == ("2024-01-18", "unknown_batch")


def test_a_bad_label_file_is_quarantined_with_its_reason(home, day):
    from ml.steps.labels import LabelsRejected, validate_landed_labels

    manifest = _land_in(home, _duplicate_key(day))
    with pytest.raises(LabelsRejected, match="labels of batch 2024-01-08 quarantined"):
        validate_landed_labels(home, CONTRACT, str(manifest))
    folder = home.quarantine_for(CONTRACT.name) / f"labels-{DAY}"
    reason = (folder / "reason.md").read_text()
    assert "label rows share their key ['ts']" in reason and "ct quarantine release labels-2024-01-08" in reason
    # `ct quarantine release`: refused while still bad; once the producer fixed it, back to the labels folder
    released, message = release(home, CONTRACT, f"labels-{DAY}")
    assert not released and "labels of batch 2024-01-08 still fail their checks" in message
    _land(folder, _labels(day))  # the fixed file and its manifest, in place
    released, message = release(home, CONTRACT, f"labels-{DAY}")
    assert released, message
    assert [p.name for p in ready_manifests(home.labels_landing(CONTRACT.name))] == [f"{DAY}.manifest.json"]


def test_labels_before_the_monitor_scored_the_batch_wait_in_landing(home, day):
    from ml.steps.labels import LabelsNotReady, validate_landed_labels

    stamps = _labels(day).assign(ts=lambda f: f["ts"] + pd.Timedelta("1D"))
    manifest = _land_in(home, stamps, batch_id="2024-01-09")
    with pytest.raises(LabelsNotReady, match="the monitor has not scored it yet"):
        validate_landed_labels(home, CONTRACT, str(manifest))
    assert ready_manifests(home.labels_landing(CONTRACT.name)) == [manifest]


def test_good_labels_become_a_data_version_that_training_reads(home, day):
    from ml.data.versioning import committed_batches, labelled_batches, read_batch, read_dataset
    from ml.steps.labels import LabelsRejected, commit_landed_labels, validate_landed_labels

    manifest = _land_in(home, _labels(day))
    validated = validate_landed_labels(home, CONTRACT, str(manifest))
    event = commit_landed_labels(home, CONTRACT, validated)
    rev = event["data_version"]["rev"]
    assert labelled_batches(home.data_repo, CONTRACT.name) == [DAY]
    assert committed_batches(home.data_repo, CONTRACT.name) == [DAY, "2024-01-09"]  # no batch added
    pd.testing.assert_frame_equal(
        read_batch(home.data_repo, CONTRACT.name, DAY, rev), day[CONTRACT.batch_columns], check_dtype=False
    )
    rows, left_out = labelled_rows(read_dataset(home.data_repo, CONTRACT.name, rev, order_by="ts"), CONTRACT)
    assert (len(rows), left_out) == (720, 720)  # 2024-01-09 still waits for its labels
    assert (home.processed / CONTRACT.name / "labels" / f"{DAY}.csv").exists()
    assert commit_landed_labels(home, CONTRACT, validated) == event  # a re-run does nothing twice
    # the same labels again change nothing; different ones are refused, the joined ones stay
    again = validate_landed_labels(home, CONTRACT, str(_land_in(home, _labels(day))))
    assert again["already_labelled"]
    assert commit_landed_labels(home, CONTRACT, again)["data_version"]["rev"] == rev
    flipped = _labels(day).assign(label=lambda f: 1 - f["label"])
    with pytest.raises(LabelsRejected, match="720 of its rows would get a different one"):
        validate_landed_labels(home, CONTRACT, str(_land_in(home, flipped)))
