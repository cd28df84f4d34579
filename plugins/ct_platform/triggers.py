"""Async triggers, run by the triggerer: a batch manifest in a landing folder, a confirmed drift signal in the ledger.

They live in plugins/ because the triggerer imports plugins, not DAG folders.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ml.data.batches import ready_manifests


class LandingTrigger(BaseTrigger):
    """Fires with the oldest ready manifest in ``folder``; polls every ``poll_interval`` seconds.

    With ``deadline`` (an ISO 8601 instant), fires ``{"silent_since": ..., "deadline": ...}`` instead once the
    deadline passes with nothing landed: the contract's silence SLA, judged in the trigger itself so that it
    also holds where deferral timeouts are not enforced (``dag.test()`` runs triggers inline, without them).
    """

    def __init__(
        self, folder: str, poll_interval: float = 2.0, deadline: str | None = None, waiting_since: str | None = None
    ):
        super().__init__()
        self.folder = folder
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.waiting_since = waiting_since

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "ct_platform.triggers.LandingTrigger",
            {
                "folder": self.folder,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "waiting_since": self.waiting_since,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = datetime.fromisoformat(self.deadline) if self.deadline else None
        while True:
            ready = await asyncio.to_thread(ready_manifests, Path(self.folder))
            if ready:
                yield TriggerEvent({"manifest": str(ready[0])})
                return
            if deadline is not None and datetime.now(UTC) >= deadline:
                yield TriggerEvent({"silent_since": self.waiting_since, "deadline": self.deadline})
                return
            await asyncio.sleep(self.poll_interval)


class DriftTrigger(BaseTrigger):
    """Fires when ``contract`` has a policy-confirmed drift signal whose asset event was not emitted yet.

    Polls the platform's ledger (``ledger`` folder) every ``poll_interval`` seconds and fires
    ``{"signal_id": ...}`` for the oldest such signal; the sensor re-reads the signal itself in the worker. The
    ledger is only parsed again when its file changed (size or modification time): it grows with every batch,
    and the triggerer polls it for every contract.
    """

    def __init__(self, ledger: str, contract: str, poll_interval: float = 2.0):
        super().__init__()
        self.ledger = ledger
        self.contract = contract
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "ct_platform.triggers.DriftTrigger",
            {"ledger": self.ledger, "contract": self.contract, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from ml.drift.signals import next_signal
        from ml.ledger import ledger_path

        path, seen = ledger_path(Path(self.ledger), self.contract), False
        while True:
            stamp = _file_stamp(path)
            if stamp != seen:
                seen = stamp
                signal = await asyncio.to_thread(next_signal, Path(self.ledger), self.contract)
                if signal is not None:
                    yield TriggerEvent({"signal_id": signal["signal_id"]})
                    return
            await asyncio.sleep(self.poll_interval)


def _file_stamp(path: Path) -> tuple[int, int] | None:
    """(size, modification time in ns) of ``path``, None when it does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns
