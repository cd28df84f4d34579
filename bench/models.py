"""Benchmark: the model families side by side, on the shipped contracts and on real data shipped in packages.

    .venv/bin/python bench/models.py            # full run: 3 seeds, 4 datasets, 1M scoring rows (5-7 min, 2 cores)
    .venv/bin/python bench/models.py --quick    # smoke run: 1 seed, 3 small datasets, 100k rows, 30 requests

Families: ``mlp`` (the contract's own network: the default as shipped), ``linear`` (torch), ``hist_gbt``
(scikit-learn HistGradientBoosting), ``logistic`` (the baseline every retrain is checked against) and the
example team trainer ``python://ml.training.examples.random_forest:train`` (``random_forest``), each with its
defaults; only ``training.model`` of the contract changes, and ``training.device`` is ``cpu``.

Datasets, each a time-ordered window split as the platform splits it: the newest ``gate.holdout.fraction`` of
rows (at least ``gate.holdout.min_rows``) is the out-of-time holdout, the model trains on the rest (and takes the
newest ``training.validation_fraction`` of those for early stopping):

* **weather**: the weather contract's real NOAA rows of its stable years, 1961-1980.
* **agrawal**: the agrawal contract's stream before its documented drift (function 2), lengthened to 20,000
  rows with the contract's seed: its first 6,480 rows are exactly the shipped stream's rows before 2024-01-10.
* **phishing**, **shuttle**: real data shipped inside river (``river/datasets/*.csv.gz``; nothing is downloaded),
  with a contract built here (numeric features, the platform's default training settings, timestamps derived
  from the file's row order). The files are not known to be in time order, so their holdout is the last rows
  of the file. river's shuttle file is the ODDS version: already binary (``anomaly``: the rare classes, about
  7 %, against the majority class; the second-largest class is dropped).

Measured per family and dataset:

* **holdout AUC**: mean over seeds (min-max in brackets) of the model's AUC on the holdout.
* **training seconds**: wall time of ``ml.training.trainers.train_family`` (mean over seeds), on the CPU; torch
  runs on ``training.cpu_threads`` threads (1, as the platform does), HistGradientBoosting on OpenMP's
  threads (every core), the forest with ``n_jobs=1`` as the example trainer sets.
* **batch scoring**: rows/s of ``predict`` on the holdout rows resampled to 1,000,000, through the model
  saved with ``ml.registry.pyfunc.save_pyfunc`` and loaded with ``mlflow.pyfunc.load_model`` (the way the
  platform scores; input schema checks included), after a 1,000-row warm-up call. Model of the first seed.
* **serving latency** (weather only): ``mlflow models serve --env-manager local`` on a free loopback port, one
  server per family; single-row ``POST /invocations`` (``dataframe_split``) over one keep-alive connection,
  timed from the request to the whole response, after warm-up requests. The client shares the cores with
  the server.

``--omp-threads N`` sets ``OMP_NUM_THREADS`` for this process and the servers (default: unset, as the platform
runs); HistGradientBoosting's OpenMP threads are what it changes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).parent / "results" / "models.md"

FAMILIES = {
    "mlp": None,  # the contract's own mlp spec, as shipped (the platform's default spec where it has none)
    "linear": {"family": "linear"},
    "hist_gbt": {"family": "hist_gbt"},
    "logistic": {"family": "logistic"},
    "random_forest": {"family": "python://ml.training.examples.random_forest:train"},
}
DEFAULT_FAMILY = "mlp"
BASELINE_FAMILY = "logistic"
# Weather's min_promoted_effect: a gain under 0.01 AUC is not worth a release, so it is no reason to switch.
WORTHWHILE_AUC = 0.01
WEATHER_YEARS = ("1961-01-01", "1981-01-01")  # [start, end): the stable years 1961-1980
AGRAWAL_ROWS = 20_000
RIVER_FILES = {"phishing": ("phishing.csv.gz", "is_phishing"), "shuttle": ("shuttle.csv.gz", "anomaly")}
DATASETS = ("weather", "agrawal", "phishing", "shuttle")
SHIPPED = ("weather", "agrawal")  # contracts the platform ships: the headline recommends their default family
LATENCY_DATASET = "weather"


@dataclass(frozen=True)
class Dataset:
    """A time-ordered window of a contract's rows, split into training rows and the out-of-time holdout."""

    name: str
    contract: object  # ml.contract.Contract
    train: pd.DataFrame
    holdout: pd.DataFrame
    window: str

    @property
    def positives(self) -> float:
        return float(self.holdout[self.contract.target].mean())


