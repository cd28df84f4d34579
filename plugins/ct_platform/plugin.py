"""The platform's Airflow plugin: the Data Docs and Evidently report extra links, and the apps that serve them."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from ct_platform import reports
from ct_platform.data_docs import URL_PREFIX, DataDocsLink, resolve_page
from ct_platform.file_server import authenticated_file_app


class CtPlatformPlugin(AirflowPlugin):
    name = "ct_platform"
    operator_extra_links = [DataDocsLink()]
    # On every task, shown only where the task pushed a report (ct_platform.reports.push_report_link): @task
    # tasks cannot declare links of their own.
    global_operator_extra_links = [reports.EvidentlyReportLink()]
    fastapi_apps = [
        {
            "app": authenticated_file_app("CT Data Docs", resolve_page, "Data Docs page", "validate a batch first"),
            "url_prefix": URL_PREFIX,
            "name": "CT Data Docs",
        },
        {"app": reports.reports_app(), "url_prefix": reports.URL_PREFIX, "name": "CT reports"},
    ]
