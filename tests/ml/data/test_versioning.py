"""Data versions on a real git + DVC repository with a local-folder DVC remote, all under tmp_path."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dvc.repo
import pandas as pd
import pytest

from ml.data.versioning import (
    DataVersion,
    DataVersionError,
    commit_batch,
    committed_batches,
    current_version,
    init_data_repo,
    read_batch,
    read_dataset,
)

CONTRACT = "weather"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:dvc.*")


def _rows(start: str, values: list[float]) -> pd.DataFrame:
    dates = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=len(values), freq="D")
    return pd.DataFrame({"date": dates, "temperature": values, "rain": [i % 2 for i in range(len(values))]})


# The second batch is *older* than the first and its id sorts after it, so ordering by timestamp is visible.
FIRST = _rows("1978-01-01", [1.0, 2.0, 3.0])
SECOND = _rows("1977-01-01", [10.0, 20.0])


@dataclass
class DataRepo:
    repo: Path
    remote: Path
    first: DataVersion
    second: DataVersion


def _commit_count(repo: Path) -> int:
    return int(_git(repo, "rev-list", "--count", "HEAD"))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _make_repo(root: Path) -> DataRepo:
    repo, remote = root / "data-repo", root / "remote"
    init_data_repo(repo, remote)
    first = commit_batch(repo, CONTRACT, "1978", FIRST)
    second = commit_batch(repo, CONTRACT, "late-1977", SECOND)
    return DataRepo(repo, remote, first, second)


@pytest.fixture(scope="module")
def data_repo(tmp_path_factory) -> DataRepo:
    """Read-only for the tests that use it: two batches, two versions."""
    return _make_repo(tmp_path_factory.mktemp("versioning"))


def _clone(repo: Path, target: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(repo), str(target)], check=True, capture_output=True)
    return target


def test_init_is_idempotent(tmp_path: Path):
    repo, remote = tmp_path / "repo", tmp_path / "remote"
    init_data_repo(repo, remote)
    config = (repo / ".dvc" / "config").read_text()
    init_data_repo(repo, remote)
    assert _commit_count(repo) == 1
    assert (repo / ".dvc" / "config").read_text() == config
    assert str(remote) in config and "autostage = True" in config
    assert _git(repo, "status", "--porcelain") == ""
    assert current_version(repo, CONTRACT) is None and committed_batches(repo, CONTRACT) == []


def test_two_batches_make_two_versions(data_repo: DataRepo):
    first, second = data_repo.first, data_repo.second
    assert (first.batches, second.batches) == (1, 2)
    assert first.rev != second.rev and first.md5 != second.md5
    assert current_version(data_repo.repo, CONTRACT) == second
    assert committed_batches(data_repo.repo, CONTRACT) == ["1978", "late-1977"]
    assert committed_batches(data_repo.repo, CONTRACT, first.rev) == ["1978"]
    assert first.short == f"{first.rev[:10]}:{first.md5[:8]}"
    assert _git(data_repo.repo, "status", "--porcelain") == "", "a commit leaves a clean work tree"


def test_read_dataset_at_each_version(data_repo: DataRepo):
    old = read_dataset(data_repo.repo, CONTRACT, data_repo.first.rev, order_by="date")
    pd.testing.assert_frame_equal(old, FIRST)
    expected = pd.concat([SECOND, FIRST], ignore_index=True)
    for rev in ("HEAD", data_repo.second.rev):
        pd.testing.assert_frame_equal(read_dataset(data_repo.repo, CONTRACT, rev, order_by="date"), expected)


def test_read_dataset_caches_per_revision(data_repo: DataRepo, tmp_path: Path):
    rev = data_repo.first.rev
    fresh = read_dataset(data_repo.repo, CONTRACT, rev, order_by="date", cache_dir=tmp_path)
    assert (tmp_path / CONTRACT / f"{rev}.parquet").exists()
    pd.testing.assert_frame_equal(
        read_dataset(data_repo.repo, CONTRACT, rev, order_by="date", cache_dir=tmp_path), fresh
    )


def test_read_batch_returns_the_committed_rows(data_repo: DataRepo):
    pd.testing.assert_frame_equal(read_batch(data_repo.repo, CONTRACT, "late-1977", data_repo.second.rev), SECOND)
    pd.testing.assert_frame_equal(read_batch(data_repo.repo, CONTRACT, "1978", "HEAD"), FIRST)
    with pytest.raises(DataVersionError, match="late-1977.parquet at revision"):
        read_batch(data_repo.repo, CONTRACT, "late-1977", data_repo.first.rev)  # not yet there


@pytest.mark.parametrize("rev", ["no-such-branch", "0" * 40], ids=["unknown ref", "unknown sha"])
def test_reading_a_bad_revision_raises(data_repo: DataRepo, rev: str):
    with pytest.raises(DataVersionError, match=f"cannot read {CONTRACT} at revision {rev}"):
        read_dataset(data_repo.repo, CONTRACT, rev, order_by="date")


def test_reading_a_revision_before_the_first_batch_raises(data_repo: DataRepo):
    initial = _git(data_repo.repo, "rev-list", "--max-parents=0", "HEAD")
    with pytest.raises(DataVersionError):
        read_dataset(data_repo.repo, CONTRACT, initial, order_by="date")


def test_recommitting_a_batch_is_a_no_op(tmp_path: Path):
    repo, remote = tmp_path / "repo", tmp_path / "remote"
    init_data_repo(repo, remote)
    version = commit_batch(repo, CONTRACT, "1978", FIRST)
    commits = _commit_count(repo)
    again = commit_batch(repo, CONTRACT, "1978", FIRST.assign(temperature=99.0))  # a re-run must not rewrite it
    assert again == version
    assert _commit_count(repo) == commits
    pd.testing.assert_frame_equal(read_dataset(repo, CONTRACT, "HEAD", order_by="date"), FIRST)


@pytest.mark.parametrize("crashed_after_dvc_add", [False, True], ids=["after write", "after dvc add"])
def test_stray_parquet_of_a_crashed_ingest_is_discarded(tmp_path: Path, crashed_after_dvc_add: bool):
    repo, remote = tmp_path / "repo", tmp_path / "remote"
    init_data_repo(repo, remote)
    commit_batch(repo, CONTRACT, "1978", FIRST)
    stray = repo / "datasets" / CONTRACT / "crashed.parquet"
    _rows("1990-01-01", [7.0] * 5).to_parquet(stray, index=False)  # written, never committed
    if crashed_after_dvc_add:  # the pointer file was rewritten and staged, but git never committed it
        dvc.repo.Repo(str(repo)).add(str(stray.parent))
    version = commit_batch(repo, CONTRACT, "late-1977", SECOND)
    assert not stray.exists()
    assert version.batches == 2 and committed_batches(repo, CONTRACT) == ["1978", "late-1977"]
    head = read_dataset(repo, CONTRACT, version.rev, order_by="date")
    assert len(head) == len(FIRST) + len(SECOND) and 7.0 not in set(head["temperature"])
    assert _git(repo, "status", "--porcelain") == ""


def test_fresh_clone_reads_old_versions_from_the_remote(tmp_path: Path):
    built = _make_repo(tmp_path / "origin")
    clone = _clone(built.repo, tmp_path / "clone")
    shutil.rmtree(built.repo)  # no workspace or cache left to borrow from: only git history and the remote
    assert not any((clone / "datasets" / CONTRACT).glob("*.parquet")), "a clone holds pointers, not data"
    pd.testing.assert_frame_equal(read_dataset(clone, CONTRACT, built.first.rev, order_by="date"), FIRST)
    pd.testing.assert_frame_equal(read_batch(clone, CONTRACT, "late-1977", built.second.rev), SECOND)
    assert committed_batches(clone, CONTRACT) == ["1978", "late-1977"]
    assert current_version(clone, CONTRACT) == built.second
    # `dvc pull` materialises the head version into the clone's work tree, too.
    dvc.repo.Repo(str(clone)).pull()
    pulled = sorted(p.name for p in (clone / "datasets" / CONTRACT).glob("*.parquet"))
    assert pulled == ["1978.parquet", "late-1977.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(clone / "datasets" / CONTRACT / "1978.parquet"), FIRST)


def test_retry_after_a_failed_push_makes_the_version_readable_from_a_clone(tmp_path: Path, monkeypatch):
    repo, remote = tmp_path / "repo", tmp_path / "remote"
    init_data_repo(repo, remote)

    def unreachable(self, *args, **kwargs):
        raise OSError("remote unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(dvc.repo.Repo, "push", unreachable)
        with pytest.raises(OSError, match="unreachable"):
            commit_batch(repo, CONTRACT, "1978", FIRST)
    version = commit_batch(repo, CONTRACT, "1978", FIRST)  # the task's retry
    commit_batch(repo, CONTRACT, "late-1977", SECOND)
    clone = _clone(repo, tmp_path / "clone")
    shutil.rmtree(repo)
    pd.testing.assert_frame_equal(read_dataset(clone, CONTRACT, version.rev, order_by="date"), FIRST)


def test_cache_does_not_serve_a_moved_symbolic_revision(tmp_path: Path):
    repo, remote, cache = tmp_path / "repo", tmp_path / "remote", tmp_path / "cache"
    init_data_repo(repo, remote)
    commit_batch(repo, CONTRACT, "1978", FIRST)
    assert len(read_dataset(repo, CONTRACT, "HEAD", order_by="date", cache_dir=cache)) == len(FIRST)
    commit_batch(repo, CONTRACT, "late-1977", SECOND)
    assert len(read_dataset(repo, CONTRACT, "HEAD", order_by="date", cache_dir=cache)) == len(FIRST) + len(SECOND)
