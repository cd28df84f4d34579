"""Benchmark: training throughput of our path against the usual DataLoader path, and time-to-quality.

    .venv/bin/python bench/train_throughput.py                 # CPU section (+ weather time-to-quality)
    python3 bench/train_throughput.py --device cuda            # GPU section, on a GPU machine

Each run rewrites its own section of ``bench/results/train.md`` and keeps the other's, so the CPU and the GPU
figures can come from different machines; every section names the machine and the command.

* **ours**: ``ml.training.train.train_model`` itself on a synthetic contract (64 standardised numeric features, binary
  target): rows encoded once, moved to the device once, batches sliced from a permuted index on the device,
  precision from the contract (``auto``: bf16 autocast on a GPU with bf16, fp32 on the CPU). Rows/s is the
  median over epochs 2.. of (training rows / synchronised epoch time): validation and the first epoch
  (allocator warm-up, ``torch.compile``) are reported apart.
* **naive**: the same network and optimiser fed by ``DataLoader(TensorDataset(x, y), shuffle=True)`` from
  CPU tensors, each batch copied to the device: per-row indexing and collation, the way most tutorials train.
  Timed over a fixed number of batches after one warm-up batch.

Model sizes: MLP 64 -> 256 -> 256 -> 1 (82k parameters) and 64 -> 1024 -> 1024 -> 1 (1.1M parameters).
On the CPU both paths use every core (``cpu_threads`` = core count; the contracts' default of 1 thread is for
the small weather network). A torch.profiler table says where our path spends its CPU time.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine_info import write_device_section  # noqa: E402 - bench/ is on sys.path when run as a script

from ml.contract import Contract, parse_contract  # noqa: E402
from ml.environment import cpu_count  # noqa: E402
from ml.training.train import train_model  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "train.md"
FEATURES = 64
SIZES = {"256x2": (256, 256), "1024x2": (1024, 1024)}


def synthetic_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """64 Gaussian features and a label from a fixed random logistic model (learnable, not trivial)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    weights = rng.standard_normal(FEATURES).astype(np.float32) / np.sqrt(FEATURES)
    logits = 2.0 * (x @ weights) + 0.5 * np.sin(3.0 * x[:, 0]) * x[:, 1]
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(FEATURES)])
    frame["label"] = y
    frame["ts"] = pd.date_range("2020-01-01", periods=rows, freq="s", tz="UTC")
    return frame


def bench_contract(
    hidden: tuple[int, ...], batch: int, epochs: int, device: str, precision: str, compile_model: bool, threads: int
) -> Contract:
    """The weather contract with its features, slices and behavioural tests swapped for the synthetic ones."""
    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "include/contracts/weather.yaml").read_text())
    raw.update(
        {
            "name": "bench",
            "timestamp": "ts",
            "target": "label",
            "slices": [],
            "features": [{"name": f"f{i:02d}", "type": "float"} for i in range(FEATURES)],
        }
    )
    raw["gate"].pop("behaviour", None)
    raw["training"] = {
        "model": {"family": "mlp", "hidden": list(hidden)},
        "epochs": epochs,
        "patience": epochs,
        "batch_size": batch,
        "learning_rate": 1e-3,
        "lr_scaling": "sqrt",
        "base_batch_size": 1024,
        "validation_fraction": 0.1,
        "device": device,
        "precision": precision,
        "compile": compile_model,
        "cpu_threads": threads,
        "window": {"max_rows": 100_000_000, "min_rows": 1},
    }
    return parse_contract(raw, Path("bench_contract.yaml"))


def ours(
    frame: pd.DataFrame,
    hidden,
    batch: int,
    epochs: int,
    device: str,
    precision: str = "auto",
    compile_model: bool = False,
    threads: int = 1,
) -> dict:
    contract = bench_contract(hidden, batch, epochs, device, precision, compile_model, threads)
    started = time.perf_counter()
    result = train_model(frame, contract, seed=0)
    wall = time.perf_counter() - started
    steady = [row["rows_per_second"] for row in result.history[1:]] or [result.history[0]["rows_per_second"]]
    return {
        "rows_per_second": statistics.median(steady),
        "first_epoch_s": result.history[0]["train_seconds"],
        "precision": result.precision,
        "wall_s": wall,
        "val_auc": result.history[-1]["val_auc"],
        "epochs": len(result.history),
        "batch": result.batch_size,
        "compiled": result.compiled,
    }


def naive(frame: pd.DataFrame, hidden, batch: int, device: str, batches: int) -> dict:
    """The usual loop: DataLoader over a TensorDataset of CPU tensors, each batch copied to the device."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from ml.training.model import build_network

    torch.manual_seed(0)
    x = torch.from_numpy(frame[[f"f{i:02d}" for i in range(FEATURES)]].to_numpy(np.float32, copy=True))
    y = torch.from_numpy(frame["label"].to_numpy(np.float32))
    network = build_network({"family": "mlp", "inputs": FEATURES, "hidden": list(hidden), "dropout": 0}).to(device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    loader = iter(DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True))

    def step():
        xb, yb = next(loader)
        xb, yb = xb.to(device), yb.to(device)
        optimiser.zero_grad()
        loss_fn(network(xb).squeeze(1), yb).backward()
        optimiser.step()

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(batches):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return {"rows_per_second": batches * batch / (time.perf_counter() - started)}


def cpu_profile(frame: pd.DataFrame, threads: int) -> str:
    """Where our path's CPU time goes: the top operators of two epochs of the small model, by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        ours(frame, SIZES["256x2"], 65_536, 2, "cpu", threads=threads)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    lines = ["| operator | self CPU (s) | share | calls |", "| --- | ---: | ---: | ---: |"]
    for event in events[:10]:
        lines.append(
            f"| `{event.key}` | {event.self_cpu_time_total / 1e6:.2f} | "
            f"{event.self_cpu_time_total / total:.0%} | {event.count} |"
        )
    return "\n".join(lines)


