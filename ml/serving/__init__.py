"""Serving: the scoring code that travels with every model version, and its MLflow pyfunc entry point."""
