"""The platform's Airflow plugin: the Data Docs and Evidently report extra links, and the apps that serve them."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse

from ct_platform import reports
from ct_platform.data_docs import URL_PREFIX, DataDocsLink, resolve_page
from ml.settings import PlatformPaths


def _data_docs_app() -> FastAPI:
    from airflow.api_fastapi.core_api.security import requires_authenticated

    app = FastAPI(title="CT Data Docs", dependencies=[Depends(requires_authenticated())])

    @app.get("/{relative:path}")
    def page(relative: str = "") -> FileResponse:
        target = resolve_page(PlatformPaths.from_env(), relative)
        if target is None:
            raise HTTPException(status_code=404, detail=f"no Data Docs page {relative!r}; validate a batch first")
        return FileResponse(target)

    return app


class CtPlatformPlugin(AirflowPlugin):
    name = "ct_platform"
    operator_extra_links = [DataDocsLink()]
    # On every task, shown only where the task pushed a report (ct_platform.reports.push_report_link): @task
    # tasks cannot declare links of their own.
    global_operator_extra_links = [reports.EvidentlyReportLink()]
    fastapi_apps = [{"app": _data_docs_app(), "url_prefix": URL_PREFIX, "name": "CT Data Docs"},
                    {"app": reports.reports_app(), "url_prefix": reports.URL_PREFIX, "name": "CT reports"}]
