"""Dataset contracts: the single source of truth for one dataset.

A contract is a YAML file under ``include/contracts/``. It is validated when loaded; an invalid file raises
:class:`ContractError` naming the file, the key and what was expected. Great Expectations suites, drift
settings, training and gate settings are all derived from it; nothing about a dataset lives elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

# Contracts are loaded while DAG files parse, so this module avoids pandas: durations and batch periods are
# checked with these small grammars (a subset of pandas' own spellings, which the data code then uses).
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|h|D|W)\s*$")
_DURATION_SECONDS = {"s": 1, "min": 60, "h": 3600, "D": 86400, "W": 7 * 86400}
_PERIOD = re.compile(r"^([1-9]\d*)?(D|W|MS|QS|YS)$")


def duration_seconds(text: str) -> float:
    """Seconds in a duration such as ``36h``, ``2D``, ``90min`` (units: s, min, h, D, W)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: write a number and a unit (s, min, h, D, W), e.g. 36h")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


class ContractError(ValueError):
    """A contract file is missing, unreadable or does not match the contract format."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimestampSpec(_Strict):
    """Where the timestamp comes from: a column of the source, or the row order."""

    column: str | None = None
    derive_from_row_order: bool = False
    start: str | None = Field(None, description="first timestamp when derived from row order, e.g. 1949-01-01")
    step: str = Field("1D", description="duration between consecutive rows when derived, e.g. 1D or 1h")

    @model_validator(mode="after")
    def _one_way(self) -> TimestampSpec:
        if self.derive_from_row_order == (self.column is not None):
            raise ValueError("give exactly one of `column` or `derive_from_row_order: true`")
        if self.derive_from_row_order and not self.start:
            raise ValueError("`start` is required when deriving timestamps from row order")
        duration_seconds(self.step)
        return self


class SourceSpec(_Strict):
    """Where the full history of a dataset comes from (used to bootstrap and to replay scenarios)."""

    uri: str = Field(description="a path, package://<package>/<resource>, or python://<module>:<function>")
    format: Literal["csv", "parquet", "generated"] = "csv"
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for python:// sources")
    drop: tuple[str, ...] = ()
    rename: dict[str, str] = Field(default_factory=dict)
    timestamp: TimestampSpec

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        if "://" in uri and uri.split("://", 1)[0] not in ("package", "python", "file"):
            raise ValueError(f"unknown scheme in {uri!r}: use a path, package://, python:// or file://")
        return uri


class FeatureSpec(_Strict):
    """One input column: its type and what values are allowed."""

    name: str
    type: Literal["float", "int", "category", "bool"]
    min: float | None = None
    max: float | None = None
    domain: tuple[str | int, ...] | None = None
    max_null_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.type == "category" and not self.domain:
            raise ValueError(f"feature {self.name!r}: a category feature needs a `domain` list")
        if self.type != "category" and self.domain:
            raise ValueError(f"feature {self.name!r}: `domain` is only for category features")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} is greater than max {self.max}")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type in ("float", "int")


class BatchSpec(_Strict):
    """How the stream is cut into batches and how big a batch may be."""

    period: str = Field(description="length of one batch: D, W, MS (month), QS (quarter), YS (year), e.g. 2YS")
    min_rows: Annotated[int, Field(ge=1)] = 1
    max_rows: Annotated[int, Field(ge=1)] = 10_000_000
    # a range check may tolerate rare real outliers: the share of rows that must be inside the range
    range_mostly: Annotated[float, Field(gt=0, le=1)] = 1.0

    @model_validator(mode="after")
    def _bounds(self) -> BatchSpec:
        if self.min_rows > self.max_rows:
            raise ValueError(f"min_rows {self.min_rows} is greater than max_rows {self.max_rows}")
        return self

    @field_validator("period")
    @classmethod
    def _offset(cls, period: str) -> str:
        if not _PERIOD.match(period):
            raise ValueError(f"{period!r} is not a batch period: use D, W, MS, QS or YS with an optional count")
        return period


class FreshnessSpec(_Strict):
    """How old the newest row of a batch may be when it is produced, and how long the feed may stay silent."""

    max_age: str = Field(description="duration, e.g. 2D: newest row vs the batch's production time")
    no_batch_within: str | None = Field(None, description="wall-clock silence that raises an alert, e.g. 36h")

    @field_validator("max_age", "no_batch_within")
    @classmethod
    def _timedelta(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value


class DebounceSpec(_Strict):
    k: Annotated[int, Field(ge=1)] = 1
    m: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _k_le_m(self) -> DebounceSpec:
        if self.k > self.m:
            raise ValueError(f"debounce k={self.k} must not exceed m={self.m}")
        return self


class PerformanceDriftSpec(_Strict):
    """A significant drop of the champion's metric on a labelled batch is drift with reason `performance`."""

    metric: Literal["auc", "accuracy"] = "auc"
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    min_drop: Annotated[float, Field(ge=0)] = 0.05


