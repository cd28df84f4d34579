"""A platform home for a renamed copy of the weather contract, with its bootstrap batch (1961-1966) in landing.

Shared by the tests that run real retrains through the direct engine (pyfunc, reproduce, approval)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ml.bootstrap import init_platform
from ml.contract import Contract, parse_contract
from ml.settings import PlatformPaths
from ml.simulation.scenario import Scenario, land, plan_batches
from ml.simulation.sources import load_source

REPO = Path(__file__).resolve().parents[2]


def weather_copy(name: str, model: dict | None = None, **sections: dict) -> Contract:
    """The weather contract named ``name``, with ``training.model`` and top-level sections merged in."""
    data = yaml.safe_load((REPO / "include" / "contracts" / "weather.yaml").read_text())
    data["name"] = name
    if model:
        data["training"]["model"] = model
    for key, value in sections.items():
        data[key] = {**data[key], **value}
    return parse_contract(data)


def bootstrap_home(root: Path, contract: Contract) -> PlatformPaths:
    """An initialised home under ``root`` with the contract's 1961-1966 bootstrap batch waiting in landing."""
    paths = PlatformPaths(root / contract.name)
    init_platform(paths, [contract])
    scenario = Scenario.model_validate(
        {
            "contract": contract.name,
            "bootstrap": {"start": "1961-01-01", "end": "1967-01-01"},
            "replay": {"start": "1967-01-01", "end": "1968-01-01"},
        }
    )
    land(next(plan_batches(scenario, contract, load_source(contract))), contract, paths.landing_for(contract.name))
    return paths
