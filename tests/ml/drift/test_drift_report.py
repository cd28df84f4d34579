"""Tests of ml.drift.report: behaviour of a real Evidently run on seeded synthetic frames.

Why these cases are not flaky. An unshifted N(0, 1) column scores a normed Wasserstein distance whose
99.9th percentile was 0.109 over 2,000 simulated seeds at 2,000 rows a side; it shrinks like 1/sqrt(n),
so about 0.08 at the 4,000 rows used here, under Evidently's default threshold of 0.1. A column shifted
by +1 sd scores about 1.0 (never under 0.88 in the same simulation). The categorical column whose domain
changes ("c" -> "e") has a Jensen-Shannon distance near 0.5 against about 0.01 for the unchanged one.
The pass-through run uses PSI at 0.2, valid for both kinds: unshifted columns score about 0.005, the
shifted one about 0.96 (in theory mu^2 = 1). The frames are seeded anyway. Unshifted columns are never
asserted "not drifted" under the small-sample defaults (KS / chi-square at p < 0.05): Evidently's
chi-square treats the reference counts as exact expected frequencies, which flags about 27 % of
unshifted 4-category columns at 365 vs 365 rows.

Evidently is imported once per test session (~5-10 s); the reports run once per module (~0.5 s each).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.drift import report as drift_report
from ml.drift.report import ColumnDrift, DriftInputError, DriftReport, parse_column_drifts, run_drift_report

NUMERIC = ["x1", "x2", "x3", "prediction"]
CATEGORICAL = ["colour", "region"]
ROWS = 4000
REPO_ROOT = Path(__file__).resolve().parents[3]


def make_frame(rows: int, seed: int, *, shift_x1: float = 0.0, new_colour: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows) + shift_x1
    x2 = rng.normal(size=rows)
    x3 = rng.normal(5.0, 2.0, size=rows)
    colours = ["a", "b", "c", "d"] if not new_colour else ["a", "b", "e", "d"]
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "prediction": 0.3 * x2 + 0.1 * rng.normal(size=rows),
            "colour": rng.choice(colours, size=rows),
            "region": rng.choice(["north", "south", "east"], size=rows, p=[0.5, 0.3, 0.2]),
            "unused": rng.normal(size=rows),  # extra columns are ignored
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(ROWS, seed=1)


@pytest.fixture(scope="module")
def shifted() -> pd.DataFrame:
    return make_frame(ROWS, seed=2, shift_x1=1.0, new_colour=True)


@pytest.fixture(scope="module")
def default_report(tmp_path_factory, reference, shifted) -> DriftReport:
    out_dir = tmp_path_factory.mktemp("drift") / "not-yet-there"
    return run_drift_report(
        reference,
        shifted,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        out_dir=out_dir,
        report_id="shifted",
        max_rows_for_html=1000,  # forces the sampled-HTML path
    )


@pytest.fixture(scope="module")
def psi_report(tmp_path_factory, reference, shifted) -> DriftReport:
    return run_drift_report(
        reference,
        shifted,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        out_dir=tmp_path_factory.mktemp("psi"),
        report_id="psi",
        method="psi",
        threshold=0.2,
        html=False,
    )


def by_column(report: DriftReport) -> dict[str, ColumnDrift]:
    return {c.column: c for c in report.columns}


def test_shifted_numeric_and_changed_categorical_are_flagged_under_defaults(default_report):
    cols = by_column(default_report)
    assert default_report.drifted_columns() == ["x1", "colour"]
    assert cols["x1"].method == "wasserstein" and cols["x1"].threshold == pytest.approx(0.1)
    assert cols["x1"].score > 5 * cols["x1"].threshold  # about 1.0: a +1 sd shift in sd units
    assert cols["colour"].method == "jensenshannon" and cols["colour"].score > 0.3
    for name in ["x2", "x3", "prediction", "region"]:
        assert not cols[name].drifted
        assert cols[name].score < 0.1
    assert default_report.drift_share == pytest.approx(2 / 6)
    assert [c.kind for c in default_report.columns] == ["numeric"] * 4 + ["categorical"] * 2
    assert default_report.n_reference == ROWS and default_report.n_current == ROWS


def test_same_distribution_is_not_flagged(tmp_path, reference):
    current = make_frame(ROWS, seed=3)
    report = run_drift_report(
        reference,
        current,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        out_dir=tmp_path,
        report_id="same",
        method="psi",
        threshold=0.2,
        html=False,
    )
    assert report.drifted_columns() == []
    assert report.drift_share == 0.0
    assert max(c.score for c in report.columns) < 0.05


def test_method_and_threshold_passed_through_are_reported(psi_report):
    assert {(c.method, c.threshold) for c in psi_report.columns} == {("psi", 0.2)}
    cols = by_column(psi_report)
    assert psi_report.drifted_columns() == ["x1", "colour"]
    assert cols["x1"].score > 0.5 and cols["x2"].score < 0.05
    assert all(c.score_kind == "distance" for c in psi_report.columns)


def test_small_reference_gets_p_value_tests_mapped_to_stattest_ids(tmp_path, reference, shifted):
    # Reference <= 1000 rows: Evidently picks KS / chi-square and records their display names
    # ("K-S p_value"); the report must give the ids.
    report = run_drift_report(
        reference.head(365),
        shifted.head(365),
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        out_dir=tmp_path,
        report_id="small",
        html=False,
    )
    cols = by_column(report)
    assert cols["x1"].method == "ks" and cols["x1"].threshold == pytest.approx(0.05)
    assert cols["colour"].method == "chisquare" and cols["region"].method == "chisquare"
    assert cols["x1"].score_kind == "p_value"
    assert cols["x1"].drifted and cols["x1"].score < 1e-10  # a p-value far below 0.05
    assert cols["colour"].drifted


def test_files_are_written_and_json_reloads(default_report):
    from evidently.core.report import Snapshot

    json_path, html_path = Path(default_report.json_path), Path(default_report.html_path)
    assert json_path.name == "shifted.json" and html_path.name == "shifted.html"
    assert json.loads(json_path.read_text(encoding="utf-8"))["name"] == "shifted"
    assert "<html" in html_path.read_text(encoding="utf-8")[:2000].lower()
    assert sorted(p.name for p in json_path.parent.iterdir()) == ["shifted.html", "shifted.json"]  # no temp left
    kinds = {c.column: c.kind for c in default_report.columns}
    reloaded = parse_column_drifts(Snapshot.load(json_path).dict(), kinds)
    assert tuple(reloaded) == default_report.columns


def test_to_dict_is_json_safe(default_report):
    payload = json.loads(json.dumps(default_report.to_dict(), allow_nan=False))
    assert payload["drifted_columns"] == ["x1", "colour"]
    assert payload["columns"][0] == {
        "column": "x1",
        "kind": "numeric",
        "method": "wasserstein",
        "score_kind": "distance",
        "score": default_report.columns[0].score,
        "threshold": 0.1,
        "drifted": True,
    }
    nan_column = ColumnDrift("c", "categorical", "chisquare", float("nan"), 0.05, False)
    assert nan_column.to_dict()["score"] is None


def test_html_can_be_skipped(psi_report):
    assert psi_report.html_path is None
    assert [p.name for p in Path(psi_report.json_path).parent.iterdir()] == ["psi.json"]


def test_verdict_is_rederived_when_the_snapshot_has_no_tests():
    snapshot = {
        "metrics": [
            {
                "id": "m1",
                "config": {
                    "type": "evidently:metric_v2:ValueDrift",
                    "column": "a",
                    "method": "K-S p_value",
                    "threshold": 0.05,
                },
                "value": 0.01,
            },
            {
                "id": "m2",
                "config": {"type": "evidently:metric_v2:ValueDrift", "column": "b", "method": "psi", "threshold": 0.2},
                "value": 0.1,
            },
        ],
        "tests": [],
    }
    a, b = parse_column_drifts(snapshot, {"a": "numeric", "b": "categorical"})
    assert (a.method, a.drifted, b.drifted) == ("ks", True, False)
    with pytest.raises(drift_report.DriftReportParseError, match="'c'"):
        parse_column_drifts(snapshot, {"c": "numeric"})


def _run(reference: pd.DataFrame, current: pd.DataFrame, out_dir: Path, **kwargs) -> DriftReport:
    settings = {"numeric": ["x1"], "categorical": ["colour"], "report_id": "bad", "html": False} | kwargs
    return run_drift_report(reference, current, out_dir=out_dir, **settings)


@pytest.mark.parametrize(
    ("mutate", "settings", "match"),
    [
        (lambda ref, cur: (ref.drop(columns="x1"), cur), {}, r"\['x1'\] missing from the reference"),
        (lambda ref, cur: (ref, cur.drop(columns="colour")), {}, r"\['colour'\] missing from the current"),
        (lambda ref, cur: (ref, cur.iloc[0:0]), {}, "current frame has no rows"),
        (lambda ref, cur: (ref.assign(x1=np.nan), cur), {}, "'x1' has no finite value in the reference"),
        (lambda ref, cur: (ref, cur.assign(x1=np.inf)), {}, "'x1' has no finite value in the current"),
        (lambda ref, cur: (ref, cur.assign(colour=None)), {}, "'colour' is all null in the current"),
        (lambda ref, cur: (ref, cur), {"numeric": ["colour"], "categorical": []}, "'colour' is listed as numeric"),
        (lambda ref, cur: (ref, cur), {"categorical": ["x1"]}, "'x1' is listed both numeric and categorical"),
        (lambda ref, cur: (ref, cur), {"numeric": [], "categorical": []}, "no columns to check"),
        (lambda ref, cur: (ref, cur), {"threshold": -1.0}, "threshold=-1.0"),
        (lambda ref, cur: (ref, cur), {"report_id": "../x"}, "report_id"),
        (lambda ref, cur: (ref, cur), {"method": "nope"}, "method='nope'"),
        (lambda ref, cur: (ref, cur), {"method": "ks"}, "method='ks' is not an Evidently stattest for categorical"),
        (lambda ref, cur: (ref, cur), {"method": "psi", "threshold": 0.2, "max_rows_for_html": 0}, "max_rows_for_html"),
    ],
)
def test_bad_inputs_raise_drift_input_error(tmp_path, reference, shifted, mutate, settings, match):
    ref, cur = mutate(reference.head(50), shifted.head(50))
    with pytest.raises(DriftInputError, match=match):
        _run(ref, cur, tmp_path / "out", **settings)
    assert not (tmp_path / "out").exists()  # nothing written, no folder made
    assert issubclass(DriftInputError, ValueError)


def test_atomic_write_leaves_no_half_file(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    target.write_text("old", encoding="utf-8")

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        drift_report._atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_import_is_cheap_and_side_effect_free():
    code = (
        "import sys, ml.drift.report; "
        "print(sorted(m for m in ('evidently', 'pandas', 'numpy', 'scipy', 'airflow') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
