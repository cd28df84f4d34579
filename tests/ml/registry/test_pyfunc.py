"""Every version is an MLflow pyfunc model: it loads by alias in a fresh process, ``mlflow models serve`` answers
``/invocations`` (400 naming the columns for a bad request), a version that scores differently outside the
training process is never registered, and a version in the old format still scores.

One platform home with a copy of the weather contract (``served``); its bootstrap batch goes through the
direct engine, so the champion is a real retrain's registered version.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ml.ledger import EventKind, read_events
from ml.registry.pyfunc import ParityError, PyfuncModel, model_inputs
from ml.registry.store import CHAMPION, client, load_scoring_model, version_by_alias
from ml.settings import PlatformPaths, tracking_uri
from ml.simulation.replay import process_landing_direct
from ml.simulation.sources import load_source
from tests.ml.weather_home import bootstrap_home, weather_copy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    contract = weather_copy("served")
    paths = bootstrap_home(tmp_path_factory.mktemp("pyfunc"), contract)
    process_landing_direct(paths, contract)
    champion = version_by_alias(paths, contract.model_name, CHAMPION)
    assert champion is not None, "the bootstrap retrain promoted no champion"
    rows = load_source(contract).iloc[-200:].reset_index(drop=True)
    return paths, contract, champion, rows


def _env(paths: PlatformPaths) -> dict[str, str]:
    """A fresh process's environment: the platform's store, and none of the platform's own code on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # `mlflow models serve` starts uvicorn from PATH: the virtualenv's bin, as an activated venv has it.
    path = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return {**env, "PATH": path, "MLFLOW_TRACKING_URI": tracking_uri(paths)}


def test_the_champion_loads_by_alias_in_a_fresh_process_and_scores_like_the_platform(served, tmp_path):
    paths, contract, champion, rows = served
    platform = load_scoring_model(paths, champion)
    assert isinstance(platform, PyfuncModel)
    model_inputs(rows, contract).to_parquet(tmp_path / "rows.parquet")
    code = (
        "import sys, numpy as np, pandas as pd, mlflow.pyfunc\n"
        f"m = mlflow.pyfunc.load_model('models:/{contract.model_name}@champion')\n"
        "np.save(sys.argv[2], np.asarray(m.predict(pd.read_parquet(sys.argv[1])), dtype='float64'))\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "rows.parquet"), str(tmp_path / "s.npy")],
        cwd=tmp_path,
        env=_env(paths),
        check=True,
        capture_output=True,
    )
    assert np.array_equal(np.load(tmp_path / "s.npy"), platform.predict(rows))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, payload: dict) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def scoring_server(served, tmp_path):
    paths, contract, _, _ = served
    port = _free_port()
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    log = (tmp_path / "serve.log").open("w")
    uri = f"models:/{contract.model_name}@champion"
    server = subprocess.Popen(
        [mlflow_cli, "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path,
        env=_env(paths),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"mlflow models serve exited: {(tmp_path / 'serve.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow models serve did not listen within 120 s")
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _split(frame) -> dict:
    return {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}


def test_mlflow_models_serve_answers_invocations_and_names_bad_columns(served, scoring_server):
    paths, contract, champion, rows = served
    inputs = model_inputs(rows.head(5), contract)
    status, body = _post(scoring_server, _split(inputs))
    assert status == 200, body
    predictions = np.asarray(json.loads(body)["predictions"], dtype="float64")
    assert np.allclose(predictions, load_scoring_model(paths, champion).predict(rows.head(5)), rtol=0, atol=1e-12)
    missing = contract.numeric_features[0]
    status, body = _post(scoring_server, _split(inputs.drop(columns=[missing])))
    assert status == 400 and missing in body and "Traceback" not in body
    status, body = _post(scoring_server, _split(inputs.assign(**{missing: "warm"})))
    assert status == 400 and missing in body and "Traceback" not in body


def test_a_model_that_scores_differently_in_a_fresh_process_is_never_registered(tmp_path):
    contract = weather_copy("skewed", {"family": "python://tests.ml.registry.skewed_trainer:train"})
    paths = bootstrap_home(tmp_path, contract)
    with pytest.raises(ParityError, match="differently in a fresh process"):
        process_landing_direct(paths, contract)
    failed = read_events(paths.ledger, contract.name, [EventKind.RETRAIN_FAILED])
    assert [f["task_id"] for f in failed] == ["train_challenger"]  # the drift signal is freed
    assert client(paths).search_model_versions(f"name='{contract.model_name}'") == []


def test_a_version_registered_in_the_old_format_still_scores(served, tmp_path, caplog):
    import mlflow

    from ml.registry.store import ensure_experiment, get_version, register_version

    paths, contract, champion, rows = served
    scorer = load_scoring_model(paths, champion).scorer()
    scorer.save(tmp_path / "model")  # spec.json + state_dict.pt, as versions were stored before pyfuncs
    client(paths)
    with mlflow.start_run(experiment_id=ensure_experiment(paths, contract.name)) as run:
        mlflow.log_artifacts(str(tmp_path / "model"), "model")
    old = register_version(paths, contract.model_name, run.info.run_id, run.info.artifact_uri, {})
    model = load_scoring_model(paths, get_version(paths, contract.model_name, old.version))
    assert "old format" in caplog.text and "retrain" in caplog.text
    assert np.array_equal(model.predict(rows), load_scoring_model(paths, champion).predict(rows))
