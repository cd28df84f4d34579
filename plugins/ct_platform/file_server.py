"""A FastAPI app that serves files under the platform home to logged-in Airflow users (Data Docs, reports).

Browsers do not follow ``file://`` links from the Airflow UI, so the plugin serves these pages itself, inside
Airflow's API server and behind its login. ``resolve(paths, relative)`` maps a URL path to a file, or ``None``
for anything missing or outside its folder (traversal is refused there, not here).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ml.settings import PlatformPaths


def authenticated_file_app(title: str, resolve: Callable[[PlatformPaths, str], Path | None], what: str, hint: str):
    """A 404 says ``no <what> '<path>'; <hint>``, e.g. what="report", hint="a monitored batch writes one"."""
    from airflow.api_fastapi.core_api.security import requires_authenticated
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse

    app = FastAPI(title=title, dependencies=[Depends(requires_authenticated())])

    @app.get("/{relative:path}")
    def page(relative: str = "") -> FileResponse:
        target = resolve(PlatformPaths.from_env(), relative)
        if target is None:
            raise HTTPException(status_code=404, detail=f"no {what} {relative!r}; {hint}")
        return FileResponse(target)

    return app
