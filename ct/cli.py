"""``ct``: the platform's command line.

ct init       [--contracts DIR]                      initialise CT_HOME (data repo, MLflow, GX)
ct simulate   --contract FILE [--scenario FILE] [--batches N] [--engine airflow|direct] --report OUT
ct demo       [--scenario FILE] [--airflow-port P] [--mlflow-port P]
ct status     --contract NAME                         per-batch table and totals from the ledger
ct gate show  VERSION --contract NAME                 the gate decision record of a model version
ct lineage    VERSION --contract NAME                 data batches, contract, code, environment, gate
ct reproduce  VERSION --contract NAME                 retrain from the bundle and compare (exit 1 if it differs)
ct quarantine list --contract NAME | release BATCH --contract NAME
ct reports ui [--port P]                             Evidently's UI on CT_HOME/evidently (report history)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ct.airflow_env import LIBRARY_ENV, REPO_ROOT
from ml.contract import ContractError, find_contracts, load_contract
from ml.settings import PlatformPaths, contracts_dir

DEFAULT_SCENARIO = REPO_ROOT / "include" / "scenarios" / "weather_default.yaml"


def _paths(args) -> PlatformPaths:
    if getattr(args, "home", None):
        return PlatformPaths(Path(args.home).resolve())
    return PlatformPaths.from_env()


def cmd_init(args) -> int:
    from ml.bootstrap import init_platform

    contracts = [load_contract(p) for p in find_contracts(args.contracts or contracts_dir())]
    init_platform(_paths(args), contracts)
    print(f"platform home ready: {_paths(args).home}")
    return 0


def _scenario_for(contract_name: str, scenario_arg: str | None):
    from ml.simulation.scenario import load_scenario

    path = Path(scenario_arg) if scenario_arg else REPO_ROOT / "include" / "scenarios" / f"{contract_name}_default.yaml"
    if not path.exists():
        raise ContractError(f"no scenario at {path}; pass --scenario FILE")
    scenario = load_scenario(path)
    if scenario.contract != contract_name:
        raise ContractError(f"scenario {path} is for contract {scenario.contract!r}, not {contract_name!r}")
    return scenario


def cmd_simulate(args) -> int:
    from ct.simulate import simulate
    from ct.summary import batch_table, gate_table, totals_line
    from ml.simulation.summary import simulation_report

    paths = _paths(args)
    contract = load_contract(args.contract)
    scenario = _scenario_for(contract.name, args.scenario)
    timings = simulate(
        paths,
        contract,
        scenario,
        engine=args.engine,
        max_batches=args.batches,
        on_batch=lambda batch_id: print(f"  replayed batch {batch_id}", flush=True),
    )
    report = simulation_report(paths.ledger, contract.name)
    report.update({"engine": args.engine, "home": str(paths.home), "timings": timings})
    Path(args.report).write_text(json.dumps(report, indent=2, default=str))
    print(batch_table(report), gate_table(report), totals_line(report), f"report written to {args.report}", sep="\n\n")
    return 0


def cmd_status(args) -> int:
    from ct.summary import batch_table, gate_table, totals_line
    from ml.simulation.summary import simulation_report

    report = simulation_report(_paths(args).ledger, args.contract)
    print(batch_table(report), gate_table(report), totals_line(report), sep="\n\n")
    return 0


def cmd_gate_show(args) -> int:
    from ml.registry.store import download_run_artifact, get_version

    paths = _paths(args)
    contract = _contract(args)
    version = get_version(paths, contract.model_name, args.version)
    decision = json.loads(download_run_artifact(paths, version.run_id, "gate/decision.json").read_text())
    markdown = download_run_artifact(paths, version.run_id, "gate/decision.md").read_text()
    if version.tags.get("ct.approval"):  # a person answered (or the request timed out): show who and when
        from ml.gate.approval import APPROVAL_ARTIFACT, approval_markdown

        decision["approval"] = json.loads(download_run_artifact(paths, version.run_id, APPROVAL_ARTIFACT).read_text())
        markdown += approval_markdown(decision["approval"])
    print(json.dumps(decision, indent=2) if args.json else markdown)
    return 0


def cmd_lineage(args) -> int:
    from ml.registry.lineage import format_lineage, lineage

    contract = _contract(args)
    record = lineage(_paths(args), contract, args.version)
    print(json.dumps(record, indent=2) if args.json else format_lineage(record))
    return 0


def cmd_reproduce(args) -> int:
    from ml.registry.reproduce import format_reproduction, reproduce

    result = reproduce(_paths(args), _contract(args), args.version)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_reproduction(result))
    return 0 if result.matches else 1


def cmd_quarantine_list(args) -> int:
    from ct.summary import table
    from ml.validation.quarantine import list_quarantined

    batches = list_quarantined(_paths(args), args.contract)
    print(
        table(
            ["batch", "status", "reason", "folder"], [[b.batch_id, b.status, b.reason[:80], b.folder] for b in batches]
        )
        if batches
        else "nothing quarantined"
    )
    return 0


def cmd_quarantine_release(args) -> int:
    from ml.validation.quarantine import release

    contract = _contract(args)
    released, message = release(_paths(args), contract, args.batch)
    print(message)
    return 0 if released else 1


def cmd_demo(args) -> int:
    from ct.demo import run_demo

    return run_demo(
        _paths(args),
        scenario_path=Path(args.scenario),
        airflow_port=args.airflow_port,
        mlflow_port=args.mlflow_port,
        keep_running=not args.no_wait,
    )


def evidently_ui_command(paths: PlatformPaths, port: int) -> list[str]:
    """``evidently ui`` (this environment's) on the platform's Evidently workspace, on 127.0.0.1:``port``."""
    evidently = str(Path(sys.executable).with_name("evidently"))
    return [evidently, "ui", "--workspace", str(paths.evidently_workspace), "--host", "127.0.0.1", "--port", str(port)]


def cmd_reports_ui(args) -> int:
    import os

    from ct.services import PortError, choose_port

    try:
        port, note = choose_port("Evidently", args.port, "CT_EVIDENTLY_PORT", 8000, set())
    except PortError as error:
        print(f"ct: error: {error}", file=sys.stderr)
        return 2
    if note:
        print(note)
    print(
        f"Evidently UI on http://127.0.0.1:{port} (workspace {_paths(args).evidently_workspace}); Ctrl-C stops it",
        flush=True,
    )
    command = evidently_ui_command(_paths(args), port)
    os.execv(command[0], command)  # the UI replaces this process: Ctrl-C and exit codes are its own


def _add_contract_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--contract", required=True, help="contract name")
    parser.add_argument("--contracts", default=None, help="default: $CT_CONTRACTS_DIR or include/contracts")


def _contract(args):
    return load_contract(Path(args.contracts or contracts_dir()) / f"{args.contract}.yaml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct", description="Continuous-training platform on Airflow")
    parser.add_argument("--home", help="platform home (default: $CT_HOME or ./.ct)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="initialise CT_HOME")
    init.add_argument("--contracts", default=None, help="default: $CT_CONTRACTS_DIR or include/contracts")
    init.set_defaults(func=cmd_init)
    sim = sub.add_parser("simulate", help="replay a scenario headless through the DAGs (dag.test)")
    sim.add_argument("--contract", required=True, help="contract YAML file")
    sim.add_argument("--scenario", help="scenario YAML (default: include/scenarios/<contract>_default.yaml)")
    sim.add_argument("--batches", type=int, help="stop after N landed batches (the bootstrap counts as one)")
    sim.add_argument("--engine", choices=["airflow", "direct"], default="airflow")
    sim.add_argument("--report", required=True, help="JSON report path")
    sim.set_defaults(func=cmd_simulate)
    status = sub.add_parser("status", help="per-batch table and totals")
    status.add_argument("--contract", required=True, help="contract name")
    status.set_defaults(func=cmd_status)
    gate = sub.add_parser("gate", help="gate decisions").add_subparsers(dest="gate_command", required=True)
    show = gate.add_parser("show", help="print the gate decision of a model version")
    show.add_argument("version")
    _add_contract_arguments(show)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_gate_show)
    lin = sub.add_parser("lineage", help="the whole chain behind a model version")
    lin.add_argument("version")
    _add_contract_arguments(lin)
    lin.add_argument("--json", action="store_true")
    lin.set_defaults(func=cmd_lineage)
    rep = sub.add_parser("reproduce", help="retrain a model version from its bundle and compare weights and metric")
    rep.add_argument("version")
    _add_contract_arguments(rep)
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=cmd_reproduce)
    quarantine = sub.add_parser("quarantine", help="quarantined batches").add_subparsers(
        dest="q_command", required=True
    )
    q_list = quarantine.add_parser("list", help="list quarantined batches and why")
    q_list.add_argument("--contract", required=True, help="contract name")
    q_list.set_defaults(func=cmd_quarantine_list)
    q_release = quarantine.add_parser("release", help="re-validate a fixed batch and hand it back to landing")
    q_release.add_argument("batch", help="folder name under quarantine/<contract>/ (usually the batch id)")
    _add_contract_arguments(q_release)
    q_release.set_defaults(func=cmd_quarantine_release)
    reports = sub.add_parser("reports", help="per-batch Evidently reports").add_subparsers(
        dest="r_command", required=True
    )
    ui = reports.add_parser("ui", help="run `evidently ui` on CT_HOME/evidently: every batch's report, a dashboard")
    ui.add_argument("--port", type=int, default=None, help="default $CT_EVIDENTLY_PORT or 8000 (or the next free)")
    ui.set_defaults(func=cmd_reports_ui)
    demo = sub.add_parser("demo", help="start Airflow and MLflow, replay the default scenario, watch it")
    demo.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    demo.add_argument("--airflow-port", type=int, default=None, help="default $CT_AIRFLOW_PORT or 8080")
    demo.add_argument("--mlflow-port", type=int, default=None, help="default $CT_MLFLOW_PORT or 5000")
    demo.add_argument("--no-wait", action="store_true", help="stop everything after the summary")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    import os

    for key, value in LIBRARY_ENV.items():
        os.environ.setdefault(key, value)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except (ContractError, ValueError, FileNotFoundError) as error:
        print(f"ct: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
