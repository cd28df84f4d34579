"""Where a person opens a report file: the URL under which the platform's Airflow plugin serves ``CT_HOME/reports``.

Report files (Evidently's HTML pages and snapshot JSON, one pair per batch and kind) live under
``CT_HOME/reports/<contract>/``. A browser will not follow a ``file://`` link from an http page, so the platform's
plugin (:mod:`ct_platform.reports`) serves that folder inside Airflow's API server at ``/ct-reports/``, to logged-in
users only. These helpers map a file to its URL and a requested URL path back to a file, refusing anything outside
the folder; they live in ``ml/`` so the monitor can record the URL without importing Airflow.
"""

from __future__ import annotations

from pathlib import Path

from ml.settings import PlatformPaths

URL_PREFIX = "/ct-reports"


def report_url(paths: PlatformPaths, report: str | Path | None) -> str | None:
    """The UI URL (path only, e.g. ``/ct-reports/weather/weather-1983-v1.html``) of a file under the reports folder.

    None when ``report`` is empty or lies outside ``paths.reports`` (such a file is not served).
    """
    if not report:
        return None
    root = paths.reports.resolve()
    target = Path(report).resolve()
    if not target.is_relative_to(root) or target == root:
        return None
    return f"{URL_PREFIX}/{target.relative_to(root).as_posix()}"


def resolve_report(paths: PlatformPaths, relative: str) -> Path | None:
    """The file that ``/ct-reports/<relative>`` serves: an existing file inside the reports folder, else None.

    ``..`` segments, absolute paths and symbolic links that lead outside the folder resolve outside it and give None.
    """
    root = paths.reports.resolve()
    if not relative or "\x00" in relative:
        return None
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target
