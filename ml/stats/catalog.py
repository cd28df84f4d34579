"""Names and kinds of the metrics the gate understands."""

METRICS = ("auc", "accuracy", "log_loss", "brier", "mae", "rmse")

# Binary classification metrics: y_true in {0, 1}, scores = predicted probability of class 1.
CLASSIFICATION_METRICS = ("auc", "accuracy", "log_loss", "brier")
# Metrics whose scores must be probabilities (AUC only uses ranks; accuracy only a threshold).
PROBABILITY_METRICS = ("log_loss", "brier")
REGRESSION_METRICS = ("mae", "rmse")
# Lower is better; effects are oriented as champion_loss - challenger_loss.
LOSS_METRICS = ("log_loss", "brier", "mae", "rmse")

# The probability a model gives the true class is clipped below at EPS before taking its log, so one
# confidently wrong row costs at most -log(1e-15) ~ 34.5 nats instead of infinity (scikit-learn's old default).
LOG_LOSS_EPS = 1e-15
