"""Exact reproduction of a registered model version from its release bundle (``ct reproduce``).

1. **Data**: the recorded data revision is materialised from the data repository with DVC (no cache), its
   content hash checked against the bundle, and split into the recorded window and holdout; the row counts
   must match the bundle's.
2. **Environment**: library versions, environment-lock hash, feature-code hash, code commit, torch, CUDA,
   cuDNN, driver and device are compared with the current ones; every difference is reported.
3. **Retraining**: with the contract exactly as resolved for the run (artifact ``contract/contract.json``),
   the recorded seed, the recorded device, and the recorded starting weights for a warm start.
4. **Comparison**: every weight tensor and the holdout metric of the reproduced model against the
   registered one. On the CPU they must be bit-identical. Where either run used a GPU, the holdout metric must
   agree within :data:`GPU_METRIC_TOLERANCE` (weights are reported, not required equal: cuBLAS/cuDNN kernels
   differ between GPU models and library versions even with deterministic algorithms on).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml.contract import Contract, contract_hash
from ml.data.labels import labelled_rows
from ml.data.versioning import pointer_md5, read_dataset, resolve_rev
from ml.registry.bundle import TAG_PREFIX, code_commit, environment_lock_hash, hardware_info, library_versions
from ml.registry.runs import CONTRACT_ARTIFACT
from ml.registry.store import download_run_artifact, get_version, load_scoring_model
from ml.serving.ct_scoring import SKLEARN_FAMILIES, TORCH_FAMILIES, score
from ml.settings import PlatformPaths
from ml.training.features import feature_code_hash
from ml.training.model import ScoringModel
from ml.training.window import WindowSpan, split_window

logger = logging.getLogger(__name__)

# Absolute difference allowed in the holdout metric (AUC, accuracy, ...) when a GPU trained either model.
GPU_METRIC_TOLERANCE = 0.005
# Differences here can change the numbers; others (code commit, CPU count) are reported for the record.
NUMERIC_KEYS = (
    "lib.torch",
    "lib.numpy",
    "lib.pandas",
    "lib.python",
    "env_lock_hash",
    "feature_code_hash",
    "hw.device",
    "hw.cuda",
    "hw.cudnn",
    "hw.gpu_name",
    "hw.driver",
)


class ReproductionError(ValueError):
    """A recorded model version cannot be reproduced (its bundle is incomplete or its data is not the same)."""


@dataclass(frozen=True)
class Difference:
    key: str
    recorded: str
    current: str

    @property
    def numeric(self) -> bool:
        return self.key in NUMERIC_KEYS


@dataclass
class Reproduction:
    """The outcome of reproducing one model version: what was compared and whether it matches."""

    model: str
    version: str
    run_id: str
    data_rev: str
    seed: int
    recorded_device: str
    device: str
    train_rows: int
    holdout_rows: int
    metric: str
    recorded_metric: float
    reproduced_metric: float
    weights_identical: bool
    max_weight_difference: float
    mode: str  # "exact" (CPU) or "tolerance" (a GPU trained one of the two)
    matches: bool
    # What "the same" means for this family (torch compares weights, the others their holdout scores).
    rule: str = ""
    family: str = "mlp"
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        record = asdict(self)
        record["differences"] = [asdict(d) | {"numeric": d.numeric} for d in self.differences]
        return record


def reproduce(paths: PlatformPaths, contract: Contract, version: str) -> Reproduction:
    """Retrain ``version`` of ``contract``'s model from its bundle and compare it with the registered one."""
    from ml.training.train import select_device
    from ml.training.trainers import train_family, uses_torch

    ref = get_version(paths, contract.model_name, version)
    tags = {k.removeprefix(TAG_PREFIX): v for k, v in ref.tags.items() if k.startswith(TAG_PREFIX)}
    _require(
        tags,
        ("data_rev", "data_md5", "window_start", "window_end", "holdout_start", "seed", "window_rows", "holdout_rows"),
        ref.version,
    )
    recorded_contract, notes = _recorded_contract(paths, ref.run_id, contract, tags)
    train, holdout = materialise(paths, recorded_contract, tags)
    recorded_device = tags.get("hw.device", "cpu")
    device, _, _ = select_device(recorded_device)
    if device != recorded_device:
        notes.append(f"recorded on {recorded_device}, reproduced on {device}: compared within tolerance")
    settings = recorded_contract.training.model_copy(update={"device": device})
    warm_start = _warm_start(paths, contract, tags, notes)
    result = train_family(
        train,
        recorded_contract.model_copy(update={"training": settings}),
        seed=int(tags["seed"]),
        warm_start=warm_start,
    )
    original = load_scoring_model(paths, ref)
    torch_family = uses_torch(recorded_contract)
    if torch_family:
        identical, largest = compare_weights(getattr(original, "scorer", lambda: original)(), result.model)
    else:
        identical, largest = compare_scores(original.predict(holdout), score(result.model, holdout))
    metric = tags.get("holdout_metric_name", recorded_contract.gate.metric)
    recorded_metric = _metric(recorded_contract, metric, holdout, original)
    reproduced_metric = _metric(recorded_contract, metric, holdout, result.model)
    exact = recorded_device == "cpu" and device == "cpu"
    if exact:
        matches = identical and reproduced_metric == recorded_metric
    else:
        matches = abs(reproduced_metric - recorded_metric) <= GPU_METRIC_TOLERANCE
    if "holdout_metric" in tags and abs(float(tags["holdout_metric"]) - recorded_metric) > 5e-7:
        notes.append(
            f"registered model scores {recorded_metric:.6f} on the materialised holdout, but its bundle "
            f"recorded {tags['holdout_metric']}: the holdout data differs"
        )
        matches = False
    return Reproduction(
        model=contract.model_name,
        version=ref.version,
        run_id=ref.run_id,
        data_rev=tags["data_rev"],
        seed=int(tags["seed"]),
        recorded_device=recorded_device,
        device=device,
        train_rows=len(train),
        holdout_rows=len(holdout),
        metric=metric,
        recorded_metric=recorded_metric,
        reproduced_metric=reproduced_metric,
        weights_identical=identical,
        max_weight_difference=largest,
        mode="exact" if exact else "tolerance",
        matches=matches,
        rule=reproduction_rule(recorded_contract, exact),
        family=recorded_contract.training.model.family,
        differences=environment_differences(tags, device, result.device_name),
        notes=notes,
    )


