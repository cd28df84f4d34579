"""Alerting hook point: what runs when a contract's feed stays silent past its SLA (or its sensor fails).

The ingest DAG's ``wait_for_batch`` sensor fails red when no batch lands within the contract's
``freshness.no_batch_within``; its ``on_failure_callback`` is a :class:`FeedAlert`. The platform's own
record always happens first: an ERROR log line in the task log and a ``freshness_alert`` event in the contract's
ledger. Then every hook named in ``CT_ALERT_CALLBACK`` runs, so each deployment wires its own pager, chat or
e-mail without touching the DAGs:

    CT_ALERT_CALLBACK=my_company.alerts:page_on_call[,other.module:function]

A hook is ``hook(alert: dict, context) -> None``: ``alert`` holds ``reason`` (``silence`` when the SLA passed,
``sensor_failed`` for any other failure), ``contract``, ``sla``, ``landing``, ``dag_id``, ``task_id``, ``run_id``,
``message``; ``context`` is Airflow's task context. The variable is read when the alert fires (in the worker),
so changing it needs no DAG re-parse. A hook that cannot be imported or raises is logged, never allowed to hide
the alert or the others.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

from airflow.sdk.exceptions import AirflowSensorTimeout

from ml.ledger import EventKind, append_event
from ml.settings import PlatformPaths

logger = logging.getLogger(__name__)

ALERT_HOOKS_ENV = "CT_ALERT_CALLBACK"
LEDGER_EVENT = EventKind.FRESHNESS_ALERT


def record_alert(alert: dict, context: Any = None) -> None:
    """The platform's own record of an alert: an ERROR log line and a ledger event (always runs first)."""
    logger.error("ALERT %s for contract %s: %s", alert["reason"], alert["contract"], alert["message"])
    append_event(PlatformPaths.from_env().ledger, alert["contract"], LEDGER_EVENT, **alert)


def configured_hooks(environ: dict[str, str] | None = None) -> list[str]:
    """Dotted paths (``module:function`` or ``module.function``) named in ``CT_ALERT_CALLBACK``."""
    value = (os.environ if environ is None else environ).get(ALERT_HOOKS_ENV, "")
    return [item.strip() for item in value.split(",") if item.strip()]


def load_hook(path: str) -> Callable[[dict, Any], None]:
    """Import the function a dotted path names; raise ImportError saying how to spell it."""
    module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not attribute:
        raise ImportError(f"{ALERT_HOOKS_ENV} entry {path!r} is not a dotted path: write module:function")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except AttributeError:
        raise ImportError(f"{ALERT_HOOKS_ENV} entry {path!r}: module {module_name!r} has no {attribute!r}") from None


class FeedAlert:
    """``on_failure_callback`` of a contract's landing sensor: records the alert, then calls the configured hooks."""

    def __init__(self, contract: str, sla: str | None, landing: str) -> None:
        self.contract = contract
        self.sla = sla
        self.landing = landing

    def __call__(self, context: Any) -> None:
        alert = self.alert(context)
        record_alert(alert, context)
        for path in configured_hooks():
            try:
                load_hook(path)(alert, context)
            except Exception:  # a broken hook must not hide the alert or stop the other hooks
                logger.exception("alert hook %s failed for contract %s", path, self.contract)

    def alert(self, context: Any) -> dict:
        error = context.get("exception")
        ti = context.get("ti")
        silent = isinstance(error, AirflowSensorTimeout)
        return {
            "reason": "silence" if silent else "sensor_failed",
            "contract": self.contract,
            "sla": self.sla,
            "landing": self.landing,
            "dag_id": getattr(ti, "dag_id", None),
            "task_id": getattr(ti, "task_id", None),
            "run_id": getattr(ti, "run_id", None),
            "message": str(error) if error is not None else "the landing sensor failed",
        }
