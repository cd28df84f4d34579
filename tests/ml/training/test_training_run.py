"""What a training run records on a real MLflow store: learning curve, throughput, environment, contract."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ml.contract import parse_contract
from ml.registry.runs import CONTRACT_ARTIFACT, EPOCH_METRICS, log_training
from ml.registry.store import client, ensure_experiment
from ml.settings import PlatformPaths
from ml.simulation.sources import load_source
from ml.training.train import train_model

WEATHER = Path(__file__).resolve().parents[3] / "include" / "contracts" / "weather.yaml"


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    import mlflow

    raw = yaml.safe_load(WEATHER.read_text(encoding="utf-8"))
    raw["training"] = {**copy.deepcopy(raw["training"]), "epochs": 3, "device": "auto"}
    contract = parse_contract(raw, WEATHER)
    rows = load_source(contract)
    window = rows[(rows["date"].dt.year >= 1960) & (rows["date"].dt.year <= 1961)]
    result = train_model(window, contract)
    paths = PlatformPaths(tmp_path_factory.mktemp("training-run") / "home")
    client(paths)
    with mlflow.start_run(experiment_id=ensure_experiment(paths, contract.name)) as run:
        log_training(result, contract, {"reason": "test"}, None)
    return client(paths), run.info.run_id, result, contract, window


def test_every_epoch_logs_loss_metric_and_throughput(logged_run):
    mlflow_client, run_id, result, _, _ = logged_run
    for key in ("train_loss", "val_loss", "val_auc", "rows_per_second"):
        steps = [m.step for m in mlflow_client.get_metric_history(run_id, key)]
        assert steps == [row["epoch"] for row in result.history], key
    summary = {"mean_rows_per_second", "best_epoch", "train_seconds"}
    assert set(mlflow_client.get_run(run_id).data.metrics) <= {*EPOCH_METRICS, *summary}


def test_run_records_seeds_environment_and_cpu_fallback(logged_run):
    import torch

    mlflow_client, run_id, result, contract, window = logged_run
    data = mlflow_client.get_run(run_id).data
    # The recorded seed is the one that made this model: training again from it gives the same weights, and
    # from the next seed other weights (so the record would catch a seed that was not the one used).
    again = train_model(window, contract, seed=int(data.params["seed"])).model.network.state_dict()
    other = train_model(window, contract, seed=int(data.params["seed"]) + 1).model.network.state_dict()
    weights = result.model.network.state_dict()
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    assert not all(torch.equal(weights[k], other[k]) for k in weights)
    assert data.tags["ct.env.torch"] == torch.__version__ and data.tags["ct.env.cuda"] == str(torch.version.cuda)
    assert len(data.tags["ct.env_lock_hash"]) == 16
    assert data.tags["ct.warm_start"] == "scratch" and data.tags["ct.precision"] == result.precision
    if not torch.cuda.is_available():  # device auto without a GPU: the fallback is on the run, not only in a log
        assert data.tags["ct.device"] == "cpu" and "no CUDA device" in data.tags["ct.cpu_fallback"]
        assert data.tags["ct.env.gpu_count"] == "0" and data.tags["ct.env.driver"] == "none"


def test_the_resolved_contract_is_an_artifact(logged_run):
    import mlflow

    _, run_id, _, contract, _ = logged_run
    stored = mlflow.artifacts.load_dict(f"runs:/{run_id}/{CONTRACT_ARTIFACT}")
    assert parse_contract(stored, Path("stored.json")) == contract
