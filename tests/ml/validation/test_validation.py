"""Batch validation: real weather batches, one clean, then one corruption per row of a table."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.contract import Contract, load_contract
from ml.data.batches import BatchManifest, publish_batch
from ml.files import file_sha256
from ml.simulation.sources import load_source
from ml.validation.batch import validate_batch
from ml.validation.common import PASSED, QUALITY, SCHEMA_CHANGE, UNREADABLE, BatchReadError, ValidationVerdict
from ml.validation.expectations import batch_periods, build_expectation_suite
from ml.validation.gx_names import checkpoint_name, suite_name
from ml.validation.gx_project import init_gx_project, project_config_path
from ml.validation.reading import read_batch_file

REPO = Path(__file__).resolve().parents[3]
START = pd.Timestamp("1950-01-01", tz="UTC")
END = pd.Timestamp("1951-01-01", tz="UTC")
PRODUCED = END + pd.Timedelta("1D")


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract(REPO / "include/contracts/weather.yaml")


@pytest.fixture(scope="module")
def history(contract: Contract) -> pd.DataFrame:
    return load_source(contract)


@pytest.fixture(scope="module")
def year(history: pd.DataFrame) -> pd.DataFrame:
    return _between(history, START, END)


def _between(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame["date"] >= start) & (frame["date"] < end)].reset_index(drop=True)


def _publish(
    landing: Path,
    frame: pd.DataFrame,
    *,
    payload: bytes | None = None,
    start: pd.Timestamp = START,
    end: pd.Timestamp = END,
    produced_at: pd.Timestamp = PRODUCED,
    batch_id: str = "weather-1950",
) -> BatchManifest:
    return publish_batch(
        frame,
        contract="weather",
        landing=landing,
        batch_id=batch_id,
        period_start=start,
        period_end=end,
        produced_at=produced_at,
        payload=payload,
    )


def _validate(landing: Path, manifest: BatchManifest, contract: Contract, **kwargs) -> ValidationVerdict:
    verdict, frame = validate_batch(manifest.data_path(landing), manifest, contract, **kwargs)
    assert (frame is not None) == verdict.passed
    return verdict


# ------------------------------------------------------------------------------------------------ clean batch


def test_clean_batch_passes_and_comes_back_typed(tmp_path: Path, year: pd.DataFrame, contract: Contract) -> None:
    manifest = _publish(tmp_path, year)
    verdict, frame = validate_batch(manifest.data_path(tmp_path), manifest, contract)

    assert verdict.status == PASSED, verdict.reason()
    assert verdict.passed and verdict.failures == () and verdict.rows == 365 and verdict.gx_success is True
    assert list(frame.columns) == contract.batch_columns
    assert str(frame["date"].dtype) == "datetime64[ns, UTC]"
    assert frame["rain"].dtype == np.int64 and frame["temperature"].dtype == np.float64
    pd.testing.assert_frame_equal(frame, year, check_dtype=False)
    assert "passed" in verdict.reason()


def test_backfill_spanning_several_periods_passes(tmp_path: Path, history: pd.DataFrame, contract: Contract) -> None:
    start, end = pd.Timestamp("1950-01-01", tz="UTC"), pd.Timestamp("1953-01-01", tz="UTC")
    manifest = _publish(tmp_path, _between(history, start, end), start=start, end=end, produced_at=end)

    assert batch_periods(manifest, contract) == 3  # 1096 rows: above one period's max_rows of 400
    assert _validate(tmp_path, manifest, contract).passed


def test_rare_outlier_within_range_mostly_passes(tmp_path: Path, year: pd.DataFrame, contract: Contract) -> None:
    frame = year.copy()
    frame.loc[100, "sea_level_pressure"] = 94.0  # one row in 365 is 0.3 %: range_mostly 0.99 tolerates it
    assert _validate(tmp_path, _publish(tmp_path, frame), contract).passed


# ----------------------------------------------------------------------------------------------- corruptions


@dataclass(frozen=True)
class Corruption:
    name: str
    status: str
    check: str
    column: str | None
    says: str  # a phrase the failure's message must contain
    frame: Callable[[pd.DataFrame], pd.DataFrame] = lambda frame: frame
    payload: Callable[[pd.DataFrame], bytes] | None = None
    produced_at: pd.Timestamp = PRODUCED


def _set(column: str, rows, value) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def apply(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if isinstance(value, str):
            frame[column] = frame[column].astype(object)
        elif isinstance(value, float):
            frame[column] = frame[column].astype(float)
        frame.loc[rows, column] = value
        return frame

    return apply


def _csv(frame: pd.DataFrame, **kwargs) -> bytes:
    return frame.to_csv(index=False, **kwargs).encode()


def _truncated(frame: pd.DataFrame) -> bytes:
    lines = _csv(frame).split(b"\n")
    return b"\n".join(lines[:200]) + b"\n" + lines[200][:15]  # cut inside row 200


def _ragged(frame: pd.DataFrame) -> bytes:
    lines = _csv(frame).split(b"\n")
    lines[50] += b",1"  # one row with a field more than the header
    return b"\n".join(lines)


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _latin1(frame: pd.DataFrame) -> bytes:
    return frame.rename(columns={"temperature": "température"}).to_csv(index=False).encode("latin-1")


def _future(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[364, "date"] = PRODUCED + pd.Timedelta("5D")
    return frame


def _duplicate_key(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[11, "date"] = frame.loc[10, "date"]
    return frame


CORRUPTIONS = [
    Corruption("missing column", SCHEMA_CHANGE, "schema.missing_column", "visibility", "missing",
               frame=lambda f: f.drop(columns=["visibility"])),
    Corruption("extra column", SCHEMA_CHANGE, "schema.extra_column", "humidity", "not in contract",
               frame=lambda f: f.assign(humidity=0.5)),
    Corruption("renamed column", SCHEMA_CHANGE, "schema.renamed_column", "dew_point", "renamed",
               frame=lambda f: f.rename(columns={"dew_point": "dewpoint"})),
    Corruption("int target written as float", SCHEMA_CHANGE, "schema.type_changed", "rain", "int -> float",
               frame=lambda f: f.assign(rain=f["rain"].astype(float))),
    Corruption("fractional target", SCHEMA_CHANGE, "schema.type_changed", "rain", "int -> float",
               frame=_set("rain", 7, 0.5)),
    Corruption("number arrives as text", SCHEMA_CHANGE, "schema.type_changed", "temperature", "number -> string",
               frame=_set("temperature", [3, 4], "missing?")),
    Corruption("timestamp arrives as text", SCHEMA_CHANGE, "schema.type_changed", "date", "datetime -> string",
               frame=_set("date", 3, "yesterday")),
    Corruption("all-null column", QUALITY, "expect_column_values_to_not_be_null", "visibility", "empty",
               frame=_set("visibility", slice(None), np.nan)),
    Corruption("NaN in a feature", QUALITY, "expect_column_values_to_not_be_null", "temperature", "empty",
               frame=_set("temperature", 3, np.nan)),
    Corruption("inf in a feature", QUALITY, "expect_column_values_to_not_be_in_set", "temperature", "infinite",
               frame=_set("temperature", 4, np.inf)),
    Corruption("out of range beyond range_mostly", QUALITY, "expect_column_values_to_be_between", "dew_point",
               "outside [-6.0, 6.0]", frame=_set("dew_point", slice(0, 9), 50.0)),
    Corruption("label outside target domain", QUALITY, "expect_column_values_to_be_in_set", "rain",
               "target_domain", frame=_set("rain", 5, 2)),
    Corruption("duplicate keys", QUALITY, "expect_column_values_to_be_unique", "date", "share their key",
               frame=_duplicate_key),
    Corruption("timestamp after produced_at", QUALITY, "expect_column_values_to_be_between", "date",
               "later than the batch's produced_at", frame=_future),
    Corruption("stale batch", QUALITY, "freshness.stale", "date", "stale",
               produced_at=END + pd.Timedelta("10D")),
    Corruption("header only", QUALITY, "expect_table_row_count_to_be_between", None, "has 0 rows",
               payload=lambda f: _csv(f.head(0))),
    Corruption("empty file", UNREADABLE, "file.unreadable", None, "is empty", payload=lambda f: b""),
    Corruption("truncated file", UNREADABLE, "file.unreadable", None, "truncated", payload=_truncated),
    Corruption("ragged row", UNREADABLE, "file.unreadable", None, "ragged",
               payload=_ragged),
    Corruption("semicolon delimiter", UNREADABLE, "file.unreadable", None, "semicolons",
               payload=lambda f: _csv(f, sep=";")),
    Corruption("tab delimiter", UNREADABLE, "file.unreadable", None, "tabs", payload=lambda f: _csv(f, sep="\t")),
    Corruption("non-UTF-8 bytes", UNREADABLE, "file.unreadable", None, "not UTF-8", payload=_latin1),
    Corruption("parquet, not CSV", UNREADABLE, "file.unreadable", None, "Parquet", payload=_parquet),
]  # fmt: skip


@pytest.mark.parametrize("case", CORRUPTIONS, ids=[case.name for case in CORRUPTIONS])
def test_corruption_gets_its_status_and_a_failure_naming_it(
    tmp_path: Path, year: pd.DataFrame, contract: Contract, case: Corruption
) -> None:
    frame = case.frame(year)
    payload = case.payload(frame) if case.payload else None
    manifest = _publish(tmp_path, frame, payload=payload, produced_at=case.produced_at)

    verdict = _validate(tmp_path, manifest, contract)

    assert verdict.status == case.status, verdict.reason()
    matching = [f for f in verdict.failures if f.check == case.check and f.column == case.column]
    assert matching, verdict.reason()
    assert any(case.says in f.message for f in matching), verdict.reason()
    document = json.dumps(verdict.to_dict(), allow_nan=False)  # verdicts travel as JSON (XCom, ledger)
    assert ValidationVerdict.from_dict(json.loads(document)) == verdict
    assert case.check in verdict.reason()


def test_very_large_file_is_refused_in_bounded_memory(tmp_path: Path, year: pd.DataFrame, contract: Contract) -> None:
    """A file hundreds of times the contract's row limit is streamed, counted and refused, never loaded."""
    import tracemalloc

    body = _csv(year).split(b"\n", 1)[1]
    path = tmp_path / "weather-1950.csv"
    with path.open("wb") as handle:
        handle.write(_csv(year.head(0)))
        for _ in range(300):  # 109,500 rows, about 100 times the 400-row limit of a yearly batch
            handle.write(body)
    rows = 300 * len(year)
    manifest = BatchManifest(
        "weather-1950",
        "weather",
        path.name,
        file_sha256(path),
        rows,
        START.isoformat(),
        END.isoformat(),
        PRODUCED.isoformat(),
    )
    size = path.stat().st_size

    tracemalloc.start()
    try:
        verdict, frame = validate_batch(path, manifest, contract)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert size > 15_000_000 and frame is None
    assert verdict.status == QUALITY and verdict.rows == rows
    [failure] = verdict.failures
    assert failure.check == "expect_table_row_count_to_be_between" and "not loaded" in failure.message
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB while validating a {size / 1e6:.0f} MB file"


