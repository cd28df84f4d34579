"""The Evidently report of a batch whose labels arrived: target drift and the champion's quality on it.

One report per labelled batch, current = the batch (its labels and the scores the champion gave it when it was
monitored, from the prediction log), reference = the champion's own out-of-time holdout, scored by the
champion: the rows its validation numbers (``ct.holdout_metric``, the gate's figures) were computed on, read
from the data version recorded in its tags. So every number in the report's reference column IS the
champion's validation, and the two columns compare like with like. The report holds:

- target drift: Evidently's ``ValueDrift`` on the target (the label's distribution, batch vs holdout);
- quality: ``ClassificationPreset`` (accuracy, precision, recall, F1, ROC AUC, log loss, rates, by label;
  the contract's ``gate.threshold`` as the probability threshold) or ``RegressionPreset`` for regression;
- the champion's recorded validation numbers as snapshot metadata (version, metric, value, standard error,
  holdout rows and revision).

A champion registered without those tags (or whose data version cannot be read) is compared with its
training reference sample (``reference/reference.parquet``, which holds the target) instead; the report says
which in its metadata (``reference``). Evidently is imported inside the functions (it takes seconds).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml.contract import Contract
from ml.data.predictions import PREDICTION_COLUMN as PREDICTION  # the prediction log's score column
from ml.files import atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd

    from ml.registry.store import VersionRef
    from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)

HOLDOUT, TRAINING_SAMPLE = "champion holdout", "champion training sample"
_QUALITY = {
    "classification": ("Accuracy", "Precision", "Recall", "F1Score", "RocAuc", "LogLoss"),
    "regression": ("MeanError", "MAE", "RMSE", "R2Score"),
}


@dataclass(frozen=True)
class LabelsReport:
    """Where a labels report lies and its headline numbers (current batch)."""

    report_id: str
    html_path: str
    json_path: str
    target_drift: dict  # column, method, score, threshold, drifted (ml.drift.report.ColumnDrift.to_dict())
    quality: dict  # metric name -> value on the batch
    reference: str  # HOLDOUT or TRAINING_SAMPLE
    n_reference: int
    n_current: int

    def to_dict(self) -> dict:
        return asdict(self)


def champion_reference(paths: PlatformPaths, contract: Contract, version: VersionRef) -> tuple[pd.DataFrame, str]:
    """(target and prediction of the rows to compare with, which rows they are): the champion's holdout when
    its tags say where it lies, else its training reference sample."""
    import pandas as pd

    from ml.data.labels import labelled_rows
    from ml.data.versioning import DataVersionError
    from ml.registry.store import download_run_artifact, load_scoring_model
    from ml.training.window import WindowSpan, read_window

    tags = version.tags
    if all(tags.get(f"ct.{tag}") for tag in WindowSpan.TAG_NAMES):
        try:
            _, holdout = read_window(paths, contract, WindowSpan.from_tags(tags, prefix="ct."))
            if len(holdout):
                scores = load_scoring_model(paths, version).predict(holdout)
                return pd.DataFrame({contract.target: holdout[contract.target].to_numpy(), PREDICTION: scores}), HOLDOUT
        except DataVersionError as error:
            logger.warning(
                "champion %s: holdout not readable (%s); comparing with its training sample", version.version, error
            )
    sample = pd.read_parquet(download_run_artifact(paths, version.run_id, "reference/reference.parquet"))
    sample, _ = labelled_rows(sample, contract)
    return sample[[contract.target, PREDICTION]].reset_index(drop=True), TRAINING_SAMPLE


def validation_metadata(version: VersionRef, reference: str, n_reference: int) -> dict[str, str]:
    """The champion's recorded validation numbers, as the snapshot's (string) metadata."""
    tags = version.tags
    keep = {
        "holdout_metric": "ct.holdout_metric",
        "holdout_metric_se": "ct.holdout_metric_se",
        "holdout_metric_name": "ct.holdout_metric_name",
        "holdout_rows": "ct.holdout_rows",
        "holdout_rev": "ct.holdout_rev",
        "holdout_start": "ct.holdout_start",
        "gate_decision": "ct.gate.decision",
    }
    data = {"champion_version": str(version.version), "reference": reference, "reference_rows": str(n_reference)}
    data.update({f"champion_{k}": str(tags[tag]) for k, tag in keep.items() if tags.get(tag) not in (None, "")})
    return data


def run_labels_report(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    contract: Contract,
    out_dir: Path,
    report_id: str,
    metadata: dict[str, str] | None = None,
    reference_kind: str = HOLDOUT,
    timestamp=None,
) -> LabelsReport:
    """Target drift and quality of ``current`` (target, prediction) against ``reference`` (the same columns).

    Writes ``<report_id>.json`` (Evidently's snapshot, reloadable with ``Snapshot.load``) and
    ``<report_id>.html`` in ``out_dir``, each atomically; returns the headline numbers.
    """
    from evidently import Report

    from ml.drift.report import CATEGORICAL, NUMERIC, parse_column_drifts

    started = time.perf_counter()
    target = contract.target
    classification = contract.task == "binary_classification"
    columns = [target, PREDICTION]
    definition, preset = _definition_and_preset(contract)
    report = Report(
        [_target_drift(target), preset],
        include_tests=True,
        metadata=dict(metadata or {}),
        tags=["labels", f"contract:{contract.name}"],
    )
    snapshot = report.run(
        _dataset(current[columns], definition),
        _dataset(reference[columns], definition),
        timestamp=timestamp,
        name=report_id,
    )
    result = snapshot.dict()
    kind = CATEGORICAL if classification else NUMERIC
    drift = parse_column_drifts(result, {target: kind})[0]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / f"{report_id}.json", out_dir / f"{report_id}.html"
    atomic_write_bytes(json_path, snapshot.dumps().encode())
    atomic_write_bytes(html_path, snapshot.get_html_str(as_iframe=False).encode())
    quality = _quality(result, "classification" if classification else "regression")
    logger.info(
        "labels report %s: target drift %s %.4g (threshold %.4g, drifted %s), quality %s vs %s, %.2f s",
        report_id,
        drift.method,
        drift.score,
        drift.threshold,
        drift.drifted,
        quality,
        reference_kind,
        time.perf_counter() - started,
    )
    return LabelsReport(
        report_id,
        str(html_path),
        str(json_path),
        drift.to_dict(),
        quality,
        reference_kind,
        len(reference),
        len(current),
    )


def _definition_and_preset(contract: Contract):
    from evidently import BinaryClassification, DataDefinition, Regression
    from evidently.presets import ClassificationPreset, RegressionPreset

    target = contract.target
    if contract.task == "binary_classification":
        definition = DataDefinition(
            numerical_columns=[PREDICTION],
            categorical_columns=[target],
            classification=[BinaryClassification(target=target, prediction_probas=PREDICTION, pos_label=1)],
        )
        return definition, ClassificationPreset(probas_threshold=contract.gate.threshold)
    definition = DataDefinition(
        numerical_columns=[target, PREDICTION], regression=[Regression(target=target, prediction=PREDICTION)]
    )
    return definition, RegressionPreset()


def _target_drift(target: str):
    from evidently.metrics import ValueDrift

    return ValueDrift(column=target)


def _dataset(frame: pd.DataFrame, definition):
    from evidently import Dataset

    return Dataset.from_pandas(frame.reset_index(drop=True), data_definition=definition)


def _quality(result: dict, task: str) -> dict[str, float]:
    wanted = _QUALITY[task]
    quality = {}
    for metric in result.get("metrics", []):
        name = str(metric.get("config", {}).get("type", "")).rsplit(":", 1)[-1]
        value = metric.get("value")
        if name in wanted and name not in quality:
            if isinstance(value, dict):  # mean/std metrics (MeanError, MAE, MAPE): the mean
                value = value.get("mean")
            if isinstance(value, (int, float)):
                quality[name] = float(value)
    return quality
