"""ml.reports.urls: report files map to /ct-reports/ URLs and back, and nothing outside the reports folder does."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.reports.urls import URL_PREFIX, report_url, resolve_report
from ml.settings import PlatformPaths


@pytest.fixture
def paths(tmp_path: Path) -> PlatformPaths:
    paths = PlatformPaths(tmp_path / "home")
    (paths.reports / "weather").mkdir(parents=True)
    (paths.reports / "weather" / "weather-1983-v1.html").write_text("<html></html>")
    (paths.home / "secret.txt").write_text("not a report")
    return paths


def test_a_report_maps_to_its_url_and_back(paths: PlatformPaths) -> None:
    page = paths.reports / "weather" / "weather-1983-v1.html"
    url = report_url(paths, page)
    assert url == f"{URL_PREFIX}/weather/weather-1983-v1.html"
    assert resolve_report(paths, url.removeprefix(URL_PREFIX + "/")) == page.resolve()


def test_files_outside_the_reports_folder_have_no_url(paths: PlatformPaths) -> None:
    for outside in (None, "", paths.home / "secret.txt", paths.reports / ".." / "secret.txt", paths.reports):
        assert report_url(paths, outside) is None, outside


@pytest.mark.parametrize(
    "request_path",
    [
        "../secret.txt",
        "weather/../../secret.txt",
        "/etc/passwd",
        str(Path("/") / "etc" / "passwd"),
        "",
        "weather",
        "weather/missing.html",
        "weather/\x00.html",
        "weather/link.html",
    ],
)
def test_requests_outside_the_folder_or_for_no_file_are_refused(paths: PlatformPaths, request_path: str) -> None:
    (paths.reports / "weather" / "link.html").symlink_to(paths.home / "secret.txt")  # a link leading outside
    assert resolve_report(paths, request_path) is None