def test_checksum_mismatch_is_unreadable(tmp_path: Path, year: pd.DataFrame, contract: Contract) -> None:
    manifest = _publish(tmp_path, year)
    path = manifest.data_path(tmp_path)
    path.write_bytes(path.read_bytes()[:-40])  # a half-written or replaced file

    verdict = _validate(tmp_path, manifest, contract)

    assert verdict.status == UNREADABLE
    assert [f.check for f in verdict.failures] == ["file.checksum"]
    assert "re-publish" in verdict.failures[0].message


def test_schema_change_reports_types_before_and_after(tmp_path: Path, year: pd.DataFrame, contract: Contract) -> None:
    frame = year.rename(columns={"dew_point": "dewpoint"}).assign(rain=year["rain"] + 0.5)

    verdict = _validate(tmp_path, _publish(tmp_path, frame), contract)

    assert verdict.status == SCHEMA_CHANGE and verdict.gx_success is None
    assert verdict.schema_before["rain"] == "int" and verdict.schema_after["rain"] == "float"
    assert "dew_point" in verdict.schema_before and "dewpoint" in verdict.schema_after
    assert {f.check for f in verdict.failures} == {"schema.renamed_column", "schema.type_changed"}
    renamed = next(f for f in verdict.failures if f.check == "schema.renamed_column")
    assert renamed.examples == ["dewpoint"]


