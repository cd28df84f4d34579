"""Training a tabular network on the GPU when there is one, else the CPU, seeded and early-stopped.

Fast by construction: rows are encoded once, moved to the device once, and mini-batches are sliced on the
device from a permuted index; no ``DataLoader`` (bench/results/train.md measures the per-row loader at two to
three orders of magnitude slower on a GPU). bf16 autocast on GPUs that support it, fused AdamW on CUDA, an
optional ``torch.compile``, learning-rate scaling for large batches. The validation split is the most recent
part of the window (out-of-time), never a random sample.

Failure modes end in a :class:`TrainingError` that says what to change, or in a documented fallback: a CUDA
out-of-memory error during training halves the batch and starts again from the same seed (recorded); a window
that does not fit on the GPU at all is an error naming the window size.
"""

from __future__ import annotations

import logging
import os
import random
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.contract import Contract, TrainingSpec
from ml.environment import gpu_telemetry
from ml.training.features import encode, encoded_width, feature_names, fit_encoder
from ml.training.model import ScoringModel, build_network

logger = logging.getLogger(__name__)

# cuBLAS is deterministic only with a fixed workspace, read when cuBLAS first initialises in the process,
# so it is set on import rather than when a deterministic run starts (cost: a few MiB of GPU memory).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

# Below this the GPU is launch-bound anyway; halving further only hides a real problem.
MIN_OOM_BATCH = 256
# Validation forward passes are chunked so that a wide network on a long window stays within memory.
EVAL_CHUNK = 65_536


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
    precision: str = "fp32"
    batch_size: int = 0
    learning_rate: float = 0.0
    compiled: bool = False
    deterministic: bool = False
    warm_start: str = "scratch"
    notes: list[str] = field(default_factory=list)
    train_seconds: float = 0.0


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


def select_precision(requested: str, device: str) -> tuple[str, str | None]:
    """bf16 autocast only on a CUDA GPU with bf16 support; on the CPU bf16 autocast is slower than fp32."""
    import torch

    if requested == "fp32":
        return "fp32", None
    supported = device == "cuda" and torch.cuda.is_bf16_supported()
    if supported:
        return "bf16", None
    if requested == "bf16":
        return "fp32", f"contract asks for bf16 but {device} has no fast bf16 path; training in fp32"
    return "fp32", None


DEFAULT_BATCH, MIN_STEPS_PER_EPOCH, SMALLEST_DEFAULT_BATCH = 1024, 16, 32


