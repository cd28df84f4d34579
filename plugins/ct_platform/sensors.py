"""Deferrable sensors: a batch landing in a folder (batches enter), a confirmed drift signal (retrains start)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout

from ml.data.batches import ready_manifests

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
        trigger = LandingTrigger(
            self.folder, self.poll_interval, deadline=deadline.isoformat(), waiting_since=now.isoformat()
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout) + _BACKSTOP)

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


class DriftSensor(BaseSensorOperator):
    """Waits until the drift policy has confirmed drift for ``contract``, then emits its drift asset event.

    Reusable in any DAG: give it a contract name; by default it emits on ``ct.<contract>.drift_signal`` (pass
    ``outlets`` to emit elsewhere). The policy (``ml.drift.policy``: debounce, cooldown, merging, acknowledged
    columns) runs where batches are judged, in the monitor, and writes each confirmed signal to the ledger. This
    sensor checks the ledger once in the worker; if no signal awaits, it defers to
    :class:`ct_platform.triggers.DriftTrigger`, so waiting costs no worker slot. On a signal it sets the asset
    event's extra to the signal (reason, report paths, drifted columns, onset, data revision), records
    ``drift_signal_emitted`` in the ledger and returns the signal (XCom).

    Delivery is at most once: the emission is recorded before the task succeeds, so a task that dies in between
    loses that event instead of starting a second retrain; the policy's ``pending_expiry_batches`` then frees the
    signal, and the next drifted batches confirm it again.
    """

    template_fields = ("contract",)

    def __init__(self, *, contract: str, poll_interval: float = 2.0, **kwargs):
        from ct_platform import assets

        kwargs.setdefault("timeout", timedelta(days=365))
        kwargs.setdefault("outlets", [assets.drift_signal(contract)])
        super().__init__(poke_interval=poll_interval, **kwargs)
        self.contract = contract
        self.poll_interval = poll_interval

    def _ledger(self) -> Path:
        from ml.settings import PlatformPaths

        return PlatformPaths.from_env().ledger

    def execute(self, context):
        from ml.drift.signals import next_signal

        signal = next_signal(self._ledger(), self.contract)
        if signal is None:
            self._wait()
        return self._emit(context, signal)

    def execute_complete(self, context, event: dict | None = None):
        # The trigger only says a signal is there; read it again here, where it is emitted.
        return self.execute(context)

    def _wait(self) -> None:
        from ct_platform.triggers import DriftTrigger

        self.defer(
            trigger=DriftTrigger(str(self._ledger()), self.contract, self.poll_interval),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def _emit(self, context, signal: dict) -> dict:
        from ct_platform.reports import with_report_url
        from ml.drift.signals import record_emitted

        signal = with_report_url(signal)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = signal
        record_emitted(self._ledger(), self.contract, signal, run_id=context["run_id"])
        self.log.info(
            "drift confirmed for %s (reason %s, batch %s, report %s): emitting %s",
            self.contract,
            signal.get("reason"),
            signal.get("batch_id"),
            signal.get("report_html"),
            ", ".join(o.name for o in self.outlets),
        )
        return signal