def test_quality_failures_carry_examples_and_file_lines(tmp_path: Path, year: pd.DataFrame, contract: Contract) -> None:
    frame = _set("dew_point", slice(0, 9), 50.0)(year)

    verdict = _validate(tmp_path, _publish(tmp_path, frame), contract)

    failure = next(f for f in verdict.failures if f.column == "dew_point")
    assert failure.examples == [50.0] * 5
    assert "10 of 365" in failure.message and "file line(s) 2, 3, 4, 5, 6" in failure.message


def test_read_batch_file_parses_timestamps_to_utc(tmp_path: Path, year: pd.DataFrame, contract: Contract) -> None:
    manifest = _publish(tmp_path, year)
    frame = read_batch_file(manifest.data_path(tmp_path), contract)
    assert str(frame["date"].dtype) == "datetime64[ns, UTC]" and frame["date"].iloc[0] == START

    (tmp_path / "empty.csv").write_bytes(b"\n\n")
    with pytest.raises(BatchReadError, match="is empty"):
        read_batch_file(tmp_path / "empty.csv", contract)


# --------------------------------------------------------------------------------------- suite and GX project


def test_suite_is_derived_from_the_contract(contract: Contract) -> None:
    suite = build_expectation_suite(contract)
    ranges = {e.column: (e.min_value, e.max_value, e.mostly) for e in suite.expectations if e.meta["rule"] == "range"}
    assert ranges == {f.name: (f.min, f.max, contract.batch.range_mostly) for f in contract.features}

    wider = contract.model_copy(update={"batch": contract.batch.model_copy(update={"range_mostly": 0.5})})
    assert {e.mostly for e in build_expectation_suite(wider).expectations if e.meta["rule"] == "range"} == {0.5}
    assert suite.name == suite_name(contract)


