"""The history of every batch's reports, in an Evidently workspace that ``evidently ui`` shows.

Each batch's report is written once, as files, by the step that computed it (``<report_id>.json`` is Evidently's
snapshot, see :mod:`ml.drift.report`). :func:`add_snapshot` then files that saved snapshot into a local Evidently
workspace under ``CT_HOME/evidently``: one project per contract (named ``ct <contract>``, created on first use,
with a dashboard), one run per batch and kind (``drift`` for the monitor's feature and prediction drift,
``labels`` for target drift and quality once a batch's labels arrive). Evidently is not run again: the snapshot
is loaded from its JSON, tagged and named, and written.

``evidently ui --workspace $CT_HOME/evidently`` (or ``ct reports ui``) then lists the projects, every batch's
report, and the dashboard: drift scores per column and the prediction's drift score per batch, and for labelled
batches the quality metrics and drift scores their snapshots hold.

Concurrency and retries: writers hold an exclusive ``fcntl`` lock on ``<workspace>/.ct-workspace.lock`` while
they find or create the project and add a run, so two tasks never create two projects for one contract. Each
project keeps an index (``<project>/ct_snapshots.json``, a file Evidently ignores) from (kind, batch id, report
file) to the run it became and the file's SHA-256: a retried task that adds the same file again gets the same
run back; a regenerated file (same name, new content) replaces its run, so the workspace keeps one run per key.

Cost and safety: Evidently's ``Workspace`` object reads and parses every run of every project when it is created
(about 3 s at 200 runs of 150 KB), so this module does not use it for writing. It writes Evidently's local layout
itself (``<project id>/metadata.json``, ``dashboard.json``, ``snapshots/<run id>.json``; the names are taken from
``evidently.ui.storage.local.base``, the format is Evidently's own ``dumps()``), which keeps adding a run at a few
milliseconds whatever the history. Each file is written to ``CT_HOME/evidently.staging`` first and moved into
place, so neither a crash nor a running ``evidently ui`` ever sees half a file (a truncated run would stop
``evidently ui`` from starting); the move is outside the watched folder, so the running UI's watcher sees the run
as created and shows it without a restart. Tests read everything back through Evidently's ``Workspace`` and the
real ``evidently ui``.

Evidently is imported inside the functions (it takes seconds to import; DAG files import this module).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ml.data.predictions import PREDICTION_COLUMN
from ml.files import atomic_write_bytes
from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)

PROJECT_PREFIX = "ct "
LOCK_FILE = ".ct-workspace.lock"
STAGING_DIR = "evidently.staging"  # beside the workspace, on the same file system
INDEX_FILE = "ct_snapshots.json"
DRIFT, LABELS = "drift", "labels"
_KIND = re.compile(r"^[a-z][a-z0-9_]*$")
QUALITY_METRICS = ("Accuracy", "RocAuc", "F1Score", "Precision", "Recall", "LogLoss", "MAE", "RMSE", "R2Score")


class ReportWorkspaceError(ValueError):
    """A snapshot cannot be added to the workspace; the message says why and how to fix it."""


def project_name(contract: str) -> str:
    """The Evidently project that holds ``contract``'s reports."""
    return f"{PROJECT_PREFIX}{contract}"


