"""Argument checks for the public boundary, spelled once.

Python's ``bool`` is an ``int``, so "an integer" always means "an integral number that is
not True or False": ``Conv2d(True, 6, 5)`` is a mistake, not one input channel. Every check
of a setting takes ``(value, what, where)``: the value, its name, and the function or layer
asking. The checks of axes and indices against a tensor's shape (:func:`axis_tuple`,
:func:`check_index`) are here too, so the ops and ``Tensor`` share one wording.
"""

from __future__ import annotations

import numbers

from . import backend


def is_int(value) -> bool:
    # a plain int first: the ABC check costs a microsecond, and layers check their
    # settings at every call
    return type(value) is int or (isinstance(value, numbers.Integral)
                                  and not isinstance(value, bool))


def is_real(value) -> bool:
    return type(value) in (float, int) or (isinstance(value, numbers.Real)
                                           and not isinstance(value, bool))


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


def shape_tuple(args) -> tuple:
    """A shape given as ``f(2, 3)`` or ``f((2, 3))`` (``args`` is the tuple of positional
    arguments), as a tuple of ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    try:
        return tuple(int(n) for n in args)
    except TypeError:
        raise TypeError(f"shape must be integers, got {args!r}") from None


def axis_tuple(axis, ndim: int, where: str) -> tuple:
    """``axis`` (None, an int or a sequence of ints, NumPy integers included) as a sorted
    tuple of non-negative Python ints, the axes of an ``ndim``-dimensional tensor, all of
    them for None; out-of-range or repeated axes raise ``ValueError`` naming ``where`` (the
    op asking)."""
    if axis is None:
        return tuple(range(ndim))
    if is_int(axis):
        axes = (axis,)
    else:
        try:
            axes = tuple(axis)
        except TypeError:
            raise TypeError(f"{where}: axis must be an int or a sequence of ints, "
                            f"got {axis!r}") from None
    out = []
    for a in axes:
        if not is_int(a) or not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{where}: axis {a} is out of range for a tensor with {ndim} dims")
        out.append(int(a) % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: repeated axis in {axis}")
    return tuple(sorted(out))


def check_index(shape: tuple, index) -> None:
    """Raise IndexError for an integer index outside its axis, before indexing.

    NumPy would raise anyway, but CuPy silently wraps out-of-range integer arrays around,
    so the range is checked here on every device (one small read for device index arrays).
    """
    items = index if isinstance(index, tuple) else (index,)
    # how many axes of x each item consumes (a boolean mask: its ndim; None, ...: none)
    widths = [(item.ndim if getattr(item, "dtype", None) is not None and item.dtype.kind == "b"
               else
               0 if item is None or item is Ellipsis else 1) for item in items]
    ellipsis = next((k for k, item in enumerate(items) if item is Ellipsis), len(items))
    checks = []  # (axis, index array or int)
    for k, item in enumerate(items):
        axis = sum(widths[:k]) if k < ellipsis else len(shape) - sum(widths[k:])
        if is_int(item):
            item = int(item)  # NumPy integers too: checked on the host
        elif getattr(item, "dtype", None) is None or item.dtype.kind not in "iu" \
                or not item.size:
            continue
        if 0 <= axis < len(shape):
            checks.append((axis, item))
    if not checks:
        return
    extremes = []  # low, high of each checked item; reductions of arrays read at once
    for _, item in checks:
        extremes += [item, item] if isinstance(item, int) else [item.min(), item.max()]
    arrays = [v for v in extremes if not isinstance(v, int)]
    if arrays:
        values = iter(backend.to_host(backend.xp_of(arrays[0]).stack(arrays)).tolist())
        extremes = [v if isinstance(v, int) else next(values) for v in extremes]
    for (axis, _), low, high in zip(checks, extremes[0::2], extremes[1::2]):
        n = shape[axis]
        if low < -n or high >= n:
            raise IndexError(f"getitem: index {low if low < -n else high} is out of bounds "
                             f"for axis {axis} with size {n} (tensor shape {tuple(shape)})")
