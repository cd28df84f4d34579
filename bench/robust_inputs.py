"""How the MLP's input clipping and min_epochs were chosen: heavy tails against real shifts.

    .venv/bin/python bench/robust_inputs.py [--seeds 10]     # writes bench/results/robust_inputs.md (~3-5 min)

Two measurements, both with the platform's own trainer (``ml.training.train.train_model``, CPU, one thread):

1. **Heavy tail** (the reported failure): the generator of ``tests/ml/training/test_heavy_tails.py``: a ratio
   feature whose recorded denominator starts collapsing in the newest rows, so that the out-of-time holdout
   holds values tens to hundreds of training-part sd out. Per setting: the MLP's holdout AUC and its gap to
   logistic regression (standardised, fitted on the same training window), mean and worst over seeds.
2. **Real shift**: the weather contract's network trained on 1961-1976 (seed 0), scored on the stable years
   1977 and 1980 and on the documented drift, 1982 and 1983. Tight clipping cannot follow shifted features.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from machine_info import describe_machine  # noqa: E402

from ml.contract import Contract, load_contract, parse_contract  # noqa: E402
from ml.simulation.sources import load_source  # noqa: E402
from ml.stats.metrics import auc_value  # noqa: E402
from ml.training.train import train_model  # noqa: E402
from tests.ml.training.test_heavy_tails import _contract as heavy_tail_contract  # noqa: E402
from tests.ml.training.test_heavy_tails import _logistic_auc, _split  # noqa: E402

OUTPUT = REPO / "bench" / "results" / "robust_inputs.md"
# (label, clip_quantile, clip_margin, min_epochs)
SETTINGS = [
    ("no clipping, min_epochs 1 (before)", 0.0, 0.0, 1),
    ("no clipping, min_epochs 5", 0.0, 0.0, 5),
    ("clip 0.5 %-99.5 %, margin 0", 0.005, 0.0, 5),
    ("clip 0.5 %-99.5 %, margin 0.25 (default)", 0.005, 0.25, 5),
    ("clip 0.5 %-99.5 %, margin 0.5", 0.005, 0.5, 5),
    ("clip 0.5 %-99.5 %, margin 1", 0.005, 1.0, 5),
    ("clip 1 %-99 %, margin 0", 0.01, 0.0, 5),
    ("clip 0.1 %-99.9 %, margin 0", 0.001, 0.0, 5),
]
WEATHER_YEARS = (1977, 1980, 1982, 1983)


def _with(contract: Contract, quantile: float, margin: float, min_epochs: int) -> Contract:
    data = contract.model_dump(mode="json", exclude_none=True)
    data["training"]["min_epochs"] = min_epochs
    data["training"]["model"].update(clip_quantile=quantile, clip_margin=margin)
    return parse_contract(data)


def heavy_tail(seeds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per setting: (holdout AUCs, gaps to logistic regression) over seeds."""
    splits = [_split(seed) for seed in range(seeds)]
    baselines = [_logistic_auc(train, holdout) for train, holdout in splits]
    out = {}
    for label, quantile, margin, min_epochs in SETTINGS:
        contract = _with(heavy_tail_contract(), quantile, margin, min_epochs)
        aucs = []
        for seed, (train, holdout) in enumerate(splits):
            scores = train_model(train, contract, seed=seed).model.predict(holdout)
            aucs.append(auc_value(holdout["target"].to_numpy(), scores))
        out[label] = (aucs, [b - a for a, b in zip(aucs, baselines, strict=True)])
        print(f"heavy tail  {label:42} mean AUC {np.mean(aucs):.3f}", flush=True)
    out["logistic regression"] = (baselines, [0.0] * len(baselines))
    return out


def real_shift() -> dict[str, list[float]]:
    contract = load_contract(REPO / "include" / "contracts" / "weather.yaml")
    history = load_source(contract)

    def years(first: int, last: int) -> pd.DataFrame:
        stamps = history["date"]
        start, end = pd.Timestamp(f"{first}-01-01", tz="UTC"), pd.Timestamp(f"{last + 1}-01-01", tz="UTC")
        return history[(stamps >= start) & (stamps < end)]

    out = {}
    for label, quantile, margin, min_epochs in SETTINGS:
        model = train_model(years(1961, 1976), _with(contract, quantile, margin, min_epochs), seed=0).model
        out[label] = [auc_value(years(y, y)["rain"].to_numpy(), model.predict(years(y, y))) for y in WEATHER_YEARS]
        print(f"weather     {label:42} {[round(v, 3) for v in out[label]]}", flush=True)
    return out


def _table(heavy: dict, shift: dict) -> str:
    lines = [
        "| setting | heavy tail: MLP AUC, mean (worst) | gap to logistic regression, mean (max) | weather "
        + " / ".join(str(y) for y in WEATHER_YEARS)
        + " |",
        "|---|---|---|---|",
    ]
    for label, (aucs, gaps) in heavy.items():
        weather = " / ".join(f"{v:.3f}" for v in shift[label]) if label in shift else ""
        gap = "" if label == "logistic regression" else f"{np.mean(gaps):.3f} ({np.max(gaps):.3f})"
        lines.append(f"| {label} | {np.mean(aucs):.3f} ({np.min(aucs):.3f}) | {gap} | {weather} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    heavy, shift = heavy_tail(args.seeds), real_shift()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    OUTPUT.write_text(
        "# Robust inputs: clipping and min_epochs of the torch families\n\n"
        + __doc__.split("\n", 3)[3].strip()
        + "\n\n"
        + f"Command: `python bench/robust_inputs.py --seeds {args.seeds}`  \n"
        + f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit.stdout.strip()}; "
        + f"{time.perf_counter() - started:.0f} s  \nMachine: {describe_machine()}\n\n"
        + _table(heavy, shift)
        + "\n"
    )
    print(f"written {OUTPUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
