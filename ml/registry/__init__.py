"""The model registry (MLflow): versions and aliases, the release bundle, lineage, reproduction."""
