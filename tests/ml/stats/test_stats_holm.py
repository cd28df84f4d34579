"""Holm-Bonferroni adjusted p-values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from ml.stats import GateInputError, holm

# Hand-computed: sort, multiply the i-th smallest (0-based) by m - i, take the running max, cap at 1.
HAND_COMPUTED = [
    ([], []),
    ([0.04], [0.04]),
    ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),
    ([0.5, 0.2], [0.5, 0.4]),
    ([0.3, 0.6, 0.01, 0.02], [0.6, 0.6, 0.04, 0.06]),
    ([0.4, 0.5, 0.6], [1.0, 1.0, 1.0]),
    ([0.02, 0.02], [0.04, 0.04]),
    ([0.0, 1.0], [0.0, 1.0]),
    ([0.001, 0.2, 0.011, 0.04, 0.012], [0.005, 0.2, 0.044, 0.08, 0.044]),
]


@pytest.mark.parametrize(("raw", "expected"), HAND_COMPUTED)
def test_holm_matches_hand_computed_values(raw: list[float], expected: list[float]) -> None:
    assert holm(raw) == pytest.approx(expected, abs=1e-12)


def _holm_by_definition(raw: list[float]) -> list[float]:
    """O(m^2) reference: adjusted p_i = max over p_j ranked at or before p_i of min(1, (m - rank_j) * p_j)."""
    m = len(raw)
    order = sorted(range(m), key=lambda i: (raw[i], i))
    rank = {index: position for position, index in enumerate(order)}
    return [max(min(1.0, (m - rank[j]) * raw[j]) for j in range(m) if rank[j] <= rank[i]) for i in range(m)]


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12))
def test_holm_equals_its_definition_and_is_monotone_and_capped(raw: list[float]) -> None:
    adjusted = np.array(holm(raw))
    assert adjusted == pytest.approx(_holm_by_definition(raw), abs=1e-12)
    assert np.all(adjusted >= np.array(raw) - 1e-15)
    assert np.all(adjusted <= 1.0)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= -1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_holm_agrees_with_statsmodels(seed: int) -> None:
    # statsmodels' multipletests costs ~40 ms a call here, so it checks a few seeded vectors only.
    raw = np.random.default_rng(seed).uniform(0, 0.2, size=3 + 2 * seed).tolist()
    assert holm(raw) == pytest.approx(multipletests(raw, method="holm")[1], abs=1e-12)


@pytest.mark.parametrize("bad", [[0.1, 1.2], [-0.01], [float("nan")], [[0.1, 0.2]]])
def test_holm_rejects_values_that_are_not_p_values(bad: list) -> None:
    with pytest.raises(GateInputError, match="p_values must be"):
        holm(bad)
