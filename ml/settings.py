"""Where a running platform keeps its state.

Everything lives under one home folder, ``CT_HOME`` (default ``./.ct``). Nothing here touches the disk:
paths are computed, and callers create what they need when they need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".ct"
LABELS_DIR = "labels"  # label files of a contract land in, and are kept in, a "labels" folder of its own
DEFAULT_CONTRACTS_DIR = Path(__file__).resolve().parents[1] / "include" / "contracts"


@dataclass(frozen=True)
class PlatformPaths:
    """Every location the platform reads or writes, derived from one home folder."""

    home: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> PlatformPaths:
        env = os.environ if environ is None else environ
        return cls(Path(env.get("CT_HOME", DEFAULT_HOME)).expanduser().resolve())

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def processed(self) -> Path:
        return self.home / "processed"

    @property
    def data_repo(self) -> Path:
        return self.home / "data-repo"

    @property
    def dvc_remote(self) -> Path:
        return self.home / "dvc-remote"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def evidently_workspace(self) -> Path:
        """Evidently's local workspace (one project per contract): ``evidently ui --workspace`` opens it."""
        return self.home / "evidently"

    @property
    def predictions(self) -> Path:
        return self.home / "predictions"

    @property
    def ledger(self) -> Path:
        return self.home / "ledger"

    @property
    def gx(self) -> Path:
        return self.home / "gx"

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow" / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlflow" / "artifacts"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def staging(self) -> Path:
        """Validated batches and label files waiting to be committed (one parquet file each)."""
        return self.home / "staging"

    @property
    def drift_calibration(self) -> Path:
        """Cached drift calibrations, per contract, champion run and batch size."""
        return self.home / "drift_calibration"

    @property
    def evidently_staging(self) -> Path:
        """Where workspace files are written before they move in (same file system; ``evidently ui`` reads every
        file in the workspace, so a half-written one must never be there)."""
        return self.home / "evidently.staging"

    @property
    def logs(self) -> Path:
        """Logs of the processes ``ct demo`` starts."""
        return self.home / "logs"

    def landing_for(self, contract: str) -> Path:
        return self.landing / contract

    def labels_landing(self, contract: str) -> Path:
        """Where a contract's label files land: ``landing/<contract>/labels/``."""
        return self.landing_for(contract) / LABELS_DIR

    def quarantine_for(self, contract: str) -> Path:
        return self.quarantine / contract

    def processed_for(self, contract: str) -> Path:
        """Where a committed batch's landed files are kept: ``processed/<contract>/``."""
        return self.processed / contract

    def labels_processed(self, contract: str) -> Path:
        """Where joined label files are kept: ``processed/<contract>/labels/``."""
        return self.processed_for(contract) / LABELS_DIR

    def staged_batch(self, contract: str, batch_id: str) -> Path:
        return self.staging / contract / f"{batch_id}.parquet"

    def staged_labels(self, contract: str, batch_id: str) -> Path:
        return self.staging / contract / LABELS_DIR / f"{batch_id}.parquet"

    def predictions_for(self, contract: str, batch_id: str) -> Path:
        """The prediction log of one batch: what the champion said about each row."""
        return self.predictions / contract / f"{batch_id}.parquet"

    def reports_for(self, contract: str) -> Path:
        """The HTML and JSON reports of a contract's batches (drift, labels)."""
        return self.reports / contract

    def cached_run_artifact(self, run_id: str, artifact_path: str) -> Path:
        """One run artifact, downloaded once (each in a folder of its own: MLflow lays out files and folders
        differently under the destination)."""
        return self.cache / "runs" / run_id / artifact_path.replace("/", "__")

    def drift_calibration_for(self, contract: str, run_id: str, batch_rows: int) -> Path:
        return self.drift_calibration / contract / f"{run_id}-{batch_rows}.json"


def tracking_uri(paths: PlatformPaths, environ: dict[str, str] | None = None) -> str:
    """The MLflow tracking URI: ``MLFLOW_TRACKING_URI`` if set, else the embedded SQLite store."""
    env = os.environ if environ is None else environ
    return env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{paths.mlflow_db}"


def contracts_dir(environ: dict[str, str] | None = None) -> Path:
    """Where contracts live: ``CT_CONTRACTS_DIR`` if set, else this repository's ``include/contracts``.

    The DAG factories, the demo and the CLI all ask here, so they always agree on the set of contracts.
    """
    env = os.environ if environ is None else environ
    return Path(env.get("CT_CONTRACTS_DIR", DEFAULT_CONTRACTS_DIR))
