"""Reading a contract's source: the full history a scenario replays and a bootstrap trains on.

Schemes: a plain path or ``file://`` path; ``package://<package>/<resource>`` for data shipped inside an
installed package (nothing is downloaded at run time); ``python://<module>:<function>`` for generated data,
called with the contract's ``source.options``.
"""

from __future__ import annotations

import importlib
import importlib.resources
import logging
from pathlib import Path

import pandas as pd

from ml.contract import Contract, ContractError

logger = logging.getLogger(__name__)


def resolve_source_path(uri: str) -> Path:
    """Turn a path, ``file://`` or ``package://`` URI into a local file path."""
    if uri.startswith("package://"):
        package, _, resource = uri.removeprefix("package://").partition("/")
        try:
            root = importlib.resources.files(package)
        except ModuleNotFoundError:
            raise ContractError(f"source {uri!r}: package {package!r} is not installed; run `make install`") from None
        path = Path(str(root / resource))
    else:
        path = Path(uri.removeprefix("file://"))
    if not path.exists():
        raise ContractError(f"source {uri!r}: no file at {path}; fix `source.uri` in the contract")
    return path


def _call_generator(uri: str, options: dict) -> pd.DataFrame:
    module_name, _, function_name = uri.removeprefix("python://").partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ModuleNotFoundError, AttributeError):
        raise ContractError(f"source {uri!r}: cannot import {function_name!r} from {module_name!r}") from None
    return function(**options)


def read_raw_source(contract: Contract) -> pd.DataFrame:
    source = contract.source
    if source.uri.startswith("python://"):
        return _call_generator(source.uri, source.options)
    path = resolve_source_path(source.uri)
    if source.format == "parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def load_source(contract: Contract) -> pd.DataFrame:
    """The contract's source as a frame of ``[timestamp, *features, target]`` in time order."""
    source = contract.source
    frame = read_raw_source(contract).drop(columns=list(source.drop), errors="ignore").rename(columns=source.rename)
    if source.timestamp.derive_from_row_order:
        step = pd.Timedelta(source.timestamp.step)
        frame[contract.timestamp] = pd.Timestamp(source.timestamp.start, tz="UTC") + step * pd.RangeIndex(len(frame))
    else:
        frame = frame.rename(columns={source.timestamp.column: contract.timestamp})
        frame[contract.timestamp] = pd.to_datetime(frame[contract.timestamp], utc=True)
    missing = [c for c in contract.batch_columns if c not in frame.columns]
    if missing:
        raise ContractError(
            f"source of contract {contract.name!r} lacks columns {missing}; it has {sorted(frame.columns)}. "
            "Fix `features`, `target` or `source.rename`."
        )
    return frame[contract.batch_columns].sort_values(contract.timestamp, kind="stable").reset_index(drop=True)
