"""Async trigger that waits, in the triggerer, for a batch manifest to appear in a landing folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ml.batches import ready_manifests


class LandingTrigger(BaseTrigger):
    """Fires with the oldest ready manifest in ``folder``; polls every ``poll_interval`` seconds."""

    def __init__(self, folder: str, poll_interval: float = 2.0):
        super().__init__()
        self.folder = folder
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("ct_platform.triggers.LandingTrigger", {"folder": self.folder, "poll_interval": self.poll_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            ready = await asyncio.to_thread(ready_manifests, Path(self.folder))
            if ready:
                yield TriggerEvent({"manifest": str(ready[0])})
                return
            await asyncio.sleep(self.poll_interval)
