"""Argument checks for the public boundary, spelled once.

Python's ``bool`` is an ``int``, so "an integer" always means "an integral number that is
not True or False": ``Conv2d(True, 6, 5)`` is a mistake, not one input channel. Every check
takes ``(value, what, where)``: the value, its name, and the function or layer asking.
"""

from __future__ import annotations

import numbers


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def real_number(value, what: str, where: str = "") -> float:
    if not is_real(value):
        raise ValueError(f"{where + ': ' if where else ''}{what} must be a number, "
                         f"got {value!r}")
    return float(value)


def positive_int(value, what: str, where: str) -> int:
    if not is_int(value) or value <= 0:
        raise ValueError(f"{where}: {what} must be a positive integer, got {value!r}")
    return int(value)


def int_tuple(value, n: int, what: str, where: str, minimum: int) -> tuple:
    """``value`` (an int or a sequence of ``n`` ints) as an ``n``-tuple, each >= minimum."""
    items = (value,) * n if is_int(value) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    if len(items) != n or not all(is_int(v) and v >= minimum for v in items):
        kind = "a positive int" if minimum > 0 else "a non-negative int"
        pair = "" if n == 1 else f" or a sequence of {n} of them"
        raise ValueError(f"{where}: {what} must be {kind}{pair}, got {value!r}")
    return tuple(int(v) for v in items)


def probability(value, what: str, where: str) -> float:
    if not is_real(value) or not 0 <= value <= 1:
        raise ValueError(f"{where}: {what} must be a probability in [0, 1], got {value!r}")
    return float(value)
