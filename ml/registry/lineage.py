"""Lineage of a model version: the whole chain from data batches to the gate decision, from its bundle."""

from __future__ import annotations

from ml.contract import Contract
from ml.data.versioning import committed_batches
from ml.registry.bundle import TAG_PREFIX
from ml.registry.store import client, get_version
from ml.settings import PlatformPaths


def lineage(paths: PlatformPaths, contract: Contract, version: str) -> dict:
    """Everything recorded about ``version``: bundle tags, the batches in its data revision, aliases, run."""
    ref = get_version(paths, contract.model_name, version)
    bundle = {k.removeprefix(TAG_PREFIX): v for k, v in ref.tags.items() if k.startswith(TAG_PREFIX)}
    registered = client(paths).get_registered_model(contract.model_name)
    aliases = sorted(alias for alias, v in (registered.aliases or {}).items() if str(v) == ref.version)
    rev = bundle.get("data_rev")
    return {
        "model": contract.model_name,
        "version": ref.version,
        "aliases": aliases,
        "run_id": ref.run_id,
        "data_batches": committed_batches(paths.data_repo, contract.name, rev) if rev else [],
        "bundle": bundle,
    }


SECTIONS = (
    (
        "data",
        (
            "data_rev",
            "data_md5",
            "data_batches",
            "window_start",
            "window_end",
            "window_rows",
            "holdout_rev",
            "holdout_start",
            "holdout_rows",
        ),
    ),
    (
        "code and contract",
        ("contract", "contract_hash", "feature_code_hash", "code_commit", "env_lock_hash", "seed", "reason"),
    ),
    ("training", ("precision", "warm_start", "warm_start_version", "cpu_fallback")),
    (
        "gate",
        (
            "gate.decision",
            "gate.decision_id",
            "gate.metric",
            "gate.rule",
            "gate.n",
            "gate.effect",
            "gate.p_value",
            "gate.mde",
            "gate.challenger_value",
            "holdout_metric",
            "holdout_metric_se",
        ),
    ),
    ("human approval", ("approval", "approver", "approver_id", "approval_at")),
)


def format_lineage(record: dict) -> str:
    bundle = record["bundle"]
    lines = [
        f"{record['model']} version {record['version']}  aliases: {', '.join(record['aliases']) or '-'}  "
        f"run: {record['run_id']}"
    ]
    for title, keys in SECTIONS:
        present = [key for key in keys if bundle.get(key)]
        if not present:
            continue
        lines.append(f"\n[{title}]")
        for key in present:
            lines.append(f"  {key:22} {bundle[key]}")
    lines.append("\n[environment and hardware]")
    lines += [f"  {key:22} {bundle[key]}" for key in sorted(bundle) if key.startswith(("lib.", "hw."))]
    lines.append(f"\n[batches in data revision {bundle.get('data_rev', '?')[:10]}]")
    lines.append("  " + ", ".join(record["data_batches"]))
    return "\n".join(lines)
