"""Data versions with git + DVC: one commit per accepted batch, any past version readable by revision.

Layout of the data repository (``CT_HOME/data-repo``)::

    datasets/<contract>/<batch_id>.parquet   one file per accepted batch (DVC-tracked directory)
    datasets/<contract>.dvc                  DVC pointer: content hash (md5 of the directory) and size

A *data version* is the git commit that recorded the pointer plus that content hash. ``dvc.api`` (through
``DVCFileSystem``) reads the directory at any revision, also from a fresh clone that pulls from the remote.
DVC commands fight over a repository lock (FIELD_NOTES): callers serialise writes (Airflow pool
``dvc_writes`` with one slot; ``max_active_runs=1`` on ingest).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

_GIT_IDENTITY = ["-c", "user.name=ct-platform", "-c", "user.email=ct-platform@localhost"]
BATCH_TRAILER = "Batch-Id"
LABELS_TRAILER = "Labels-For"  # a commit that joined a batch's delayed labels into its file


class DataVersionError(RuntimeError):
    """The data repository is missing, inconsistent, or a revision cannot be read."""


@dataclass(frozen=True)
class DataVersion:
    """One version of one contract's dataset."""

    contract: str
    rev: str  # git commit
    md5: str  # DVC content hash of the dataset directory
    batches: int

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def short(self) -> str:
        return f"{self.rev[:10]}:{self.md5[:8]}"


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *_GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise DataVersionError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def init_data_repo(repo: Path, remote: Path) -> None:
    """Create the git + DVC data repository with a local DVC remote; a no-op when it exists."""
    from dvc.repo import Repo

    repo.mkdir(parents=True, exist_ok=True)
    remote.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").exists():
        _git(repo, "init", "-q", "-b", "main")
    if not (repo / ".dvc").exists():
        dvc = Repo.init(str(repo))
        with dvc.config.edit() as config:
            config["core"]["remote"] = "local"
            config["core"]["autostage"] = True
            config["core"]["analytics"] = False
            config["remote"]["local"] = {"url": str(remote)}
        (repo / "datasets").mkdir(exist_ok=True)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "Initialise data repository")


def _dataset_dir(repo: Path, contract: str) -> Path:
    return repo / "datasets" / contract


def resolve_rev(repo: Path, rev: str) -> str:
    """The full commit id of ``rev`` (a SHA, a short SHA, HEAD~2, ...) in the data repository."""
    try:
        return _git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")
    except DataVersionError:
        raise DataVersionError(
            f"{rev!r} is not a revision of the data repository {repo}; list them with `git -C {repo} log --oneline`"
        ) from None


def pointer_md5(repo: Path, contract: str, rev: str = "HEAD") -> str | None:
    """The DVC content hash of the dataset directory recorded at ``rev`` (None before the first batch)."""
    import yaml

    try:
        text = _git(repo, "show", f"{rev}:datasets/{contract}.dvc")
    except DataVersionError:
        return None
    return yaml.safe_load(text)["outs"][0]["md5"].removesuffix(".dir")


def committed_batches(repo: Path, contract: str, rev: str = "HEAD") -> list[str]:
    """Batch ids in the dataset at ``rev``, in commit order (from the commit trailers)."""
    try:
        log = _git(
            repo,
            "log",
            "--reverse",
            f"--format=%(trailers:key={BATCH_TRAILER},valueonly)",
            rev,
            "--",
            f"datasets/{contract}.dvc",
        )
    except DataVersionError:
        return []
    return [line.strip() for line in log.splitlines() if line.strip()]


def labelled_batches(repo: Path, contract: str, rev: str = "HEAD") -> list[str]:
    """Batch ids whose delayed labels were joined into the dataset by ``rev`` (see :func:`commit_labels`)."""
    try:
        log = _git(repo, "log", "--reverse", f"--format=%(trailers:key={LABELS_TRAILER},valueonly)", rev)
    except DataVersionError:
        return []
    # trailer value `<contract>/<batch_id>`; not filtered by path, since a join can be an empty commit
    prefix = f"{contract}/"
    return [line.strip().removeprefix(prefix) for line in log.splitlines() if line.strip().startswith(prefix)]


def current_version(repo: Path, contract: str) -> DataVersion | None:
    """The newest data version of ``contract``, or None before its first batch."""
    md5 = pointer_md5(repo, contract)
    if md5 is None:
        return None
    rev = _git(repo, "log", "-1", "--format=%H", "--", f"datasets/{contract}.dvc")
    return DataVersion(contract, rev, md5, len(committed_batches(repo, contract)))


def _discard_uncommitted(repo: Path, contract: str) -> None:
    """Remove batch files a crashed ingest wrote but never committed, so no partial version survives."""
    folder = _dataset_dir(repo, contract)
    if not folder.exists():
        return
    known = set(committed_batches(repo, contract))
    for path in folder.glob("*.parquet"):
        if path.stem not in known:
            logger.warning("discarding %s: written by an ingest that never committed", path)
            path.unlink()


