"""Where CuPy 13 and CuPy 14 behave differently, for the CuPy test double (tests/cupy_double.py).

The double behaves as one CuPy major version at a time: 14 (CuPy 14.2) unless
``TINYGRAD_CNN_CUPY_DOUBLE_VERSION=13`` (CuPy 13.6) is set, or a test switches it with
``cupy_double.behaving_as(13)``. Each rule below is read from CuPy's sources at tags v13.6.0
and v14.2.0 (the file is named with the rule), and is as strict as the real library: the
double raises where that version raises.

* ``ufunc.at`` with integer-array indices (``_scatter_op_single`` in
  cupy/_core/_routines_indexing.pyx) runs only for the dtypes CUDA has an atomic for. CuPy 13
  has no ``add.at``, ``maximum.at`` or ``minimum.at`` for int64 (14.1 added them);
  ``subtract.at`` takes only int32 and uint32 in both, so never a float. A boolean mask or
  basic indices take other kernels, which accept every dtype.
* Scalar operands of ufuncs (``guess_routine`` in cupy/_core/_kernel.pyx): CuPy 14 follows
  NEP 50, as NumPy 2 does (a Python scalar is "weak", a NumPy scalar keeps its dtype).
  CuPy 13 applies NumPy 1's value-based casting to every scalar, Python's and NumPy's alike:
  when no scalar is of a higher kind (bool < integer < float/complex) than the arrays, a
  scalar counts as the smallest type that holds its value (``numpy.min_scalar_type``; a
  non-negative integer as either the signed or the unsigned one), and the first loop of the
  ufunc that every operand casts to safely is used. So ``float32 array + numpy.float64(1)``
  is float32 on CuPy 13 and float64 on CuPy 14.
* ``ndarray.fill`` with a 0-d device array: CuPy 14 tests ``value == 0`` on the host (a
  synchronisation); CuPy 13 passes the array to its fill kernel.
"""

from __future__ import annotations

import os

import numpy as np

ENV_VAR = "TINYGRAD_CNN_CUPY_DOUBLE_VERSION"
RELEASES = {13: "13.6.0", 14: "14.2.0"}  # the sources each major version's rules come from
DEFAULT = 14


def major_from_environment() -> int:
    """The major version named by ``TINYGRAD_CNN_CUPY_DOUBLE_VERSION`` (14 when unset)."""
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return DEFAULT
    return check_major(text, f"{ENV_VAR}={text!r}")


def check_major(value, where: str = "the CuPy double's version") -> int:
    try:
        major = int(str(value).split(".")[0])
    except ValueError:
        major = None
    if major not in RELEASES:
        raise ValueError(f"{where}: the CuPy test double models CuPy "
                         f"{' and '.join(map(str, RELEASES))}; set {ENV_VAR} to one of them")
    return major


# ----------------------------------------------------------------------------- ufunc.at

# dtype characters `_scatter_op_single` accepts, per operation and major version
# (int32 'i', int64 'l'/'q', uint32 'I', uint64 'L'/'Q', float16 'e', float32 'f', float64 'd')
_AT_DTYPES = {
    "add": {13: "iIeLQfd", 14: "iIeLQfdlq"},
    "subtract": {13: "iI", 14: "iI"},
    "maximum": {13: "iILQfd", 14: "iILQfdlq"},
    "minimum": {13: "iILQfd", 14: "iILQfdlq"},
    "bitwise_and": {13: "iIlqLQ", 14: "iIlqLQ"},
    "bitwise_or": {13: "iIlqLQ", 14: "iIlqLQ"},
    "bitwise_xor": {13: "iIlqLQ", 14: "iIlqLQ"},
}
_AT_MESSAGES = {  # CuPy's own wording, per version
    "add": {13: "int32, float16, float32, float64, uint32, uint64, as data type",
            14: "int32, int64, float16, float32, float64, uint32, uint64 as data type"},
    "subtract": {13: "int32, uint32, as data type", 14: "int32, uint32, as data type"},
    "maximum": {13: "int32, float32, float64, uint32, uint64 as data type",
                14: "int32, int64, float32, float64, uint32, uint64 as data type"},
}


