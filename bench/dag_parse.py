"""How long each DAG file takes to parse, in a fresh interpreter, after ``airflow.sdk`` is imported.

    .venv/bin/python bench/dag_parse.py [--repeats 5]     # writes bench/results/dag_parse.md

The DAG integrity test checks what makes parsing slow or unsafe exactly (heavy imports, files written); this
measures the time, which a loaded machine would make flaky as a test. Goal: well under a second per file.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "plugins")]

from machine_info import describe_machine  # noqa: E402

from tests.dags.test_dag_integrity import DAG_FILES, parse_probe  # noqa: E402

OUTPUT = REPO / "bench" / "results" / "dag_parse.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = ["| DAG file | median s | max s |", "|---|---|---|"]
    for dag_file in DAG_FILES:
        with tempfile.TemporaryDirectory() as scratch:
            times = [parse_probe(dag_file, Path(scratch) / str(i))["seconds"] for i in range(args.repeats)]
        rows.append(f"| {dag_file.name} | {statistics.median(times):.3f} | {max(times):.3f} |")
        print(rows[-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    OUTPUT.write_text(
        "# DAG parse time\n\n"
        + __doc__.split("\n", 3)[3].strip()
        + f"\n\nCommand: `python bench/dag_parse.py --repeats {args.repeats}`  \n"
        + f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit.stdout.strip()}  \n"
        + f"Machine: {describe_machine()}\n\n"
        + "\n".join(rows)
        + "\n"
    )
    print(f"written {OUTPUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
