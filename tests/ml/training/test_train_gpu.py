"""Training on a CUDA GPU: runs only where CUDA is visible (marker `gpu`; CI has none, a GPU machine does).

Synthetic rows so that the test needs nothing beyond torch, pandas and the contract code.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml.contract import Contract, parse_contract
from ml.training.train import train_model

pytestmark = pytest.mark.gpu

WEATHER = Path(__file__).resolve().parents[3] / "include" / "contracts" / "weather.yaml"
FEATURES = 16


def _frame(rows: int = 200_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES)).astype(np.float32)
    logits = x @ (rng.standard_normal(FEATURES).astype(np.float32) / 2) + np.sin(2 * x[:, 0]) * x[:, 1]
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)])
    frame["label"] = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    frame["ts"] = pd.date_range("2020-01-01", periods=rows, freq="min", tz="UTC")
    return frame


def _contract(**training) -> Contract:
    raw = yaml.safe_load(WEATHER.read_text(encoding="utf-8"))
    raw.update(
        {
            "timestamp": "ts",
            "target": "label",
            "slices": [],
            "features": [{"name": f"f{i}", "type": "float"} for i in range(FEATURES)],
        }
    )
    raw["gate"].pop("behaviour", None)
    raw["training"] = {
        **copy.deepcopy(raw["training"]),
        "model": {"family": "mlp", "hidden": [128, 64]},
        "epochs": 4,
        "patience": 10,
        "batch_size": 8192,
        "device": "cuda",
        "window": {"max_rows": 10_000_000, "min_rows": 1},
        **training,
    }
    return parse_contract(raw, WEATHER)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame()


def _weights(result) -> dict:
    return {k: v.double().numpy() for k, v in result.model.network.state_dict().items()}


def test_trains_on_the_gpu_in_bf16_and_learns(frame):
    result = train_model(frame, _contract())
    assert result.device == "cuda" and result.fallback_reason is None
    assert result.precision == "bf16"
    assert result.history[-1]["val_auc"] > 0.75
    assert result.history[-1]["gpu_memory_peak_mib"] > 0
    try:
        import pynvml  # noqa: F401 - nvidia-ml-py, pinned for GPU workers
    except ImportError:
        return
    assert all(0 <= row["gpu_utilisation_pct"] <= 100 for row in result.history)
    assert next(result.model.network.parameters()).device.type == "cpu"  # saved models score on the CPU


def test_same_seed_twice_matches_within_tolerance(frame):
    """Default (non-deterministic) kernels: same seed gives weights equal up to float reordering."""
    contract = _contract(precision="fp32")
    first, second = train_model(frame, contract, seed=3), train_model(frame, contract, seed=3)
    for name, value in _weights(first).items():
        np.testing.assert_allclose(_weights(second)[name], value, rtol=0, atol=1e-4, err_msg=name)
    scores = first.model.predict(frame.head(5000)), second.model.predict(frame.head(5000))
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-4)


def test_deterministic_mode_is_bit_identical(frame):
    contract = _contract(precision="fp32", deterministic=True)
    first, second = train_model(frame, contract, seed=5), train_model(frame, contract, seed=5)
    for name, value in _weights(first).items():
        assert np.array_equal(_weights(second)[name], value), name
    assert first.deterministic


def test_compiled_training_matches_eager_quality(frame):
    eager = train_model(frame, _contract(precision="bf16"), seed=1)
    compiled = train_model(frame, _contract(precision="bf16", compile=True), seed=1)
    assert compiled.compiled
    assert abs(compiled.history[-1]["val_auc"] - eager.history[-1]["val_auc"]) < 0.02


def test_out_of_memory_halves_the_batch_and_says_so(frame):
    """16,384 rows through a 2^20-wide layer need ~128 GiB of activations: the documented fallback halves the
    batch (same seed) until it fits, and records every halving."""
    import torch

    result = train_model(
        frame.head(20_000),
        _contract(batch_size=16_384, model={"family": "mlp", "hidden": [1 << 20]}, epochs=1, precision="fp32"),
    )
    assert result.batch_size < 16_384
    assert any("out of memory" in note for note in result.notes)
    torch.cuda.empty_cache()