def add_snapshot(
    paths: PlatformPaths,
    contract: str,
    snapshot_json: Path | str,
    *,
    batch_id: str,
    kind: str,
    metadata: Mapping[str, str] | None = None,
) -> dict:
    """Add the saved Evidently snapshot ``snapshot_json`` to ``contract``'s project as ``batch_id``'s ``kind`` run.

    The run is named ``"<kind> <batch_id>"``, tagged ``kind``, ``batch:<batch_id>`` and ``contract:<contract>``,
    and carries string ``metadata`` (``contract``, ``batch_id``, ``kind``, ``report_json``, plus ``metadata``) that
    dashboards and the UI can filter on. Returns ``{"project_id", "snapshot_id", "workspace", "project", "added"}``
    (``added`` is False when this exact file was already added for this batch and kind).

    Raises:
        FileNotFoundError: ``snapshot_json`` does not exist (run the report first).
        ReportWorkspaceError: ``kind`` or ``batch_id`` is unusable, or the file is not an Evidently snapshot.
    """
    _check_names(contract, batch_id, kind)
    source = Path(snapshot_json).resolve()
    payload = source.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    report_ref = _report_ref(paths, source)
    key = f"{kind}|{batch_id}|{report_ref}"
    root = paths.evidently_workspace
    with _locked(root):
        project = _project(paths, contract)
        index = _read_index(root, project["id"])
        known = index.get(key)
        if known is not None and _run_path(root, project["id"], known["snapshot_id"]).exists():
            if known["sha256"] == digest:
                return _result(root, project, known["snapshot_id"], added=False)
            # regenerated: one run per key, the newest
            _run_path(root, project["id"], known["snapshot_id"]).unlink()
        labels = {
            "contract": contract,
            "batch_id": batch_id,
            "kind": kind,
            "report_json": report_ref,
            **{str(k): str(v) for k, v in (metadata or {}).items()},
        }
        snapshot = _labelled_snapshot(
            payload,
            source,
            name=f"{kind} {batch_id}",
            tags=[kind, f"batch:{batch_id}", f"contract:{contract}"],
            metadata=labels,
        )
        snapshot_id = _new_id()
        _install(paths, _run_path(root, project["id"], snapshot_id), snapshot.dumps())
        index[key] = {"snapshot_id": snapshot_id, "sha256": digest, "kind": kind, "batch_id": batch_id}
        _install(paths, _index_path(root, project["id"]), json.dumps(index, indent=1, sort_keys=True))
    logger.info(
        "report %s added to Evidently project %r as run %s (%s %s)",
        source.name,
        project["name"],
        snapshot_id,
        kind,
        batch_id,
    )
    return _result(root, project, snapshot_id, added=True)


def list_snapshots(paths: PlatformPaths, contract: str) -> list[dict]:
    """The runs of ``contract``'s project as ``{"snapshot_id", "kind", "batch_id"}``, from the index (no Evidently)."""
    root = paths.evidently_workspace
    for project_dir in sorted(root.glob(f"*/{INDEX_FILE}")):
        metadata = json.loads((project_dir.parent / "metadata.json").read_text())
        if metadata.get("name") == project_name(contract):
            return [
                {"snapshot_id": v["snapshot_id"], "kind": v["kind"], "batch_id": v["batch_id"]}
                for v in json.loads(project_dir.read_text()).values()
            ]
    return []


def _check_names(contract: str, batch_id: str, kind: str) -> None:
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise ReportWorkspaceError(f"kind={kind!r}: use a lower-case word such as {DRIFT!r} or {LABELS!r}")
    for label, value in (("contract", contract), ("batch_id", batch_id)):
        if not isinstance(value, str) or not value or "|" in value:
            raise ReportWorkspaceError(f"{label}={value!r}: pass a non-empty string without '|'")


def _report_ref(paths: PlatformPaths, source: Path) -> str:
    """The report file as the index and metadata name it: relative to the reports folder when inside it."""
    reports = paths.reports.resolve()
    return source.relative_to(reports).as_posix() if source.is_relative_to(reports) else str(source)


