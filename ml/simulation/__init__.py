"""Simulation: scenarios, data sources, synthetic streams, the direct engine, the run summary."""
