"""CI runs the linter and the formatter configured in pyproject.toml (ruff, with Airflow's AIR3 rules and a
complexity limit of 10 per function)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = ("ml", "ct", "dags", "plugins", "tests", "bench")
RUFF = Path(sys.executable).with_name("ruff")


def test_ruff_is_clean():
    result = subprocess.run([str(RUFF), "check", "--preview", *CODE], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_formatted():
    result = subprocess.run([str(RUFF), "format", "--check", *CODE], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"run `.venv/bin/ruff format {' '.join(CODE)}`:\n{result.stdout}{result.stderr}"


def test_the_complexity_limit_is_on():
    """C901 (McCabe complexity, at most 10 per function) is selected in pyproject.toml, so the check above keeps it."""
    config = (REPO / "pyproject.toml").read_text()
    assert '"C90"' in config and "max-complexity = 10" in config