@dataclass
class FamilyRun:
    """What one family did on one dataset: AUC and training seconds per seed, scoring and serving figures."""

    family: str
    dataset: str
    aucs: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    model_folder: Path | None = None
    scoring: dict | None = None
    latency: dict | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def mean_auc(self) -> float | None:
        return statistics.fmean(self.aucs) if self.aucs else None


# --------------------------------------------------------------------------------------------------------------
# Datasets


def split_holdout(rows: pd.DataFrame, contract) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The platform's rule: the newest ``fraction`` of rows (at least ``min_rows``) is the holdout."""
    spec = contract.gate.holdout
    size = max(int(round(len(rows) * spec.fraction)), spec.min_rows)
    if size >= len(rows):
        raise ValueError(f"{len(rows)} rows cannot hold a {size}-row holdout")
    rows = rows.reset_index(drop=True)
    return rows.iloc[: len(rows) - size].reset_index(drop=True), rows.iloc[len(rows) - size :].reset_index(drop=True)


def _dataset(name: str, contract, rows: pd.DataFrame, window: str) -> Dataset:
    train, holdout = split_holdout(rows, contract)
    return Dataset(name, contract, train, holdout, window)


def weather() -> Dataset:
    from ml.contract import load_contract
    from ml.simulation.sources import load_source

    contract = load_contract(ROOT / "include" / "contracts" / "weather.yaml")
    history = load_source(contract)
    stamps = history[contract.timestamp]
    start, end = (pd.Timestamp(day, tz="UTC") for day in WEATHER_YEARS)
    return _dataset("weather", contract, history[(stamps >= start) & (stamps < end)], "1961-1980 (stable years)")


def agrawal(rows: int = AGRAWAL_ROWS) -> Dataset:
    """The agrawal stream's concept before its drift, ``rows`` long: the drift is moved past the last row."""
    from ml.contract import load_contract, parse_contract
    from ml.simulation.sources import load_source

    shipped = load_contract(ROOT / "include" / "contracts" / "agrawal.yaml")
    raw = shipped.model_dump(mode="json")
    raw["source"]["options"].update({"n_rows": rows, "drift_at": rows})
    contract = parse_contract(raw, "agrawal (before its drift)")
    window = f"{rows:,} rows of function {raw['source']['options']['function_before']} (before the drift)"
    return _dataset("agrawal", contract, load_source(contract), window)


def river_contract(name: str) -> dict:
    """A contract for a file shipped in river: every column but the target is a numeric feature."""
    from ml.simulation.sources import resolve_source_path

    filename, target = RIVER_FILES[name]
    uri = f"package://river/datasets/{filename}"
    columns = pd.read_csv(resolve_source_path(uri), nrows=1000)
    features = [
        {"name": c, "type": "int" if pd.api.types.is_integer_dtype(columns[c]) else "float"}
        for c in columns.columns
        if c != target
    ]
    return {
        "name": name,
        "description": f"river's {filename}, rows in file order",
        "source": {
            "uri": uri,
            "format": "csv",
            "timestamp": {"derive_from_row_order": True, "start": "2000-01-01", "step": "1h"},
        },
        "timestamp": "ts",
        "target": target,
        "task": "binary_classification",
        "target_domain": [0, 1],
        "features": features,
        "batch": {"period": "D"},
        "freshness": {"max_age": "2D"},
        "training": {"device": "cpu"},
    }


def river_dataset(name: str) -> Dataset:
    from ml.contract import parse_contract
    from ml.simulation.sources import load_source

    contract = parse_contract(river_contract(name), f"{name} (bench/models.py)")
    rows = load_source(contract)
    return _dataset(name, contract, rows, f"all {len(rows):,} rows, file order")


