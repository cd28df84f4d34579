"""Plain-text tables for the terminal: the per-batch story of a run and its totals."""

from __future__ import annotations


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def batch_table(report: dict) -> str:
    headers = [
        "batch",
        "rows",
        "validation",
        "data version",
        "drift share",
        "drifted columns",
        "alarm",
        "champion",
        "champion metric",
    ]
    rows = [
        [
            b["batch_id"],
            b["rows"],
            b["validation"],
            (b["data_version"] or "")[:10],
            b["drift_share"],
            ",".join(b["drifted_columns"]) or "-",
            b.get("alarm_reason", "") if b["alarm"] else "",
            b["champion_version"],
            b["champion_metric"],
        ]
        for b in report["batches"]
    ]
    return table(headers, rows)


def _decision(gate: dict) -> str:
    """The gate's verdict, and a person's answer to it when the contract asked for one."""
    if gate.get("approval") in (None, "approved"):
        return gate["decision"] + (f" (approved by {gate['approver']})" if gate.get("approval") else "")
    who = f" by {gate['approver']}" if gate.get("approver") else ""
    return f"{gate['decision']}, {gate['approval']}{who}: not released"


def gate_table(report: dict) -> str:
    headers = ["trigger", "version", "decision", "challenger", "champion", "effect", "p-value", "n"]
    rows = [
        [
            g["trigger"],
            g["version"],
            _decision(g),
            g["challenger_value"],
            g["champion_value"],
            g["effect"],
            g["p_value"],
            g["n"],
        ]
        for g in report["gates"]
    ]
    return table(headers, rows)


def totals_line(report: dict) -> str:
    return "  ".join(f"{k}={v}" for k, v in report["totals"].items())