def time_to_quality(threads: int) -> str:
    """Weather contract, bootstrap window 1961-1976, its own settings: validation AUC against training seconds."""
    from ml.contract import load_contract
    from ml.simulation.sources import load_source

    contract = load_contract(Path(__file__).resolve().parents[1] / "include" / "contracts" / "weather.yaml")
    raw = contract.model_dump(mode="json")
    raw["training"].update({"epochs": 60, "patience": 60, "device": "cpu"})
    contract = parse_contract(raw, Path("weather.yaml"))
    history = load_source(contract)
    stamps = history[contract.timestamp]
    window = history[(stamps >= pd.Timestamp("1961-01-01", tz="UTC")) & (stamps < pd.Timestamp("1977-01-01", tz="UTC"))]
    result = train_model(window.reset_index(drop=True), contract)
    lines = [
        "| training seconds (cumulative) | epoch | validation AUC | validation log-loss |",
        "| ---: | ---: | ---: | ---: |",
    ]
    shown = {1, 2, 3, 5, 10, 20, 40, 60, result.best_epoch}
    for row in result.history:
        if row["epoch"] in shown:
            lines.append(
                f"| {row['train_seconds']:.2f} | {row['epoch']} | {row['val_auc']:.3f} | {row['val_loss']:.4f} |"
            )
    return (
        f"{len(window)} rows (1961-1976; newest 20 % = validation), settings of `weather.yaml` "
        f"(MLP {list(contract.training.model.hidden)}, batch {contract.training.batch_size}, "
        f"{contract.training.cpu_threads} thread), 60 epochs without early stopping; best epoch "
        f"{result.best_epoch}.\n\n" + "\n".join(lines)
    )


def run(device: str, rows: int, naive_batches: int, epochs: int, with_compile: bool, publish) -> str:
    """Measure every row of the table; ``publish(body)`` is called after each row, so a cut-off run keeps
    what it measured."""
    threads = cpu_count() if device == "cpu" else 1
    frame = synthetic_frame(rows)
    header = [
        f"{rows:,} synthetic rows x {FEATURES} features (10 % validation), {epochs} epochs per run, "
        f"naive path timed over {naive_batches} batches; {threads} CPU thread(s).",
        "",
        "| model | path | precision | batch | rows/s | vs naive | first epoch (s) | epochs | val AUC |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines = list(header)

    def add(line: str) -> None:
        lines.append(line)
        print(line, flush=True)
        publish("\n".join(lines))

    batches = (65_536,) if device == "cpu" else (65_536, 4_096)
    for size, hidden in SIZES.items():
        for batch in batches:
            slow = naive(frame, hidden, batch, device, naive_batches)["rows_per_second"]
            add(f"| {size} | naive DataLoader | fp32 | {batch:,} | {slow / 1e6:.3f}M | 1x | | | |")
            variants = [("fp32", False)] if device == "cpu" else [("fp32", False), ("bf16", False)]
            if with_compile and batch == 65_536:
                variants.append(("bf16", True))
            for precision, compiled in variants:
                fast = ours(frame, hidden, batch, epochs, device, precision, compiled, threads)
                label = "ours" + (" + torch.compile" if compiled else "")
                add(
                    f"| {size} | {label} | {fast['precision']} | {batch:,} | "
                    f"{fast['rows_per_second'] / 1e6:.3f}M | {_ratio(fast['rows_per_second'] / slow)}x | "
                    f"{fast['first_epoch_s']:.2f} | {fast['epochs']} | {fast['val_auc']:.3f} |"
                )
    if device == "cpu":
        lines += [
            "",
            "### Where the CPU time goes (ours, 256x2, batch 65,536, two epochs)",
            "",
            cpu_profile(synthetic_frame(min(rows, 200_000)), threads),
            "",
            "### Time to quality: weather contract on the CPU",
            "",
            time_to_quality(1),
        ]
    return "\n".join(lines)


def _ratio(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def write_section(device: str, body: str, command: str, output: Path = RESULTS) -> None:
    write_device_section(output, device, body, command, title="Training throughput", doc=__doc__ or "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--rows", type=int, help="rows of synthetic data (default: 400k CPU, 4M GPU)")
    parser.add_argument("--epochs", type=int, help="epochs per run of our path (default: 3 CPU, 5 GPU)")
    parser.add_argument("--naive-batches", type=int, help="batches timed on the naive path (default 3 CPU, 4 GPU)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant on the GPU")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cpu = args.device == "cpu"
    command = "python bench/train_throughput.py " + " ".join(sys.argv[1:])

    def publish(body: str) -> None:
        write_section(args.device, body, command, args.output)

    publish(
        run(
            args.device,
            args.rows or (400_000 if cpu else 4_000_000),
            args.naive_batches or (3 if cpu else 4),
            args.epochs or (3 if cpu else 5),
            not cpu and not args.no_compile,
            publish,
        )
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