def load_dataset(name: str, agrawal_rows: int) -> Dataset:
    if name == "weather":
        return weather()
    if name == "agrawal":
        return agrawal(agrawal_rows)
    return river_dataset(name)


def with_family(contract, family: str):
    """The contract with ``training.model`` set to ``family`` (its own spec for the default) on the CPU."""
    from ml.contract import parse_contract

    raw = contract.model_dump(mode="json")
    spec = FAMILIES[family]
    if spec is None:
        spec = raw["training"]["model"] if raw["training"]["model"]["family"] == family else {"family": family}
    raw["training"].update({"model": spec, "device": "cpu"})
    return parse_contract(raw, f"{contract.name} with family {family}")


# --------------------------------------------------------------------------------------------------------------
# Measurements


def train_and_score(data: Dataset, contract, seed: int) -> tuple[object, float, float]:
    """(model, holdout AUC, wall seconds of train_family) for one seed."""
    from ml.serving.ct_scoring import score
    from ml.stats.metrics import metric_value
    from ml.training.trainers import train_family

    started = time.perf_counter()
    result = train_family(data.train, contract, seed=seed)
    seconds = time.perf_counter() - started
    auc = metric_value("auc", data.holdout[contract.target].to_numpy(), score(result.model, data.holdout))
    return result.model, auc, seconds


def evaluate(data: Dataset, family: str, seeds: list[int], workdir: Path) -> FamilyRun:
    """Train ``family`` once per seed; the first seed's model is saved as a pyfunc for scoring and serving."""
    from ml.registry.pyfunc import save_pyfunc

    run = FamilyRun(family, data.name)
    contract = with_family(data.contract, family)
    for seed in seeds:
        try:
            model, auc, seconds = train_and_score(data, contract, seed)
        except Exception as error:  # a family that fails is a result of the benchmark, not its end
            run.errors.append(f"seed {seed}: {type(error).__name__}: {error}")
            continue
        run.aucs.append(auc)
        run.train_seconds.append(seconds)
        if run.model_folder is None:
            folder = workdir / f"{data.name}-{family}"
            run.model_folder = save_pyfunc(model, contract, folder, example=data.holdout)
    return run