def test_importing_validation_does_not_import_great_expectations() -> None:
    code = "import sys, ml.validation, ml.validation.gx_project; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def gx_root(tmp_path_factory: pytest.TempPathFactory, contract: Contract) -> Path:
    root = tmp_path_factory.mktemp("gx")
    init_gx_project(root, [contract])
    return root


def test_init_gx_project_is_idempotent(gx_root: Path, contract: Contract) -> None:
    import great_expectations as gx

    before = _tree_digest(gx_root)
    init_gx_project(gx_root, [contract])
    assert _tree_digest(gx_root) == before  # a second bootstrap writes nothing

    context = gx.get_context(mode="file", project_root_dir=gx_root)
    checkpoint = context.checkpoints.get(checkpoint_name(contract))
    assert [a.type for a in checkpoint.actions] == ["update_data_docs"]
    assert checkpoint.validation_definitions[0].suite.name == suite_name(contract)
    assert "analytics_enabled: false" in project_config_path(gx_root).read_text()


def test_checkpoint_run_stores_result_and_updates_data_docs(
    gx_root: Path, tmp_path: Path, year: pd.DataFrame, contract: Contract
) -> None:
    configuration = _configuration_files(gx_root)
    good = _validate(tmp_path, _publish(tmp_path, year, batch_id="weather-1950"), contract, gx_root=gx_root)
    stale = _publish(tmp_path, year, batch_id="weather-1950-late", produced_at=END + pd.Timedelta("9D"))
    bad = _validate(tmp_path, stale, contract, gx_root=gx_root)

    assert good.passed and bad.status == QUALITY and bad.gx_success is False
    for verdict in (good, bad):
        result = json.loads(Path(verdict.gx_result_path).read_text())
        assert verdict.batch_id in verdict.gx_result_path and result["success"] is verdict.passed
        assert Path(verdict.data_docs_path).name == "index.html" and Path(verdict.data_docs_path).is_file()
    assert "weather-1950-late" in Path(bad.data_docs_path).read_text()
    assert _configuration_files(gx_root) == configuration  # runs write results and docs, never configuration


def _configuration_files(gx_root: Path) -> dict[str, str]:
    return {path: digest for path, digest in _tree_digest(gx_root).items() if "uncommitted" not in path}


def test_stale_project_suite_falls_back_to_the_contract_until_bootstrap_reruns(
    tmp_path: Path, year: pd.DataFrame, contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    gx_root = tmp_path / "gx"
    init_gx_project(gx_root, [contract])
    narrower = contract.model_copy(update={"features": tuple(
        f.model_copy(update={"min": -0.5, "max": 0.5}) if f.name == "temperature" else f for f in contract.features
    )})  # fmt: skip
    manifest = _publish(tmp_path, year)

    verdict = _validate(tmp_path, manifest, narrower, gx_root=gx_root)
    assert verdict.status == QUALITY and verdict.gx_result_path is None  # validated in memory, from the contract
    assert any(f.column == "temperature" and "[-0.5, 0.5]" in f.message for f in verdict.failures)
    assert "re-run the platform bootstrap" in caplog.text

    init_gx_project(gx_root, [narrower])  # bootstrap rewrites the suite; the checkpoint runs again
    again = _validate(tmp_path, manifest, narrower, gx_root=gx_root)
    assert again.gx_result_path is not None and again.failures == verdict.failures


def test_unseen_category_explosion_fails_the_domain(tmp_path: Path) -> None:
    """The weather contract has no categories: the agrawal contract's `car` (20 codes) gets hundreds of new ones."""
    agrawal = load_contract(REPO / "include/contracts/agrawal.yaml")
    start = pd.Timestamp("2024-01-01", tz="UTC")
    day = load_source(agrawal).pipe(lambda f: f[(f["ts"] >= start) & (f["ts"] < start + pd.Timedelta("1D"))])
    day = day.reset_index(drop=True).assign(car=lambda f: np.arange(len(f)) + 100)  # 720 unseen codes
    manifest = publish_batch(
        day,
        contract="agrawal",
        landing=tmp_path,
        batch_id="agrawal-day",
        period_start=start,
        period_end=start + pd.Timedelta("1D"),
        produced_at=start + pd.Timedelta("1D"),
    )

    verdict = _validate(tmp_path, manifest, agrawal)

    assert verdict.status == QUALITY, verdict.reason()
    [failure] = [f for f in verdict.failures if f.column == "car"]
    assert failure.check == "expect_column_values_to_be_in_set" and len(failure.examples) == 5
