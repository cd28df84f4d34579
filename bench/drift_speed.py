"""Benchmark: per-column drift of big batches, Evidently's DataDriftPreset against ``ml.drift.stats``.

    .venv/bin/python bench/drift_speed.py                                   # CPU section (needs evidently)
    python3 bench/drift_speed.py --device cuda --output $OUT/drift_speed.md  # GPU section (no evidently needed)

Data: 50 columns, 45 numeric (normal, 9 of them shifted by 0.2 sd in the batch) and 5 categorical (integer codes
0-9, one with shifted shares); the reference has min(rows, 1M) rows, the batch ``rows`` rows. Methods are
Evidently's defaults for a reference over 1,000 rows: normed Wasserstein (numeric), Jensen-Shannon
(categorical), threshold 0.1.

* **DataDriftPreset**: ``Report([DataDriftPreset()]).run(current, reference)`` on ``Dataset.from_pandas``
  frames, timed from the pandas frames to the snapshot (HTML not rendered). Runs that pass the time limit are
  stopped and reported as "> limit", never extrapolated.
* **ours**: ``ml.drift.compare.compare(stats, current)`` with reference statistics built beforehand (the once-per-
  champion cost is reported in its own column): ``numpy`` (a thread per core) and ``torch`` on the device.
  The second of two calls is reported (the first warms caches, CUDA and the reference upload).

Every measurement runs in its own subprocess, so peaks do not mix: peak RSS of that process (``ru_maxrss``,
data included) and its RSS before the measured call; on CUDA also ``torch.cuda.max_memory_allocated``.
"Agree" compares each measured path's per-column scores and verdicts with a reference path of the same run
(Evidently where it finished, else numpy).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
RESULTS = Path(__file__).parent / "results" / "drift_speed.md"
NUMERIC = [f"x{i:02d}" for i in range(45)]
CATEGORICAL = [f"c{i}" for i in range(5)]
SHIFTED = NUMERIC[::5]
MAX_REFERENCE = 1_000_000


def make_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference (min(rows, 1M) rows) and current (``rows``) frames; 9 numeric and 1 categorical column shifted."""
    rng = np.random.default_rng(seed)

    def frame(n: int, shift: bool) -> pd.DataFrame:
        data = {}
        block = rng.standard_normal((len(NUMERIC), n))
        for i, name in enumerate(NUMERIC):
            data[name] = block[i] + (0.2 if shift and name in SHIFTED else 0.0)
        for i, name in enumerate(CATEGORICAL):
            p = np.full(10, 0.1) if not (shift and i == 0) else np.array([0.3] + [0.7 / 9] * 9)
            data[name] = rng.choice(10, size=n, p=p)
        return pd.DataFrame(data)

    return frame(min(rows, MAX_REFERENCE), False), frame(rows, True)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(tool: str, rows: int, device: str) -> dict:
    """One measurement in this process: seconds, memory and per-column results."""
    reference, current = make_frames(rows)
    before = _current_rss_mb()
    if tool == "evidently":
        seconds, columns = _run_evidently(reference, current)
        out = {"seconds": seconds}
    else:
        out, columns = _run_ours(tool, reference, current, device)
    out.update(tool=tool, rows=rows, rss_before_mb=round(before), peak_rss_mb=round(_rss_mb()), columns=columns)
    return out


def _run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[float, dict]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from ml.drift.report import CATEGORICAL as CAT
    from ml.drift.report import NUMERIC as NUM
    from ml.drift.report import parse_column_drifts

    started = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    seconds = time.perf_counter() - started
    kinds = {n: NUM for n in NUMERIC} | {n: CAT for n in CATEGORICAL}
    return seconds, {c.column: [c.method, c.score, c.drifted] for c in parse_column_drifts(snapshot.dict(), kinds)}


def _run_ours(tool: str, reference: pd.DataFrame, current: pd.DataFrame, device: str) -> tuple[dict, dict]:
    from ml.drift.compare import compare
    from ml.drift.stats import ReferenceStats

    started = time.perf_counter()
    stats = ReferenceStats.from_frame(reference, numeric=NUMERIC, categorical=CATEGORICAL)
    fit = time.perf_counter() - started
    backend, dev = ("numpy", None) if tool == "numpy" else ("torch", device)
    cuda = dev == "cuda"
    if cuda:
        import torch
    times = []
    for _ in range(2):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = compare(stats, current, backend=backend, device=dev)
        times.append(time.perf_counter() - started)
    out = {"seconds": times[-1], "first_seconds": times[0], "fit_seconds": fit}
    if cuda:
        out["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return out, {s.column: [s.method, s.score, s.drifted] for s in result}


def _subprocess(tool: str, rows: int, device: str, limit: float) -> dict:
    command = [sys.executable, __file__, "--measure", tool, "--rows", str(rows), "--device", device]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "rows": rows, "timed_out": limit}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"tool": tool, "rows": rows, "error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    return json.loads(lines[-1])


