"""Validation cost per batch versus rows and columns, with peak memory -> bench/results/validation.md.

Each cell lands one synthetic batch (float features with a contract range, a UTC timestamp inside the batch's
yearly period, a binary target) and validates it the way the ingest DAG does: the contract's Checkpoint in
a bootstrapped GX project (result stored, Data Docs updated). Every cell runs in a fresh process, so its
peak resident memory (``ru_maxrss``) is its own; the time is ``validate_batch`` alone, after imports.

    .venv/bin/python bench/validation.py                 # the whole grid (about 10 minutes on 2 cores)
    .venv/bin/python bench/validation.py --cell 1000000 20 [--profile]   # one cell, printed as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from machine_info import describe_machine  # bench/ is on sys.path when a benchmark runs as a script

RESULTS = Path(__file__).resolve().parent / "results" / "validation.md"
GRID = [
    (10_000, 5),
    (10_000, 20),
    (10_000, 50),
    (100_000, 5),
    (100_000, 20),
    (100_000, 50),
    (1_000_000, 5),
    (1_000_000, 20),
]
START, END = "2020-01-01T00:00:00+00:00", "2021-01-01T00:00:00+00:00"


def bench_contract(columns: int):
    from ml.contract import parse_contract

    return parse_contract(
        {
            "name": "bench",
            "source": {
                "uri": "python://ml.simulation.synthetic:agrawal_stream",
                "format": "generated",
                "timestamp": {"column": "ts"},
            },
            "timestamp": "ts",
            "target": "y",
            "target_domain": [0, 1],
            "features": [{"name": f"f{i}", "type": "float", "min": -10, "max": 10} for i in range(columns)],
            "batch": {"period": "YS", "min_rows": 1, "max_rows": 10_000_000},
            "freshness": {"max_age": "2D"},
        }
    )


def land_batch(folder: Path, rows: int, columns: int):
    """Write the batch CSV in slices (so the generator stays small too) and its manifest."""
    import numpy as np
    import pandas as pd

    from ml.data.batches import BatchManifest
    from ml.files import atomic_write_json, file_sha256

    rng = np.random.default_rng(0)
    path = folder / "bench.csv"
    span = (pd.Timestamp(END) - pd.Timestamp(START)).total_seconds() - 86400 * 2
    with path.open("w", encoding="utf-8") as handle:
        for first in range(0, rows, 200_000):
            n = min(200_000, rows - first)
            frame = pd.DataFrame(rng.normal(size=(n, columns)).round(4), columns=[f"f{i}" for i in range(columns)])
            offsets = np.sort(rng.uniform(0, span, n)) if first == 0 else rng.uniform(0, span, n)
            frame.insert(0, "ts", pd.Timestamp(START) + pd.to_timedelta(offsets, unit="s"))
            frame["y"] = rng.integers(0, 2, n)
            if first + n == rows:
                frame.loc[frame.index[-1], "ts"] = pd.Timestamp(END) - pd.Timedelta("1D")  # fresh enough
            frame.to_csv(handle, index=False, header=first == 0)
    manifest = BatchManifest(
        "bench", "bench", path.name, file_sha256(path), rows, START, END, "2021-01-01T12:00:00+00:00"
    )
    atomic_write_json(folder / "bench.manifest.json", manifest.to_dict())
    return path, manifest


def run_cell(rows: int, columns: int, profile: bool) -> dict:
    from ml.validation.batch import validate_batch
    from ml.validation.gx_project import init_gx_project

    contract = bench_contract(columns)
    with tempfile.TemporaryDirectory(prefix="ct-bench-validation-") as tmp:
        folder = Path(tmp)
        path, manifest = land_batch(folder, rows, columns)
        init_gx_project(folder / "gx", [contract])
        import great_expectations  # noqa: F401  (imported before timing, as in a warm worker)

        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.perf_counter()
        verdict, _ = validate_batch(path, manifest, contract, gx_root=folder / "gx")
        seconds = time.perf_counter() - started
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            "rows": rows,
            "columns": columns,
            "file_mb": path.stat().st_size / 1e6,
            "seconds": seconds,
            "status": verdict.status,
            "peak_rss_mb": peak,
            "before_mb": baseline,
        }


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", nargs=2, type=int, metavar=("ROWS", "COLUMNS"))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.cell:
        print(json.dumps(run_cell(*args.cell, args.profile)))
        return
    loads = [f"before: {load_average()}"]
    cells = []
    for rows, columns in GRID:
        out = subprocess.run(
            [sys.executable, __file__, "--cell", str(rows), str(columns)], capture_output=True, text=True, check=True
        )
        cells.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(cells[-1], flush=True)
        loads.append(f"after {rows}x{columns}: {load_average()}")
    write_results(cells, loads)


def write_results(cells: list[dict], loads: list[str]) -> None:
    lines = [
        "# Validation cost per batch",
        "",
        f"Produced by `.venv/bin/python bench/validation.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {describe_machine()}.",
        f"Load average (1 / 5 / 15 min) while measuring: {'; '.join(loads)}.",
        "",
        "One synthetic batch per cell (float features, UTC timestamps in a yearly period, binary target; values "
        "written with 4 decimals), validated as the ingest DAG does: streamed checksum and shape scan, pandas "
        "parse, schema check, then the contract's GX Checkpoint (result stored, Data Docs updated). Time is "
        "`validate_batch` alone; peak RSS is the whole process (Python, pandas, GX imported: the 'before' "
        "column), measured in a fresh process per cell.",
        "",
        "| rows | columns | file (MB) | verdict | time (s) | rows/s | peak RSS (MB) | RSS before (MB) |",
        "|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for cell in cells:
        lines.append(
            f"| {cell['rows']:,} | {cell['columns']} | {cell['file_mb']:.0f} | {cell['status']} | "
            f"{cell['seconds']:.1f} | {cell['rows'] / cell['seconds']:,.0f} | {cell['peak_rss_mb']:.0f} | "
            f"{cell['before_mb']:.0f} |"
        )
    lines.append("")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
