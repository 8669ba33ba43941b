"""Checks of arguments shared by the whole package."""

from __future__ import annotations

import math
import numbers

__all__ = ["whole_number"]


def whole_number(value, name: str, minimum: int | None = None, *, unit: str = "", error=ValueError) -> int:
    """``value`` as an int when it is a whole number (an integer, or a float without a fraction; a bool is not one)
    of at least ``minimum``; else ``error`` saying "<name> must be a whole number[<unit>][ >= minimum], got ..."."""
    whole = (
        not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value) and value == int(value)
    )
    if not whole or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise error(f"{name} must be a whole number{unit}{bound}, got {value!r}")
    return int(value)
