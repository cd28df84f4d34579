"""Evidently reports in the Airflow UI: the "Evidently report" extra link, and the app that serves the reports.

Report files live under ``CT_HOME/reports`` (see :mod:`ml.reports.urls`); the platform's plugin serves that folder
inside Airflow's API server at ``/ct-reports/`` to logged-in users only (:func:`reports_app`).

The link works for ``@task`` tasks, which cannot declare operator links of their own: it is registered as a
*global* operator extra link (``CtPlatformPlugin.global_operator_extra_links``). Airflow's extra-links endpoint asks
it for every task; it answers with the URL the task pushed to XCom under ``ct_report_url`` (by calling
:func:`push_report_link`), and with ``""`` otherwise, which the UI does not show as a button.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperatorLink

from ml.reports.urls import URL_PREFIX, report_url, resolve_report
from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)

XCOM_KEY = "ct_report_url"
LINK_NAME = "Evidently report"

__all__ = [
    "LINK_NAME",
    "URL_PREFIX",
    "XCOM_KEY",
    "EvidentlyReportLink",
    "push_report_link",
    "reports_app",
    "with_report_url",
]


def push_report_link(context_or_ti: Mapping[str, Any] | Any, report_html: str | Path | None) -> str:
    """Offer ``report_html`` (a file under ``CT_HOME/reports``) as the running task's "Evidently report" link.

    ``context_or_ti`` is the task's context (``get_current_context()``) or its task instance. Pushes the report's
    UI URL to XCom key ``ct_report_url`` and returns it; returns ``""`` (and pushes nothing) when there is no
    report or it lies outside the reports folder. A task that produced several reports pushes the one people
    should open first; the others are linked from the ledger and the Evidently UI.
    """
    ti = context_or_ti["ti"] if isinstance(context_or_ti, Mapping) else context_or_ti
    url = report_url(PlatformPaths.from_env(), report_html)
    if not url:
        logger.info("no report link for %s: not a file under the reports folder", report_html)
        return ""
    ti.xcom_push(key=XCOM_KEY, value=url)
    logger.info("Evidently report of this task: %s (UI link: %s)", report_html, url)
    return url


def with_report_url(signal: dict) -> dict:
    """``signal`` with ``report_url``, the UI URL of its ``report_html``, for asset events people click through."""
    url = signal.get("report_url") or report_url(PlatformPaths.from_env(), signal.get("report_html"))
    return {**signal, "report_url": url} if url else signal


class EvidentlyReportLink(BaseOperatorLink):
    """Extra link "Evidently report": the URL the task instance pushed under ``ct_report_url``, else ``""``."""

    name = LINK_NAME

    def get_link(self, operator, *, ti_key) -> str:
        if hasattr(ti_key, "xcom_pull"):  # a running task instance (worker side)
            value = ti_key.xcom_pull(task_ids=ti_key.task_id, key=XCOM_KEY)
        else:  # a TaskInstanceKey: the API server asks the metadata DB
            value = _stored_url(ti_key)
        return value if isinstance(value, str) and value.startswith(URL_PREFIX + "/") else ""


def _stored_url(ti_key) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                key=XCOM_KEY,
                run_id=ti_key.run_id,
                dag_ids=ti_key.dag_id,
                task_ids=ti_key.task_id,
                map_indexes=ti_key.map_index,
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def reports_app():
    """The FastAPI app behind ``/ct-reports/``: files under ``CT_HOME/reports``, for logged-in users only."""
    from ct_platform.file_server import authenticated_file_app

    return authenticated_file_app("CT reports", resolve_report, "report", "a monitored batch writes one")
