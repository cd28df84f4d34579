"""Scenarios: the default weather replay plans the documented batches and lands them like a producer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ml.contract import Contract, ContractError, find_contracts, load_contract
from ml.data.batches import MANIFEST_SUFFIX, BatchManifest, ready_manifests
from ml.files import file_sha256
from ml.simulation.scenario import Corruption, PlannedBatch, Scenario, Window, land, load_scenario, plan_batches
from ml.simulation.sources import load_source

REPO = Path(__file__).resolve().parents[3]
SCENARIOS = REPO / "include" / "scenarios"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract(REPO / "include" / "contracts" / "weather.yaml")


@pytest.fixture(scope="module")
def source(contract: Contract) -> pd.DataFrame:
    return load_source(contract)


@pytest.fixture(scope="module")
def planned(contract: Contract, source: pd.DataFrame) -> list[PlannedBatch]:
    return list(plan_batches(load_scenario(SCENARIOS / "weather_default.yaml"), contract, source))


def test_default_scenario_lands_backfill_then_years_with_the_corrupt_batch_after_1978(planned: list[PlannedBatch]):
    ids = [b.batch_id for b in planned]
    years = [str(y) for y in range(1977, 1987)]
    assert ids == ["backfill-19610101-19770101", "1977", "1978", "1979-hotfix", *years[2:]]
    assert [b.kind for b in planned] == ["backfill"] + ["batch"] * 11


def test_backfill_covers_the_bootstrap_window(planned: list[PlannedBatch]):
    backfill = planned[0]
    assert (backfill.period_start, backfill.period_end) == (
        pd.Timestamp("1961-01-01", tz="UTC"),
        pd.Timestamp("1977-01-01", tz="UTC"),
    )
    assert len(backfill.frame) == 5844 and backfill.payload is None  # 16 years, 4 of them leap years
    assert backfill.frame["date"].min() == backfill.period_start
    assert backfill.frame["date"].max() == pd.Timestamp("1976-12-31", tz="UTC")


def test_yearly_batches_hold_one_calendar_year(planned: list[PlannedBatch]):
    yearly = [b for b in planned[1:] if b.payload is None]
    assert len(yearly) == 10
    for batch in yearly:
        year = int(batch.batch_id)
        leap = year % 4 == 0
        assert len(batch.frame) == (366 if leap else 365), batch.batch_id
        assert batch.period_start == pd.Timestamp(f"{year}-01-01", tz="UTC")
        assert batch.period_end == pd.Timestamp(f"{year + 1}-01-01", tz="UTC")
        assert batch.frame["date"].between(batch.period_start, batch.period_end, inclusive="left").all()
    # consecutive periods tile the replay window without gaps or overlaps
    assert all(a.period_end == b.period_start for a, b in zip(yearly, yearly[1:], strict=False))


def test_corrupt_batch_carries_the_previous_year_with_visibility_as_text(planned: list[PlannedBatch]):
    corrupt, year_1978 = planned[3], planned[2]
    assert corrupt.payload is not None
    assert (corrupt.period_start, corrupt.period_end) == (year_1978.period_start, year_1978.period_end)
    lines = corrupt.payload.decode().splitlines()
    assert lines[0].split(",")[4] == "visibility" and len(lines) == len(year_1978.frame) + 1
    assert all(line.split(",")[4].endswith(" sd") for line in lines[1:])


def test_land_writes_a_manifest_produced_the_day_after_the_period(
    tmp_path: Path, contract: Contract, planned: list[PlannedBatch]
):
    for batch in planned[:4]:
        land(batch, contract, tmp_path)
    manifest = BatchManifest.read(tmp_path / f"1977{MANIFEST_SUFFIX}")
    assert manifest.produced_at == "1978-01-02T00:00:00+00:00"
    assert (manifest.period_start, manifest.period_end) == ("1977-01-01T00:00:00+00:00", "1978-01-01T00:00:00+00:00")
    assert (manifest.contract, manifest.rows, manifest.kind) == ("weather", 365, "batch")
    assert manifest.sha256 == file_sha256(tmp_path / manifest.file)
    backfill = BatchManifest.read(tmp_path / f"backfill-19610101-19770101{MANIFEST_SUFFIX}")
    assert backfill.kind == "backfill" and backfill.produced_at == "1977-01-02T00:00:00+00:00"
    corrupt = BatchManifest.read(tmp_path / f"1979-hotfix{MANIFEST_SUFFIX}")
    assert (tmp_path / corrupt.file).read_bytes() == planned[3].payload
    landed = pd.read_csv(tmp_path / manifest.file)
    assert list(landed.columns) == contract.batch_columns and len(landed) == 365
    # a consumer picks them up in landing order
    assert [p.name.removesuffix(MANIFEST_SUFFIX) for p in ready_manifests(tmp_path)] == [
        "backfill-19610101-19770101",
        "1977",
        "1978",
        "1979-hotfix",
    ]


def test_every_row_of_an_unaligned_replay_window_is_landed(contract: Contract, source: pd.DataFrame):
    scenario = Scenario(contract="weather", replay=Window(start="1977-06-01", end="1980-03-01"))
    batches = list(plan_batches(scenario, contract, source))
    stamps = source["date"]
    in_window = (stamps >= pd.Timestamp("1977-06-01", tz="UTC")) & (stamps < pd.Timestamp("1980-03-01", tz="UTC"))
    expected = int(in_window.sum())
    assert sum(len(b.frame) for b in batches) == expected


def _tiny_source() -> pd.DataFrame:
    dates = pd.date_range(pd.Timestamp("2000-01-01", tz="UTC"), periods=10, freq="D")
    return pd.DataFrame({"date": dates, "visibility": [float(i) for i in range(10)]})


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("number_to_string", lambda text: "0.000 sd" in text),
        ("missing_column", lambda text: "visibility" not in text),
        ("out_of_range", lambda text: ",400.0\n" in text),
    ],
    ids=["number_to_string", "missing_column", "out_of_range"],
)
def test_corruption_kinds(contract: Contract, kind: str, check):
    scenario = Scenario(
        contract="weather",
        replay=Window(start="2000-01-01", end="2000-01-11"),
        corruptions=(Corruption(after="2000-01-01", batch_id="bad", kind=kind, column="visibility"),),
    )
    daily = contract.model_copy(update={"batch": contract.batch.model_copy(update={"period": "5D"})})
    batches = list(plan_batches(scenario, daily, _tiny_source()))
    assert [b.batch_id for b in batches] == ["2000-01-01", "bad", "2000-01-06"]
    assert check(batches[1].payload.decode())


def test_unknown_corruption_kind_raises(contract: Contract):
    scenario = Scenario(
        contract="weather",
        replay=Window(start="2000-01-01", end="2000-01-11"),
        corruptions=(Corruption(after="2000-01-01", batch_id="bad", kind="flip_bits", column="x"),),
    )
    daily = contract.model_copy(update={"batch": contract.batch.model_copy(update={"period": "5D"})})
    with pytest.raises(ContractError, match="unknown corruption kind 'flip_bits'"):
        list(plan_batches(scenario, daily, _tiny_source()))


@pytest.mark.parametrize(
    "text",
    [
        "contract: weather\n",
        "contract: weather\nreplay: {start: '2000-01-01', end: '2001-01-01'}\nextra: 1\n",
        "contract: [unclosed\n",
    ],
    ids=["no replay", "unknown key", "bad yaml"],
)
def test_invalid_scenario_raises(tmp_path: Path, text: str):
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(ContractError, match="invalid scenario"):
        load_scenario(path)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_and_names_a_shipped_contract(path: Path):
    scenario = load_scenario(path)
    contracts = {p.stem for p in find_contracts(REPO / "include" / "contracts")}
    assert scenario.contract in contracts
    assert pd.Timestamp(scenario.replay.start) < pd.Timestamp(scenario.replay.end)
