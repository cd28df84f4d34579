"""Validation: the checks every batch and label file passes (Great Expectations derived from the contract),
and quarantine."""
