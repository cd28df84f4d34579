"""Helpers shared by the DAG files: which contracts exist, default arguments, the platform paths.

Everything here is cheap at parse time: YAML and pydantic only, no pandas, torch or ML libraries.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from ml.contract import Contract, duration_seconds, find_contracts, load_contract
from ml.settings import PlatformPaths, contracts_dir

# The ingest DAG's start date. Without one, `@continuous` gives its first two runs the same logical date
# (the first run's interval is empty), and the scheduler then refuses to create the second one.
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)

DEFAULT_ARGS = {
    "owner": "ct-platform",
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
}


def contracts() -> list[Contract]:
    """Every contract the DAG factories build DAGs for (``CT_CONTRACTS`` may name a subset)."""
    wanted = {n.strip() for n in os.environ.get("CT_CONTRACTS", "").split(",") if n.strip()}
    loaded = [load_contract(path) for path in find_contracts(contracts_dir())]
    return [c for c in loaded if not wanted or c.name in wanted]


def contract_by_name(name: str) -> Contract:
    return load_contract(contracts_dir() / f"{name}.yaml")


def paths() -> PlatformPaths:
    return PlatformPaths.from_env()


def silence_timeout(contract: Contract) -> timedelta:
    sla = contract.freshness.no_batch_within
    return timedelta(seconds=duration_seconds(sla)) if sla else timedelta(days=365)


def continuous_dag(contract: Contract, kind: str, description: str, doc_md: str | None):
    """A DAG that is always waiting (``@continuous``, one run at a time): ``ct_<kind>_<contract>``.

    For the DAGs whose first task is a deferrable sensor (ingest, drift, labels): each run waits in the
    triggerer, and the next run starts waiting as soon as one finishes.
    """
    from airflow.sdk import DAG

    return DAG(
        dag_id=f"ct_{kind}_{contract.name}",
        description=description,
        schedule="@continuous",
        max_active_runs=1,
        start_date=START_DATE,
        catchup=False,
        default_args=DEFAULT_ARGS,
        doc_md=doc_md,
        tags=["ct", contract.name, kind],
    )
