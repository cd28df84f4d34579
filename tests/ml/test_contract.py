"""Dataset contracts: the shipped files load, the hash is a content hash, and invalid files fail loudly.

Every invalid document must raise ContractError naming the file and the offending key, because the
contract is the single source of truth and an operator fixes it from the message alone.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ml.contract import (
    Contract,
    ContractError,
    contract_hash,
    duration_seconds,
    find_contracts,
    load_contract,
    parse_contract,
)

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "include" / "contracts"
WEATHER = CONTRACTS / "weather.yaml"


@pytest.fixture(scope="module")
def weather_raw() -> dict:
    return yaml.safe_load(WEATHER.read_text(encoding="utf-8"))


def _write(folder: Path, document: object) -> Path:
    path = folder / "weather.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_weather_contract_loads_with_its_declared_settings():
    contract = load_contract(WEATHER)
    assert isinstance(contract, Contract)
    assert (contract.name, contract.timestamp, contract.target) == ("weather", "date", "rain")
    assert contract.task == "binary_classification"
    assert len(contract.features) == 8 and contract.numeric_features == contract.feature_names
    assert contract.categorical_features == []
    assert contract.batch_columns == ["date", *contract.feature_names, "rain"]
    assert contract.model_name == "ct-weather"
    assert contract.batch.period == "YS"
    assert (contract.drift.debounce.k, contract.drift.debounce.m, contract.drift.cooldown_batches) == (2, 3, 2)
    assert (contract.gate.metric, contract.gate.floor, contract.gate.holdout.min_rows) == ("auc", 0.70, 150)
    assert contract.source.timestamp.derive_from_row_order and contract.source.timestamp.start == "1949-01-01"
    assert [s.name for s in contract.slices] == ["winter", "summer", "cold_days"]


def test_contract_folder_is_not_empty():
    assert WEATHER in find_contracts(CONTRACTS)


@pytest.mark.parametrize("path", find_contracts(CONTRACTS), ids=lambda p: p.stem)
def test_every_shipped_contract_loads(path: Path):
    """One contract test over every dataset contract found, so a new YAML file is checked without new code."""
    contract = load_contract(path)
    assert contract.name == path.stem, "a contract lives in include/contracts/<name>.yaml"
    assert contract.features, "a contract declares at least one feature"
    assert set(contract.batch_columns) >= {contract.timestamp, contract.target}
    assert re.fullmatch(r"[0-9a-f]{16}", contract_hash(contract))
    duration_seconds(contract.freshness.max_age)  # the derived settings are usable, not just valid strings


def test_contract_hash_is_stable_and_ignores_yaml_formatting(tmp_path: Path, weather_raw: dict):
    reference = contract_hash(load_contract(WEATHER))
    assert contract_hash(load_contract(WEATHER)) == reference
    # Same content, different formatting: block style, no comments, keys in another order.
    reordered = dict(reversed(list(weather_raw.items())))
    path = tmp_path / "weather.yaml"
    path.write_text(yaml.safe_dump(reordered, default_flow_style=False, sort_keys=True), encoding="utf-8")
    assert contract_hash(load_contract(path)) == reference


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["gate"].update(alpha=0.01),
        lambda d: d["features"][0].update(max=7),
        lambda d: d["training"].update(seed=8),
        lambda d: d["drift"]["debounce"].update(k=1),
        lambda d: d.update(description="another description"),
    ],
    ids=["gate.alpha", "feature max", "training.seed", "debounce.k", "description"],
)
def test_contract_hash_changes_when_a_value_changes(weather_raw: dict, change: Callable[[dict], None]):
    changed = copy.deepcopy(weather_raw)
    change(changed)
    assert contract_hash(parse_contract(changed)) != contract_hash(parse_contract(weather_raw))


INVALID_DOCUMENTS = [
    pytest.param(lambda d: d.update(foo=1), ("foo", "Extra inputs are not permitted"), id="unknown key"),
    pytest.param(lambda d: d["gate"].update(alpah=0.1), ("gate.alpah",), id="unknown nested key"),
    pytest.param(
        lambda d: d["features"][0].update(type="double"), ("features.0.type", "'double'"), id="bad feature type"
    ),
    pytest.param(
        lambda d: d["features"][0].update(type="category"), ("features.0", "domain"), id="category without domain"
    ),
    pytest.param(
        lambda d: d["features"][1].update(min=5, max=1),
        ("features.1", "min 5.0 is greater than max 1.0"),
        id="min greater than max",
    ),
    pytest.param(lambda d: d["batch"].update(period="Y"), ("batch.period", "'Y'"), id="bad batch period"),
    pytest.param(
        lambda d: d["freshness"].update(max_age="2 days"), ("freshness.max_age", "'2 days'"), id="bad duration"
    ),
    pytest.param(
        lambda d: d["source"]["timestamp"].update(step="daily"),
        ("source.timestamp", "'daily'"),
        id="bad timestamp step",
    ),
    pytest.param(
        lambda d: d["drift"].update(debounce={"k": 3, "m": 2}),
        ("drift.debounce", "k=3", "m=2"),
        id="debounce k greater than m",
    ),
    pytest.param(
        lambda d: d["slices"].append({"name": "windy", "column": "nope", "min": 1}),
        ("slice 'windy'", "'nope'"),
        id="slice on unknown column",
    ),
    pytest.param(
        lambda d: d.update(task="regression"), ("gate metric 'auc'", "mae or rmse"), id="regression with auc metric"
    ),
    pytest.param(
        lambda d: d["source"]["timestamp"].update(column="day"),
        ("source.timestamp", "`column`"),
        id="timestamp given both ways",
    ),
    pytest.param(
        lambda d: d["features"].append(dict(d["features"][0])),
        ("features listed twice", "temperature"),
        id="duplicate feature",
    ),
    pytest.param(lambda d: d["batch"].update(period="0YS"), ("batch.period", "'0YS'"), id="zero batch period"),
    pytest.param(
        lambda d: d["batch"].update(min_rows=500, max_rows=400),
        ("batch", "min_rows", "max_rows"),
        id="batch min_rows above max_rows",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), INVALID_DOCUMENTS)
def test_invalid_contract_names_file_and_key(tmp_path: Path, weather_raw: dict, mutate, expected: tuple[str, ...]):
    document = copy.deepcopy(weather_raw)
    mutate(document)
    path = _write(tmp_path, document)
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: weather\n- target: rain\n", "the top level must be a mapping, got list"),
        ("just a string\n", "the top level must be a mapping, got str"),
        ("name: weather\nfeatures: [unclosed\n", "is not valid YAML"),
        ("name: weather\n  target: rain\n bad: indent\n", "is not valid YAML"),
    ],
    ids=["list", "scalar", "unclosed bracket", "bad indentation"],
)
def test_unparseable_or_non_mapping_document_raises(tmp_path: Path, text: str, expected: str):
    path = tmp_path / "weather.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError, match=re.escape(expected)) as caught:
        load_contract(path)
    assert str(path) in str(caught.value)


def test_missing_contract_file_raises_with_path(tmp_path: Path):
    path = tmp_path / "nowhere" / "weather.yaml"
    with pytest.raises(ContractError, match="cannot read contract") as caught:
        load_contract(path)
    assert str(path) in str(caught.value) and "Check the path" in str(caught.value)


def test_contract_is_frozen():
    contract = load_contract(WEATHER)
    with pytest.raises(ValueError, match="frozen"):
        contract.name = "other"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("36h", 129_600),
        ("2D", 172_800),
        ("90min", 5_400),
        ("1.5h", 5_400),
        (" 10 s ", 10),
        ("1W", 604_800),
        ("400D", 400 * 86_400),
    ],
)
def test_duration_seconds(text: str, seconds: float):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["2d", "h", "10", "-1h", "1 day", "", "1h30min"])
def test_duration_seconds_rejects_other_spellings(text: str):
    with pytest.raises(ValueError, match="is not a duration.*e.g. 36h"):
        duration_seconds(text)