class DriftCalibrationSpec(_Strict):
    """Opt-in calibrated thresholds (ml.drift.calibration): a known false-alarm rate per stable batch.

    Per column, the threshold is the null quantile of its score from bootstrap resamples of the champion's
    reference at the batch's size, corrected across columns; a column also needs ``min_effect`` (normed
    Wasserstein, or Jensen-Shannon for categorical columns). With calibration a batch has feature drift when ANY
    feature drifts (``drift_share`` is then not used): the correction already bounds the per-batch rate.

    ``resample``: ``rows`` (default) treats rows as exchangeable, right when a batch is a random draw. ``stretches``
    is for batches that are periods of consecutive time (daily weather, one batch a year): the reference is cut
    into the same ``batch.period`` stretches and each column's null also carries how far its mean wanders between
    them, so persistence and natural year-to-year wander do not alarm (numeric columns scored by normed
    Wasserstein; needs at least 5 periods in the training window).
    """

    false_alarm_rate: Annotated[float, Field(gt=0, lt=0.5)] = 0.01
    resample: Literal["rows", "stretches"] = "rows"
    draws: Annotated[int, Field(ge=100)] = 10_000
    min_effect: Annotated[float, Field(ge=0)] = 0.1
    correction: Literal["bonferroni", "sidak"] = "bonferroni"
    seed: Annotated[int, Field(ge=0)] = 0


class DriftPolicy(_Strict):
    """When a batch counts as drifted, and when drifted batches confirm a drift signal."""

    method: str | None = Field(None, description="Evidently stattest, e.g. wasserstein, ks, psi, jensenshannon")
    threshold: float | None = None
    drift_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    include_prediction: bool = True
    debounce: DebounceSpec = DebounceSpec()
    cooldown_batches: Annotated[int, Field(ge=0)] = 0
    # A signal whose retrain never reached a gate decision (the retrain DAG paused, or its failure unrecorded)
    # stops blocking new signals after this many monitored batches; a recorded retrain failure frees it at once.
    pending_expiry_batches: Annotated[int, Field(ge=1)] = 10
    performance: PerformanceDriftSpec | None = None
    # None: Evidently's thresholds (``method``/``threshold``) and ``drift_share`` decide, as before.
    calibration: DriftCalibrationSpec | None = None


class HoldoutSpec(_Strict):
    fraction: Annotated[float, Field(gt=0, lt=1)] = 0.3
    min_rows: Annotated[int, Field(ge=10)] = 200


_GateMetric = Literal["auc", "accuracy", "log_loss", "brier", "mae", "rmse"]


class InvarianceTest(_Strict):
    """Adding ``delta`` to ``feature`` must move no holdout row's score by more than ``tolerance``."""

    feature: str
    delta: float
    tolerance: Annotated[float, Field(ge=0)]


class DirectionalTest(_Strict):
    """Adding ``delta`` (> 0) to ``feature`` must move scores in ``direction`` on (almost) every holdout row."""

    feature: str
    delta: Annotated[float, Field(gt=0)]
    direction: Literal["increase", "decrease"]
    max_violation_share: Annotated[float, Field(ge=0, lt=1)] = 0.0