def check_at_dtype(name: str, dtype: np.dtype, major: int) -> None:
    """Raise CuPy's ``TypeError`` where ``cupy.NAME.at`` with integer-array indices refuses
    arrays of ``dtype`` in CuPy ``major``."""
    if dtype.char in _AT_DTYPES[name][major]:
        return
    key = "maximum" if name == "minimum" else name
    supported = _AT_MESSAGES.get(key, {}).get(major, "int32, int64, uint32, uint64 as data type")
    raise TypeError(f"cupy.{name}.at only supports {supported}")


# ----------------------------------------------------------------------------- promotion

_KIND_SCORE = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 2}  # _get_kind_score in _kernel.pyx
_SUPPORTED = "?bhilqBHILQefdFD"


def _scalar_dtype(x) -> np.dtype:
    """The dtype CuPy 13 gives a scalar operand (``CScalar._from_python_scalar``)."""
    if isinstance(x, np.generic):
        return x.dtype
    if type(x) is bool:
        return np.dtype(np.bool_)
    if type(x) is float:
        return np.dtype(np.float64)
    if type(x) is complex:
        return np.dtype(np.complex128)
    return np.dtype(np.uint64 if x >= 0x8000000000000000 else np.int64)


def _min_scalar_types(x) -> tuple:
    """``_min_scalar_type`` of CuPy 13: the smallest type of the value, and for a
    non-negative integer that fits the signed type of that size, both of them."""
    t = np.min_scalar_type(x)
    if t.kind == "u":
        signed = np.dtype(t.char.lower())
        if x <= np.iinfo(signed).max:
            return (t, signed)
    return (t,)


def legacy_operands(np_ufunc, operands):
    """CuPy 13's reading of a ufunc call whose operands mix host arrays (the double's
    device arrays) and scalars: ``(operands, signature)``, the scalars converted to the
    NumPy scalar types the loop takes and ``signature`` the loop CuPy 13 picks, or
    ``(operands, None)`` where CuPy 13 and NumPy 2 agree (no scalar, or only scalars).
    Raises CuPy's ``TypeError`` where no loop fits."""
    arrays = [x for x in operands if isinstance(x, np.ndarray)]
    scalars = [x for x in operands if not isinstance(x, np.ndarray)]
    if not arrays or not scalars:
        return operands, None
    max_array = max(_KIND_SCORE.get(a.dtype.kind, -1) for a in arrays)
    max_scalar = max(_KIND_SCORE.get(_scalar_dtype(s).kind, -1) for s in scalars)
    value_based = max_array >= max_scalar
    candidates = [(x.dtype,) if isinstance(x, np.ndarray)
                  else _min_scalar_types(x) if value_based else (_scalar_dtype(x),)
                  for x in operands]
    for loop in np_ufunc.types:
        ins, outs = loop.split("->")
        if any(c not in _SUPPORTED for c in ins + outs):
            continue
        chosen = []
        for options, char in zip(candidates, ins):
            if not any(np.can_cast(t, char) for t in options):
                break
            chosen.append(np.dtype(char))
        else:
            converted = tuple(x if isinstance(x, np.ndarray) else t.type(x)
                              for x, t in zip(operands, chosen))
            return converted, tuple(chosen) + tuple(np.dtype(c) for c in outs)
    names = tuple(c[0].type for c in candidates)
    raise TypeError(f"Wrong type ({names}) of arguments for cupy_{np_ufunc.__name__}")


# ----------------------------------------------------------------------------- fill

def fill_reads_the_device(major: int) -> bool:
    """Whether ``ndarray.fill(0-d device array)`` synchronises (``fill`` in core.pyx)."""
    return major >= 14