@contextmanager
def _locked(root: Path) -> Generator[None, None, None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _layout():
    """Evidently's local workspace file names (project metadata, dashboard, runs folder)."""
    from evidently.ui.storage.local.base import DASHBOARD_FILE_NAME, PROJECT_FILE_NAME, SNAPSHOTS_DIR_NAME

    return PROJECT_FILE_NAME, DASHBOARD_FILE_NAME, SNAPSHOTS_DIR_NAME


def _dumps(data: dict, **kwargs) -> str:
    from evidently.legacy.utils import NumpyEncoder

    return json.dumps(data, cls=NumpyEncoder, **kwargs)  # as Evidently's LocalState writes its files


def _new_id() -> str:
    from evidently.legacy.core import new_id

    return str(new_id())  # the time-ordered id Evidently gives runs and projects


def _project(paths: PlatformPaths, contract: str) -> dict:
    """The contract's project as ``{"id", "name"}``, created (with its dashboard) on first use. Call under the lock."""
    from evidently.sdk.models import ProjectModel
    from evidently.ui.storage.local.base import LocalState

    name, root = project_name(contract), paths.evidently_workspace
    state = LocalState(str(root))
    found = []
    for project_id in state.list_projects():
        try:
            model = state.read_project(project_id)
        except FileNotFoundError:
            continue  # a folder without metadata: not a project
        if model.name == name:
            found.append({"id": str(model.id), "name": model.name})
    if found:
        if len(found) > 1:
            logger.warning("%d Evidently projects named %r; using %s", len(found), name, found[0]["id"])
        return found[0]
    metadata_file, dashboard_file, _ = _layout()
    model = ProjectModel(
        name=name,
        description=f"Reports of contract {contract}: one run per batch and kind "
        "(drift when monitored, labels when its labels came)",
    )
    _install(paths, root / str(model.id) / dashboard_file, _dumps(default_dashboard().dict()))
    _install(paths, root / str(model.id) / metadata_file, _dumps(model.dict(), indent=2))  # last: now it exists
    logger.info("created Evidently project %r (%s) in %s", name, model.id, root)
    return {"id": str(model.id), "name": name}


def default_dashboard():
    """The project's dashboard: drift scores per batch, and the quality of the champion on labelled batches.

    Panels read the metrics the runs hold: Evidently's ``ValueDrift`` per column (score: a p-value or a distance,
    see the run's report) in ``drift`` runs, and the quality metrics and ``ValueDrift`` of ``labels`` runs.
    """
    from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric
    from evidently.sdk.panels import line_plot_panel, text_panel

    drift = [
        text_panel(
            "Drift per batch",
            "One point per monitored batch. Open a run in Reports for its full page; "
            "the platform's drift decision (calibrated thresholds, debounce) is in the CT page of Airflow.",
        ),
        line_plot_panel(
            "Drift score per column",
            [PanelMetric(metric="ValueDrift", tags=[DRIFT], legend="{{column}} ({{method}})")],
            description="p-value (drift when below the threshold) or distance (drift when above)",
        ),
        line_plot_panel(
            "Prediction drift score",
            [
                PanelMetric(
                    metric="ValueDrift",
                    tags=[DRIFT],
                    metric_labels={"column": PREDICTION_COLUMN},
                    legend="prediction ({{method}})",
                )
            ],
        ),
    ]
    labels = [
        line_plot_panel(
            "Champion quality on labelled batches",
            [PanelMetric(metric=m, tags=[LABELS], legend=m) for m in QUALITY_METRICS],
        ),
        line_plot_panel(
            "Target and prediction drift on labelled batches",
            [PanelMetric(metric="ValueDrift", tags=[LABELS], legend="{{column}} ({{method}})")],
        ),
    ]
    return DashboardModel(
        tabs=[
            DashboardTabModel(title="Drift", panels=[p.id for p in drift]),
            DashboardTabModel(title="Labels", panels=[p.id for p in labels]),
        ],
        panels=[*drift, *labels],
    )


def _labelled_snapshot(payload: bytes, source: Path, *, name: str, tags: list[str], metadata: dict[str, str]):
    from evidently.core.report import Snapshot

    try:
        data = json.loads(payload)
        data["name"] = name
        data["tags"] = sorted({*data.get("tags", []), *tags})
        data["metadata"] = {**data.get("metadata", {}), **metadata}
        return Snapshot.load_dict(data)
    except (ValueError, TypeError, AttributeError) as error:
        raise ReportWorkspaceError(f"{source} is not an Evidently snapshot (Snapshot.dumps() JSON): {error}") from error


def _run_path(root: Path, project_id: str, snapshot_id: str) -> Path:
    return root / project_id / _layout()[2] / f"{snapshot_id}.json"


def _index_path(root: Path, project_id: str) -> Path:
    return root / project_id / INDEX_FILE


def _read_index(root: Path, project_id: str) -> dict:
    path = _index_path(root, project_id)
    return json.loads(path.read_text()) if path.exists() else {}


def _install(paths: PlatformPaths, target: Path, text: str) -> None:
    """Write ``text`` to ``target`` all at once: staged outside the workspace (so a running UI sees a new file),
    then moved into place."""
    atomic_write_bytes(target, text.encode("utf-8"), staging=paths.evidently_staging)


def _result(root: Path, project: dict, snapshot_id: str, *, added: bool) -> dict:
    return {
        "project_id": project["id"],
        "snapshot_id": snapshot_id,
        "workspace": str(root),
        "project": project["name"],
        "added": added,
    }
