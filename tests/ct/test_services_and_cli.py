"""The demo's plumbing that needs no servers: port choice, settling of batches, CLI errors."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from ct.demo import describe, settled
from ct.services import PortError, Ports, choose_port, port_is_free


@pytest.fixture
def busy_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_an_explicitly_requested_busy_port_is_a_clear_error(busy_port):
    with pytest.raises(PortError, match=rf"Airflow port {busy_port} is already in use.*CT_AIRFLOW_PORT"):
        choose_port("Airflow", busy_port, "CT_AIRFLOW_PORT", 8080, set())


def test_a_busy_default_port_moves_to_a_free_one_and_says_so(busy_port):
    port, note = choose_port("MLflow", None, "CT_UNSET_FOR_TEST", busy_port, set())
    assert port != busy_port and port_is_free(port)
    assert f"default port {busy_port} is in use; using {port}" in note


def test_ports_never_collide_with_each_other(monkeypatch):
    for var in ("CT_AIRFLOW_PORT", "CT_MLFLOW_PORT", "CT_WORKER_LOG_PORT", "CT_TRIGGER_LOG_PORT"):
        monkeypatch.delenv(var, raising=False)
    ports = Ports.choose(None, None)
    chosen = [ports.airflow, ports.mlflow, ports.worker_logs, ports.trigger_logs]
    assert len(set(chosen)) == 4


def _events(*pairs):
    return [dict(kind=kind, batch_id="b", **fields) for kind, fields in pairs]


@pytest.mark.parametrize(
    "events, expected",
    [
        (_events(("batch_ingested", {})), False),
        (_events(("batch_quarantined", {})), True),
        (_events(("batch_monitored", {}), ("drift_decided", {"confirmed": False})), True),
        (_events(("drift_decided", {"confirmed": True})), False),
        (_events(("drift_decided", {"confirmed": True}), ("gate_decision", {"decision": "reject"})), True),
        (_events(("drift_decided", {"confirmed": True}), ("gate_decision", {"decision": "promote"})), False),
        (
            _events(
                ("drift_decided", {"confirmed": True}),
                ("gate_decision", {"decision": "promote"}),
                ("champion_changed", {}),
            ),
            True,
        ),
    ],
)
def test_a_batch_settles_only_when_everything_it_started_is_done(events, expected):
    assert settled(events, "b") is expected


_MONITORED = (("batch_monitored", {}), ("drift_decided", {"confirmed": False}))


@pytest.mark.parametrize(
    "events, expected",
    [
        (_events(*_MONITORED), False),  # the batch settled; its labels have not been taken yet
        (_events(*_MONITORED, ("labels_quarantined", {})), True),
        (_events(*_MONITORED, ("labels_ingested", {})), False),
        (
            _events(
                *_MONITORED, ("labels_ingested", {}), ("batch_monitored", {}), ("drift_decided", {"confirmed": False})
            ),
            True,
        ),
        (_events(*_MONITORED, ("labels_ingested", {}), ("drift_decided", {"confirmed": True})), False),
        (
            _events(
                *_MONITORED,
                ("labels_ingested", {}),
                ("drift_decided", {"confirmed": True}),
                ("gate_decision", {"decision": "promote"}),
                ("champion_changed", {}),
            ),
            True,
        ),
    ],
)
def test_a_label_file_settles_only_when_everything_it_started_is_done(events, expected):
    assert settled(events, "b", labels=True) is expected


def test_progress_lines_for_labels():
    assert describe(
        {"kind": "labels_ingested", "batch_id": "2024-01-10", "rows": 720, "data_version": {"rev": "0123456789abcdef"}}
    ) == ("labels of batch 2024-01-10: joined, 720 rows -> data version 0123456789")
    line = describe(
        {
            "kind": "batch_monitored",
            "batch_id": "2024-01-10",
            "labelled": True,
            "scored_by": "1",
            "performance": {"checked": True, "metric": "auc", "value": 0.5058},
            "batch_drifted": True,
            "reasons": ["performance"],
        }
    )
    assert line == "labels of batch 2024-01-10: champion v1 auc 0.506 -> DRIFTED (performance)"


def test_progress_lines_name_what_happened():
    line = describe(
        {
            "kind": "batch_quarantined",
            "batch_id": "1979",
            "status": "schema_change",
            "reason": "visibility: number -> string\nmore",
        }
    )
    assert line == "batch 1979: QUARANTINED (schema_change): visibility: number -> string"
    assert describe({"kind": "ledger_internal"}) is None


def test_cli_reports_a_bad_contract_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\n")
    result = subprocess.run(
        [sys.executable, "-m", "ct.cli", "simulate", "--contract", str(bad), "--report", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "invalid contract" in result.stderr and "name" in result.stderr and "Traceback" not in result.stderr
