"""``ct reproduce``: a model version trained and registered by the real retrain steps in another process is
retrained from its bundle alone and must match bit for bit on the CPU; a wrong bundle must not match."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ml.contract import Contract, load_contract
from ml.data.versioning import commit_batch, init_data_repo
from ml.registry.reproduce import ReproductionError, environment_differences, format_reproduction, reproduce
from ml.registry.store import get_version, set_version_tags
from ml.settings import PlatformPaths
from ml.simulation.sources import load_source

REPO = Path(__file__).resolve().parents[3]

# The real retrain steps, as the retrain DAG runs them (pin the window, train, gate and register).
TRAIN_IN_ANOTHER_PROCESS = """
from ml.contract import load_contract
from ml.settings import PlatformPaths
from ml.steps.retrain import evaluate_challenger, pin_training_window, train_challenger

paths, contract = PlatformPaths.from_env(), load_contract("include/contracts/weather.yaml")
window = pin_training_window(paths, contract, {"reason": "bootstrap"})
trained = train_challenger(paths, contract, window)
print(evaluate_challenger(paths, contract, window, trained)["version"])
"""


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract(REPO / "include/contracts/weather.yaml")


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "CT_HOME": str(home)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, contract: Contract) -> tuple[PlatformPaths, str]:
    """Six yearly data versions (1961-1966), then version 1 trained on them by a separate Python process."""
    paths = PlatformPaths(tmp_path_factory.mktemp("reproduce") / "home")
    init_data_repo(paths.data_repo, paths.dvc_remote)
    history = load_source(contract)
    for year in range(1961, 1967):
        rows = history[
            (history["date"] >= pd.Timestamp(f"{year}-01-01", tz="UTC"))
            & (history["date"] < pd.Timestamp(f"{year + 1}-01-01", tz="UTC"))
        ]
        commit_batch(paths.data_repo, contract.name, str(year), rows.reset_index(drop=True))
    out = subprocess.run(
        [sys.executable, "-c", TRAIN_IN_ANOTHER_PROCESS],
        cwd=REPO,
        env=_environment(paths.home),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return paths, out.stdout.strip().splitlines()[-1]


def test_cpu_reproduction_is_bit_identical(trained: tuple[PlatformPaths, str], contract: Contract) -> None:
    paths, version = trained

    result = reproduce(paths, contract, version)

    assert result.mode == "exact" and result.device == result.recorded_device == "cpu"
    assert result.weights_identical and result.max_weight_difference == 0.0
    assert result.reproduced_metric == result.recorded_metric
    assert result.matches, format_reproduction(result)
    tags = get_version(paths, contract.model_name, version).tags
    assert result.train_rows == int(tags["ct.window_rows"]) and result.holdout_rows == int(tags["ct.holdout_rows"])
    assert abs(result.recorded_metric - float(tags["ct.holdout_metric"])) < 5e-7
    assert not [d for d in result.differences if d.numeric], format_reproduction(result)
    assert "MATCHES" in format_reproduction(result)


def test_cli_reproduces_in_a_fresh_process(trained: tuple[PlatformPaths, str]) -> None:
    paths, version = trained
    ct = Path(sys.executable).with_name("ct")
    out = subprocess.run(
        [str(ct), "reproduce", version, "--contract", "weather", "--json"],
        cwd=REPO,
        env=_environment(paths.home),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    record = json.loads(out.stdout)
    assert record["matches"] and record["weights_identical"] and record["mode"] == "exact"


def test_environment_differences_are_named() -> None:
    tags = {"lib.torch": "1.0.0", "env_lock_hash": "0000", "code_commit": "abc", "hw.device": "cpu"}
    differences = {d.key: d for d in environment_differences(tags, "cpu", "cpu")}
    assert {"lib.torch", "env_lock_hash", "code_commit"} <= set(differences)
    assert differences["lib.torch"].numeric and not differences["code_commit"].numeric
    assert "hw.device" not in differences


def test_a_bundle_that_lies_does_not_reproduce(trained: tuple[PlatformPaths, str], contract: Contract) -> None:
    paths, version = trained
    tags = get_version(paths, contract.model_name, version).tags
    try:
        set_version_tags(paths, contract.model_name, version, {"ct.seed": "12345"})
        assert not reproduce(paths, contract, version).matches  # another seed: other weights
        set_version_tags(paths, contract.model_name, version, {"ct.seed": tags["ct.seed"], "ct.data_md5": "0" * 32})
        with pytest.raises(ReproductionError, match="data repository was rewritten"):
            reproduce(paths, contract, version)
    finally:
        set_version_tags(paths, contract.model_name, version, {k: tags[k] for k in ("ct.seed", "ct.data_md5")})
