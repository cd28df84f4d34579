"""Data Docs in the Airflow UI: the validate task's "Data Docs" extra link, and the pages it points to.

Great Expectations writes its Data Docs site as local files under ``CT_HOME/gx``; a browser will not follow a
``file://`` link from an http page, so the platform serves the site itself, inside Airflow's API server, at
``/ct-data-docs/`` (a FastAPI app registered by :mod:`ct_platform.plugin`), to logged-in users only. The
validate task records the URL of its batch's own page as the extra link, so a person clicks from the task in
the UI straight to the failed expectations and their examples.
"""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk import BaseOperatorLink

from ml.settings import PlatformPaths
from ml.validation.gx_project import data_docs_site_root

logger = logging.getLogger(__name__)

URL_PREFIX = "/ct-data-docs"


def data_docs_url(paths: PlatformPaths, page: str | None) -> str | None:
    """The UI URL of a Data Docs page on disk (under the site root of ``paths``), or None."""
    if not page:
        return None
    root = data_docs_site_root(paths.gx).resolve()
    target = Path(page).resolve()
    if not target.is_relative_to(root):
        return None
    return f"{URL_PREFIX}/{target.relative_to(root).as_posix()}"


def resolve_page(paths: PlatformPaths, relative: str) -> Path | None:
    """The file a request for ``/ct-data-docs/<relative>`` serves: inside the site, existing, else None."""
    root = data_docs_site_root(paths.gx).resolve()
    target = (root / (relative or "index.html")).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


class DataDocsLink(BaseOperatorLink):
    """Extra link "Data Docs": the batch's page, as recorded by the operator while it ran."""

    name = "Data Docs"

    def get_link(self, operator, *, ti_key) -> str:
        return getattr(operator, "data_docs_url", None) or ""