class MinimumFunctionalityTest(_Strict):
    """A named, hand-written row whose label at ``gate.threshold`` the model must get right."""

    name: str
    row: dict[str, float | int | str]
    expected: Literal[0, 1]


class BehaviourSpec(_Strict):
    """Behavioural tests run on the challenger before promotion; any failure blocks it."""

    invariance: tuple[InvarianceTest, ...] = ()
    directional: tuple[DirectionalTest, ...] = ()
    minimum_functionality: tuple[MinimumFunctionalityTest, ...] = ()

    @property
    def features(self) -> set[str]:
        """Every feature the tests name (to check against the contract's features)."""
        named = {t.feature for t in (*self.invariance, *self.directional)}
        return named | {f for t in self.minimum_functionality for f in t.row}


class ApprovalSpec(_Strict):
    """Human sign-off after a passing gate: the retrain DAG waits on Airflow's ``ApprovalOperator``.

    Every ``promote`` decision then needs an "Approve" in Airflow's Required Actions before the champion
    alias moves. No answer within ``timeout`` counts as a rejection (the request's default), and a rejection
    is recorded like any other decision. ``approvers`` (Airflow user ids) restricts who may answer.
    """

    required: bool = False
    timeout: str = Field("72h", description="how long to wait for an answer, e.g. 72h; then it is a rejection")
    subject: str | None = Field(None, description="headline of the request (default: names model and version)")
    approvers: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        (), description="Airflow user ids who may answer; empty: anyone allowed to act on the DAG"
    )

    @field_validator("timeout")
    @classmethod
    def _positive_duration(cls, value: str) -> str:
        if duration_seconds(value) <= 0:
            raise ValueError(f"{value!r} is not a positive duration: the request would time out at once")
        return value


class BaselineSpec(_Strict):
    """The baseline guard: every retrain also fits the cheapest model (logistic regression, or ridge for
    regression) on the same window and scores it on the same holdout.

    A challenger significantly worse than it (one-sided paired test at the gate's alpha, on the gate metric) is
    rejected with that reason. ``promote: false`` (the default) keeps the baseline a guard, never a release: a
    retrain that loses to it says the chosen family is failing on this data, which a person should look at
    (and fix by choosing the family) rather than have the platform switch families silently. ``promote: true``
    lets the baseline take the challenger's place in that case: gated against the champion like any
    challenger and registered as its own version.
    """

    check: bool = True
    promote: bool = False


class GatePolicy(_Strict):
    """How a challenger must beat the champion on a fresh out-of-time holdout.

    ``metric`` is the primary metric; ``metrics`` may list more, all compared with the same rule, margin and
    min_effect (each in its own units), Holm-adjusted together: promotion needs every adjusted p < alpha.
    Each contract slice must then be non-inferior (within ``slice_margin``, Holm across slices) unless it
    has fewer than ``min_slice_rows`` holdout rows, and every ``behaviour`` test must pass. With
    ``approval.required`` a passing gate still waits for a person's "Approve" before the alias moves.
    """

    metric: _GateMetric = "auc"
    metrics: tuple[_GateMetric, ...] = ()
    rule: Literal["superiority", "non_inferiority"] = "superiority"
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    min_effect: Annotated[float, Field(ge=0)] = 0.0
    # A significant but tiny improvement is real on this holdout yet not worth a release (seed-to-seed
    # differences of ~0.003 AUC were promoted in 16-19 % of gates on the weather holdout, bench/results/gate.md).
    min_promoted_effect: Annotated[float, Field(ge=0)] = Field(
        0.0, description="superiority: a significant effect below this is rejected as not worth a release"
    )
    margin: Annotated[float, Field(ge=0)] = 0.0
    power: Annotated[float, Field(gt=0, lt=1)] = 0.8
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    floor: float = Field(0.5, description="first model: the metric's CI lower bound must clear this")
    holdout: HoldoutSpec = HoldoutSpec()
    min_slice_rows: Annotated[int, Field(ge=1)] = 100
    slice_margin: Annotated[float, Field(gt=0)] = 0.05
    behaviour: BehaviourSpec = BehaviourSpec()
    approval: ApprovalSpec = ApprovalSpec()
    baseline: BaselineSpec = BaselineSpec()

    @property
    def all_metrics(self) -> tuple[str, ...]:
        """The primary metric first, then the others listed in ``metrics`` (each once)."""
        return tuple(dict.fromkeys((self.metric, *self.metrics)))


