"""The release bundle: everything needed to trace and reproduce a model version.

Recorded as MLflow model-version tags (prefix ``ct.``) when a version is registered. Promotion and rollback
move a version, so they move its whole bundle; nothing here is ever edited after registration.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from ml.contract import Contract, contract_hash
from ml.environment import torch_environment
from ml.training.features import feature_code_hash

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCK_FILE = PROJECT_ROOT / "requirements.lock"
TRACKED_LIBRARIES = (
    "torch",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "mlflow",
    "evidently",
    "great-expectations",
    "dvc",
    "apache-airflow",
)
TAG_PREFIX = "ct."


def code_commit(root: Path = PROJECT_ROOT) -> str:
    """The project's git commit, with ``-dirty`` when the working tree has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def environment_lock_hash(lock_file: Path = LOCK_FILE) -> str:
    if not lock_file.exists():
        return "missing"
    return hashlib.sha256(lock_file.read_bytes()).hexdigest()[:16]


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def hardware_info(device: str, device_name: str) -> dict[str, str]:
    """Device, CUDA, cuDNN and driver versions, GPU name and count (``hw.*`` tags; torch is under ``lib.``)."""
    info = {"device": device, "device_name": device_name}
    info.update({k: v for k, v in torch_environment(device).items() if k not in ("torch", "torch_threads")})
    return info


def release_bundle(
    contract: Contract,
    *,
    window_tags: dict[str, str],
    trained: dict,
    gate_tags: dict[str, str],
    holdout_metric_tags: dict[str, str],
    reason: str,
) -> dict[str, str]:
    """Every tag of a registered challenger version, assembled here only; values are strings (MLflow tags).

    ``window_tags`` come from :meth:`ml.training.window.TrainingWindow.bundle_tags`, ``trained`` is what
    ``train_challenger`` returned, ``gate_tags`` the decision's summary and ``holdout_metric_tags`` the
    challenger's own metric on the holdout (what the monitor compares live batches with).
    """
    bundle = {
        "contract": contract.name,
        "contract_hash": contract_hash(contract),
        **window_tags,
        "feature_code_hash": feature_code_hash(),
        "code_commit": code_commit(),
        "env_lock_hash": environment_lock_hash(),
        "seed": str(trained["seed"]),
        "family": trained.get("family", "mlp"),
    }
    bundle.update({f"lib.{k}": v for k, v in library_versions().items()})
    bundle.update({f"hw.{k}": v for k, v in hardware_info(trained["device"], trained["device_name"]).items()})
    bundle.update(gate_tags)  # keys already read gate.<name>
    bundle.update(holdout_metric_tags)
    bundle["reason"] = reason
    # How it was trained, on the version too: `ct reproduce` needs the starting weights of a fine-tuned model.
    bundle.update(
        {
            "precision": trained.get("precision", "fp32"),
            "warm_start": trained.get("warm_start", ""),
            "warm_start_version": trained.get("warm_start_version") or "",
            "cpu_fallback": trained.get("cpu_fallback") or "",
        }
    )
    return {TAG_PREFIX + key: value for key, value in bundle.items()}


REQUIRED_BUNDLE_TAGS = tuple(
    TAG_PREFIX + key
    for key in (
        "contract",
        "contract_hash",
        "data_rev",
        "data_md5",
        "holdout_rev",
        "feature_code_hash",
        "code_commit",
        "env_lock_hash",
        "seed",
        "lib.torch",
        "lib.python",
        "hw.device",
        "gate.decision",
        "gate.decision_id",
    )
)
