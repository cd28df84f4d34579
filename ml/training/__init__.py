"""Training: the window, features, the model families and their training loop, run logging to MLflow."""
