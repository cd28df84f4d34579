"""A deferrable sensor on a landing folder: the way batches enter the platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout

from ml.batches import ready_manifests

# The triggerer's own deferral timeout is a backstop only: the trigger reports the silence itself, with a
# message that names the SLA, a little before the backstop would fail the task with a generic one.
_BACKSTOP = timedelta(minutes=5)


class LandingSensor(BaseSensorOperator):
    """Waits until a batch manifest is ready in ``folder`` and returns its path (to XCom).

    Checks once in the worker, and if nothing is there, defers to :class:`LandingTrigger` so that waiting
    costs no worker slot. ``timeout`` is the contract's silence SLA (``freshness.no_batch_within``, named in
    ``sla`` for messages): when it passes with nothing landed, the task fails red with
    :class:`AirflowSensorTimeout`, and its ``on_failure_callback`` (:class:`ct_platform.alerts.FeedAlert` in the
    ingest DAG) raises the alert.
    """

    template_fields = ("folder",)

    def __init__(self, *, folder: str, poll_interval: float = 2.0, sla: str | None = None, **kwargs):
        kwargs.setdefault("timeout", timedelta(days=400))
        super().__init__(poke_interval=poll_interval, **kwargs)
        self.folder = folder
        self.poll_interval = poll_interval
        self.sla = sla

    def execute(self, context):
        ready = ready_manifests(Path(self.folder))
        if ready:
            return str(ready[0])
        from ct_platform.triggers import LandingTrigger

        now = datetime.now(UTC)
        deadline = now + timedelta(seconds=self.timeout)
        trigger = LandingTrigger(self.folder, self.poll_interval, deadline=deadline.isoformat(),
                                 waiting_since=now.isoformat())
        self.defer(trigger=trigger, method_name="execute_complete",
                   timeout=timedelta(seconds=self.timeout) + _BACKSTOP)

    def execute_complete(self, context, event: dict | None = None):
        if event and "manifest" in event:
            return event["manifest"]
        since = (event or {}).get("silent_since", "?")
        raise AirflowSensorTimeout(
            f"no batch landed in {self.folder} since {since}: the feed has been silent longer than its SLA "
            f"(freshness.no_batch_within = {self.sla or f'{self.timeout:.0f}s'}); check that the producer runs "
            "and writes its manifest last"
        )

    def poke(self, context) -> bool:
        return bool(ready_manifests(Path(self.folder)))
