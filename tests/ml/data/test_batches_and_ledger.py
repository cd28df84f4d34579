"""Landing batches (data first, manifest last, atomically) and the platform's JSON-lines ledger."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from ml.data.batches import MANIFEST_SUFFIX, BatchError, BatchManifest, batch_id_of, publish_batch, ready_manifests
from ml.files import atomic_write_bytes, atomic_write_json, file_sha256
from ml.ledger import append_event, latest_by_batch, ledger_path, read_events

START = pd.Timestamp("1977-01-01", tz="UTC")


def _frame(rows: int = 4) -> pd.DataFrame:
    dates = pd.date_range(START, periods=rows, freq="D")
    return pd.DataFrame({"date": dates, "x": range(rows), "rain": [0, 1] * (rows // 2)})


def _publish(landing: Path, batch_id: str, produced_at: str, frame: pd.DataFrame | None = None, **kwargs):
    frame = _frame() if frame is None else frame
    produced = pd.Timestamp(produced_at)
    produced = produced.tz_localize("UTC") if produced.tzinfo is None else produced
    return publish_batch(
        frame,
        contract="weather",
        landing=landing,
        batch_id=batch_id,
        period_start=START,
        period_end=START + pd.Timedelta("365D"),
        produced_at=produced,
        **kwargs,
    )


# --- batches -------------------------------------------------------------------------------------------------


def test_publish_batch_writes_data_then_manifest_with_matching_sha(tmp_path: Path, monkeypatch):
    landing = tmp_path / "landing"
    written: list[str] = []
    real_replace = os.replace

    def recording_replace(src, dst):
        written.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    frame = _frame(6)
    manifest = _publish(landing, "1977", "1978-01-02", frame)
    assert written == ["1977.csv", f"1977{MANIFEST_SUFFIX}"], "the manifest must be written last"
    data = landing / "1977.csv"
    assert manifest.sha256 == hashlib.sha256(data.read_bytes()).hexdigest() == file_sha256(data)
    assert manifest.rows == 6 and manifest.file == "1977.csv" and manifest.kind == "batch"
    assert manifest.produced_at == "1978-01-02T00:00:00+00:00"
    assert BatchManifest.read(landing / f"1977{MANIFEST_SUFFIX}") == manifest
    assert manifest.data_path(landing) == data
    pd.testing.assert_frame_equal(pd.read_csv(data), frame.assign(date=frame["date"].astype(str)))
    assert sorted(p.name for p in landing.iterdir()) == ["1977.csv", f"1977{MANIFEST_SUFFIX}"], "no temp files"


def test_publish_batch_with_raw_payload_hashes_the_payload(tmp_path: Path):
    payload = b"date,x\nnot,a number\n"
    manifest = _publish(tmp_path, "broken", "1978-01-02", payload=payload)
    assert (tmp_path / "broken.csv").read_bytes() == payload
    assert manifest.sha256 == hashlib.sha256(payload).hexdigest()


def test_ready_manifests_orders_by_produced_at_and_ignores_bare_data_files(tmp_path: Path):
    _publish(tmp_path, "c", "1980-01-02")
    _publish(tmp_path, "a", "1982-01-02")
    _publish(tmp_path, "b", "1978-01-02")
    _publish(tmp_path, "tie-2", "1979-01-02")
    _publish(tmp_path, "tie-1", "1979-01-02")
    (tmp_path / "still-writing.csv").write_text("date,x\n")  # a data file whose manifest is not there yet
    ready = ready_manifests(tmp_path)
    assert [batch_id_of(p) for p in ready] == ["b", "tie-1", "tie-2", "c", "a"]


def test_ready_manifests_orders_by_instant_across_utc_offsets(tmp_path: Path):
    _publish(tmp_path, "utc", "1978-01-02T01:00:00+00:00")
    # 22:00 at UTC-5 is 03:00 UTC the next day: produced two hours after "utc", yet its string sorts first
    publish_batch(
        _frame(),
        contract="weather",
        landing=tmp_path,
        batch_id="eastern",
        period_start=START,
        period_end=START + pd.Timedelta("365D"),
        produced_at=pd.Timestamp("1978-01-01T22:00:00-05:00"),
    )
    assert [batch_id_of(p) for p in ready_manifests(tmp_path)] == ["utc", "eastern"]


def test_ready_manifests_of_a_missing_folder_is_empty(tmp_path: Path):
    assert ready_manifests(tmp_path / "absent") == []


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b"null", b'{"batch_id": "x"}', b'{"batch_id": "x", "surprise": 1}', b""],
    ids=["syntax", "list", "null", "missing fields", "unknown field", "empty"],
)
def test_malformed_manifest_raises_batch_error_and_sorts_first(tmp_path: Path, content: bytes):
    _publish(tmp_path, "good", "1978-01-02")
    bad = tmp_path / f"zz-bad{MANIFEST_SUFFIX}"
    bad.write_bytes(content)
    with pytest.raises(BatchError, match="unreadable or malformed.*the producer must rewrite it") as caught:
        BatchManifest.read(bad)
    assert str(bad) in str(caught.value)
    assert [batch_id_of(p) for p in ready_manifests(tmp_path)] == ["zz-bad", "good"]


def test_non_utf8_manifest_raises_batch_error_and_does_not_block_landing(tmp_path: Path):
    _publish(tmp_path, "good", "1978-01-02")
    bad = tmp_path / f"binary{MANIFEST_SUFFIX}"
    bad.write_bytes(b"\xff\xfe{\x00")
    assert [batch_id_of(p) for p in ready_manifests(tmp_path)] == ["binary", "good"]
    with pytest.raises(BatchError):
        BatchManifest.read(bad)


def test_atomic_write_leaves_no_temp_file_and_keeps_old_content_on_failure(tmp_path: Path, monkeypatch):
    target = tmp_path / "out" / "file.json"
    atomic_write_json(target, {"version": 1})

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b'{"version": 2}')
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def test_atomic_write_creates_folder_and_overwrites(tmp_path: Path):
    target = tmp_path / "a" / "b" / "payload.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["payload.bin"]


# --- ledger --------------------------------------------------------------------------------------------------


def test_ledger_append_and_read_in_order_with_kind_filter(tmp_path: Path):
    first = append_event(tmp_path, "weather", "batch_ingested", batch_id="1977", rows=365)
    append_event(tmp_path, "weather", "batch_monitored", batch_id="1977", batch_drifted=False)
    append_event(tmp_path, "weather", "batch_ingested", batch_id="1978", rows=365)
    append_event(tmp_path, "other", "batch_ingested", batch_id="x")
    assert first["kind"] == "batch_ingested" and first["contract"] == "weather" and "recorded_at" in first
    events = read_events(tmp_path, "weather")
    assert [(e["kind"], e["batch_id"]) for e in events] == [
        ("batch_ingested", "1977"),
        ("batch_monitored", "1977"),
        ("batch_ingested", "1978"),
    ]
    assert events[0] == first
    ingested = read_events(tmp_path, "weather", kinds=["batch_ingested"])
    assert [e["batch_id"] for e in ingested] == ["1977", "1978"]
    assert read_events(tmp_path, "weather", kinds=[]) == []
    assert read_events(tmp_path, "weather", kinds={"batch_monitored", "nothing"})[0]["batch_drifted"] is False
    assert read_events(tmp_path, "absent") == []


def test_ledger_kind_and_contract_cannot_be_overwritten_by_fields(tmp_path: Path):
    event = append_event(tmp_path, "weather", "drift_signal", contract="spoofed", batch_id="1982")
    assert (event["kind"], event["contract"]) == ("drift_signal", "weather")


def test_ledger_skips_a_torn_last_line(tmp_path: Path):
    append_event(tmp_path, "weather", "batch_ingested", batch_id="1977")
    with ledger_path(tmp_path, "weather").open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "batch_ingested", "batch_id": "19')  # a writer died mid-line
    assert [e["batch_id"] for e in read_events(tmp_path, "weather")] == ["1977"]


def test_ledger_skips_a_malformed_line_but_keeps_later_events(tmp_path: Path):
    append_event(tmp_path, "weather", "batch_ingested", batch_id="1977")
    with ledger_path(tmp_path, "weather").open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "batch_ingested", "batch_id": "19\n')  # a fragment, newline-terminated
    append_event(tmp_path, "weather", "batch_ingested", batch_id="1978")
    assert [e["batch_id"] for e in read_events(tmp_path, "weather")] == ["1977", "1978"]


def test_event_appended_after_a_torn_line_is_not_lost(tmp_path: Path):
    append_event(tmp_path, "weather", "batch_ingested", batch_id="1977")
    with ledger_path(tmp_path, "weather").open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "batch_ingested", "batch_id": "19')
    append_event(tmp_path, "weather", "batch_ingested", batch_id="1978")
    assert [e["batch_id"] for e in read_events(tmp_path, "weather")] == ["1977", "1978"]


def test_latest_by_batch_keeps_the_last_event_per_batch():
    events = [
        {"kind": "batch_monitored", "batch_id": "1977", "batch_drifted": False},
        {"kind": "batch_monitored", "batch_id": "1978", "batch_drifted": True},
        {"kind": "drift_signal"},  # no batch id: ignored
        {"kind": "batch_monitored", "batch_id": "1977", "batch_drifted": True},
    ]
    latest = latest_by_batch(events)
    assert list(latest) == ["1977", "1978"]
    assert latest["1977"] is events[3] and latest["1978"] is events[1]
    assert latest_by_batch([]) == {}