_CUSTOM_TRAINER = re.compile(r"^python://[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _RobustInputs(_Strict):
    """How numeric inputs are made safe before a model sees them (torch and linear families).

    Each numeric feature is clipped to the training part's [clip_quantile, 1 - clip_quantile] quantiles, widened on
    each side by ``clip_margin`` times their distance, then standardised with the clipped values' mean and
    standard deviation; scoring clips to the same bounds. A reading of ~100 sd cannot dominate a standardised
    input, while a shift of a few sd still reaches the model (README, "Choosing a model family"). clip_quantile 0
    turns clipping off.
    """

    clip_quantile: Annotated[float, Field(ge=0, lt=0.5)] = 0.005
    clip_margin: Annotated[float, Field(ge=0)] = 0.25


class TorchModelSpec(_RobustInputs):
    """``mlp`` (hidden layers) or ``linear`` (one linear layer): the torch families, trained on the GPU when
    there is one."""

    family: Literal["mlp", "linear"] = "mlp"
    hidden: tuple[Annotated[int, Field(ge=1)], ...] = (64, 32)
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0


class GradientBoostingSpec(_Strict):
    """``hist_gbt``: scikit-learn's HistGradientBoosting (classifier or regressor), on the CPU."""

    family: Literal["hist_gbt"]
    max_iter: Annotated[int, Field(ge=1)] = 300
    learning_rate: Annotated[float, Field(gt=0, le=1)] = 0.05
    max_leaf_nodes: Annotated[int, Field(ge=2)] = 31
    min_samples_leaf: Annotated[int, Field(ge=1)] = 20
    l2_regularization: Annotated[float, Field(ge=0)] = 0.0
    early_stopping_rounds: Annotated[int, Field(ge=1)] = Field(
        20, description="stop when the out-of-time validation fold has not improved for this many iterations"
    )


class LinearBaselineSpec(_RobustInputs):
    """``logistic`` (classification) or ``ridge`` (regression): scikit-learn's linear models, the baseline
    every retrain is also checked against."""

    family: Literal["logistic", "ridge"]
    regularization: Annotated[float, Field(gt=0)] = Field(
        1.0, description="logistic: C (inverse strength); ridge: alpha (strength)"
    )


class CustomModelSpec(_Strict):
    """``python://module:function``: a team's own trainer (protocol in ml/training/custom.py and the README)."""

    family: str
    options: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the trainer")

    @field_validator("family")
    @classmethod
    def _trainer_path(cls, value: str) -> str:
        if not _CUSTOM_TRAINER.match(value):
            raise ValueError(
                f"family {value!r} is not a known family (mlp, linear, hist_gbt, logistic, ridge) nor a "
                "trainer path python://module:function"
            )
        return value


def _model_family(data: Any) -> str:
    family = data.get("family", "mlp") if isinstance(data, dict) else getattr(data, "family", "mlp")
    if family in ("mlp", "linear"):
        return "torch"
    if family in ("hist_gbt", "logistic", "ridge"):
        return {"hist_gbt": "gbt"}.get(family, "baseline")
    return "custom"


ModelSpec = Annotated[
    Annotated[TorchModelSpec, Tag("torch")]
    | Annotated[GradientBoostingSpec, Tag("gbt")]
    | Annotated[LinearBaselineSpec, Tag("baseline")]
    | Annotated[CustomModelSpec, Tag("custom")],
    Discriminator(_model_family),
]


class WindowSpec(_Strict):
    """Which rows a retrain learns from: the most recent rows, or only rows since the confirmed drift began."""

    mode: Literal["rolling", "since_drift_onset"] = "rolling"
    max_rows: Annotated[int, Field(ge=1)] = 100_000
    min_rows: Annotated[int, Field(ge=1)] = 100

    @model_validator(mode="after")
    def _bounds(self) -> WindowSpec:
        if self.min_rows > self.max_rows:
            raise ValueError(f"min_rows {self.min_rows} is greater than max_rows {self.max_rows}")
        return self


class TrainingSpec(_Strict):
    model: ModelSpec = TorchModelSpec()
    epochs: Annotated[int, Field(ge=1)] = 50
    # None: 1024 rows, or fewer on a small window so that an epoch still takes at least 16 optimiser steps (a
    # 700-row window at 1024 took one step per epoch and lost to logistic regression: bench/results/models.md).
    batch_size: Annotated[int, Field(ge=1)] | None = None
    learning_rate: Annotated[float, Field(gt=0)] = 3e-3
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    patience: Annotated[int, Field(ge=1)] = 8
    # Early stopping never keeps a network from before this epoch (capped at ``epochs``): when validation loss
    # rises from epoch 1 (a validation fold unlike the training part), stopping at once keeps a barely trained net.
    min_epochs: Annotated[int, Field(ge=1)] = 5
    validation_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Small tabular networks train faster on one thread: 1.5 s vs 5.6 s for the weather bootstrap on 2 cores.
    cpu_threads: Annotated[int, Field(ge=1)] = 1
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on a CUDA GPU that supports it, fp32 on the CPU"
    )
    lr_scaling: Literal["none", "linear", "sqrt"] = Field(
        "none", description="scale learning_rate by (batch_size / base_batch_size), or its square root"
    )
    base_batch_size: Annotated[int, Field(ge=1)] = 256
    compile: bool = Field(False, description="torch.compile the network (pays off on a GPU for long runs)")
    warm_start: bool = Field(False, description="fine-tune from the champion's weights instead of from scratch")
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms for exact GPU reruns")
    window: WindowSpec = WindowSpec()
    retrain_cron: str | None = Field(None, description="cron fallback for the retrain DAG, e.g. @weekly")


