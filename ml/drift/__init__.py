"""Drift: statistics (numpy and torch backends), the Evidently report, calibrated thresholds, the policy, signals,
the champion's reference and the performance check."""
