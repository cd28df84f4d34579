"""Data Docs are linked from the validate task: its "Data Docs" extra link opens the batch's own page.

The real ingest DAG runs with ``dag.test()`` on a corrupt weather batch, with the GX project bootstrapped (as
the platform does), so the contract's Checkpoint builds Data Docs; the link is what the UI shows (the XCom
that Airflow's extra-links endpoint reads) and the platform's plugin serves the page behind it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ct.airflow_env import REPO_ROOT
from ml.contract import load_contract
from ml.data.batches import publish_batch
from ml.settings import PlatformPaths
from ml.simulation.sources import load_source
from ml.validation.gx_project import init_gx_project

LINK_KEY = "_link_DataDocsLink"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PlatformPaths:
    monkeypatch.setenv("CT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CT_CONTRACTS", "weather")
    return PlatformPaths.from_env()


def _xcom(run, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, key=key, dag_ids=run.dag_id, task_ids=task_id)
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def test_failed_validation_links_its_data_docs_page(airflow_db, home: PlatformPaths) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from ct_platform.data_docs import URL_PREFIX, resolve_page

    contract = load_contract(REPO_ROOT / "include/contracts/weather.yaml")
    init_gx_project(home.gx, [contract])
    history = load_source(contract)
    start, end = pd.Timestamp("1950-01-01", tz="UTC"), pd.Timestamp("1951-01-01", tz="UTC")
    year = history[(history["date"] >= start) & (history["date"] < end)].copy()
    year.loc[year.index[:10], "dew_point"] = 50.0  # out of range beyond range_mostly: a quality failure
    publish_batch(
        year,
        contract="weather",
        landing=home.landing_for("weather"),
        batch_id="weather-1950-bad",
        period_start=start,
        period_end=end,
        produced_at=end + pd.Timedelta("1D"),
    )
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag("ct_ingest_weather")

    run = dag.test()

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["validate_batch"] == "failed", states
    link = _xcom(run, "validate_batch", LINK_KEY)
    assert link and link.startswith(f"{URL_PREFIX}/validations/weather_contract/weather-1950-bad/"), link
    page = resolve_page(home, link.removeprefix(URL_PREFIX + "/"))
    assert page is not None and "dew_point" in page.read_text()
    assert resolve_page(home, "../../../great_expectations.yml") is None  # nothing outside the site is served


def test_plugin_registers_the_link_and_serves_only_logged_in_users() -> None:
    from ct_platform.data_docs import URL_PREFIX, DataDocsLink
    from ct_platform.operators import ValidateBatchOperator
    from ct_platform.plugin import CtPlatformPlugin

    assert any(isinstance(link, DataDocsLink) for link in CtPlatformPlugin.operator_extra_links)
    assert URL_PREFIX in [app["url_prefix"] for app in CtPlatformPlugin.fastapi_apps]
    assert [link.name for link in ValidateBatchOperator.operator_extra_links] == ["Data Docs"]