class SliceSpec(_Strict):
    """A named subset of rows that must not get worse: a feature range, a category set or calendar months."""

    name: str
    column: str | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[str | int, ...] | None = None
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> SliceSpec:
        by_column = self.column is not None
        if by_column == (self.months is not None):
            raise ValueError(f"slice {self.name!r}: give either `column` (with min/max or values) or `months`")
        if by_column and self.min is None and self.max is None and self.values is None:
            raise ValueError(f"slice {self.name!r}: a column slice needs min, max or values")
        return self


class LabelsSpec(_Strict):
    """When a batch's labels (its target column) arrive: inside the batch, or later as their own files.

    ``delayed``: a batch may land without its target column; its labels land later in
    ``landing/<contract>/labels/`` (a CSV of the ``key`` columns and the target, manifest last), are checked
    against the rows the champion scored, joined into the dataset as a new data version, and evaluated
    (``ct_labels_<contract>``). A batch that does carry its target (a backfill of labelled history) is still
    accepted and checked as with ``with_batch``. ``key``: the columns that join a label to its row (default:
    the timestamp); they must identify the rows of a batch.
    """

    arrive: Literal["with_batch", "delayed"] = "with_batch"
    key: tuple[str, ...] | None = Field(None, description="columns that join labels to rows; default the timestamp")

    @field_validator("key")
    @classmethod
    def _not_empty(cls, key: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if key is not None and (not key or len(set(key)) != len(key)):
            raise ValueError("list each key column once, at least one (or leave `key` out: the timestamp)")
        return key


class Contract(_Strict):
    """A validated dataset contract. Build it with :func:`load_contract`."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
    description: str = ""
    source: SourceSpec
    timestamp: str = Field(description="name of the timestamp column in batches")
    target: str
    task: Literal["binary_classification", "regression"] = "binary_classification"
    target_domain: tuple[int, ...] | None = (0, 1)
    key: tuple[str, ...] = Field((), description="columns that identify a row; duplicates are rejected")
    features: tuple[FeatureSpec, ...]
    batch: BatchSpec
    freshness: FreshnessSpec
    drift: DriftPolicy = DriftPolicy()
    gate: GatePolicy = GatePolicy()
    training: TrainingSpec = TrainingSpec()
    slices: tuple[SliceSpec, ...] = ()
    labels: LabelsSpec = LabelsSpec()

    @model_validator(mode="after")
    def _columns_consistent(self) -> Contract:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features listed twice: {duplicates}")
        reserved = {self.timestamp, self.target} & set(names)
        if reserved:
            raise ValueError(f"{sorted(reserved)} is the timestamp or target and cannot also be a feature")
        for slice_ in self.slices:
            if slice_.column and slice_.column not in names and slice_.column != self.timestamp:
                raise ValueError(f"slice {slice_.name!r} uses unknown column {slice_.column!r}; known: {names}")
        unknown = sorted(self.gate.behaviour.features - set(names))
        if unknown:
            raise ValueError(f"gate.behaviour names unknown features {unknown}; known: {names}")
        for metric in self.gate.all_metrics:
            if self.task == "regression" and metric in ("auc", "accuracy", "log_loss", "brier"):
                raise ValueError(f"gate metric {metric!r} is for classification; use mae or rmse")
        bad_key = [c for c in self.label_key if c not in (self.timestamp, *names)]
        if bad_key:
            raise ValueError(
                f"labels.key names {bad_key}, which are not the timestamp or a feature: labels join "
                f"to rows by columns the batch has; known: {[self.timestamp, *names]}"
            )
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_features(self) -> list[str]:
        return [f.name for f in self.features if f.is_numeric]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if not f.is_numeric]

    @property
    def model_name(self) -> str:
        """Name of the MLflow registered model of this contract."""
        return f"ct-{self.name}"

    @property
    def batch_columns(self) -> list[str]:
        return [self.timestamp, *self.feature_names, self.target]

    @property
    def labels_delayed(self) -> bool:
        """Do labels arrive later, as their own files (``labels.arrive: delayed``)?"""
        return self.labels.arrive == "delayed"

    @property
    def label_key(self) -> tuple[str, ...]:
        """The columns that join a label file's rows to a batch's rows (``labels.key``, default the timestamp)."""
        return self.labels.key or (self.timestamp,)

    def landed_columns(self, labelled: bool = True) -> list[str]:
        """The columns a landed batch holds: all batch columns, or without the target when its labels come later."""
        return self.batch_columns if labelled else [self.timestamp, *self.feature_names]

    @property
    def label_columns(self) -> list[str]:
        """The columns of a label file: the label key, then the target."""
        return [*self.label_key, self.target]


def _format_error(path: Path, error: ValidationError) -> str:
    lines = [f"invalid contract {path}:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  - {key}: {item['msg']}{shown}")
    lines.append("See README.md, section 'Dataset contracts', for the format.")
    return "\n".join(lines)


def parse_contract(data: Any, path: Path | str = "<memory>") -> Contract:
    """Validate an already-parsed YAML document as a contract."""
    path = Path(path)
    if not isinstance(data, dict):
        raise ContractError(f"invalid contract {path}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return Contract.model_validate(data)
    except ValidationError as error:
        raise ContractError(_format_error(path, error)) from None


def load_contract(path: Path | str) -> Contract:
    """Read and validate ``path``; raise :class:`ContractError` that names the file, key and expectation."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ContractError(f"cannot read contract {path}: {error.strerror}. Check the path.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ContractError(f"contract {path} is not valid YAML: {error}") from None
    return parse_contract(data, path)


def contract_hash(contract: Contract) -> str:
    """Content hash of the validated contract (independent of YAML formatting and comments)."""
    canonical = json.dumps(contract.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def find_contracts(folder: Path | str) -> list[Path]:
    """Every contract file in ``folder``, sorted, so that DAG factories and the CLI agree on the set."""
    return sorted(Path(folder).glob("*.yaml"))
