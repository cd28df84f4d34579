"""Initialising a platform home: folders, the data repository, the MLflow store, the GX project.

Idempotent: running it on an initialised home changes nothing. Called by ``ct init`` (and so by
``make demo``) and by test fixtures; never at import.
"""

from __future__ import annotations

import logging

from ml.contract import Contract
from ml.data.versioning import init_data_repo
from ml.registry.store import ensure_experiment, ensure_registered_model
from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)


def init_platform(paths: PlatformPaths, contracts: list[Contract], *, with_gx: bool = True) -> None:
    for folder in (
        paths.landing,
        paths.quarantine,
        paths.processed,
        paths.reports,
        paths.predictions,
        paths.ledger,
        paths.cache,
        paths.mlflow_artifacts,
        paths.mlflow_db.parent,
    ):
        folder.mkdir(parents=True, exist_ok=True)
    for contract in contracts:
        paths.landing_for(contract.name).mkdir(parents=True, exist_ok=True)
    init_data_repo(paths.data_repo, paths.dvc_remote)
    for contract in contracts:
        ensure_experiment(paths, contract.name)
        ensure_registered_model(paths, contract.model_name, contract.description)
    if with_gx:
        from ml.validation.gx_project import init_gx_project

        init_gx_project(paths.gx, contracts)
    logger.info("platform home ready at %s", paths.home)
