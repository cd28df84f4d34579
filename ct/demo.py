"""``make demo``: the whole loop through the real Airflow scheduler, watched from the terminal.

Starts Airflow (scheduler, dag-processor, triggerer, api-server; LocalExecutor on SQLite) and an MLflow
server as one process group, unpauses the contract's DAGs, then lands the scenario's batches one at a time
in the landing folder, the way a producer would. The replayer waits until a batch has settled (ingested
and monitored, and any retrain it started has decided) before landing the next one, so the story is the
same on every run; the platform itself gets no demo-only path. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from ct.services import (
    AirflowApi,
    PortError,
    Ports,
    ProcessGroup,
    demo_password,
    server_environment,
    start_servers,
)
from ct.simulate import dag_kinds, prepare_airflow
from ct.summary import batch_table, gate_table, totals_line
from ml.bootstrap import init_platform
from ml.contract import load_contract
from ml.data.labels import LABELS_KIND
from ml.ledger import EventKind, read_events
from ml.settings import PlatformPaths, contracts_dir
from ml.simulation.scenario import land, load_scenario, plan_batches
from ml.simulation.sources import load_source
from ml.simulation.summary import simulation_report

SETTLE_TIMEOUT_S = 420


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def describe(event: dict) -> str | None:
    """One progress line per ledger event a person cares about."""
    kind, batch = event["kind"], event.get("batch_id")
    if kind == EventKind.BATCH_INGESTED:
        return f"batch {batch}: validated, {event['rows']} rows -> data version {event['data_version']['rev'][:10]}"
    if kind == EventKind.BATCH_QUARANTINED:
        return f"batch {batch}: QUARANTINED ({event['status']}): {event['reason'].splitlines()[0]}"
    if kind in (EventKind.LABELS_INGESTED, EventKind.LABELS_QUARANTINED) or (
        kind == EventKind.BATCH_MONITORED and event.get("labelled")
    ):
        return _describe_labels(event)
    if kind == EventKind.BATCH_MONITORED and not event.get("no_champion"):
        perf = event.get("performance") or {}
        metric = f", champion {perf.get('metric')} {perf['value']:.3f}" if perf.get("checked") else ""
        return (
            f"batch {batch}: drift share {event['drift_share']:.2f} {event['drifted_columns'] or ''}{metric}"
            f"{' -> DRIFTED (' + ', '.join(event['reasons']) + ')' if event['batch_drifted'] else ''}"
        )
    if kind == EventKind.DRIFT_SIGNAL:
        return f"ALARM on batch {batch}: {event['reason']} ({event['explanation']}) -> retrain"
    if kind == EventKind.GATE_DECISION:
        return f"gate: version {event['version']} {event['decision'].upper()}: {event['reason']}"
    if kind == EventKind.CHAMPION_CHANGED:
        if not event.get("previous"):
            return f"champion: version {event['version']} (the first model)"
        return f"champion: version {event['previous']} -> {event['version']}"
    return None


def _describe_labels(event: dict) -> str:
    kind, batch = event["kind"], event.get("batch_id")
    if kind == EventKind.LABELS_INGESTED:
        rev = event["data_version"]["rev"][:10]
        return f"labels of batch {batch}: joined, {event['rows']} rows -> data version {rev}"
    if kind == EventKind.LABELS_QUARANTINED:
        return f"labels of batch {batch}: QUARANTINED ({event['status']}): {event['reason'].splitlines()[0]}"
    perf = event.get("performance") or {}
    metric = (
        f"champion v{event.get('scored_by')} {perf.get('metric')} {perf['value']:.3f}"
        if perf.get("checked")
        else "not judged"
    )
    drifted = f" -> DRIFTED ({', '.join(event['reasons'])})" if event.get("batch_drifted") else ""
    return f"labels of batch {batch}: {metric}{drifted}"


def settled(events: list[dict], batch_id: str, *, labels: bool = False) -> bool:
    """Has ``batch_id`` gone all the way: quarantined, or monitored and decided, with any retrain finished?

    ``labels``: has the label file of ``batch_id`` gone all the way: quarantined, or joined, judged and
    decided, with any retrain it started finished? (Only events after it was joined count.)
    """
    mine = [e for e in events if e.get("batch_id") == batch_id]
    if labels:
        taken = [
            i for i, e in enumerate(mine) if e["kind"] in (EventKind.LABELS_INGESTED, EventKind.LABELS_QUARANTINED)
        ]
        if not taken:
            return False
        if mine[taken[-1]]["kind"] == EventKind.LABELS_QUARANTINED:
            return True
        mine = mine[taken[-1] :]
    kinds = [e["kind"] for e in mine]
    if EventKind.BATCH_QUARANTINED in kinds:
        return True
    decided = [e for e in mine if e["kind"] == EventKind.DRIFT_DECIDED]
    if not decided:
        return False
    if not decided[-1]["confirmed"]:
        return True
    gates = [e for e in mine if e["kind"] == EventKind.GATE_DECISION]
    if not gates:
        return False
    return gates[-1]["decision"] != "promote" or EventKind.CHAMPION_CHANGED in kinds


class LedgerFollower:
    """Prints new ledger events as progress lines."""

    def __init__(self, paths: PlatformPaths, contract: str):
        self.paths, self.contract, self.seen = paths, contract, 0

    def poll(self) -> list[dict]:
        events = read_events(self.paths.ledger, self.contract)
        for event in events[self.seen :]:
            line = describe(event)
            if line:
                say(line)
        self.seen = len(events)
        return events


def _wait_for_airflow(api: AirflowApi, group, expected: list[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if group.dead():
            raise RuntimeError(f"{group.dead()} exited early; see {group.log_dir}")
        if api.healthy():
            try:
                if set(expected) <= set(api.dag_ids()):
                    return
            except OSError:
                pass
        time.sleep(2)
    raise RuntimeError(
        f"Airflow did not become ready with DAGs {expected} within {timeout:.0f} s; see logs in {group.log_dir}"
    )


def _wait_until_idle(api: AirflowApi, dag_ids: list[str], timeout: float = 120) -> None:
    """Let the last runs finish (their final tasks run after the ledger already shows the outcome)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(api.active_runs(dag_id) for dag_id in dag_ids):
        time.sleep(1)


