"""The contract's `gate.approval` key: defaults off, strict validation whose errors name the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ml.contract import ContractError, load_contract, parse_contract

WEATHER = Path(__file__).resolve().parents[2] / "include" / "contracts" / "weather.yaml"


@pytest.fixture(scope="module")
def weather_raw() -> dict:
    return yaml.safe_load(WEATHER.read_text(encoding="utf-8"))


def _with_approval(raw: dict, approval) -> dict:
    changed = copy.deepcopy(raw)
    changed["gate"]["approval"] = approval
    return changed


def test_approval_is_off_unless_asked_for():
    approval = load_contract(WEATHER).gate.approval
    assert (approval.required, approval.timeout, approval.approvers, approval.subject) == (False, "72h", (), None)


def test_approval_settings_are_read(weather_raw):
    contract = parse_contract(
        _with_approval(
            weather_raw, {"required": True, "timeout": "90min", "approvers": ["ops", "lead"], "subject": "Ship it?"}
        )
    )
    assert contract.gate.approval.required
    assert (contract.gate.approval.timeout, contract.gate.approval.approvers) == ("90min", ("ops", "lead"))


@pytest.mark.parametrize(
    ("approval", "expected"),
    [
        ({"required": True, "timeout": "3 days"}, "gate.approval.timeout: Value error, '3 days' is not a duration"),
        ({"required": True, "timeout": "0h"}, "gate.approval.timeout: Value error, '0h' is not a positive duration"),
        ({"required": "maybe"}, "gate.approval.required: Input should be a valid boolean"),
        ({"required": True, "approver": ["ops"]}, "gate.approval.approver: Extra inputs are not permitted"),
        ({"required": True, "approvers": [""]}, "gate.approval.approvers.0: String should have at least 1 character"),
        ("yes", "gate.approval: Input should be a valid dictionary"),
    ],
)
def test_invalid_approval_names_the_key(weather_raw, approval, expected):
    with pytest.raises(ContractError) as caught:
        parse_contract(_with_approval(weather_raw, approval), "include/contracts/weather.yaml")
    message = str(caught.value)
    assert "include/contracts/weather.yaml" in message
    assert expected in message, message