def _require(tags: dict, keys: tuple[str, ...], version: str) -> None:
    missing = [TAG_PREFIX + key for key in keys if key not in tags]
    if missing:
        raise ReproductionError(
            f"version {version} lacks bundle tags {missing}: it was registered before the "
            "platform recorded them and cannot be reproduced exactly"
        )


def _recorded_contract(paths: PlatformPaths, run_id: str, current: Contract, tags: dict) -> tuple[Contract, list]:
    """The contract exactly as the run resolved it; the current file only for runs that did not log it."""
    from mlflow.exceptions import MlflowException

    try:
        path = download_run_artifact(paths, run_id, CONTRACT_ARTIFACT)
    except (MlflowException, OSError):
        path = None
    if path is not None and Path(path).is_file():
        return Contract.model_validate(json.loads(Path(path).read_text())), []
    note = f"run {run_id} has no {CONTRACT_ARTIFACT}; using the current contract file"
    if tags.get("contract_hash") and tags["contract_hash"] != contract_hash(current):
        note += " (its hash differs from the recorded one: settings may have changed)"
    return current, [note]


def materialise(paths: PlatformPaths, contract: Contract, tags: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The recorded window's training rows and holdout, read from the data repository at the recorded revision."""
    rev = resolve_rev(paths.data_repo, tags["data_rev"])
    md5 = pointer_md5(paths.data_repo, contract.name, rev)
    if md5 != tags["data_md5"]:
        raise ReproductionError(
            f"data revision {rev[:10]} holds content {md5}, but the model recorded "
            f"{tags['data_md5']}: the data repository was rewritten"
        )
    frame = read_dataset(paths.data_repo, contract.name, rev, order_by=contract.timestamp)  # no cache: from DVC
    frame, _ = labelled_rows(frame, contract)  # as the retrain read it: rows whose labels had not arrived left out
    train, holdout = split_window(frame, contract.timestamp, WindowSpan.from_tags({**tags, "holdout_rev": rev}))
    if (len(train), len(holdout)) != (int(tags["window_rows"]), int(tags["holdout_rows"])):
        raise ReproductionError(
            f"the recorded window of revision {rev[:10]} has {len(train)} training and {len(holdout)} holdout "
            f"rows, but the model recorded {tags['window_rows']} and {tags['holdout_rows']}"
        )
    return train, holdout


def _warm_start(paths: PlatformPaths, contract: Contract, tags: dict, notes: list[str]) -> ScoringModel | None:
    source = tags.get("warm_start_version")
    if not source:
        return None
    notes.append(f"fine-tuned from version {source}, as recorded")
    return load_scoring_model(paths, get_version(paths, contract.model_name, source))


def reproduction_rule(contract: Contract, exact: bool) -> str:
    """What ``ct reproduce`` requires of this family (stated in its output)."""
    family = contract.training.model.family
    if family in TORCH_FAMILIES:
        if exact:
            return "torch on the CPU: every weight and the holdout metric bit-identical"
        return f"torch on a GPU: holdout metric within {GPU_METRIC_TOLERANCE}"
    if family in SKLEARN_FAMILIES:
        return f"scikit-learn {family} (CPU, seeded): every holdout score and the holdout metric bit-identical"
    return "team trainer: every holdout score and the holdout metric bit-identical (the trainer must use its seed)"


def compare_scores(first: np.ndarray, second: np.ndarray) -> tuple[bool, float]:
    """(every score bit-identical, largest absolute difference): the comparison for non-torch families."""
    first, second = np.asarray(first, dtype="float64"), np.asarray(second, dtype="float64")
    if first.shape != second.shape:
        return False, float("inf")
    return bool(np.array_equal(first, second)), float(np.max(np.abs(first - second))) if len(first) else 0.0


def compare_weights(first: ScoringModel, second: ScoringModel) -> tuple[bool, float]:
    """(every tensor bit-identical, largest absolute difference of any weight)."""
    import torch

    a, b = first.network.state_dict(), second.network.state_dict()
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        return False, float("inf")
    identical = all(torch.equal(a[k], b[k]) for k in a)
    largest = max((float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel()), default=0.0)
    return identical, largest


def _metric(contract: Contract, metric: str, holdout: pd.DataFrame, model) -> float:
    from ml.stats.metrics import metric_value

    return float(
        metric_value(
            metric, holdout[contract.target].to_numpy(), model.predict(holdout), threshold=contract.gate.threshold
        )
    )


def current_environment(device: str, device_name: str) -> dict[str, str]:
    """The bundle's environment keys, measured now."""
    current = {f"lib.{k}": v for k, v in library_versions().items()}
    current.update({f"hw.{k}": v for k, v in hardware_info(device, device_name).items()})
    current.update(
        {
            "env_lock_hash": environment_lock_hash(),
            "feature_code_hash": feature_code_hash(),
            "code_commit": code_commit(),
        }
    )
    return current


def environment_differences(tags: dict, device: str, device_name: str) -> list[Difference]:
    """Every recorded environment key whose current value differs (libraries first, then hardware)."""
    current = current_environment(device, device_name)
    keys = sorted(k for k in current if k in tags)
    return [Difference(key, tags[key], current[key]) for key in keys if tags[key] != current[key]]


def format_reproduction(result: Reproduction) -> str:
    verdict = "MATCHES" if result.matches else "DOES NOT MATCH"
    compared = "weights" if result.family in TORCH_FAMILIES else "holdout scores"
    lines = [
        f"{result.model} version {result.version} ({result.family}): reproduction {verdict}  [{result.rule}]",
        f"  data revision      {result.data_rev} ({result.train_rows} training rows, {result.holdout_rows} "
        "holdout rows, materialised with DVC)",
        f"  seed / device      {result.seed} / recorded {result.recorded_device}, now {result.device}",
        f"  holdout {result.metric:10} recorded model {result.recorded_metric:.6f}, reproduced "
        f"{result.reproduced_metric:.6f} (difference {result.reproduced_metric - result.recorded_metric:+.2e})",
        f"  {compared:18} {'bit-identical' if result.weights_identical else 'differ'} (largest absolute "
        f"difference {result.max_weight_difference:.3g})",
    ]
    if result.differences:
        lines.append("  environment differences (recorded -> now; * can change the numbers):")
        lines += [f"    {'*' if d.numeric else ' '} {d.key:20} {d.recorded} -> {d.current}" for d in result.differences]
    else:
        lines.append("  environment        same as recorded")
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)
