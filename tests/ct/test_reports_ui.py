"""``ct reports ui`` starts the real ``evidently ui`` on the platform's workspace, and it shows the reports' history.

Two drift reports filed with ml.reports.workspace.add_snapshot, then the CLI (which execs ``evidently ui``) started
in its own process group on a free loopback port; its REST API (the one its web page calls) must list the contract's
project, one run per batch, the dashboard and the dashboard's per-batch drift series; a report filed while the UI
runs and a new contract's project must appear without a restart (its workspace watcher sees files moved into
place). The group is stopped in ``finally``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from ml.drift.report import run_drift_report
from ml.reports.workspace import add_snapshot, project_name
from ml.settings import PlatformPaths

pytestmark = pytest.mark.slow  # evidently ui takes ~10 s to start on 2 cores

CT = str(Path(sys.executable).with_name("ct"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _file_report(paths: PlatformPaths, batch: int, contract: str = "demo") -> dict:
    rng = np.random.default_rng(batch)
    reference = pd.DataFrame({"x": rng.normal(size=400), "prediction": rng.random(400)})
    current = pd.DataFrame({"x": rng.normal(0.5 * batch, 1.0, 300), "prediction": rng.random(300)})
    report = run_drift_report(
        reference,
        current,
        numeric=["x", "prediction"],
        categorical=[],
        out_dir=paths.reports / contract,
        report_id=f"{contract}-b{batch}-v1",
        html=False,
    )
    return add_snapshot(paths, contract, report.json_path, batch_id=f"b{batch}", kind="drift")


def _wait_until_up(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"evidently ui exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/projects/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"evidently ui did not answer within 120 s: {log.read_text()[-2000:]}")


def _snapshot_batches(base: str, project_id: str) -> list[str]:
    runs = httpx.get(f"{base}/api/projects/{project_id}/snapshots", timeout=10).json()
    return sorted(r["metadata"]["batch_id"] for r in runs)


def test_evidently_ui_lists_the_project_its_runs_and_the_dashboard(tmp_path: Path) -> None:
    paths = PlatformPaths(tmp_path / "home")
    project_id = [_file_report(paths, batch) for batch in range(2)][0]["project_id"]
    port, log = _free_port(), tmp_path / "evidently-ui.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [CT, "--home", str(paths.home), "reports", "ui", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log)
        projects = httpx.get(f"{base}/api/projects/", timeout=10).json()
        assert [(p["id"], p["name"]) for p in projects] == [(project_id, project_name("demo"))]
        assert _snapshot_batches(base, project_id) == ["b0", "b1"]

        dashboard = httpx.get(f"{base}/api/v2/dashboards/{project_id}", timeout=10).json()
        assert [tab["title"] for tab in dashboard["tabs"]] == ["Drift", "Labels"]
        panel = next(p for p in dashboard["panels"] if p["title"] == "Drift score per column")
        series = httpx.post(
            f"{base}/api/v2/snapshots/{project_id}/data_series_batch",
            timeout=10,
            json={"series_filter": panel["values"]},
        ).json()
        assert len(series["sources"]) == 2  # one point per batch
        assert {s["params"]["column"] for s in series["series"]} == {"x", "prediction"}
        assert all(len(s["values"]) == 2 and None not in s["values"] for s in series["series"])

        _file_report(paths, 2)  # filed while the UI runs: a run of a known project, and a new contract's first
        other = _file_report(paths, 0, contract="other")["project_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            _snapshot_batches(base, project_id) != ["b0", "b1", "b2"]
            or len(httpx.get(f"{base}/api/projects/", timeout=10).json()) < 2
        ):
            time.sleep(0.5)
        assert _snapshot_batches(base, project_id) == ["b0", "b1", "b2"]
        assert _snapshot_batches(base, other) == ["b0"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