def commit_batch(repo: Path, contract: str, batch_id: str, frame: pd.DataFrame) -> DataVersion:
    """Add one validated batch as a new data version (git commit + DVC push). Idempotent per batch id."""
    from dvc.repo import Repo

    if batch_id in committed_batches(repo, contract):
        logger.info("batch %s is already in the dataset; returning the current version", batch_id)
        version = current_version(repo, contract)
        if version is None:
            raise DataVersionError(f"batch {batch_id} is in the git log of {repo} but no pointer file exists")
        Repo(str(repo)).push()  # a retry after a failed push must still reach the remote
        return version
    _discard_uncommitted(repo, contract)
    folder = _dataset_dir(repo, contract)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / f"{batch_id}.parquet", index=False)
    dvc = Repo(str(repo))
    dvc.add(str(folder))
    dvc.push()  # before the commit: a committed version is always readable from the remote
    _git(repo, "add", "-A", "datasets")
    message = f"Ingest {contract} batch {batch_id} ({len(frame)} rows)\n\n{BATCH_TRAILER}: {batch_id}\n"
    _git(repo, "commit", "-q", "-m", message)
    version = current_version(repo, contract)
    if version is None:
        raise DataVersionError(f"committing batch {batch_id} left no data version in {repo}")
    logger.info("data version %s: %s batches after %s", version.short, version.batches, batch_id)
    return version


def commit_labels(repo: Path, contract: str, batch_id: str, frame: pd.DataFrame) -> DataVersion:
    """Replace an accepted batch's file by ``frame`` (the batch with its delayed labels joined) as a new data
    version (git commit with trailer ``Labels-For: <contract>/<batch_id>`` + DVC push). Idempotent per batch id.

    The batch keeps its place and its ``Batch-Id`` commit; only its content changes, so a training window pinned
    to this version or later sees the labels, and one pinned earlier still reads the batch without them.
    """
    from dvc.repo import Repo

    if batch_id not in committed_batches(repo, contract):
        raise DataVersionError(f"batch {batch_id} is not in the {contract} dataset: its labels have no rows to join")
    if batch_id not in labelled_batches(repo, contract):
        folder = _dataset_dir(repo, contract)
        frame.to_parquet(folder / f"{batch_id}.parquet", index=False)
        dvc = Repo(str(repo))
        dvc.add(str(folder))
        dvc.push()  # before the commit: a committed version is always readable from the remote
        _git(repo, "add", "-A", "datasets")
        message = (
            f"Join labels of {contract} batch {batch_id} ({len(frame)} rows)\n\n"
            f"{LABELS_TRAILER}: {contract}/{batch_id}\n"
        )
        # --allow-empty: a batch commit that ran between a crashed join and its retry may already hold the file
        _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    else:
        logger.info("labels of batch %s are already in the dataset; returning the current version", batch_id)
        Repo(str(repo)).push()  # a retry after a failed push must still reach the remote
    version = current_version(repo, contract)
    if version is None:
        raise DataVersionError(f"joining the labels of batch {batch_id} left no data version in {repo}")
    return version


def read_dataset(
    repo: Path | str, contract: str, rev: str, *, order_by: str, cache_dir: Path | None = None
) -> pd.DataFrame:
    """Every row of ``contract``'s dataset at git revision ``rev`` (``dvc.api`` filesystem), time-ordered.

    ``repo`` may be a local path or a git URL of a clone that can reach the DVC remote. With ``cache_dir``
    the materialised frame is kept per revision, since a revision's content never changes.
    """
    from dvc.api import DVCFileSystem

    if cache_dir is not None and Path(str(repo)).exists():
        rev = _git(Path(str(repo)), "rev-parse", "--verify", f"{rev}^{{commit}}")  # cache by commit, not by name
    cached = cache_dir / contract / f"{rev}.parquet" if cache_dir else None
    if cached is not None and cached.exists():
        return pd.read_parquet(cached)
    try:
        fs = DVCFileSystem(str(repo), rev=rev)
        files = sorted(p for p in fs.find(f"datasets/{contract}") if p.endswith(".parquet"))
    except Exception as error:  # DVC raises many kinds; all mean "this revision cannot be read"
        raise DataVersionError(f"cannot read {contract} at revision {rev} of {repo}: {error}") from error
    if not files:
        raise DataVersionError(f"{contract} has no batches at revision {rev} of {repo}")
    frames = []
    for path in files:
        with fs.open(path, "rb") as handle:
            frames.append(pd.read_parquet(handle))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values(order_by, kind="stable").reset_index(drop=True)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(cached, index=False)
    return frame


def read_batch(repo: Path | str, contract: str, batch_id: str, rev: str) -> pd.DataFrame:
    """One accepted batch exactly as committed at ``rev``."""
    from dvc.api import DVCFileSystem

    path = f"datasets/{contract}/{batch_id}.parquet"
    try:
        with DVCFileSystem(str(repo), rev=rev).open(path, "rb") as handle:
            return pd.read_parquet(handle)
    except Exception as error:  # DVC raises many kinds; all mean "not readable at this revision"
        raise DataVersionError(f"cannot read {path} at revision {rev} of {repo}: {error}") from error
