"""The typed records that pass between the monitor, the drift policy and the retrain.

Both travel as plain dicts where they must (ledger lines, XCom, an asset event's extra): ``to_dict`` writes
exactly the keys the ledger has always held, ``from_dict`` reads any such dict back, ignoring keys it does not
model (a ``batch_monitored`` record also holds the per-column report, the workspace run and more, which the
policy never reads).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ml.data.predictions import PREDICTION_COLUMN


def _known(cls: type, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class MonitoredBatch:
    """What the drift policy reads of a ``batch_monitored`` record: one batch as the champion saw it."""

    batch_id: str
    period_start: str | None = None
    data_rev: str | None = None
    batch_drifted: bool = False
    reasons: tuple[str, ...] = ()
    drifted_columns: tuple[str, ...] = ()
    prediction_drift: bool = False
    no_champion: bool = False
    drift_share: float | None = None
    performance: dict | None = None
    report_id: str | None = None
    report_html: str | None = None
    report_json: str | None = None
    labels_report_html: str | None = None
    labels_report_json: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> MonitoredBatch:
        known = _known(cls, data)
        for name in ("reasons", "drifted_columns"):
            known[name] = tuple(known.get(name) or ())
        return cls(**known)

    def to_dict(self) -> dict:
        """The modelled keys as plain JSON values (the ledger record holds these and more)."""
        return {**asdict(self), "reasons": list(self.reasons), "drifted_columns": list(self.drifted_columns)}

    @property
    def columns(self) -> set[str]:
        """The columns it drifted in: its drifted features, plus the prediction when that drifted."""
        return set(self.drifted_columns) | ({PREDICTION_COLUMN} if self.prediction_drift else set())


@dataclass(frozen=True)
class DriftSignal:
    """A confirmed drift signal: why a retrain starts, on which data, with the evidence for people.

    A manual or scheduled retrain has a signal too, with only ``reason`` set (``manual``, ``schedule``).
    """

    reason: str = "manual"
    signal_id: str | None = None
    contract: str | None = None
    batch_id: str | None = None
    data_rev: str | None = None
    onset_batch: str | None = None
    onset_period_start: str | None = None
    report_id: str | None = None
    report_html: str | None = None
    report_json: str | None = None
    labels_report_html: str | None = None
    labels_report_json: str | None = None
    drifted_columns: tuple[str, ...] = ()
    prediction_drift: bool = False
    drift_share: float | None = None
    performance: dict | None = None
    explanation: str | None = None
    # keys of the dict it was read from that the signal does not model (e.g. an external monitor's extras)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    # Keys written only when set: a signal from labels carries its labels report, others do not.
    _OPTIONAL = ("labels_report_html", "labels_report_json")
    _ORDER = (
        "signal_id",
        "contract",
        "reason",
        "batch_id",
        "data_rev",
        "onset_batch",
        "onset_period_start",
        "report_id",
        "report_html",
        "report_json",
        "labels_report_html",
        "labels_report_json",
        "drifted_columns",
        "prediction_drift",
        "drift_share",
        "performance",
        "explanation",
    )

    @classmethod
    def from_dict(cls, data: dict | None) -> DriftSignal:
        data = dict(data or {})
        known = _known(cls, data)
        known.pop("extra", None)
        known["drifted_columns"] = tuple(known.get("drifted_columns") or ())
        known["prediction_drift"] = bool(known.get("prediction_drift"))
        known.setdefault("reason", "manual")
        extra = {k: v for k, v in data.items() if k not in {f.name for f in fields(cls)}}
        return cls(**known, extra=extra)

    @classmethod
    def confirmed(cls, contract: str, signal_id: str, monitored: MonitoredBatch, decision: Any) -> DriftSignal:
        """The signal a policy decision confirmed on ``monitored`` (``decision`` is a PolicyDecision)."""
        return cls(
            signal_id=signal_id,
            contract=contract,
            reason=decision.reason,
            batch_id=monitored.batch_id,
            data_rev=monitored.data_rev,
            onset_batch=decision.onset_batch,
            onset_period_start=decision.onset_period_start,
            report_id=monitored.report_id,
            report_html=monitored.report_html,
            report_json=monitored.report_json,
            labels_report_html=monitored.labels_report_html,
            labels_report_json=monitored.labels_report_json,
            drifted_columns=monitored.drifted_columns,
            prediction_drift=monitored.prediction_drift,
            drift_share=monitored.drift_share,
            performance=monitored.performance,
            explanation=decision.explanation,
        )

    def to_dict(self) -> dict:
        """The ledger's and the asset event's form (the keys and order the ledger has always held)."""
        values = asdict(self)
        out = {key: values[key] for key in self._ORDER if key not in self._OPTIONAL or values[key]}
        out["drifted_columns"] = list(self.drifted_columns)
        return {**self.extra, **out}

    @property
    def columns(self) -> set[str]:
        """The columns the signal was about: its drifted features, plus the prediction when it drifted."""
        return set(self.drifted_columns) | ({PREDICTION_COLUMN} if self.prediction_drift else set())
