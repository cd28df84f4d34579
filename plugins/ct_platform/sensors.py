"""A deferrable sensor on a landing folder: the way batches enter the platform."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import BaseSensorOperator

from ml.batches import ready_manifests


class LandingSensor(BaseSensorOperator):
    """Waits until a batch manifest is ready in ``folder`` and returns its path (to XCom).

    Checks once in the worker, and if nothing is there, defers to :class:`LandingTrigger` so that waiting
    costs no worker slot. ``timeout`` is the contract's silence SLA: when it passes, the task fails red
    (an alert hook point via ``on_failure_callback``).
    """

    template_fields = ("folder",)

    def __init__(self, *, folder: str, poll_interval: float = 2.0, **kwargs):
        kwargs.setdefault("timeout", timedelta(days=400))
        super().__init__(poke_interval=poll_interval, **kwargs)
        self.folder = folder
        self.poll_interval = poll_interval

    def execute(self, context):
        ready = ready_manifests(Path(self.folder))
        if ready:
            return str(ready[0])
        from ct_platform.triggers import LandingTrigger

        self.defer(trigger=LandingTrigger(self.folder, self.poll_interval), method_name="execute_complete",
                   timeout=self.timeout)

    def execute_complete(self, context, event: dict | None = None):
        return event["manifest"]

    def poke(self, context) -> bool:
        return bool(ready_manifests(Path(self.folder)))
