"""Exceptions raised by the statistical core of the promotion gate."""


class GateInputError(ValueError):
    """The gate was given data or settings it cannot judge; the message says how to fix them."""
