"""MLflow: one experiment and one registered model per contract, aliases instead of stages.

Aliases: ``champion`` serves, ``previous`` is the champion it replaced (the rollback target),
``challenger`` is the newest candidate. The champion alias moves last, after every record is written,
so nothing is ever half-promoted.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ml.settings import PlatformPaths, tracking_uri
from ml.training.model import ScoringModel

logger = logging.getLogger(__name__)

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
TRACKING_ENV = "MLFLOW_TRACKING_URI"


@dataclass(frozen=True)
class VersionRef:
    name: str
    version: str
    run_id: str
    tags: dict

    def to_dict(self) -> dict:
        return {"name": self.name, "version": self.version, "run_id": self.run_id}


def client(paths: PlatformPaths):
    """An MlflowClient on the configured store. Sets the process-wide URI at call time, never at import."""
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri(paths)
    exported = os.environ.get(TRACKING_ENV)
    mlflow.set_tracking_uri(uri)
    # MLflow 3 also exports the URI to the environment; undo that, or every later CT_HOME in this process
    # (tests, notebooks, `ct simulate` twice) would silently inherit this home's store.
    if exported is None:
        os.environ.pop(TRACKING_ENV, None)
    else:
        os.environ[TRACKING_ENV] = exported
    return MlflowClient(tracking_uri=uri)


def ensure_experiment(paths: PlatformPaths, contract_name: str) -> str:
    """The contract's experiment id; created with artifacts under CT_HOME so every process finds them."""
    mlflow_client = client(paths)
    name = f"ct-{contract_name}"
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (paths.mlflow_artifacts / name).as_uri()
    return mlflow_client.create_experiment(name, artifact_location=location)


def ensure_registered_model(paths: PlatformPaths, model_name: str, description: str = "") -> None:
    from mlflow.exceptions import MlflowException

    mlflow_client = client(paths)
    try:
        mlflow_client.get_registered_model(model_name)
    except MlflowException:
        mlflow_client.create_registered_model(model_name, description=description)


def version_by_alias(paths: PlatformPaths, model_name: str, alias: str) -> VersionRef | None:
    from mlflow.exceptions import MlflowException

    try:
        version = client(paths).get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None
    return VersionRef(model_name, str(version.version), version.run_id, dict(version.tags))


def get_version(paths: PlatformPaths, model_name: str, version: str) -> VersionRef:
    from mlflow.exceptions import MlflowException

    mlflow_client = client(paths)
    try:
        found = mlflow_client.get_model_version(model_name, str(version))
    except MlflowException:
        known = sorted((v.version for v in mlflow_client.search_model_versions(f"name='{model_name}'")), key=int)
        raise ValueError(
            f"{model_name} has no version {version!r}; registered versions: {known or 'none'}. "
            f"Is CT_HOME ({paths.home}) the platform home you meant?"
        ) from None
    return VersionRef(model_name, str(found.version), found.run_id, dict(found.tags))


def load_scoring_model(paths: PlatformPaths, ref: VersionRef):
    """A registered version, downloaded once (cached under CT_HOME) and loaded the way it is served: its MLflow
    pyfunc (:class:`ml.registry.pyfunc.PyfuncModel`). Versions registered before every version was a pyfunc
    (a bare ``spec.json`` + ``state_dict.pt``) still load, with plain torch."""
    return load_run_model(paths, ref.run_id, label=f"{ref.name} version {ref.version}")


def load_run_model(paths: PlatformPaths, run_id: str, *, label: str | None = None):
    """The ``model`` artifact of a run, loaded through its pyfunc (or, for the old format, with plain torch)."""
    from ml.registry.pyfunc import PyfuncModel, is_pyfunc_folder

    folder = download_run_artifact(paths, run_id, "model")
    if is_pyfunc_folder(folder):
        return PyfuncModel(folder)
    if (folder / "spec.json").exists():
        logger.warning(
            "%s was registered in the old format (spec.json + state_dict.pt, no MLflow pyfunc): the platform still "
            "scores it with plain torch, but mlflow.pyfunc.load_model and `mlflow models serve` cannot load it; "
            "retrain (or wait for the next retrain) to get a servable version",
            label or f"run {run_id}",
        )
        return ScoringModel.load(folder)
    raise ValueError(f"{label or f'run {run_id}'} has no model files under its 'model' artifact ({folder})")


def download_run_artifact(paths: PlatformPaths, run_id: str, artifact_path: str) -> Path:
    import mlflow

    target = paths.cached_run_artifact(run_id, artifact_path)
    marker = target.parent / f"{target.name}.path"  # not with_suffix: a.json and a.md must not share one
    if not marker.exists():
        client(paths)
        target.mkdir(parents=True, exist_ok=True)
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=str(target))
        marker.write_text(local)
    return Path(marker.read_text())


def optional_run_artifact(paths: PlatformPaths, run_id: str, artifact_path: str) -> Path | None:
    """:func:`download_run_artifact`, or None when the run has no such artifact (runs logged by older code)."""
    from mlflow.exceptions import MlflowException

    try:
        return download_run_artifact(paths, run_id, artifact_path)
    except (MlflowException, OSError):
        return None


def register_version(
    paths: PlatformPaths, model_name: str, run_id: str, artifact_uri: str, tags: dict[str, str]
) -> VersionRef:
    """Register the run's ``model`` folder as a new version carrying its release bundle as tags."""
    mlflow_client = client(paths)
    version = mlflow_client.create_model_version(model_name, source=f"{artifact_uri}/model", run_id=run_id, tags=tags)
    mlflow_client.set_registered_model_alias(model_name, CHALLENGER, version.version)
    return VersionRef(model_name, str(version.version), run_id, tags)


def promote(paths: PlatformPaths, model_name: str, version: str) -> str | None:
    """Make ``version`` the champion; the old champion becomes ``previous``. Returns the old champion."""
    mlflow_client = client(paths)
    old = version_by_alias(paths, model_name, CHAMPION)
    if old is not None and old.version == str(version):
        return old.version  # already champion: re-running a promotion changes nothing
    if old is not None:
        mlflow_client.set_registered_model_alias(model_name, PREVIOUS, old.version)
    mlflow_client.set_registered_model_alias(model_name, CHAMPION, str(version))
    logger.info("%s: champion %s -> %s", model_name, old.version if old else None, version)
    return old.version if old else None


def set_version_tags(paths: PlatformPaths, model_name: str, version: str, tags: dict[str, str]) -> None:
    mlflow_client = client(paths)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(model_name, str(version), key, str(value))


DECISION_ARTIFACT, DECISION_MARKDOWN = "gate/decision.json", "gate/decision.md"


def log_gate_decision(paths: PlatformPaths, run_id: str, record: dict, markdown: str) -> None:
    """The gate's decision record (JSON for machines, Markdown for people) on the challenger's run."""
    mlflow_client = client(paths)
    mlflow_client.log_dict(run_id, record, DECISION_ARTIFACT)
    mlflow_client.log_text(run_id, markdown, DECISION_MARKDOWN)
