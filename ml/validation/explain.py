"""Turning Great Expectations results into failures a person can act on."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import pandas as pd

from ml.contract import Contract
from ml.validation.common import CHECK_NAMES, MAX_EXAMPLES, RULE_ORDER, CheckFailure, iso_text

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------ GX results to failures


class _Explain(NamedTuple):
    contract: Contract
    parameters: dict
    kwargs: dict
    result: dict


def gx_failures(suite_result: Any, contract: Contract, parameters: dict) -> list[CheckFailure]:
    """The failed expectations of a GX suite result as :class:`CheckFailure`, in the order to fix them."""
    failures = []
    for result in suite_result.results:
        if result.success:
            continue
        config = result.expectation_config
        rule = (config.meta or {}).get("rule", "")
        kwargs = dict(config.kwargs)
        column = kwargs.get("column") or (",".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
        check = CHECK_NAMES.get(rule, config.type)
        info = result.exception_info or {}
        if info.get("raised_exception"):
            message = f"GX could not evaluate {config.type}: {info.get('exception_message')}"
            failures.append((_rank(rule, column, contract), CheckFailure(check, column, message, [])))
            continue
        explain = _Explain(contract, parameters, kwargs, dict(result.result or {}))
        failure = CheckFailure(check, column, _message(rule, config.type, explain), _examples(rule, explain.result))
        failures.append((_rank(rule, column, contract), failure))
    return [failure for _, failure in sorted(failures, key=lambda pair: pair[0])]


def _rank(rule: str, column: str | None, contract: Contract) -> tuple[int, int]:
    rule_rank = RULE_ORDER.index(rule) if rule in RULE_ORDER else len(RULE_ORDER)
    columns = contract.batch_columns
    return rule_rank, columns.index(column) if column in columns else -1


def _examples(rule: str, result: dict) -> list:
    if rule == "not_null":
        return list(result.get("partial_unexpected_index_list") or [])  # row indices: the values are all empty
    if "partial_unexpected_list" in result:
        return list(result["partial_unexpected_list"])
    observed = result.get("observed_value")
    return [] if observed is None or (pd.api.types.is_scalar(observed) and pd.isna(observed)) else [observed]


def _message(rule: str, expectation: str, explain: _Explain) -> str:
    builder = _MESSAGES.get(rule)
    if builder is None:
        return f"{expectation} failed with {_summary(explain.result)}"
    return builder(explain)


def _summary(result: dict) -> str:
    keys = ("observed_value", "unexpected_count", "element_count")
    return ", ".join(f"{key}={result[key]}" for key in keys if key in result) or "no details"


def _count(result: dict) -> str:
    bad, total = result.get("unexpected_count", 0), result.get("element_count", 0)
    missing = result.get("missing_count") or 0
    judged = max(total - missing, 0)
    share = f" ({bad / judged:.1%})" if judged else ""
    return f"{bad} of {judged}{share}"


def _lines(result: dict) -> str:
    """File lines of the first offending rows (row index + 2: the header is line 1)."""
    rows = list(result.get("partial_unexpected_index_list") or [])[:MAX_EXAMPLES]
    return f" at file line(s) {', '.join(str(int(row) + 2) for row in rows)}" if rows else ""


def _explain_columns(explain: _Explain) -> str:
    return f"columns are {explain.result.get('observed_value')}, contract expects {explain.kwargs.get('column_set')}"


def _explain_manifest_rows(explain: _Explain) -> str:
    return (
        f"the file holds {explain.result.get('observed_value')} rows but its manifest declares "
        f"{explain.kwargs.get('value')}: the file is incomplete or the manifest is wrong; re-publish the batch"
    )


def _explain_row_count(explain: _Explain) -> str:
    contract, kwargs = explain.contract, explain.kwargs
    periods = explain.parameters["min_rows"] // contract.batch.min_rows
    return (
        f"the batch has {explain.result.get('observed_value')} rows; contract {contract.name!r} expects "
        f"{kwargs.get('min_value')} to {kwargs.get('max_value')} for {periods} period(s) of "
        f"{contract.batch.period} (batch.min_rows/max_rows per period)"
    )


def _explain_not_null(explain: _Explain) -> str:
    column, allowed = explain.kwargs.get("column"), 1 - explain.kwargs.get("mostly", 1.0)
    bad, total = explain.result.get("unexpected_count", 0), explain.result.get("element_count", 0)
    share = f" ({bad / total:.1%})" if total else ""
    return (
        f"{bad} of {total} values of {column!r} are empty{share}{_lines(explain.result)}; the contract allows "
        f"{allowed:.1%} (max_null_fraction): fill them in the producer or relax the contract"
    )


def _explain_finite(explain: _Explain) -> str:
    return (
        f"{explain.result.get('unexpected_count', 0)} values of {explain.kwargs.get('column')!r} are infinite"
        f"{_lines(explain.result)}; numeric columns must be finite (look for a division by zero or overflow)"
    )


def _explain_range(explain: _Explain) -> str:
    kwargs = explain.kwargs
    low = "-inf" if kwargs.get("min_value") is None else kwargs["min_value"]
    high = "inf" if kwargs.get("max_value") is None else kwargs["max_value"]
    outside = 1 - kwargs.get("mostly", 1.0)
    return (
        f"{_count(explain.result)} values of {kwargs.get('column')!r} are outside [{low}, {high}]"
        f"{_lines(explain.result)}; the contract tolerates {outside:.1%} (batch.range_mostly): check the unit "
        "or scaling in the producer, or widen min/max in the contract"
    )


def _explain_domain(explain: _Explain) -> str:
    kwargs = explain.kwargs
    return (
        f"{_count(explain.result)} values of {kwargs.get('column')!r} are not in its domain "
        f"{kwargs.get('value_set')}{_lines(explain.result)}; fix the producer, or add the values to the contract"
    )


def _explain_target_domain(explain: _Explain) -> str:
    kwargs = explain.kwargs
    return (
        f"{_count(explain.result)} labels of target {kwargs.get('column')!r} are outside target_domain "
        f"{kwargs.get('value_set')}{_lines(explain.result)}; fix the labelling, or change target_domain"
    )


def _explain_unique_key(explain: _Explain) -> str:
    key = list(explain.contract.key)
    return (
        f"{explain.result.get('unexpected_count', 0)} rows share their key {key} with another row"
        f"{_lines(explain.result)}; keys must be unique: the producer sent a row twice"
    )


def _explain_label_not_null(explain: _Explain) -> str:
    return (
        f"{_count(explain.result)} values of {explain.kwargs.get('column')!r} are empty{_lines(explain.result)}: "
        "a label file holds one complete row per labelled row; leave out rows whose label is not known yet"
    )


def _explain_unique_label_key(explain: _Explain) -> str:
    key = list(explain.contract.label_key)
    return (
        f"{explain.result.get('unexpected_count', 0)} label rows share their key {key} with another row"
        f"{_lines(explain.result)}; each row may be labelled once: the producer sent a label twice"
    )


def _explain_period(explain: _Explain) -> str:
    kwargs = explain.kwargs
    return (
        f"{_count(explain.result)} values of {kwargs.get('column')!r} fall outside the manifest's period "
        f"[{iso_text(kwargs.get('min_value'))}, {iso_text(kwargs.get('max_value'))}){_lines(explain.result)}; "
        "re-cut the batch or fix period_start/period_end"
    )


def _explain_after_produced(explain: _Explain) -> str:
    kwargs = explain.kwargs
    return (
        f"{_count(explain.result)} values of {kwargs.get('column')!r} are later than the batch's produced_at "
        f"{iso_text(kwargs.get('max_value'))}{_lines(explain.result)}: timestamps from the future; check the "
        "producer's clock and time zone"
    )


def _explain_freshness(explain: _Explain) -> str:
    contract = explain.contract
    newest = explain.result.get("observed_value")
    produced_at = explain.parameters["produced_at"]
    if newest is None or pd.isna(newest):
        return f"{contract.timestamp!r} has no values, so the batch's freshness is unknown"
    return (
        f"the newest {contract.timestamp!r} is {iso_text(newest)}, {produced_at - newest} before produced_at "
        f"{iso_text(produced_at)}; contract {contract.name!r} allows {contract.freshness.max_age} "
        "(freshness.max_age): the batch is stale, the feed is delayed or replays old data"
    )


_MESSAGES = {
    "columns": _explain_columns,
    "manifest_rows": _explain_manifest_rows,
    "row_count": _explain_row_count,
    "not_null": _explain_not_null,
    "finite": _explain_finite,
    "range": _explain_range,
    "domain": _explain_domain,
    "target_domain": _explain_target_domain,
    "unique_key": _explain_unique_key,
    "label_not_null": _explain_label_not_null,
    "unique_label_key": _explain_unique_label_key,
    "period": _explain_period,
    "not_after_produced_at": _explain_after_produced,
    "freshness": _explain_freshness,
}