def resample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows drawn with replacement from ``frame``."""
    picks = np.random.default_rng(seed).integers(0, len(frame), rows)
    return frame.iloc[picks].reset_index(drop=True)


def scoring_throughput(folder: Path, data: Dataset, rows: int) -> dict:
    """Rows/s of the pyfunc model's ``predict`` on ``rows`` resampled holdout rows."""
    import mlflow.pyfunc

    from ml.registry.pyfunc import model_inputs

    sys.modules.pop("ct_scoring", None)  # as the platform does: each model scores with its own logged copy
    model = mlflow.pyfunc.load_model(str(folder))
    inputs = model_inputs(data.holdout, data.contract)
    model.predict(inputs.head(1000))
    batch = resample(inputs, rows)
    started = time.perf_counter()
    scores = np.asarray(model.predict(batch), dtype="float64")
    seconds = time.perf_counter() - started
    if scores.shape != (rows,) or not np.isfinite(scores).all():
        raise RuntimeError(f"the pyfunc returned {scores.shape} scores for {rows} rows, or non-finite ones")
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(server: subprocess.Popen, port: int, log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow models serve exited: {log.read_text()[-1500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"mlflow models serve did not listen within {limit:.0f} s: {log.read_text()[-1500:]}")


@contextmanager
def serving(folder: Path, limit: float = 180) -> Generator[tuple[int, float], None, None]:
    """``mlflow models serve`` of ``folder`` in its own process group: yields (port, seconds until it listened)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # uvicorn from the venv
    command = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", str(folder)]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    log = folder.with_suffix(".serve.log")
    started = time.perf_counter()
    with log.open("w") as out:
        server = subprocess.Popen(
            command, cwd=folder.parent, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_listening(server, port, log, limit)
        yield port, time.perf_counter() - started
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def request_bodies(data: Dataset, count: int) -> list[bytes]:
    """One JSON body per request: a single holdout row, numbers as floats and categories as strings."""
    from ml.registry.pyfunc import model_inputs

    rows = resample(model_inputs(data.holdout, data.contract), count, seed=1)
    columns = list(rows.columns)
    return [
        json.dumps({"dataframe_split": {"columns": columns, "data": [row]}}).encode()
        for row in rows.itertuples(index=False, name=None)
    ]


def _post(connection: http.client.HTTPConnection, body: bytes) -> float:
    started = time.perf_counter()
    connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    text = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"/invocations answered {response.status}: {text[:300]!r}")
    return elapsed


def serving_latency(folder: Path, data: Dataset, requests: int, warmup: int) -> dict:
    """Single-row latency through ``mlflow models serve``: p50, p99 and mean of ``requests`` timed requests."""
    bodies = request_bodies(data, requests + warmup)
    with serving(folder) as (port, startup):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for body in bodies[:warmup]:
                _post(connection, body)
            times = np.array([_post(connection, body) for body in bodies[warmup:]]) * 1000
        finally:
            connection.close()
    return {
        "startup_s": startup,
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "mean_ms": float(times.mean()),
        "requests": requests,
    }


def measure_family(data: Dataset, family: str, settings: argparse.Namespace, workdir: Path) -> FamilyRun:
    """Accuracy and training time over the seeds, then scoring throughput and (weather) serving latency."""
    run = evaluate(data, family, settings.seeds, workdir)
    if run.model_folder is None:
        return run
    try:
        run.scoring = scoring_throughput(run.model_folder, data, settings.scoring_rows)
    except Exception as error:
        run.errors.append(f"batch scoring: {type(error).__name__}: {error}")
    if data.name == LATENCY_DATASET and settings.requests > 0:
        try:
            run.latency = serving_latency(run.model_folder, data, settings.requests, settings.warmup)
        except Exception as error:
            run.errors.append(f"serving: {type(error).__name__}: {error}")
    return run


# --------------------------------------------------------------------------------------------------------------
# Tables and headline


def _auc_cell(run: FamilyRun | None) -> str:
    if run is None or not run.aucs:
        return "failed" if run is not None else "-"
    if len(run.aucs) == 1:
        return f"{run.aucs[0]:.3f}"
    return f"{run.mean_auc:.3f} ({min(run.aucs):.3f}-{max(run.aucs):.3f})"


def _seconds_cell(run: FamilyRun | None) -> str:
    if run is None or not run.train_seconds:
        return "-"
    seconds = statistics.fmean(run.train_seconds)
    return f"{seconds:.2f}" if seconds >= 0.1 else f"{seconds:.3f}"


def _scoring_cell(run: FamilyRun | None) -> str:
    if run is None or run.scoring is None:
        return "-"
    return f"{run.scoring['rows_per_second'] / 1e3:,.0f}k ({run.scoring['seconds']:.1f} s)"


def family_table(runs: dict, datasets: list[str], families: list[str], cell: Callable, title: str) -> list[str]:
    lines = [f"| {title} | " + " | ".join(datasets) + " |", "| --- |" + " ---: |" * len(datasets)]
    for family in families:
        cells = [cell(runs.get((name, family))) for name in datasets]
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return lines


def dataset_table(datasets: dict[str, Dataset]) -> list[str]:
    lines = [
        "| dataset | window | features | training rows | holdout rows | holdout positives |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for data in datasets.values():
        lines.append(
            f"| {data.name} | {data.window} | {len(data.contract.features)} | {len(data.train):,} | "
            f"{len(data.holdout):,} | {data.positives:.1%} |"
        )
    return lines


def latency_table(runs: dict, families: list[str], requests: int, warmup: int) -> list[str]:
    lines = [
        f"Single-row requests on {LATENCY_DATASET} ({requests} timed after {warmup} warm-up, one keep-alive "
        "connection):",
        "",
        "| family | p50 ms | p99 ms | mean ms | server listening after s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for family in families:
        run = runs.get((LATENCY_DATASET, family))
        if run is None or run.latency is None:
            lines.append(f"| {family} | - | - | - | - |")
            continue
        lat = run.latency
        lines.append(
            f"| {family} | {lat['p50_ms']:.1f} | {lat['p99_ms']:.1f} | {lat['mean_ms']:.1f} | {lat['startup_s']:.1f} |"
        )
    return lines


def verdict(runs: dict, name: str, families: list[str]) -> dict | None:
    """Best family on dataset ``name``, and how the default (mlp) compares with it and with the baseline."""
    means = {f: runs[(name, f)].mean_auc for f in families if (name, f) in runs and runs[(name, f)].aucs}
    if not means:
        return None
    best = max(means, key=means.get)
    default, baseline = means.get(DEFAULT_FAMILY), means.get(BASELINE_FAMILY)
    out = {"best": best, "best_auc": means[best], "default_auc": default, "baseline_auc": baseline}
    out["default_close"] = default is not None and means[best] - default <= WORTHWHILE_AUC
    out["default_beats_baseline"] = default is not None and baseline is not None and default >= baseline
    # Keep the default while it is within a worthwhile gain of the best and not under the baseline.
    out["recommend"] = DEFAULT_FAMILY if out["default_close"] and out["default_beats_baseline"] else best
    return out


def _headline_line(name: str, v: dict, shipped: bool) -> str:
    default = "failed" if v["default_auc"] is None else f"{v['default_auc']:.4f}"
    baseline = "failed" if v["baseline_auc"] is None else f"{v['baseline_auc']:.4f}"
    close = "within" if v["default_close"] else "NOT within"
    above = "at or above" if v["default_beats_baseline"] else "BELOW"
    line = (
        f"- **{name}**: best {v['best']} ({v['best_auc']:.4f}); mlp ({default}) is {close} "
        f"{WORTHWHILE_AUC} AUC of the best and {above} the logistic baseline ({baseline})."
    )
    if shipped:
        line += f" Recommended default for the `{name}` contract: **{v['recommend']}**."
    return line


def headline(runs: dict, names: list[str], families: list[str]) -> list[str]:
    lines = []
    for name in names:
        v = verdict(runs, name, families)
        lines.append(f"- **{name}**: no family finished." if v is None else _headline_line(name, v, name in SHIPPED))
    return lines


def failures(runs: dict) -> list[str]:
    return [f"- {run.family} on {run.dataset}: {error}" for run in runs.values() for error in run.errors]


def report(runs: dict, datasets: dict[str, Dataset], settings: argparse.Namespace, note: str) -> str:
    names, families = list(datasets), settings.families
    seeds = ", ".join(str(s) for s in settings.seeds)
    parts = [
        note,
        "",
        "### Headline",
        "",
        *headline(runs, names, families),
        "",
        f"Rule: the default (mlp) is kept where it is within {WORTHWHILE_AUC} AUC of the best family (weather's "
        "`min_promoted_effect`: a smaller gain is not worth a release) and not below the logistic baseline; "
        "otherwise the best family is recommended.",
        "",
        "### Datasets",
        "",
        *dataset_table(datasets),
        "",
        f"### Holdout AUC (mean over seeds {seeds}; min-max in brackets)",
        "",
        *family_table(runs, names, families, _auc_cell, "family"),
        "",
        "### Training seconds (wall time of train_family, mean over seeds)",
        "",
        *family_table(runs, names, families, _seconds_cell, "family"),
        "",
        f"### Batch scoring through the pyfunc: rows/s on {settings.scoring_rows:,} rows (seconds)",
        "",
        *family_table(runs, names, families, _scoring_cell, "family"),
    ]
    if LATENCY_DATASET in datasets and settings.requests > 0:
        parts += ["", "### Serving latency: mlflow models serve", ""]
        parts += latency_table(runs, families, settings.requests, settings.warmup)
    problems = failures(runs)
    parts += ["", "### Failures", "", *(problems or ["None: every family trained, scored and served."])]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, weather+agrawal(5k)+phishing, ...")
    parser.add_argument("--seeds", type=int, help="seeds per family and dataset (default 3; quick 1)")
    parser.add_argument("--datasets", help=f"comma-separated, from {','.join(DATASETS)}")
    parser.add_argument("--families", help=f"comma-separated, from {','.join(FAMILIES)}")
    parser.add_argument("--scoring-rows", type=int, help="rows of the batch-scoring call (default 1M; quick 100k)")
    parser.add_argument("--requests", type=int, help="timed single-row requests (default 200; quick 30; 0: skip)")
    parser.add_argument("--warmup", type=int, help="warm-up requests (default 20; quick 5)")
    parser.add_argument("--agrawal-rows", type=int, help=f"agrawal rows (default {AGRAWAL_ROWS:,}; quick 5,000)")
    parser.add_argument(
        "--omp-threads", type=int, help="set OMP_NUM_THREADS (this process and the servers); default: unset"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "seeds": 1 if quick else 3,
        "datasets": "weather,agrawal,phishing" if quick else ",".join(DATASETS),
        "families": ",".join(FAMILIES),
        "scoring_rows": 100_000 if quick else 1_000_000,
        "requests": 30 if quick else 200,
        "warmup": 5 if quick else 20,
        "agrawal_rows": 5_000 if quick else AGRAWAL_ROWS,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.seeds = list(range(args.seeds))
    args.datasets = _choices(args.datasets, DATASETS, "--datasets")
    args.families = _choices(args.families, FAMILIES, "--families")
    return args


def _choices(text: str, known, flag: str) -> list[str]:
    chosen = [v for v in text.split(",") if v]
    unknown = [v for v in chosen if v not in known]
    if unknown:
        sys.exit(f"{flag}: unknown {unknown}; choose from {list(known)}")
    return chosen


def code_version() -> str:
    """The commit the run used, and whether ml/ had uncommitted changes (read-only git; no index refresh)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=all", "--", "ml")
    return f"commit {commit}" + (
        f" + uncommitted changes in ml/ ({len(changed.splitlines())} files)" if changed else ""
    )


def run(settings: argparse.Namespace, publish: Callable[[str], None], note: Callable[[], str]) -> dict:
    """Measure every dataset and family; ``publish`` gets the whole report after each dataset."""
    runs: dict[tuple[str, str], FamilyRun] = {}
    datasets: dict[str, Dataset] = {}
    with tempfile.TemporaryDirectory(prefix="ct-bench-models-") as tmp:
        for name in settings.datasets:
            datasets[name] = load_dataset(name, settings.agrawal_rows)
            for family in settings.families:
                started = time.perf_counter()
                runs[(name, family)] = measure_family(datasets[name], family, settings, Path(tmp))
                print(
                    f"{name:9s} {family:14s} {_auc_cell(runs[(name, family)]):26s} "
                    f"{time.perf_counter() - started:6.1f} s",
                    flush=True,
                )
            publish(report(runs, datasets, settings, note()))
    return runs


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    if settings.omp_threads:  # before scikit-learn's or torch's OpenMP runtime is loaded
        os.environ["OMP_NUM_THREADS"] = str(settings.omp_threads)
    logging.basicConfig(level=logging.WARNING)
    # mlflow's per-save INFO lines, download progress bars and its advice on type hints would bury the table.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # (mlflow re-enables its UserWarnings inside save_model, so a warnings filter cannot drop that one.)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addFilter(
        lambda record: "Add type hints to the `predict`" not in record.getMessage()
    )
    load_before = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    command = "python bench/models.py " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    version = code_version()

    def note() -> str:
        load_now = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        return (
            f"Wall time so far: {(time.perf_counter() - started) / 60:.1f} min. Load average before the run: "
            f"{load_before}; at this write: {load_now}. OMP_NUM_THREADS: "
            f"{os.environ.get('OMP_NUM_THREADS', 'unset')}. The machine was shared with other jobs, so the seconds "
            "and rows/s below are noisy (compare families within a column, not runs across days); the AUCs "
            "are not affected."
        )

    def publish(body: str) -> None:
        from machine_info import write_device_section  # bench/ is on sys.path when run as a script

        write_device_section(
            settings.output, "cpu", body, command, title="Model families", doc=__doc__ or "", run_note=f"; {version}"
        )

    run(settings, publish, note)
    print(f"wrote {settings.output} in {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