def _agreement(result: dict, baseline: dict | None) -> str:
    if baseline is None or "columns" not in result or "columns" not in baseline:
        return "-"
    ours, theirs = result["columns"], baseline["columns"]
    worst, same = 0.0, 0
    for name, (method, score, drifted) in theirs.items():
        mine = ours[name]
        worst = max(worst, abs(mine[1] - score) / max(abs(score), 1e-12))
        same += mine[2] == drifted and mine[0] == method
    return f"{same}/{len(theirs)} verdicts, max rel. diff {worst:.1e} vs {baseline['tool']}"


def _row(result: dict, baseline_seconds: float | None, baseline: dict | None) -> str:
    rows = f"{result['rows']:,}"
    if "timed_out" in result:
        return f"| {rows} | {result['tool']} | > {result['timed_out']:.0f} (stopped) | - | - | - | - |"
    if "error" in result:
        return f"| {rows} | {result['tool']} | failed: {' '.join(result['error'])[:120]} | - | - | - | - |"
    seconds = result["seconds"]
    speedup = f"{baseline_seconds / seconds:.0f}x" if baseline_seconds else "-"
    memory = f"{result['peak_rss_mb']:,} (before {result['rss_before_mb']:,})"
    if "gpu_peak_mb" in result:
        memory += f"; GPU {result['gpu_peak_mb']:,}"
    fit = f"{result['fit_seconds']:.2f}" if "fit_seconds" in result else "-"
    first = f" (first {result['first_seconds']:.2f})" if "first_seconds" in result else ""
    return (
        f"| {rows} | {result['tool']} | {seconds:.2f}{first} | {speedup} | {memory} | {fit} | "
        f"{_agreement(result, baseline)} |"
    )


def run(
    device: str, sizes: list[int], evidently_sizes: list[int], torch_cpu_sizes: list[int], limit: float, publish
) -> str:
    header = [
        "| rows x 50 cols | path | seconds | speed-up vs DataDriftPreset | peak RSS MB (before call) | "
        "reference stats s (once) | agree |",
        "|---|---|---|---|---|---|---|",
    ]
    lines = list(header)
    for rows in sizes:
        evidently = None
        if device == "cpu" and rows in evidently_sizes:
            evidently = _subprocess("evidently", rows, device, limit)
            lines.append(_row(evidently, None, None))
        numpy_result = _subprocess("numpy", rows, device, limit)
        ev_ok = evidently if evidently and "seconds" in evidently else None
        baseline_seconds = (
            ev_ok["seconds"] if ev_ok else (evidently["timed_out"] if evidently and "timed_out" in evidently else None)
        )
        lines.append(_row(numpy_result, baseline_seconds, ev_ok))
        if device == "cuda" or rows in torch_cpu_sizes:
            torch_result = _subprocess("torch", rows, device, limit)
            lines.append(_row(torch_result, baseline_seconds, ev_ok or numpy_result))
        publish("\n".join(lines))
        print(lines[-1], flush=True)
    return "\n".join(lines)


def write_section(device: str, body: str, command: str, load: str, output: Path) -> None:
    from machine_info import write_device_section

    write_device_section(
        output,
        device,
        body,
        command,
        title="Drift speed",
        doc=__doc__ or "",
        run_note=f"; load average before the run: {load}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="batch rows, comma-separated")
    parser.add_argument("--evidently-sizes", default="100000,1000000", help="sizes DataDriftPreset is run at (CPU)")
    parser.add_argument("--torch-cpu-sizes", default="100000,1000000", help="sizes the torch path runs at on the CPU")
    parser.add_argument("--limit", type=float, default=300, help="seconds before a measurement is stopped")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.rows, args.device)))
        return
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device visible")

    def ints(text: str) -> list[int]:
        return [int(v) for v in text.split(",") if v]

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = "python bench/drift_speed.py " + " ".join(sys.argv[1:])

    def publish(body: str) -> None:
        write_section(args.device, body, command, load, args.output)

    run(args.device, ints(args.sizes), ints(args.evidently_sizes), ints(args.torch_cpu_sizes), args.limit, publish)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