def _replay(paths: PlatformPaths, scenario, contract, follower: LedgerFollower) -> None:
    for batch in plan_batches(scenario, contract, load_source(contract)):
        labels = batch.kind == LABELS_KIND
        what = f"labels of batch {batch.batch_id}" if labels else f"batch {batch.batch_id}"
        say(f"landing {what} ({len(batch.frame)} rows) in {paths.landing_for(contract.name)}")
        land(batch, contract, paths.landing_for(contract.name))
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while not settled(follower.poll(), batch.batch_id, labels=labels):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{what} did not settle in {SETTLE_TIMEOUT_S} s: look at the red or queued tasks in the Airflow UI"
                )
            time.sleep(1)


def run_demo(
    paths: PlatformPaths,
    *,
    scenario_path: Path,
    airflow_port: int | None,
    mlflow_port: int | None,
    keep_running: bool = True,
) -> int:
    scenario = load_scenario(scenario_path)
    contract = load_contract(contracts_dir() / f"{scenario.contract}.yaml")
    try:
        ports = Ports.choose(airflow_port, mlflow_port)
    except PortError as error:
        print(f"ct demo: {error}", file=sys.stderr)
        return 2
    for note in ports.notes:
        say(note)
    say(f"initialising {paths.home}")
    prepare_airflow(paths)
    init_platform(paths, [contract])
    password = demo_password(paths)
    env = server_environment(paths, ports, contracts=contract.name)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    group = ProcessGroup(paths.logs)
    try:
        start_servers(group, ports, env, paths)
        api = AirflowApi(f"http://127.0.0.1:{ports.airflow}", "admin", password)
        dag_ids = [f"ct_{kind}_{contract.name}" for kind in dag_kinds(contract)]
        say("starting Airflow and MLflow (first start takes a minute) ...")
        _wait_for_airflow(api, group, dag_ids)
        for dag_id in dag_ids:
            api.unpause(dag_id)
        print(
            f"\n  Airflow UI : http://127.0.0.1:{ports.airflow}   (login admin / {password})\n"
            f"  MLflow UI  : http://127.0.0.1:{ports.mlflow}\n  logs       : {group.log_dir}\n",
            flush=True,
        )
        started = time.monotonic()
        _replay(paths, scenario, contract, LedgerFollower(paths, contract.name))
        # ingest and drift are continuous DAGs, whose next run always waits: only monitor and retrain go idle.
        _wait_until_idle(api, [f"ct_monitor_{contract.name}", f"ct_retrain_{contract.name}"])
        report = simulation_report(paths.ledger, contract.name)
        print("\n" + batch_table(report) + "\n\n" + gate_table(report) + "\n\n" + totals_line(report), flush=True)
        say(f"scenario finished in {time.monotonic() - started:.0f} s")
        if keep_running:
            say("the UIs stay up; press Ctrl-C to stop every process the demo started")
            while not stop.is_set():
                time.sleep(1)
        return 0
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, TimeoutError) as error:
        print(f"ct demo: {error}", file=sys.stderr)
        return 1
    finally:
        say("stopping Airflow and MLflow ...")
        group.stop()
        say("stopped")
