"""Training on two years of real weather rows with a few epochs: seeded, reproducible, loud on bad windows."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ml.contract import Contract, parse_contract
from ml.simulation.sources import load_source
from ml.training.features import FeatureError, encode, encoded_width, feature_names, fit_encoder
from ml.training.model import SPEC_FILE, WEIGHTS_FILE, ScoringModel
from ml.training.train import (
    TrainingError,
    TrainingResult,
    scaled_learning_rate,
    select_device,
    select_precision,
    train_model,
)

REPO = Path(__file__).resolve().parents[3]
WEATHER = REPO / "include" / "contracts" / "weather.yaml"


def _contract(**training) -> Contract:
    raw = yaml.safe_load(WEATHER.read_text(encoding="utf-8"))
    raw["training"] = {**copy.deepcopy(raw["training"]), "epochs": 4, "patience": 10, "device": "cpu", **training}
    return parse_contract(raw, WEATHER)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks gain nothing from intra-op threads, and on a busy 2-core runner threads contend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def contract() -> Contract:
    return _contract()


@pytest.fixture(scope="module")
def history(contract: Contract) -> pd.DataFrame:
    return load_source(contract)


def _years(history: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    stamps = history["date"]
    keep = (stamps >= pd.Timestamp(f"{first}-01-01", tz="UTC")) & (stamps < pd.Timestamp(f"{last + 1}-01-01", tz="UTC"))
    return history[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def window(history: pd.DataFrame) -> pd.DataFrame:
    """1960-1961: 731 daily rows, both classes."""
    return _years(history, 1960, 1961)


@pytest.fixture(scope="module")
def trained(window: pd.DataFrame, contract: Contract) -> TrainingResult:
    return train_model(window, contract, seed=11)


TIMINGS = {"rows_per_second", "train_seconds"}


def _learning_curve(result: TrainingResult) -> list[dict]:
    """The per-epoch history without its timings (which differ run to run)."""
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in result.history]


def _same_state(a: TrainingResult, b: TrainingResult) -> bool:
    import torch

    left, right = a.model.network.state_dict(), b.model.network.state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def test_same_seed_is_bit_identical_on_cpu(window: pd.DataFrame, contract: Contract, trained: TrainingResult):
    again = train_model(window, contract, seed=11)
    assert _same_state(trained, again)
    assert np.array_equal(trained.model.predict(window), again.model.predict(window))
    assert _learning_curve(trained) == _learning_curve(again) and trained.best_epoch == again.best_epoch
    assert (trained.seed, trained.device, trained.device_name, trained.fallback_reason) == (11, "cpu", "cpu", None)


def test_a_different_seed_gives_a_different_model(window: pd.DataFrame, contract: Contract, trained: TrainingResult):
    other = train_model(window, contract, seed=12)
    assert not _same_state(trained, other)
    assert not np.array_equal(trained.model.predict(window), other.model.predict(window))


def test_contract_seed_is_the_default(window: pd.DataFrame):
    contract = _contract(seed=11)
    assert contract.training.seed == 11
    reference = train_model(window, contract, seed=11)
    assert _same_state(train_model(window, contract), reference)


def test_trained_model_reports_its_run(window: pd.DataFrame, trained: TrainingResult):
    scores = trained.model.predict(window)
    assert scores.shape == (len(window),) and ((scores > 0) & (scores < 1)).all()
    assert 1 <= trained.best_epoch <= len(trained.history) <= 4
    assert [h["epoch"] for h in trained.history] == list(range(1, len(trained.history) + 1))
    assert trained.rows_per_second > 0
    assert trained.model.spec["architecture"] == {"family": "mlp", "inputs": 8, "hidden": [32, 16], "dropout": 0.1}


def test_trained_models_rank_the_next_year_well_over_seeds(history: pd.DataFrame, window: pd.DataFrame):
    """Out-of-time AUC on 1962 after 15 epochs on 1960-1961 (about 0.77-0.79 over seeds; 0.5 is chance)."""
    from ml.stats import metric_value

    next_year = _years(history, 1962, 1962)
    longer = _contract(epochs=15)
    aucs = [
        metric_value("auc", next_year["rain"], train_model(window, longer, seed=seed).model.predict(next_year))
        for seed in range(3)
    ]
    assert min(aucs) > 0.7, aucs


@pytest.mark.parametrize("rows", [10, 299])
def test_too_few_rows_raise_with_a_fix(window: pd.DataFrame, contract: Contract, rows: int):
    with pytest.raises(TrainingError, match=rf"has {rows} rows.*min_rows=300.*wait for more batches or lower"):
        train_model(window.head(rows), contract)


def test_an_empty_window_says_no_batch_falls_in_it(window: pd.DataFrame, contract: Contract):
    with pytest.raises(TrainingError, match="holds no rows.*ingest batches first"):
        train_model(window.head(0), contract)


def test_a_non_finite_label_is_a_training_error(window: pd.DataFrame, contract: Contract):
    broken = window.assign(rain=window["rain"].astype(float))
    broken.loc[broken.index[-1], "rain"] = np.nan
    with pytest.raises(TrainingError, match="target column 'rain' holds NaN"):
        train_model(broken, contract)


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_window_raises(window: pd.DataFrame, contract: Contract, label: int):
    single = window.assign(rain=label)
    with pytest.raises(TrainingError, match="single class"):
        train_model(single, contract)


def test_single_class_message_says_how_to_fix(window: pd.DataFrame, contract: Contract):
    with pytest.raises(TrainingError) as caught:
        train_model(window.assign(rain=0), contract)
    assert any(hint in str(caught.value) for hint in ("wait for", "widen", "training.window", "max_rows"))


def test_window_too_small_for_a_validation_split_raises_training_error(window: pd.DataFrame):
    contract = _contract(window={"mode": "rolling", "max_rows": 100, "min_rows": 2})
    two_rows = pd.concat([window[window["rain"] == 0].head(1), window[window["rain"] == 1].head(1)])
    with pytest.raises(TrainingError):
        train_model(two_rows, contract)


@pytest.mark.parametrize(
    ("requested", "device", "reason"),
    [
        ("cuda", "cpu", "contract asks for cuda but no CUDA device is visible"),
        ("auto", "cpu", "no CUDA device visible"),
        ("cpu", "cpu", None),
    ],
)
def test_select_device_falls_back_to_cpu_with_a_reason(requested: str, device: str, reason: str | None):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the fallback cannot be observed")
    chosen, name, why = select_device(requested)
    assert (chosen, name) == (device, "cpu")
    assert why == reason if reason is None else reason in why


def test_training_asked_for_cuda_without_it_records_the_fallback(window: pd.DataFrame):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the fallback cannot be observed")
    result = train_model(window, _contract(device="cuda", epochs=1))
    assert result.device == "cpu" and "asks for cuda" in result.fallback_reason


def test_scoring_model_round_trips(tmp_path: Path, window: pd.DataFrame, trained: TrainingResult):
    trained.model.save(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {SPEC_FILE, WEIGHTS_FILE}
    loaded = ScoringModel.load(tmp_path / "model")
    assert loaded.spec == trained.model.spec
    assert np.array_equal(loaded.predict(window), trained.model.predict(window))
    assert not loaded.network.training


def test_encoder_standardises_on_the_fitted_rows(window: pd.DataFrame, contract: Contract):
    encoder = fit_encoder(window, contract)
    assert feature_names(encoder) == contract.feature_names and encoded_width(encoder) == 8
    matrix = encode(window, encoder)
    assert matrix.dtype == np.float32 and matrix.shape == (len(window), 8)
    np.testing.assert_allclose(matrix.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(matrix.std(axis=0), 1.0, atol=1e-4)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_encode_rejects_non_finite_values(window: pd.DataFrame, contract: Contract, bad: float):
    encoder = fit_encoder(window, contract)
    broken = window.copy()
    broken.loc[5, "dew_point"] = bad
    with pytest.raises(FeatureError, match="'dew_point' holds NaN or infinite values; validate the batch first"):
        encode(broken, encoder)


def test_encode_rejects_a_missing_column(window: pd.DataFrame, contract: Contract, trained: TrainingResult):
    encoder = fit_encoder(window, contract)
    with pytest.raises(FeatureError, match="column 'visibility' is missing; the model needs"):
        encode(window.drop(columns=["visibility"]), encoder)
    with pytest.raises(FeatureError, match="'visibility' is missing"):
        trained.model.predict(window.drop(columns=["visibility"]))


def test_history_logs_loss_metric_and_throughput_per_epoch(trained: TrainingResult):
    for row in trained.history:
        assert {"epoch", "train_loss", "val_loss", "val_auc", "rows_per_second", "train_seconds"} <= row.keys()
        assert 0.5 < row["val_auc"] <= 1 and row["rows_per_second"] > 0
    seconds = [row["train_seconds"] for row in trained.history]
    assert seconds == sorted(seconds) and trained.train_seconds == pytest.approx(seconds[-1])


def test_cpu_trains_in_fp32_and_says_why_when_bf16_is_asked(window: pd.DataFrame, trained: TrainingResult):
    assert trained.precision == "fp32" and select_precision("auto", "cpu") == ("fp32", None)
    precision, note = select_precision("bf16", "cpu")
    assert precision == "fp32" and "no fast bf16 path" in note


@pytest.mark.parametrize(
    ("rule", "batch", "expected"),
    [
        ("none", 4096, 0.003),
        ("linear", 1024, 0.012),
        ("sqrt", 1024, 0.006),
        ("sqrt", 256, 0.003),
        ("linear", 128, 0.0015),
    ],
)
def test_learning_rate_scales_with_the_batch(rule: str, batch: int, expected: float):
    settings = _contract(lr_scaling=rule, base_batch_size=256, learning_rate=0.003).training
    assert scaled_learning_rate(settings, batch) == pytest.approx(expected)


def test_warm_start_fine_tunes_the_champion(window: pd.DataFrame, history: pd.DataFrame, trained: TrainingResult):
    """Started from the champion, the first epoch is already as good as the champion; from scratch it is not."""
    later = _years(history, 1962, 1963)
    warm = train_model(later, _contract(warm_start=True, epochs=1), seed=2, warm_start=trained.model)
    cold = train_model(later, _contract(epochs=1), seed=2, warm_start=trained.model)
    assert (warm.warm_start, cold.warm_start) == ("champion", "scratch")
    assert warm.model.spec["encoder"] == trained.model.spec["encoder"]  # the champion's scaling is kept
    assert warm.history[0]["val_loss"] < cold.history[0]["val_loss"]


def test_warm_start_falls_back_to_scratch_with_a_reason(window: pd.DataFrame, trained: TrainingResult):
    wider = train_model(
        window, _contract(warm_start=True, epochs=1, model={"family": "mlp", "hidden": [8]}), warm_start=trained.model
    )
    assert wider.warm_start.startswith("scratch") and "architecture differ" in wider.warm_start
    first = train_model(window, _contract(warm_start=True, epochs=1))
    assert "no champion yet" in first.warm_start


def test_deterministic_mode_restores_the_global_setting(window: pd.DataFrame, trained: TrainingResult):
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    again = train_model(window, _contract(deterministic=True), seed=11)
    assert again.deterministic and torch.are_deterministic_algorithms_enabled() == before
    assert _same_state(trained, again)  # on the CPU the default kernels are deterministic already
