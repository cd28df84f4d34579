"""Where a running platform keeps its state.

Everything lives under one home folder, ``CT_HOME`` (default ``./.ct``). Nothing here touches the disk:
paths are computed, and callers create what they need when they need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".ct"
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

    def landing_for(self, contract: str) -> Path:
        return self.landing / contract

    def quarantine_for(self, contract: str) -> Path:
        return self.quarantine / contract


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
