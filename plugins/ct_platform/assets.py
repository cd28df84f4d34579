"""The assets that chain the platform's DAGs, one set per contract."""

from __future__ import annotations

from airflow.sdk import Asset


def validated_batch(contract: str) -> Asset:
    """Emitted by ingest when a batch became a new data version (extra: batch id, data version, rows)."""
    return Asset(name=f"ct.{contract}.validated_batch", uri=f"ct://{contract}/validated_batch")


def labelled_batch(contract: str) -> Asset:
    """Emitted by the labels DAG when a batch's delayed labels became a new data version (extra: batch id,
    rows, data version)."""
    return Asset(name=f"ct.{contract}.labelled_batch", uri=f"ct://{contract}/labelled_batch")


def drift_signal(contract: str) -> Asset:
    """Emitted by monitor when the drift policy confirms drift (extra: reason, report, drifted columns)."""
    return Asset(name=f"ct.{contract}.drift_signal", uri=f"ct://{contract}/drift_signal")


def champion(contract: str) -> Asset:
    """Emitted by retrain when the champion alias moved (extra: version, previous, decision id)."""
    return Asset(name=f"ct.{contract}.champion", uri=f"ct://{contract}/champion")
