"""Tests of ml.reports.workspace: real Evidently snapshots filed into a real local Evidently workspace.

The snapshots come from ml.drift.report on small seeded frames (two reports per module, ~1 s each after
Evidently's import); every check reads the workspace back through Evidently's own ``Workspace`` API, the one
``evidently ui`` reads.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.drift.report import run_drift_report
from ml.reports.workspace import INDEX_FILE, ReportWorkspaceError, add_snapshot, list_snapshots, project_name
from ml.settings import PlatformPaths


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1.0, rows), "prediction": rng.random(rows)})


@pytest.fixture(scope="module")
def saved_reports(tmp_path_factory) -> list[Path]:
    """Two drift snapshots (JSON) as the monitor writes them, in a reports folder of their own."""
    out = tmp_path_factory.mktemp("saved") / "reports" / "demo"
    reference = _frame(400, seed=1)
    return [
        Path(
            run_drift_report(
                reference,
                _frame(300, seed=10 + i, shift=0.5 * i),
                numeric=["x", "prediction"],
                categorical=[],
                out_dir=out,
                report_id=f"demo-b{i}-v1",
                html=False,
            ).json_path
        )
        for i in range(2)
    ]


@pytest.fixture
def paths(tmp_path: Path, saved_reports: list[Path]) -> PlatformPaths:
    """A fresh platform home whose reports folder holds copies of the saved snapshots."""
    paths = PlatformPaths(tmp_path / "home")
    (paths.reports / "demo").mkdir(parents=True)
    for report in saved_reports:
        shutil.copy(report, paths.reports / "demo" / report.name)
    return paths


def _report(paths: PlatformPaths, i: int) -> Path:
    return paths.reports / "demo" / f"demo-b{i}-v1.json"


def _workspace(paths: PlatformPaths):
    from evidently.ui.workspace import Workspace

    return Workspace(str(paths.evidently_workspace))


def test_each_batch_becomes_one_named_tagged_run_in_the_contracts_project(paths: PlatformPaths) -> None:
    added = [add_snapshot(paths, "demo", _report(paths, i), batch_id=f"b{i}", kind="drift") for i in range(2)]

    workspace = _workspace(paths)
    [project] = workspace.search_project(project_name("demo"))
    assert {a["project_id"] for a in added} == {str(project.id)}
    assert all(a["added"] and a["workspace"] == str(paths.evidently_workspace) for a in added)
    assert sorted(str(s) for s in workspace.list_runs(project.id)) == sorted(a["snapshot_id"] for a in added)
    for i, result in enumerate(added):
        run = workspace.get_run(project.id, result["snapshot_id"])
        assert run.name == f"drift b{i}"
        assert {"drift", f"batch:b{i}", "contract:demo"} <= set(run.tags)
        assert run.metadata["batch_id"] == f"b{i}" and run.metadata["kind"] == "drift"
        assert run.metadata["report_json"] == f"demo/demo-b{i}-v1.json"
        assert run.metric_results  # Evidently's numbers came along; nothing was recomputed
    assert sorted(s["batch_id"] for s in list_snapshots(paths, "demo")) == ["b0", "b1"]


def test_a_retried_task_gets_its_run_back_and_a_regenerated_report_replaces_it(paths: PlatformPaths) -> None:
    first = add_snapshot(paths, "demo", _report(paths, 0), batch_id="b0", kind="drift")
    again = add_snapshot(paths, "demo", _report(paths, 0), batch_id="b0", kind="drift")
    assert again == {**first, "added": False}

    data = json.loads(_report(paths, 0).read_text())
    data["timestamp"] = "2030-01-01T00:00:00"  # the report was run again: same file name, new content
    _report(paths, 0).write_text(json.dumps(data))
    replaced = add_snapshot(paths, "demo", _report(paths, 0), batch_id="b0", kind="drift")
    labels = add_snapshot(paths, "demo", _report(paths, 0), batch_id="b0", kind="labels")

    runs = {str(s) for s in _workspace(paths).list_runs(first["project_id"])}
    assert replaced["added"] and replaced["snapshot_id"] != first["snapshot_id"]
    assert runs == {replaced["snapshot_id"], labels["snapshot_id"]}  # one run per (batch, kind, file)


def _add_in_child(home: str, index: int, results) -> None:
    paths = PlatformPaths(Path(home))
    results.put(add_snapshot(paths, "demo", _report(paths, index), batch_id=f"b{index}", kind="drift"))


def test_two_processes_adding_at_once_share_one_project(paths: PlatformPaths) -> None:
    context = multiprocessing.get_context("spawn")  # fresh interpreters: each imports Evidently and races to create
    results = context.Queue()
    children = [context.Process(target=_add_in_child, args=(str(paths.home), i, results)) for i in range(2)]
    for child in children:
        child.start()
    added = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0

    projects = _workspace(paths).search_project(project_name("demo"))
    assert len(projects) == 1 and {a["project_id"] for a in added} == {str(projects[0].id)}
    assert len(_workspace(paths).list_runs(projects[0].id)) == 2
    assert len(json.loads((paths.evidently_workspace / str(projects[0].id) / INDEX_FILE).read_text())) == 2


def test_the_project_has_a_dashboard_of_drift_and_label_panels(paths: PlatformPaths) -> None:
    result = add_snapshot(paths, "demo", _report(paths, 0), batch_id="b0", kind="drift")
    dashboard = _workspace(paths).get_dashboard(result["project_id"])
    assert [tab.title for tab in dashboard.tabs] == ["Drift", "Labels"]
    metrics = {value.metric for panel in dashboard.panels for value in panel.values}
    assert "evidently:metric_v2:ValueDrift" in metrics and "evidently:metric_v2:Accuracy" in metrics


def test_bad_input_is_refused_with_a_reason(paths: PlatformPaths, tmp_path: Path) -> None:
    with pytest.raises(ReportWorkspaceError, match="kind"):
        add_snapshot(paths, "demo", _report(paths, 0), batch_id="b0", kind="Drift Report")
    with pytest.raises(ReportWorkspaceError, match="batch_id"):
        add_snapshot(paths, "demo", _report(paths, 0), batch_id="", kind="drift")
    with pytest.raises(FileNotFoundError):
        add_snapshot(paths, "demo", tmp_path / "missing.json", batch_id="b0", kind="drift")
    (tmp_path / "not-a-snapshot.json").write_text('{"hello": "world"}')
    with pytest.raises(ReportWorkspaceError, match="not an Evidently snapshot"):
        add_snapshot(paths, "demo", tmp_path / "not-a-snapshot.json", batch_id="b0", kind="drift")


def _panel_series(paths: PlatformPaths, project_id: str, title: str) -> list:
    """What ``evidently ui`` plots for the dashboard panel ``title``: the series its data storage returns."""
    import asyncio
    import uuid

    from evidently.ui.service.base import SeriesFilter
    from evidently.ui.service.storage.local import create_local_project_manager

    manager = create_local_project_manager(str(paths.evidently_workspace), False)
    [panel] = [p for p in _workspace(paths).get_dashboard(project_id).panels if p.title == title]
    filters = [
        SeriesFilter(tags=v.tags, metadata=v.metadata, metric=v.metric, metric_labels=v.metric_labels)
        for v in panel.values
    ]
    return asyncio.run(manager.data_storage.get_data_series(uuid.UUID(project_id), filters, None, None)).series


def test_the_labels_panels_plot_a_labelled_batchs_quality_and_target_drift(paths: PlatformPaths) -> None:
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import ClassificationPreset

    rng = np.random.default_rng(3)
    scores = rng.random(600)
    frame = pd.DataFrame({"rain": (rng.random(600) < scores).astype(int), "prediction": scores})
    definition = DataDefinition(
        numerical_columns=["prediction"],
        classification=[BinaryClassification(target="rain", prediction_probas="prediction")],
    )
    current, reference = (Dataset.from_pandas(part, data_definition=definition) for part in (frame[:300], frame[300:]))
    snapshot = Report([ValueDrift(column="rain"), ClassificationPreset()]).run(current, reference)
    saved = paths.reports / "demo" / "demo-b0-labels.json"
    saved.write_text(snapshot.dumps())

    added = add_snapshot(paths, "demo", saved, batch_id="b0", kind="labels")
    add_snapshot(paths, "demo", _report(paths, 0), batch_id="b0", kind="drift")  # not plotted in the labels tab

    quality = {
        s.metric_type.rsplit(":", 1)[-1]: s.values
        for s in _panel_series(paths, added["project_id"], "Champion quality on labelled batches")
    }
    assert {"Accuracy", "RocAuc", "F1Score"} <= set(quality) and all(len(v) == 1 for v in quality.values())
    assert 0.5 < quality["RocAuc"][0] <= 1.0
    target = _panel_series(paths, added["project_id"], "Target and prediction drift on labelled batches")
    assert [s.params["column"] for s in target] == ["rain"]
    drift = _panel_series(paths, added["project_id"], "Drift score per column")
    assert {s.params["column"] for s in drift} == {"x", "prediction"}  # the drift run's columns only
