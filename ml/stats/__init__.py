"""Statistical core of the champion/challenger promotion gate: paired tests, power and multiplicity.

Pure numpy/scipy; no Airflow or MLflow. The gate's decision logic lives with its caller: this package
only says how big the difference is, how sure we are, and how much data a firm answer would need.
"""

from ml.stats.catalog import LOG_LOSS_EPS, METRICS
from ml.stats.compare import MetricComparison, compare_paired
from ml.stats.delong import DeLongResult, delong_paired
from ml.stats.errors import GateInputError
from ml.stats.metrics import metric_confidence_interval, metric_value
from ml.stats.multiple import holm
from ml.stats.power import minimum_detectable_effect, required_sample_size

__all__ = [
    "LOG_LOSS_EPS",
    "METRICS",
    "DeLongResult",
    "GateInputError",
    "MetricComparison",
    "compare_paired",
    "delong_paired",
    "holm",
    "metric_confidence_interval",
    "metric_value",
    "minimum_detectable_effect",
    "required_sample_size",
]
