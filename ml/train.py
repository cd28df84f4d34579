"""Training a tabular network on the GPU when there is one, else the CPU, seeded and early-stopped.

Data is encoded once, moved to the device once, and mini-batches are sliced on the device from a
permuted index: no ``DataLoader`` (FIELD_NOTES measures per-row indexing at about 500x slower on a GPU).
The validation split is the most recent part of the window (out-of-time), never a random sample.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.contract import Contract
from ml.features import encode, encoded_width, fit_encoder
from ml.model import ScoringModel, build_network

logger = logging.getLogger(__name__)


class TrainingError(ValueError):
    """The training window cannot produce a model (too few rows, a single class, ...)."""


@dataclass
class TrainingResult:
    """A trained model plus what happened while training it."""

    model: ScoringModel
    device: str
    device_name: str
    seed: int
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    rows_per_second: float = 0.0
    fallback_reason: str | None = None


def select_device(requested: str) -> tuple[str, str, str | None]:
    """(device, device name, fallback reason): CUDA when asked or available, else the CPU, saying why."""
    import torch

    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_name(0), None
    reason = None
    if requested == "cuda":
        reason = "contract asks for cuda but no CUDA device is visible; training on the CPU"
    elif requested == "auto":
        reason = "no CUDA device visible; training on the CPU"
    return "cpu", "cpu", reason


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _check_window(frame: pd.DataFrame, contract: Contract) -> None:
    minimum = contract.training.window.min_rows
    if len(frame) < minimum:
        raise TrainingError(
            f"training window has {len(frame)} rows, fewer than training.window.min_rows={minimum}; "
            "wait for more batches or lower the minimum in the contract"
        )
    if contract.task == "binary_classification" and frame[contract.target].nunique() < 2:
        raise TrainingError("training window holds a single class; a classifier needs both labels: widen "
                            "training.window.max_rows or wait for batches with both labels")


def _split(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(round(len(frame) * (1 - fraction)))
    return frame.iloc[:cut], frame.iloc[cut:]


def _loss_function(task: str):
    import torch.nn as nn

    return nn.BCEWithLogitsLoss() if task == "binary_classification" else nn.MSELoss()


def train_model(frame: pd.DataFrame, contract: Contract, *, seed: int | None = None) -> TrainingResult:
    """Train on ``frame`` (time-ordered); the newest ``validation_fraction`` of rows drives early stopping."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(contract.training.cpu_threads)
    try:
        return _train(frame, contract, seed)
    finally:
        torch.set_num_threads(threads)


def _train(frame: pd.DataFrame, contract: Contract, seed: int | None) -> TrainingResult:
    import torch

    settings = contract.training
    seed = settings.seed if seed is None else seed
    _check_window(frame, contract)
    device, device_name, fallback = select_device(settings.device)
    if fallback:
        logger.warning(fallback)
    seed_everything(seed)
    fit_part, val_part = _split(frame, settings.validation_fraction)
    if len(val_part) == 0 or len(fit_part) == 0:
        raise TrainingError(f"a window of {len(frame)} rows leaves no rows for training or validation "
                            f"(validation_fraction {settings.validation_fraction}); raise training.window.min_rows")
    encoder = fit_encoder(fit_part, contract)
    architecture = {"family": settings.model.family, "inputs": encoded_width(encoder),
                    "hidden": list(settings.model.hidden), "dropout": settings.model.dropout}
    network = build_network(architecture).to(device)

    def tensors(part: pd.DataFrame):
        x = torch.from_numpy(encode(part, encoder)).to(device)
        y = torch.from_numpy(part[contract.target].to_numpy(dtype=np.float32)).to(device)
        return x, y

    x_fit, y_fit = tensors(fit_part)
    x_val, y_val = tensors(val_part)
    optimiser = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    loss_fn = _loss_function(contract.task)
    generator = torch.Generator(device=device).manual_seed(seed)
    best_loss, best_epoch, best_state, history = float("inf"), 0, None, []
    started, rows_seen = time.perf_counter(), 0
    for epoch in range(1, settings.epochs + 1):
        network.train()
        order = torch.randperm(len(x_fit), device=device, generator=generator)
        for start in range(0, len(order), settings.batch_size):
            index = order[start:start + settings.batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(network(x_fit[index]).squeeze(1), y_fit[index])
            loss.backward()
            optimiser.step()
        rows_seen += len(order)
        network.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(network(x_val).squeeze(1), y_val))
        history.append({"epoch": epoch, "train_loss": float(loss.detach()), "val_loss": val_loss})
        logger.info("epoch %d/%d train_loss=%.4f val_loss=%.4f", epoch, settings.epochs,
                    history[-1]["train_loss"], val_loss)
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        elif epoch - best_epoch >= settings.patience:
            logger.info("early stop at epoch %d (best %d)", epoch, best_epoch)
            break
    elapsed = time.perf_counter() - started
    if best_state is None:
        raise TrainingError("validation loss was never finite (NaN or inf): check the features' scale and the "
                            "learning rate")
    network.load_state_dict(best_state)
    network = network.to("cpu").eval()
    spec = {"task": contract.task, "target": contract.target, "architecture": architecture, "encoder": encoder}
    return TrainingResult(ScoringModel(spec, network), device, device_name, seed, best_epoch, history,
                          rows_seen / elapsed if elapsed > 0 else 0.0, fallback)
