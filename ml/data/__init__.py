"""Data: batches as they land, data versions (git + DVC), the labels join, the prediction log."""
