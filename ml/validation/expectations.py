"""Stage 3 of validation: the Great Expectations suite derived from the contract."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from ml.contract import Contract, ContractError, FeatureSpec, duration_seconds
from ml.data.batches import BatchManifest
from ml.validation.common import utc_timestamp
from ml.validation.gx_names import suite_name
from ml.validation.schema import is_int

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ stage 3: quality


def batch_periods(manifest: BatchManifest, contract: Contract) -> int:
    """How many batch periods ``[period_start, period_end)`` spans (at least 1): a backfill spans many."""
    start, end = utc_timestamp(manifest.period_start), utc_timestamp(manifest.period_end)
    return max(1, len(pd.date_range(start, end, freq=contract.batch.period, inclusive="left")))


def expectation_parameters(manifest: BatchManifest, contract: Contract) -> dict[str, Any]:
    """The values the suite's ``$PARAMETER`` placeholders take for this batch."""
    produced_at = utc_timestamp(manifest.produced_at)
    periods = batch_periods(manifest, contract)
    return {
        "period_start": utc_timestamp(manifest.period_start),
        "period_end": utc_timestamp(manifest.period_end),
        "produced_at": produced_at,
        "fresh_after": produced_at - pd.Timedelta(seconds=duration_seconds(contract.freshness.max_age)),
        "min_rows": contract.batch.min_rows * periods,
        "max_rows": contract.batch.max_rows * periods,
        "manifest_rows": int(manifest.rows),
    }


def build_expectation_suite(contract: Contract, *, labelled: bool = True) -> Any:
    """The GX ``ExpectationSuite`` of a contract: columns, row counts, nulls, ranges, domains, keys, time.

    Per-batch bounds are ``$PARAMETER`` placeholders filled by :func:`expectation_parameters`. Each
    expectation's ``meta.rule`` names the contract rule it enforces. ``labelled=False``: the suite of a batch
    that lands without its target (``labels.arrive: delayed``); the target's checks then apply to its label
    file (:func:`build_label_suite`).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    columns = contract.landed_columns(labelled)
    unknown = [column for column in contract.key if column not in columns]
    if unknown:
        raise ContractError(f"contract {contract.name!r}: key columns {unknown} are not batch columns; fix `key`")
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True, meta=_rule("columns")),
        gxe.ExpectTableRowCountToEqual(value=_param("manifest_rows"), meta=_rule("manifest_rows")),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=_param("min_rows"), max_value=_param("max_rows"), meta=_rule("row_count")
        ),
        *_null_expectations(contract, gxe, columns),
        *_value_expectations(contract, gxe),
        *(_target_expectations(contract, gxe) if labelled else []),
        *_key_expectations(contract, gxe),
        *_time_expectations(contract, gxe),
    ]
    meta = {"contract": contract.name, "derived_by": "ml.validation.build_expectation_suite (do not edit by hand)"}
    return gx.ExpectationSuite(name=suite_name(contract, labelled=labelled), expectations=expectations, meta=meta)


def build_label_suite(contract: Contract) -> Any:
    """The GX suite of a label file (``labels.arrive: delayed``): the label key and the target, nothing else;
    no empty cell; every target value valid for the task (in ``target_domain``, or a finite number); no key
    twice; as many rows as its manifest declares. Whether the keys are the scored batch's is checked by
    :mod:`ml.data.labels`, against the batch itself.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    columns = contract.label_columns
    key = list(contract.label_key)
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True, meta=_rule("columns")),
        gxe.ExpectTableRowCountToEqual(value=_param("manifest_rows"), meta=_rule("manifest_rows")),
        *[gxe.ExpectColumnValuesToNotBeNull(column=c, meta=_rule("label_not_null")) for c in columns],
        *_target_expectations(contract, gxe),
        (
            gxe.ExpectColumnValuesToBeUnique(column=key[0], meta=_rule("unique_label_key"))
            if len(key) == 1
            else gxe.ExpectCompoundColumnsToBeUnique(column_list=key, meta=_rule("unique_label_key"))
        ),
    ]
    meta = {"contract": contract.name, "derived_by": "ml.validation.build_label_suite (do not edit by hand)"}
    return gx.ExpectationSuite(name=f"{contract.name}_labels", expectations=expectations, meta=meta)


def _param(name: str) -> dict:
    return {"$PARAMETER": name}


def _rule(name: str) -> dict:
    return {"rule": name}


def _null_expectations(contract: Contract, gxe: Any, columns: list[str]) -> list:
    allowed = {feature.name: feature.max_null_fraction for feature in contract.features}
    expectations = []
    for column in columns:
        fraction = allowed.get(column, 0.0)
        if fraction < 1:
            expectations.append(
                gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1 - fraction, meta=_rule("not_null"))
            )
    return expectations


def _value_expectations(contract: Contract, gxe: Any) -> list:
    expectations = []
    for feature in contract.features:
        if feature.is_numeric:
            expectations.append(_finite(gxe, feature.name))
            if feature.min is not None or feature.max is not None:
                expectations.append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=feature.name,
                        min_value=feature.min,
                        max_value=feature.max,
                        mostly=contract.batch.range_mostly,
                        meta=_rule("range"),
                    )
                )
        else:
            domain = [True, False] if feature.type == "bool" else _category_values(feature)
            expectations.append(
                gxe.ExpectColumnValuesToBeInSet(column=feature.name, value_set=domain, meta=_rule("domain"))
            )
    return expectations


def _target_expectations(contract: Contract, gxe: Any) -> list:
    """The target's values: in ``target_domain`` (classification), else finite numbers (regression)."""
    if contract.target_domain is not None:
        return [
            gxe.ExpectColumnValuesToBeInSet(
                column=contract.target, value_set=list(contract.target_domain), meta=_rule("target_domain")
            )
        ]
    return [_finite(gxe, contract.target)]


def _finite(gxe: Any, column: str) -> Any:
    infinities = [float("inf"), float("-inf")]
    return gxe.ExpectColumnValuesToNotBeInSet(column=column, value_set=infinities, meta=_rule("finite"))


def _category_values(feature: FeatureSpec) -> list:
    domain = list(feature.domain or ())
    return domain if all(is_int(value) for value in domain) else [str(value) for value in domain]


def _key_expectations(contract: Contract, gxe: Any) -> list:
    if not contract.key:
        return []
    if len(contract.key) == 1:
        return [gxe.ExpectColumnValuesToBeUnique(column=contract.key[0], meta=_rule("unique_key"))]
    return [gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.key), meta=_rule("unique_key"))]


def _time_expectations(contract: Contract, gxe: Any) -> list:
    column = contract.timestamp
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=_param("period_start"),
            max_value=_param("period_end"),
            strict_max=True,
            meta=_rule("period"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column=column, max_value=_param("produced_at"), meta=_rule("not_after_produced_at")
        ),
        gxe.ExpectColumnMaxToBeBetween(column=column, min_value=_param("fresh_after"), meta=_rule("freshness")),
    ]