def default_batch_size(rows: int) -> int:
    """The batch size when the contract sets none: 1024, or less so that an epoch takes at least 16 steps."""
    return max(SMALLEST_DEFAULT_BATCH, min(DEFAULT_BATCH, rows // MIN_STEPS_PER_EPOCH))


def scaled_learning_rate(settings: TrainingSpec, batch_size: int) -> float:
    """Learning rate for ``batch_size``: linear (Goyal et al. 2017) or square-root scaling from the base batch."""
    ratio = batch_size / settings.base_batch_size
    factor = {"none": 1.0, "linear": ratio, "sqrt": ratio**0.5}[settings.lr_scaling]
    return settings.learning_rate * factor


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (CPU and every CUDA device) from one recorded seed."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def deterministic_algorithms(enabled: bool):
    """``torch.use_deterministic_algorithms`` for the duration of one training; global state is restored."""
    import torch

    if not enabled:
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark = before[1]


def check_window(frame: pd.DataFrame, contract: Contract) -> None:
    minimum = contract.training.window.min_rows
    if len(frame) == 0:
        raise TrainingError(
            "the training window holds no rows: no accepted batch falls in it; ingest batches "
            "first or check the data revision"
        )
    if len(frame) < minimum:
        raise TrainingError(
            f"training window has {len(frame)} rows, fewer than training.window.min_rows={minimum}; "
            "wait for more batches or lower the minimum in the contract"
        )
    if contract.task == "binary_classification" and frame[contract.target].nunique() < 2:
        raise TrainingError(
            "training window holds a single class; a classifier needs both labels: widen "
            "training.window.max_rows or wait for batches with both labels"
        )


def split_validation(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(round(len(frame) * (1 - fraction)))
    return frame.iloc[:cut], frame.iloc[cut:]


def _loss_function(task: str):
    import torch.nn as nn

    return nn.BCEWithLogitsLoss() if task == "binary_classification" else nn.MSELoss()


def _architecture(contract: Contract, encoder: dict) -> dict:
    model = contract.training.model
    return {
        "family": model.family,
        "inputs": encoded_width(encoder),
        "hidden": list(model.hidden),
        "dropout": model.dropout,
    }


def _warm_start_plan(
    contract: Contract, fit_part: pd.DataFrame, warm_start: ScoringModel | None
) -> tuple[dict, dict, ScoringModel | None, str]:
    """(encoder, architecture, model to start from or None, what was decided).

    Fine-tuning keeps the champion's encoder: its weights were learnt on inputs scaled that way, and rescaling
    to the new window would silently change what every weight means.
    """
    fresh = fit_encoder(fit_part, contract, contract.training.model.clip_quantile, contract.training.model.clip_margin)
    architecture = _architecture(contract, fresh)
    if not contract.training.warm_start:
        return fresh, architecture, None, "scratch"
    if warm_start is None:
        return fresh, architecture, None, "scratch (warm_start asked, but there is no champion yet)"
    old = warm_start.spec
    same_inputs = (
        feature_names(old["encoder"]) == feature_names(fresh) and old["encoder"]["categorical"] == fresh["categorical"]
    )
    if not same_inputs or old["architecture"] != architecture:
        return (
            fresh,
            architecture,
            None,
            ("scratch (warm_start asked, but the champion's features or architecture differ from the contract's)"),
        )
    return old["encoder"], old["architecture"], warm_start, "champion"


def train_model(
    frame: pd.DataFrame, contract: Contract, *, seed: int | None = None, warm_start: ScoringModel | None = None
) -> TrainingResult:
    """Train on ``frame`` (time-ordered); the newest ``validation_fraction`` of rows drives early stopping.

    ``warm_start``: the champion, used when the contract sets ``training.warm_start`` and its features and
    architecture match; otherwise training starts from scratch. ``result.warm_start`` says which happened.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(contract.training.cpu_threads)
    try:
        with deterministic_algorithms(contract.training.deterministic):
            return _train(frame, contract, contract.training.seed if seed is None else seed, warm_start)
    finally:
        torch.set_num_threads(threads)


def _train(frame: pd.DataFrame, contract: Contract, seed: int, warm_start: ScoringModel | None) -> TrainingResult:
    import torch

    settings = contract.training
    check_window(frame, contract)
    device, device_name, fallback = select_device(settings.device)
    if fallback:
        logger.warning(fallback)
    precision, precision_note = select_precision(settings.precision, device)
    notes = [note for note in (fallback, precision_note) if note]
    fit_part, val_part = split_validation(frame, settings.validation_fraction)
    if len(val_part) == 0 or len(fit_part) == 0:
        raise TrainingError(
            f"a window of {len(frame)} rows leaves no rows for training or validation "
            f"(validation_fraction {settings.validation_fraction}); raise training.window.min_rows"
        )
    encoder, architecture, start_from, warm_note = _warm_start_plan(contract, fit_part, warm_start)
    logger.info(
        "training on %s (%s), %s, %d rows (+%d validation), start: %s",
        device,
        device_name,
        precision,
        len(fit_part),
        len(val_part),
        warm_note,
    )
    data = _resident_tensors(fit_part, val_part, encoder, contract.target, device)
    batch_size = settings.batch_size or default_batch_size(len(fit_part))
    while True:
        try:
            run = _fit(data, contract, architecture, start_from, seed, device, precision, batch_size)
            break
        except torch.OutOfMemoryError as error:
            # Keep only the text: the traceback holds the failed attempt's tensors until this block ends.
            out_of_memory = str(error).splitlines()[0]
        if device != "cuda" or batch_size // 2 < MIN_OOM_BATCH:
            raise TrainingError(
                f"out of GPU memory at batch size {batch_size} ({out_of_memory}); lower "
                "training.batch_size or the model width, or set training.device: cpu"
            )
        note = f"CUDA out of memory at batch size {batch_size}; retrying from the same seed at {batch_size // 2}"
        logger.warning(note)
        notes.append(note)
        batch_size //= 2
        torch.cuda.empty_cache()
    network, history, best_epoch, elapsed, rows_seen, learning_rate = run
    spec = {
        "task": contract.task,
        "target": contract.target,
        "family": architecture["family"],
        "architecture": architecture,
        "encoder": encoder,
    }
    return TrainingResult(
        ScoringModel(spec, network),
        device,
        device_name,
        seed,
        best_epoch,
        history,
        rows_seen / elapsed if elapsed > 0 else 0.0,
        fallback,
        precision=precision,
        batch_size=batch_size,
        learning_rate=learning_rate,
        compiled=settings.compile,
        deterministic=settings.deterministic,
        warm_start=warm_note,
        notes=notes,
        train_seconds=elapsed,
    )


def _resident_tensors(fit_part: pd.DataFrame, val_part: pd.DataFrame, encoder: dict, target: str, device: str):
    """Encode once and move to the device once; every epoch then slices these tensors in place."""
    import torch

    arrays = [
        encode(fit_part, encoder),
        fit_part[target].to_numpy(dtype=np.float32),
        encode(val_part, encoder),
        val_part[target].to_numpy(dtype=np.float32),
    ]
    if any(not np.isfinite(a).all() for a in arrays[1::2]):
        raise TrainingError(
            f"target column {target!r} holds NaN or infinite values in the window; validation "
            "should have quarantined those batches: check the contract's target domain"
        )
    try:
        return [torch.from_numpy(a).to(device) for a in arrays]
    except torch.OutOfMemoryError as error:
        size = sum(a.nbytes for a in arrays) / 2**30
        raise TrainingError(
            f"the window ({size:.1f} GiB encoded) does not fit on the GPU: lower "
            "training.window.max_rows or set training.device: cpu"
        ) from error


def _fit(
    data,
    contract: Contract,
    architecture: dict,
    start_from: ScoringModel | None,
    seed: int,
    device: str,
    precision: str,
    batch_size: int,
):
    import torch

    settings = contract.training
    x_fit, y_fit, x_val, y_val = data
    seed_everything(seed)
    network = build_network(architecture)
    if start_from is not None:
        network.load_state_dict(start_from.network.state_dict())
    network = network.to(device)
    model = torch.compile(network) if settings.compile else network
    learning_rate = scaled_learning_rate(settings, batch_size)
    optimiser = torch.optim.AdamW(
        network.parameters(), lr=learning_rate, weight_decay=settings.weight_decay, fused=device == "cuda"
    )
    loss_fn = _loss_function(contract.task)
    autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    generator = torch.Generator(device=device).manual_seed(seed)
    # A compiled graph is specialised to one batch shape: drop the ragged last batch rather than recompile.
    usable = len(x_fit) - len(x_fit) % batch_size if settings.compile and len(x_fit) >= batch_size else len(x_fit)
    best_loss, best_epoch, best_state, history = float("inf"), 0, None, []
    elapsed, rows_seen = 0.0, 0
    for epoch in range(1, settings.epochs + 1):
        network.train()
        started = _now(device)
        order = torch.randperm(len(x_fit), device=device, generator=generator)[:usable]
        loss_sum = torch.zeros((), device=device)
        for start in range(0, usable, batch_size):
            index = order[start : start + batch_size]
            optimiser.zero_grad(set_to_none=True)
            with autocast:
                loss = loss_fn(model(x_fit[index]).squeeze(1).float(), y_fit[index])
            loss.backward()
            optimiser.step()
            loss_sum += loss.detach() * len(index)
        epoch_seconds = _now(device) - started  # synchronised: GPU work is finished here
        elapsed, rows_seen = elapsed + epoch_seconds, rows_seen + usable
        val_loss, val_metric = _validate(model, network, x_val, y_val, loss_fn, autocast, contract.task)
        row = {
            "epoch": epoch,
            "train_loss": float(loss_sum) / usable,
            "val_loss": val_loss,
            f"val_{_metric_name(contract.task)}": val_metric,
            "rows_per_second": usable / epoch_seconds if epoch_seconds > 0 else 0.0,
            "train_seconds": elapsed,
            **gpu_telemetry(device),
        }
        history.append(row)
        logger.info(
            "epoch %d/%d %s", epoch, settings.epochs, " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
        )
        if epoch < min(settings.min_epochs, settings.epochs):
            continue  # too early to keep or to stop (min_epochs)
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        elif epoch - best_epoch >= settings.patience:
            logger.info("early stop at epoch %d (best %d)", epoch, best_epoch)
            break
    if best_state is None:
        raise TrainingError(
            "validation loss was never finite (NaN or inf): check the features' scale and the learning rate"
        )
    network.load_state_dict(best_state)
    return network.to("cpu").eval(), history, best_epoch, elapsed, rows_seen, learning_rate


def _now(device: str) -> float:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


def _metric_name(task: str) -> str:
    return "auc" if task == "binary_classification" else "rmse"


def _validate(model, network, x_val, y_val, loss_fn, autocast, task: str) -> tuple[float, float]:
    """Validation loss (drives early stopping) and the task's metric, on the out-of-time split."""
    import torch

    from ml.stats.metrics import auc_value

    network.eval()
    with torch.no_grad(), autocast:
        outputs = torch.cat(
            [model(x_val[i : i + EVAL_CHUNK]).squeeze(1).float() for i in range(0, len(x_val), EVAL_CHUNK)]
        )
    loss = float(loss_fn(outputs, y_val))
    scores, labels = outputs.cpu().double().numpy(), y_val.cpu().numpy()
    if task != "binary_classification":
        return loss, float(np.sqrt(np.mean((scores - labels) ** 2)))
    both = 0 < labels.sum() < len(labels)
    return loss, auc_value(labels, scores) if both else float("nan")
