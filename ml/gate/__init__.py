"""The promotion gate: the statistical decision, its blocking checks, human approval."""
