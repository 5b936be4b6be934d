"""A strict, NumPy-backed stand-in for the ``cupy`` module, so CI without a GPU runs the GPU path.

``install()`` puts a fake ``cupy`` package (with ``cupy.cuda``, ``cupy.cuda.runtime``,
``cupy.random``, ``cupy.linalg``, ``cupy.lib.stride_tricks``) into ``sys.modules``;
``tests/conftest.py`` does that when ``TINYGRAD_CNN_TEST_CUPY=double``. Its arrays are a type
of their own (:class:`ndarray`, not a NumPy subclass) wrapping a host NumPy array, and they
behave the way CuPy 13 and 14 do wherever a difference could hide a bug on a real GPU. The
rules below are CuPy's, read from its sources at tags v13.6.0 and v14.2.0 (the file is named
where the behaviour is subtle):

* no implicit conversion to NumPy: ``__array__`` raises CuPy's ``TypeError``, so
  ``np.asarray(x)`` or ``np.array([x])`` fail; NumPy functions and ufuncs given a device
  array dispatch (``__array_function__`` / ``__array_ufunc__``) to this module, as CuPy's do
  (``cupy/_core/core.pyx``);
* NumPy arrays (and lists) are refused as operands of ufuncs and operators
  (``TypeError: Unsupported type <class 'numpy.ndarray'>``); Python and NumPy scalars are
  fine. Only ``array``/``asarray``/``asanyarray``, ``ndarray.set``, and indices or values in
  advanced indexing upload host data, and each upload of an array (not of a 0-d value,
  which CuPy passes to a fill kernel) is counted;
* only names that CuPy 13 *and* 14 both have exist (an explicit allow-list per module and
  for ``ndarray``); a name CuPy has but the double does not implement raises an
  ``AttributeError`` that says so, and nothing falls back to NumPy;
* reductions and element indexing return 0-d arrays, never scalars;
* integer-array indices wrap around (``take``/fancy indexing/``put`` use mode ``wrap``),
  while an out-of-range *basic* integer index raises ``IndexError``
  (``cupy/_core/_routines_indexing.pyx``); with repeated indices in an advanced
  assignment CuPy stores an unspecified one, and the double stores the *first*, so code
  that relies on NumPy's "last wins" fails here too;
* ``bincount`` raises on an empty input (CuPy 13.0 to 14.1; 14.2 returns zeros) and
  synchronises twice (``cupy/_statistics/histogram.py``); boolean-mask indexing and
  ``nonzero`` synchronise once; ``lib.stride_tricks.sliding_window_view`` uploads its
  window shape and reads each entry back to test its sign (one synchronisation per
  windowed axis, ``cupy/lib/stride_tricks.py``);
* where CuPy 13 and 14 differ (``ufunc.at`` dtypes, the promotion of scalar operands, the
  synchronisation of ``fill``), the double behaves as one of them, 14 unless
  ``TINYGRAD_CNN_CUPY_DOUBLE_VERSION=13``; :func:`behaving_as` switches it for a block.
  The rules are in ``tests/cupy_double_versions.py``;
* ``cupy.random.RandomState`` has no ``get_state``/``set_state`` and draws a stream that
  differs from NumPy's generators (Philox here; cuRAND on a GPU);
* ``flags`` has only ``c_contiguous``, ``f_contiguous`` and ``owndata`` (no
  ``writeable``); every array is writable, broadcast views included; ``as_strided`` views
  have ``base is None``; ``empty`` arrays hold garbage (NaN or a large sentinel), as recycled
  pool memory does; float-to-integer casts saturate (NaN becomes 0); no floating-point
  warnings are ever emitted; ``astype(casting=...)`` and ``asarray(copy=...)`` are refused
  (the first is unsupported by CuPy, the second is absent from CuPy 13).

Synchronisations and uploads are counted in :data:`counters` (``counters.syncs``,
``counters.uploads``, ``counters.events``, ``counters.reset()``) and by :func:`count`::

    with cupy_double.count() as c:
        train_step()
    assert c.syncs <= 1, c.events

A synchronisation is anything that makes the host wait for the device: ``get`` (also
through ``asnumpy``, ``item``, ``tolist``, ``float``/``int``/``complex``/``bool``,
``repr``/``str``/``format``, ``tobytes``, pickling), ``Device.synchronize``,
``Stream.synchronize``, ``runtime.deviceSynchronize``, and CuPy's own hidden ones listed
above. CuPy arrays have no ``__index__``, so ``range(x)`` or ``lst[x]`` fail as on a GPU.

Limits: the numerics are NumPy's (CuPy's kernels round differently in the last bits, its
sums use other orders, cuRAND draws other numbers); type promotion is NumPy 2's (NEP 50, as
CuPy 14), or, behaving as CuPy 13, CuPy 13's value-based casting of scalar operands in
ufuncs (not in ``where``, ``clip`` or ``isclose``, which keep NumPy 2's); there is one
device, no streams (everything is synchronous), no memory pool, no kernels
(``ElementwiseKernel``, ``RawKernel``, ``fuse``), no ``cupyx``, no
``__cuda_array_interface__`` or DLPack, no structured dtypes, and only a subset of CuPy's
functions (adding one is a line in the tables below: check its behaviour in CuPy's source
first). It is stricter than CuPy in two ways: where CuPy would quietly hand a NumPy array to
NumPy (``cupy.sum(numpy_array)`` returns a NumPy result) the double raises, and an
``as_strided`` view reaching outside its allocation raises instead of reading garbage.
``tests/test_cupy_double.py`` compares the double with real CuPy on a GPU (probes that skip
elsewhere), so these claims are checked wherever a GPU is at hand.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.machinery
import numbers
import os
import sys
import types
import weakref

import cupy_double_versions as versions
import numpy as np

_THIS_FILE = os.path.abspath(__file__)
major = versions.major_from_environment()  # the CuPy major version the double behaves as
__version__ = versions.RELEASES[major]


def set_version(version) -> None:
    """Behave as CuPy ``version`` (13 or 14) from now on: ``cupy.__version__`` follows."""
    global major, __version__
    major = versions.check_major(version)
    __version__ = versions.RELEASES[major]
    if "_MODULES" in globals():
        _MODULES["cupy"].__version__ = __version__


@contextlib.contextmanager
def behaving_as(version):
    """Behave as CuPy ``version`` (13 or 14) inside the block."""
    before = major
    set_version(version)
    try:
        yield
    finally:
        set_version(before)


# ============================================================================ counters


class Counts:
    """Synchronisations and uploads seen while active; ``events`` says what and where."""

    def __init__(self, maxlen=None):
        self.syncs = 0
        self.uploads = 0
        self.events = collections.deque(maxlen=maxlen)

    def reset(self) -> None:
        self.syncs = 0
        self.uploads = 0
        self.events.clear()

    def __repr__(self):
        return f"Counts(syncs={self.syncs}, uploads={self.uploads})"


counters = Counts(maxlen=2000)  # since import or the last reset(), the most recent events
_active: list = []


@contextlib.contextmanager
def count():
    """Count the synchronisations and uploads of the block (nested blocks each count)."""
    counts = Counts()
    _active.append(counts)
    try:
        yield counts
    finally:
        _active.remove(counts)


def _caller(depth: int = 3) -> str:
    """``file:line function <- ...`` for the first ``depth`` frames outside this module."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename == _THIS_FILE:
        frame = frame.f_back
    where = []
    while frame is not None and len(where) < depth:
        where.append(f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} "
                     f"{frame.f_code.co_name}")
        frame = frame.f_back
    return " <- ".join(where) or "?"


def _record(kind: str, what: str) -> None:
    event = (kind, what, _caller())
    for counts in [counters, *_active]:
        if kind == "sync":
            counts.syncs += 1
        else:
            counts.uploads += 1
        counts.events.append(event)


def _sync(what: str) -> None:
    _record("sync", what)


def _upload(what: str) -> None:
    _record("upload", what)


def _upload_host(host: np.ndarray, what: str) -> None:
    """Count a host-to-device copy; a 0-d value becomes a fill kernel's argument in CuPy
    (``_array_default`` in core.pyx), not a copy, so it is not counted."""
    if host.ndim:
        _upload(what)


# ============================================================================ dtypes

# cupy/_core/_dtype.pyx: bool, the integers, float16/32/64 and complex64/128
_SUPPORTED_CHARS = "?bhilqBHILQefdFD"
_SCALAR_TYPES = frozenset((int, float, bool, complex))  # _scalar.pyx: exact Python types


def _dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.char not in _SUPPORTED_CHARS:
        raise ValueError(f"Unsupported dtype {dtype}")
    return dtype


def _is_scalar(x) -> bool:
    return type(x) in _SCALAR_TYPES or isinstance(x, np.generic)


def _garbage(a: np.ndarray) -> np.ndarray:
    """Fill an "uninitialised" array as recycled pool memory might be: NaN or a sentinel."""
    if a.size:
        kind = a.dtype.kind
        if kind in "fc":
            a.fill(np.nan)
        elif kind in "iu":
            a.fill(np.iinfo(a.dtype).max // 3)
        else:
            a.fill(True)
    return a


def _cast(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``a.astype(dtype)``, saturating float-to-integer casts as the GPU does (NaN -> 0);
    see "Cast behavior from float to integer" in CuPy's "Differences" page."""
    with np.errstate(all="ignore"):
        out = a.astype(dtype)
    if a.dtype.kind == "f" and dtype.kind in "iu" and a.size:
        info = np.iinfo(dtype)
        out[a >= info.max] = info.max
        out[a <= info.min] = info.min
        out[np.isnan(a)] = 0
    return out


# ============================================================================ wrapping

_UNSET = object()
_owners: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _wrap(a, owner: bool = False):
    """A device array around NumPy result ``a`` (a NumPy scalar becomes a 0-d array)."""
    if isinstance(a, np.generic):
        a, owner = np.asarray(a), True
    obj = ndarray.__new__(ndarray)
    if not a.flags.writeable:  # CuPy has no read-only arrays
        try:
            a.flags.writeable = True
        except ValueError:  # a view of read-only memory: a copy (never made by this module)
            a = a.copy()
            owner = True
    obj._a = a
    if owner or a.base is None:
        obj._base = None
        _owners[id(a)] = obj
    else:
        obj._base = _UNSET
    return obj


def _wrap_any(result):
    if isinstance(result, (np.ndarray, np.generic)):
        return _wrap(result)
    if isinstance(result, tuple):
        return tuple(_wrap_any(r) for r in result)
    if isinstance(result, list):
        return [_wrap_any(r) for r in result]
    return result


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


def _kernel_arg(x):
    """An operand of a ufunc or operator: a device array or a scalar
    (``_preprocess_arg`` in cupy/_core/_kernel.pyx); NumPy arrays and lists are refused."""
    if isinstance(x, ndarray):
        return x._a
    if _is_scalar(x):
        return x
    raise _unsupported(x)


def _dev(x, where: str):
    """The host array inside device array ``x``; anything else is refused."""
    if isinstance(x, ndarray):
        return x._a
    raise TypeError(f"{where}: expected a cupy.ndarray, got {type(x).__name__} (the CuPy "
                    f"double refuses host data here; upload it with cupy.asarray)")


def _dev_or_scalar(x, where: str):
    if isinstance(x, ndarray):
        return x._a
    if _is_scalar(x):
        return x
    raise _unsupported(x)


def _out(out, where: str):
    if out is None:
        return None
    if not isinstance(out, ndarray):
        raise TypeError("Output arguments must be cupy.ndarray")
    return out._a


def _finish(result, out):
    """The given ``out`` array itself (as CuPy returns it), else the wrapped result."""
    return out if out is not None else _wrap_any(result)


# ============================================================================ indexing

def _index_array(s):
    """One array-like index item as a host array (an upload unless already on the device)."""
    if isinstance(s, ndarray):
        arr = s._a
    else:
        arr = np.array(s)
        _upload_host(arr, "index")
        if isinstance(s, (list, tuple)) and arr.size == 0:
            arr = arr.astype(np.int32)  # an empty list means no indices, not an empty mask
        if arr.dtype.char not in _SUPPORTED_CHARS:
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis "
                             "(`None`) and integer or boolean arrays are valid indices")
    if arr.dtype.kind not in "biu":
        raise IndexError("arrays used as indices must be of integer or boolean type. "
                         f"(actual: {arr.dtype.type})")
    return arr


def _prepare_index(shape: tuple, index):
    """CuPy's reading of an index (``_prepare_slice_list`` and ``_view_getitem`` in
    cupy/_core/_routines_indexing.pyx) as a NumPy index.

    Returns ``(index, advanced, mask_syncs)``: integer arrays already wrapped into range,
    basic integers bounds-checked with CuPy's message, and an Ellipsis appended to basic
    indices so that NumPy returns a (0-d) view rather than a scalar.
    """
    items = list(index) if isinstance(index, tuple) else [index]
    kinds = []
    for i, s in enumerate(items):
        if s is None or s is Ellipsis or isinstance(s, slice):
            kinds.append("basic")
        elif not isinstance(s, (list, tuple, np.ndarray, ndarray)) and np.isscalar(s) \
                and not isinstance(s, (bool, np.bool_)):
            items[i] = int(s)  # CuPy keeps scalars and takes int() of them
            kinds.append("int")
        else:
            items[i] = _index_array(s)
            kinds.append("mask" if items[i].dtype.kind == "b" else "array")
    ndim = len(shape)
    if sum(s is Ellipsis for s in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(items[i].ndim if k == "mask" else 0 if items[i] is None or items[i] is Ellipsis
               else 1 for i, k in enumerate(kinds))
    if used > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but "
                         f"{used} were indexed")
    axis, syncs, advanced = 0, 0, False
    for i, (s, kind) in enumerate(zip(items, kinds)):
        if s is None:
            continue
        if s is Ellipsis:
            axis += ndim - used
        elif kind == "int":
            n = shape[axis]
            if not -n <= s < n:
                raise IndexError(f"Index {s} is out of bounds for axis {axis} with size {n}")
            axis += 1
        elif kind == "array":
            advanced = True
            n = shape[axis]
            if n:
                items[i] = s % n  # wrap around, as CuPy's take and scatter kernels do
            elif s.size:
                raise IndexError("cannot do a non-empty take from an empty axes.")
            axis += 1
        elif kind == "mask":
            advanced = True
            for k, m in enumerate(s.shape):
                if m not in (0, shape[axis + k]):
                    raise IndexError(
                        "boolean index did not match indexed array along dimension "
                        f"{axis + k}; dimension is {shape[axis + k]} but corresponding "
                        f"boolean dimension is {m}")
            if s.size:
                syncs += 1  # the number of True values is read on the host
            axis += s.ndim
        else:
            axis += 1
    if not advanced and not any(s is Ellipsis for s in items):
        items.append(Ellipsis)
    return tuple(items), advanced, syncs


# ============================================================================ ndarray

_COMPARISONS = ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal")


class ndarray:
    """A device array (CuPy's ``cupy.ndarray``), holding a private NumPy array."""

    __slots__ = ("_a", "_base", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("CuPy double: ndarray(memptr=, strides=) is not modelled")
        self._a = _garbage(np.empty(shape, dtype=_dtype(dtype), order=order))
        self._base = None
        _owners[id(self._a)] = self

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)

    @property
    def flags(self):
        return _Flags(self._a.flags.c_contiguous, self._a.flags.f_contiguous,
                      self.base is None)

    @property
    def base(self):
        """The array owning the memory of a view (CuPy's ``_view`` always points at the
        owner), None for an owner."""
        if self._base is _UNSET:
            node, last, owner = self._a.base, None, None
            while node is not None and owner is None:
                if isinstance(node, np.ndarray):
                    owner = _owners.get(id(node))
                    if owner is not None and owner._a is not node:
                        owner = None
                    last = node
                node = getattr(node, "base", None)
            if owner is None and last is not None:
                owner = _wrap(last, owner=True)
            self._base = owner
        return self._base

    @property
    def data(self):
        return _MemoryPointer(self._a)

    @property
    def device(self):
        return Device(0)

    @property
    def T(self):
        return self if self.ndim < 2 else _wrap(self._a.T)

    @property
    def real(self):
        return _wrap(self._a.real)

    @property
    def imag(self):
        return _wrap(self._a.imag)

    # ------------------------------------------------------------------ host transfers
    def get(self, stream=None, order="C", out=None, blocking=True):
        """A host copy (cupy/_core/core.pyx ``get``: an empty array returns before any
        synchronisation)."""
        if out is not None:
            if not isinstance(out, np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained fromcupy.ndarray")
            if out.dtype != self.dtype:
                raise TypeError(f"{out.dtype} array cannot be obtained from {self.dtype} array")
            if out.shape != self.shape:
                raise ValueError(f"Shape mismatch. Expected shape: {self.shape}, actual "
                                 f"shape: {out.shape}")
            if blocking:
                _sync("get")
            out[...] = self._a
            return out
        if self.size == 0:
            return np.ndarray(self.shape, dtype=self.dtype)
        if blocking:
            _sync("get")
        order = order.upper()
        if order == "A":
            order = "F" if self._a.flags.f_contiguous else "C"
        if order not in "CF":
            raise ValueError(f"unsupported order: {order}")
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self.dtype != arr.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if self.shape != arr.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        _upload("set")
        self._a[...] = arr

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.get().item()

    def tolist(self):
        return self.get().tolist()

    def tobytes(self, order="C"):
        return self.get().tobytes(order)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __int__(self):
        return int(self.get())

    def __float__(self):
        return float(self.get())

    def __complex__(self):
        return complex(self.get())

    def __bool__(self):
        if self.size == 0:
            import warnings
            warnings.warn("The truth value of an empty array is ambiguous. Returning False, "
                          "but in future this will result in an error. Use `array.size > 0` "
                          "to check that an array is not empty.", DeprecationWarning,
                          stacklevel=2)
            return False
        if self.size == 1:
            return bool(self.get())
        raise ValueError("The truth value of an array with more than one element is "
                         "ambiguous. Use a.any() or a.all()")

    def __repr__(self):
        return repr(self.get())

    def __str__(self):
        return str(self.get())

    def __format__(self, spec):
        return format(self.get(), spec)

    def __reduce__(self):
        return array, (self.get(order="A"),)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    # ------------------------------------------------------------------ containers
    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, index):
        index, advanced, syncs = _prepare_index(self.shape, index)
        for _ in range(syncs):
            _sync("boolean-mask indexing")
        out = self._a[index]
        if advanced:
            if np.may_share_memory(out, self._a):
                out = out.copy()
            return _wrap(out, owner=True)
        return _wrap(out)

    def __setitem__(self, index, value):
        index, advanced, syncs = _prepare_index(self.shape, index)
        for _ in range(syncs):
            _sync("boolean-mask assignment")
        if isinstance(value, ndarray):
            value = value._a
        elif advanced and not _is_scalar(value):
            # _scatter_op_single: core.array(value, dtype=a.dtype) uploads host data
            value = np.array(value, dtype=self.dtype)
            _upload_host(value, "setitem value")
        elif not advanced and not _is_scalar(value):
            # _scatter_op -> fill(): a host array is refused unless it is 0-d (gh-2079)
            host = np.asarray(value, dtype=self.dtype)
            if host.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = host[()]
        target = self._a
        if isinstance(value, np.ndarray) and value.dtype != target.dtype:
            value = _cast(value, target.dtype)
        if advanced:
            _scatter_first_wins(target, index, value)
        else:
            with np.errstate(all="ignore"):
                target[index] = value

    # ------------------------------------------------------------------ NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy ufuncs on device arrays run this module's ufunc of the same name
        (cupy/_core/core.pyx ``__array_ufunc__``), which then refuses NumPy arrays."""
        inout = inputs
        if "out" in kwargs:
            out = kwargs["out"]
            if len(out) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            inout += out
            kwargs["out"] = out[0]
        if method not in ("__call__", "outer", "at", "reduce", "accumulate", "reduceat"):
            return NotImplemented
        func = _UFUNCS.get(ufunc.__name__)
        if func is None:
            return NotImplemented
        if method != "__call__":
            func = getattr(func, method, None)
            if func is None:
                return NotImplemented
        for x in inout:
            if not (_is_scalar(x) or isinstance(x, (ndarray, np.ndarray))):
                return NotImplemented
        if ufunc.__name__ in _COMPARISONS:  # numpy/numpy#12142 workaround in CuPy
            inputs = tuple(x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x
                           for x in inputs)
        return func(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """NumPy functions on device arrays run this module's function of the same name,
        if it has one (cupy/_core/core.pyx ``__array_function__``)."""
        namespace = _MODULES.get(func.__module__.replace("numpy", "cupy", 1))
        target = namespace.__dict__.get(func.__name__) if namespace is not None else None
        if target is None or not callable(target):
            return NotImplemented
        if not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
            return NotImplemented
        return target(*args, **kwargs)

    # ------------------------------------------------------------------ operators
    def _binary(self, name, other, reflected=False):
        if not isinstance(other, ndarray):
            handler = getattr(other, "__array_ufunc__", _UNSET)
            if handler is None:  # the other operand opted out: let it handle the operation
                return NotImplemented
            if handler is _UNSET and getattr(other, "__array_priority__", 0) > 100:
                return NotImplemented
        args = (other, self) if reflected else (self, other)
        return getattr(np, name)(*args)  # NumPy's dispatch ends in __array_ufunc__ above

    # Operators (CuPy's __add__ etc. in core.pyx, with __radd__ the same function): a
    # device array or a scalar goes to the ufunc; an operand that opted out of NumPy's
    # ufuncs (``__array_ufunc__ = None``) or has a higher ``__array_priority__`` gets
    # NotImplemented; anything else goes through NumPy's dispatch, which refuses it.
    # In-place operators go straight to the ufunc with ``out=self``.

    def __neg__(self):
        return negative(self)

    def __pos__(self):
        return positive(self)

    def __abs__(self):
        return absolute(self)

    def __invert__(self):
        return invert(self)

    def _compare(self, name, other):
        # cupy/_core/core.pyx __richcmp__
        if isinstance(other, ndarray):
            return _UFUNCS[name](self, other)
        handler = getattr(other, "__array_ufunc__", _UNSET)
        if handler is None or (handler is _UNSET
                               and getattr(other, "__array_priority__", 0) > 100):
            return NotImplemented
        if isinstance(other, np.ndarray) and other.ndim == 0:
            other = other.item()
        if name in ("equal", "not_equal") and (
                other is None or type(other).__eq__ is object.__eq__):
            return (zeros if name == "equal" else ones)(self.shape, dtype=np.bool_)
        return getattr(np, name)(self, other)

    def __eq__(self, o):
        return self._compare("equal", o)

    def __ne__(self, o):
        return self._compare("not_equal", o)

    def __lt__(self, o):
        return self._compare("less", o)

    def __le__(self, o):
        return self._compare("less_equal", o)

    def __gt__(self, o):
        return self._compare("greater", o)

    def __ge__(self, o):
        return self._compare("greater_equal", o)

    # ------------------------------------------------------------------ conversion and copies
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        """CuPy 14: ``copy=False`` returns ``self`` only when nothing changes."""
        if casting is not None:
            raise TypeError("casting is not supported yet")
        if subok is not None:
            raise TypeError("subok is not supported yet")
        dtype = _dtype(dtype)
        if not copy and dtype == self.dtype:
            return self
        out = _cast(self._a, dtype) if dtype != self.dtype else self._a.copy(order=order)
        return _wrap(out, owner=True)

    def copy(self, order="C"):
        return _wrap(self._a.copy(order=order), owner=True)

    def view(self, dtype=None, type=None):
        if type is not None:
            raise NotImplementedError("CuPy double: view(type=) is not modelled")
        return _wrap(self._a.view() if dtype is None else self._a.view(_dtype(dtype)))

    def fill(self, value):
        if isinstance(value, ndarray):
            if value.shape != ():
                raise ValueError("non-scalar cupy.ndarray cannot be used for fill")
            if versions.fill_reads_the_device(major):  # CuPy 14 tests `value == 0` on the host
                _sync("fill with a 0-d device array")
            value = value._a[()]
        else:
            value = np.asarray(value, dtype=self.dtype)
            if value.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value[()]
        self._a.fill(value)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _wrap(self._a.reshape(shape, order=order))

    def transpose(self, *axes):
        return _wrap(self._a.transpose(*axes))

    def swapaxes(self, axis1, axis2):
        return _wrap(self._a.swapaxes(axis1, axis2))

    def ravel(self, order="C"):
        return _wrap(self._a.ravel(order))

    def flatten(self, order="C"):
        return _wrap(self._a.flatten(order), owner=True)

    def squeeze(self, axis=None):
        return _wrap(self._a.squeeze(axis))

    def repeat(self, repeats, axis=None):
        """An int or a host sequence; CuPy 13 refuses device arrays, CuPy 14 NumPy arrays."""
        if isinstance(repeats, ndarray):
            raise ValueError("cupy.ndarray cannot be specified as `repeats` argument.")
        if isinstance(repeats, np.ndarray):
            raise TypeError("'repeats' does not accept numpy.ndarray; convert with "
                            "cupy.array() first")
        return _wrap(np.repeat(self._a, repeats, axis), owner=True)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _wrap(self._a.diagonal(offset, axis1, axis2))

    # ------------------------------------------------------------------ indexing methods
    def take(self, indices, axis=None, out=None):
        """Out-of-range indices wrap (``_take`` in _routines_indexing.pyx)."""
        if isinstance(indices, ndarray):
            idx = indices._a
        else:
            idx = np.asarray(indices)
            _upload_host(idx, "take indices")
        o = _out(out, "take")
        return _finish(np.take(self._a, idx, axis=axis, out=o, mode="wrap"), out)

    def put(self, indices, values, mode="wrap"):
        if mode not in ("raise", "wrap", "clip"):
            raise ValueError(f"Unrecognized mode: {mode}")
        if mode == "raise":
            raise NotImplementedError("CuPy double: put(mode='raise') synchronises on an "
                                      "error flag; not modelled")
        np.put(self._a, _dev(indices, "put"), _dev_or_scalar(values, "put"), mode=mode)

    def nonzero(self):
        if self.ndim == 0:
            raise ValueError("Calling nonzero on 0d arrays is not allowed. "
                             "Use cp.atleast_1d(scalar).nonzero() instead.")
        _sync("nonzero")
        return tuple(_wrap(i, owner=True) for i in self._a.nonzero())

    def sort(self, axis=-1, kind=None):
        self._a.sort(axis=axis)

    def argsort(self, axis=-1, kind=None):
        return _wrap(self._a.argsort(axis=axis, kind="stable"), owner=True)

    # ------------------------------------------------------------------ reductions
    def _reduce(self, name, out, **kwargs):
        if self.size == 0 and name in ("max", "min", "argmax", "argmin", "ptp"):
            # _reduction.pyx: an empty *result* is returned as is; otherwise these have no
            # identity to start from
            axis, keepdims = kwargs.get("axis"), kwargs.get("keepdims", False)
            if np.zeros(self.shape).sum(axis=axis, keepdims=keepdims).size:
                raise ValueError(f"zero-size array to reduction operation cupy_{name} which "
                                 f"has no identity")
        o = _out(out, name)
        with np.errstate(all="ignore"):
            result = getattr(self._a, name)(out=o, **kwargs)
        return out if out is not None else _wrap(np.asarray(result), owner=True)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return self._reduce("sum", out, axis=axis, dtype=dtype, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        return self._reduce("prod", out, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return self._reduce("mean", out, axis=axis, dtype=dtype, keepdims=keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return self._reduce("var", out, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return self._reduce("std", out, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        return self._reduce("max", out, axis=axis, keepdims=keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        return self._reduce("min", out, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, out=None, dtype=None, keepdims=False):
        result = self._reduce("argmax", out, axis=axis, keepdims=keepdims)
        return result.astype(dtype, copy=False) if dtype is not None else result

    def argmin(self, axis=None, out=None, dtype=None, keepdims=False):
        result = self._reduce("argmin", out, axis=axis, keepdims=keepdims)
        return result.astype(dtype, copy=False) if dtype is not None else result

    def all(self, axis=None, out=None, keepdims=False):
        return self._reduce("all", out, axis=axis, keepdims=keepdims)

    def any(self, axis=None, out=None, keepdims=False):
        return self._reduce("any", out, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        return self._reduce("cumsum", out, axis=axis, dtype=dtype)

    def cumprod(self, axis=None, dtype=None, out=None):
        return self._reduce("cumprod", out, axis=axis, dtype=dtype)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        return self._reduce("trace", out, offset=offset, axis1=axis1, axis2=axis2, dtype=dtype)

    def clip(self, min=None, max=None, out=None):
        return clip(self, min, max, out=out)

    def round(self, decimals=0, out=None):
        return around(self, decimals, out=out)

    def dot(self, b, out=None):
        return dot(self, b, out=out)

    def conj(self):
        return conj(self)

    def conjugate(self):
        return conj(self)


ndarray.__module__ = "cupy"


_OPERATORS = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
              "floordiv": "floor_divide", "mod": "remainder", "pow": "power",
              "matmul": "matmul", "and": "bitwise_and", "or": "bitwise_or",
              "xor": "bitwise_xor", "lshift": "left_shift", "rshift": "right_shift"}


def _install_operators():
    def forward(name):
        return lambda self, other, *modulo: self._binary(name, other)

    def reflected(name):
        return lambda self, other: self._binary(name, other, True)

    def in_place(name):
        return lambda self, other: _UFUNCS[name](self, other, out=self)

    for op, name in _OPERATORS.items():
        setattr(ndarray, f"__{op}__", forward(name))
        setattr(ndarray, f"__r{op}__", reflected(name))
        setattr(ndarray, f"__i{op}__", in_place(name))


class _Flags:
    """CuPy's ``flags`` (cupy/_core/flags.pyx): three read-only entries, no ``writeable``."""

    __slots__ = ("c_contiguous", "f_contiguous", "owndata")
    _KEYS = {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
             "OWNDATA": "owndata"}

    def __init__(self, c, f, own):
        object.__setattr__(self, "c_contiguous", c)
        object.__setattr__(self, "f_contiguous", f)
        object.__setattr__(self, "owndata", own)

    def __setattr__(self, name, value):
        raise AttributeError(f"attribute '{name}' of 'cupy._core.flags.Flags' objects is "
                             f"not writable")

    def __getitem__(self, key):
        try:
            return getattr(self, self._KEYS[key])
        except KeyError:
            raise KeyError(f"{key} is not defined for cupy.ndarray.flags") from None

    def __repr__(self):
        return "\n".join(f"  {k} : {self[k]}" for k in self._KEYS)


class _MemoryPointer:
    """Stands in for ``cupy.cuda.MemoryPointer``: only ``ptr`` and ``device_id``."""

    __slots__ = ("ptr", "device_id")

    def __init__(self, a):
        self.ptr = a.__array_interface__["data"][0]
        self.device_id = 0


def _scatter_first_wins(target, index, value):
    """``target[index] = value`` where repeated positions keep the *first* value.

    CuPy leaves the stored value unspecified (its scatter kernel races), NumPy keeps the
    last; storing the first makes code that depends on either visible.
    """
    positions = np.arange(target.size).reshape(target.shape)[index]
    if np.unique(positions).size == positions.size:
        with np.errstate(all="ignore"):
            target[index] = value
        return
    values = np.broadcast_to(np.asarray(value, dtype=target.dtype), positions.shape)
    flat = positions.ravel()[::-1]
    with np.errstate(all="ignore"):
        target[np.unravel_index(flat, target.shape)] = values.ravel()[::-1]


# ============================================================================ ufuncs

class ufunc:
    """CuPy's ufunc: device arrays and scalars only, ``out=`` must be a device array."""

    def __init__(self, np_ufunc, name=None):
        self._np = np_ufunc
        self.__name__ = name or np_ufunc.__name__
        self.name = "cupy_" + self.__name__
        self.nin, self.nout, self.nargs = np_ufunc.nin, np_ufunc.nout, np_ufunc.nargs

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"

    def __call__(self, *args, out=None, dtype=None, casting="same_kind", **kwargs):
        if kwargs:
            raise TypeError(f"Wrong arguments {kwargs}")
        if not self.nin <= len(args) <= self.nargs:
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either "
                            f"{self.nin} or {self.nargs} (with outputs), but given {len(args)}.")
        ins, outs = args[:self.nin], args[self.nin:]
        if out is not None:
            if outs:
                raise ValueError("Cannot specify 'out' as both a positional and keyword "
                                 "argument")
            outs = out if isinstance(out, tuple) else (out,)
        in_arrays = [_kernel_arg(a) for a in ins]
        if major < 14 and dtype is None:  # CuPy 13's value-based casting of scalars
            in_arrays, signature = versions.legacy_operands(self._np, in_arrays)
            if signature is not None:
                kwargs["signature"] = signature
        out_arrays = []
        for o in outs:
            if o is not None and not isinstance(o, ndarray):
                raise _unsupported(o)
            out_arrays.append(None if o is None else o._a)
        kw = {"casting": casting, **kwargs}
        if dtype is not None:
            kw["dtype"] = _dtype(dtype)
        if any(o is not None for o in out_arrays):
            kw["out"] = tuple(out_arrays) + (None,) * (self.nout - len(out_arrays))
        with np.errstate(all="ignore"):
            result = self._np(*in_arrays, **kw)
        if self.nout == 1:
            result = (result,)
        wrapped = tuple(o if o is not None else _wrap(np.asarray(r), owner=True)
                        for o, r in zip(tuple(outs) + (None,) * self.nout, result))
        return wrapped[0] if self.nout == 1 else wrapped

    def outer(self, A, B, **kwargs):
        A, B = asarray(A), asarray(B)
        return self(A.reshape(A.shape + (1,) * B.ndim), B.reshape((1,) * A.ndim + B.shape),
                    **kwargs)

    def at(self, a, indices, b=None):
        if self.__name__ not in ("add", "subtract", "maximum", "minimum", "bitwise_and",
                                 "bitwise_or", "bitwise_xor"):
            raise NotImplementedError(f"`{self.name}.at` is not supported yet")
        index, _, syncs = _prepare_index(a.shape, indices)
        for _ in range(syncs):
            _sync("boolean-mask scatter")
        arrays = [i for i in index if isinstance(i, np.ndarray)]
        if arrays and not (len(arrays) == 1 and arrays[0].dtype.kind == "b"):
            versions.check_at_dtype(self.__name__, _dev(a, self.name + ".at").dtype, major)
        with np.errstate(all="ignore"):
            self._np.at(_dev(a, self.name + ".at"), index, _dev_or_scalar(b, self.name))

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False):
        if self.__name__ == "add":
            return array.sum(axis, dtype, out, keepdims)
        if self.__name__ == "multiply":
            return array.prod(axis, dtype, out, keepdims)
        raise NotImplementedError(f"`{self.name}.reduce` is not supported yet")

    def accumulate(self, array, axis=0, dtype=None, out=None):
        if self.__name__ == "add":
            return array.cumsum(axis, dtype, out)
        if self.__name__ == "multiply":
            return array.cumprod(axis, dtype, out)
        raise NotImplementedError(f"`{self.name}.accumulate` is not supported yet")


_UFUNC_NAMES = (
    "add subtract multiply divide true_divide floor_divide power negative positive absolute "
    "sign exp exp2 expm1 log log2 log10 log1p sqrt square cbrt reciprocal sin cos tan "
    "arcsin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh arctanh hypot maximum "
    "minimum fmax fmin greater greater_equal less less_equal equal not_equal logical_and "
    "logical_or logical_not logical_xor isfinite isinf isnan signbit copysign floor ceil "
    "trunc rint fmod remainder bitwise_and bitwise_or bitwise_xor invert left_shift "
    "right_shift logaddexp logaddexp2 deg2rad rad2deg conjugate matmul"
).split()
_UFUNCS = {name: ufunc(getattr(np, name), name) for name in _UFUNC_NAMES}
_UFUNCS["abs"] = _UFUNCS["absolute"]
_UFUNCS["mod"] = _UFUNCS["remainder"]
_UFUNCS["conj"] = _UFUNCS["conjugate"]
negative, positive, absolute, invert, conj = (
    _UFUNCS[n] for n in ("negative", "positive", "absolute", "invert", "conj"))
_install_operators()


# ============================================================================ functions

def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """Device arrays are copied on the device; anything else is uploaded
    (``core.array`` in cupy/_core/core.pyx)."""
    if subok:
        raise NotImplementedError
    if isinstance(obj, ndarray):
        out = obj if dtype is None else obj.astype(dtype, copy=False)
        if copy and out is obj:
            out = obj.copy(order="C" if order in ("K", "A", None) else order)
        for _ in range(ndmin - out.ndim):
            out = out[None]
        return out
    if _nested_device_arrays(obj):  # a (nested) list of same-shape device arrays
        parts = np.stack([_stack_nested(o) for o in obj])
        return _wrap(parts if dtype is None else _cast(parts, _dtype(dtype)), owner=True)
    if isinstance(obj, np.ndarray):
        order = "F" if obj.flags.fnc else "C"
    host = np.array(obj, dtype=dtype, copy=True, order="C" if order in ("K", "A") else order,
                    ndmin=ndmin)
    host = host.astype(host.dtype.newbyteorder("<"), copy=False)
    _dtype(host.dtype)
    _upload_host(host, "array")
    return _wrap(host, owner=True)


def _nested_device_arrays(obj) -> bool:
    """Whether ``obj`` is a non-empty (nested) list/tuple of device arrays only
    (``_compute_concat_info_impl`` in core.pyx)."""
    if isinstance(obj, ndarray):
        return True
    if isinstance(obj, (list, tuple)) and obj:
        return all(_nested_device_arrays(o) for o in obj)
    return False


def _stack_nested(obj):
    return obj._a if isinstance(obj, ndarray) else np.stack([_stack_nested(o) for o in obj])


def asarray(a, dtype=None, order=None):
    """(CuPy 14 adds ``copy=`` and ``blocking=``; CuPy 13 has neither, so neither is here.)"""
    if isinstance(a, ndarray) and (dtype is None or _dtype(dtype) == a.dtype):
        return a
    return array(a, dtype, copy=False, order=order or "K")


asanyarray = asarray


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    temp = np.asarray(a, order=order)  # a list holding device arrays fails in __array__
    if out is not None:
        out[...] = temp
        return out
    return temp


def get_array_module(*args):
    for arg in args:
        if isinstance(arg, ndarray):
            return _MODULES["cupy"]
    return np


def ascontiguousarray(a, dtype=None):
    x = _dev(a, "ascontiguousarray")
    if dtype is not None and _dtype(dtype) != x.dtype:
        return _wrap(np.ascontiguousarray(_cast(x, _dtype(dtype))), owner=True)
    if x.flags.c_contiguous:
        return a
    return _wrap(np.ascontiguousarray(x), owner=True)


def copy(a, order="K"):
    return _wrap(np.array(_dev(a, "copy"), order=order, copy=True), owner=True)


def empty(shape, dtype=float, order="C"):
    return _wrap(_garbage(np.empty(shape, dtype=_dtype(dtype), order=order)), owner=True)


def zeros(shape, dtype=float, order="C"):
    return _wrap(np.zeros(shape, dtype=_dtype(dtype), order=order), owner=True)


def ones(shape, dtype=float, order="C"):
    return _wrap(np.ones(shape, dtype=_dtype(dtype), order=order), owner=True)


def full(shape, fill_value, dtype=None, order="C"):
    if isinstance(fill_value, ndarray):
        fill_value = fill_value._a
    elif not _is_scalar(fill_value):
        raise _unsupported(fill_value)
    dtype = _dtype(dtype) if dtype is not None else np.asarray(fill_value).dtype
    return _wrap(np.full(shape, fill_value, dtype=dtype, order=order), owner=True)


def _like(np_func):
    def like(a, dtype=None, order="K", subok=None, shape=None):
        x = _dev(a, np_func.__name__)
        out = np_func(x, dtype=_dtype(dtype) if dtype is not None else None, order=order,
                      shape=shape)
        return _wrap(_garbage(out) if np_func is np.empty_like else out, owner=True)
    like.__name__ = np_func.__name__
    return like


empty_like, zeros_like, ones_like = _like(np.empty_like), _like(np.zeros_like), _like(np.ones_like)


def full_like(a, fill_value, dtype=None, order="K", subok=None, shape=None):
    x = _dev(a, "full_like")
    return _wrap(np.full_like(x, _dev_or_scalar(fill_value, "full_like"), dtype=dtype,
                              order=order, shape=shape), owner=True)


def arange(start, stop=None, step=1, dtype=None):
    return _wrap(np.arange(start, stop, step, dtype=_dtype(dtype) if dtype else None),
                 owner=True)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    out = np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    return (_wrap(out[0], owner=True), out[1]) if retstep else _wrap(out, owner=True)


def eye(N, M=None, k=0, dtype=float, order="C"):
    return _wrap(np.eye(N, M, k, dtype=_dtype(dtype), order=order), owner=True)


def identity(n, dtype=float):
    return _wrap(np.identity(n, dtype=_dtype(dtype)), owner=True)


def _method_fn(name, *names):
    """``cupy.NAME(a, ...)``, which CuPy implements as ``a.NAME(...)``."""
    def fn(a, *args, **kwargs):
        _dev(a, name)
        return getattr(a, name)(*args, **kwargs)
    fn.__name__ = name
    return fn


# (kept out of this module's globals: several shadow builtins such as sum, max, all)
_METHOD_FUNCTIONS = {name: _method_fn(name) for name in (
    "sum", "prod", "mean", "var", "std", "argmax", "argmin", "cumsum", "cumprod", "max", "min",
    "all", "any", "ravel", "squeeze", "repeat", "diagonal", "trace", "take")}
_METHOD_FUNCTIONS["amax"] = _METHOD_FUNCTIONS["max"]
_METHOD_FUNCTIONS["amin"] = _METHOD_FUNCTIONS["min"]


def reshape(a, newshape, order="C"):
    _dev(a, "reshape")
    return a.reshape(newshape, order=order)


def transpose(a, axes=None):
    return _wrap(np.transpose(_dev(a, "transpose"), axes))


def swapaxes(a, axis1, axis2):
    return _wrap(np.swapaxes(_dev(a, "swapaxes"), axis1, axis2))


def moveaxis(a, source, destination):
    return _wrap(np.moveaxis(_dev(a, "moveaxis"), source, destination))


def expand_dims(a, axis):
    return _wrap(np.expand_dims(_dev(a, "expand_dims"), axis))


def flip(a, axis=None):
    return _wrap(np.flip(_dev(a, "flip"), axis))


def roll(a, shift, axis=None):
    return _wrap(np.roll(_dev(a, "roll"), shift, axis), owner=True)


def tile(A, reps):
    return _wrap(np.tile(_dev(A, "tile"), reps), owner=True)


def _strided(x, shape, strides):
    """A writable strided view (CuPy views are never read-only)."""
    return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides, writeable=True)


def broadcast_to(array, shape):
    x = _dev(array, "broadcast_to")
    b = np.broadcast_to(x, shape)
    return _wrap(_strided(x, b.shape, b.strides))


def broadcast_arrays(*args):
    xs = [_dev(a, "broadcast_arrays") for a in args]
    return [_wrap(_strided(x, b.shape, b.strides)) for x, b in zip(xs, np.broadcast_arrays(*xs))]


def _join(np_func, name):
    def join(tup, *args, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _out(out, name)
        for a in tup:
            if isinstance(a, ndarray):
                continue
            # CuPy 13.6 and 14.2 run the inputs through _preprocess_args (_kernel.pyx) first,
            # which refuses host arrays and lists; a scalar passes there and fails the join's
            # own check (_routines_manipulation.pyx). Seen on an H200 with CuPy 14.2.
            if isinstance(a, (bool, int, float, complex, np.generic)):
                raise TypeError("Only cupy arrays can be concatenated")
            raise _unsupported(a)
        arrays = [a._a for a in tup]
        with np.errstate(all="ignore"):
            return _finish(np_func(arrays, *args, **kwargs), out)
    join.__name__ = name
    return join


concatenate, stack = _join(np.concatenate, "concatenate"), _join(np.stack, "stack")
vstack, hstack = _join(np.vstack, "vstack"), _join(np.hstack, "hstack")


def split(ary, indices_or_sections, axis=0):
    return [_wrap(p) for p in np.split(_dev(ary, "split"), indices_or_sections, axis)]


def atleast_1d(*arys):
    out = [_wrap(np.atleast_1d(_dev(a, "atleast_1d"))) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys):
    out = [_wrap(np.atleast_2d(_dev(a, "atleast_2d"))) for a in arys]
    return out[0] if len(out) == 1 else out


def pad(array, pad_width, mode="constant", **kwargs):
    for k in ("constant_values", "end_values"):
        if isinstance(kwargs.get(k), ndarray):
            raise NotImplementedError("CuPy double: device-array pad values are not modelled")
    return _wrap(np.pad(_dev(array, "pad"), pad_width, mode=mode, **kwargs), owner=True)


def where(condition, x=None, y=None):
    if (x is None) != (y is None):
        raise ValueError("Must provide both 'x' and 'y' or neither.")
    if x is None:
        return nonzero(condition)
    c = _kernel_arg(condition)
    return _wrap(np.asarray(np.where(c, _kernel_arg(x), _kernel_arg(y))), owner=True)


def nonzero(a):
    _dev(a, "nonzero")
    return a.nonzero()


def argwhere(a):
    _sync("argwhere")
    return _wrap(np.argwhere(_dev(a, "argwhere")), owner=True)


def take_along_axis(a, indices, axis):
    x, idx = _dev(a, "take_along_axis"), _dev(indices, "take_along_axis")
    if axis is None:
        x, axis = x.ravel(), 0
    n = x.shape[axis]
    if idx.dtype.kind not in "iu":
        raise IndexError("`indices` must be an integer array")
    return _wrap(np.take_along_axis(x, idx % n if n else idx, axis), owner=True)


def clip(a, a_min, a_max, out=None):
    x = _dev(a, "clip")
    o = _out(out, "clip")
    with np.errstate(all="ignore"):
        return _finish(np.clip(x, _dev_or_scalar(a_min, "clip") if a_min is not None else None,
                               _dev_or_scalar(a_max, "clip") if a_max is not None else None,
                               out=o), out)


def around(a, decimals=0, out=None):
    o = _out(out, "around")
    return _finish(np.around(_dev(a, "around"), decimals, out=o), out)


def dot(a, b, out=None):
    o = _out(out, "dot")
    return _finish(np.dot(_dev(a, "dot"), _dev(b, "dot"), out=o), out)


def tensordot(a, b, axes=2):
    return _wrap(np.tensordot(_dev(a, "tensordot"), _dev(b, "tensordot"), axes), owner=True)


def einsum(*operands, **kwargs):
    subscripts, arrays = operands[0], [_dev(a, "einsum") for a in operands[1:]]
    return _wrap(np.asarray(np.einsum(subscripts, *arrays, **kwargs)), owner=True)


def outer(a, b, out=None):
    o = _out(out, "outer")
    return _finish(np.outer(_dev(a, "outer"), _dev(b, "outer"), out=o), out)


def count_nonzero(a, axis=None):
    return _wrap(np.asarray(np.count_nonzero(_dev(a, "count_nonzero"), axis)), owner=True)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _wrap(np.asarray(np.isclose(_kernel_arg(a), _kernel_arg(b), rtol, atol, equal_nan)),
                 owner=True)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A 0-d device array, not a bool (cupy/_logic/comparison.py)."""
    return isclose(a, b, rtol, atol, equal_nan).all()


def array_equal(a1, a2, equal_nan=False):
    x, y = _dev(a1, "array_equal"), _dev(a2, "array_equal")
    return _wrap(np.asarray(np.array_equal(x, y, equal_nan=equal_nan)), owner=True)


def sort(a, axis=-1, kind=None):
    _dev(a, "sort")
    out = a.copy()
    out.sort(axis)
    return out


def argsort(a, axis=-1, kind=None):
    _dev(a, "argsort")
    return a.argsort(axis)


def searchsorted(a, v, side="left", sorter=None):
    return _wrap(np.asarray(np.searchsorted(_dev(a, "searchsorted"), _dev_or_scalar(v, "v"),
                                            side)), owner=True)


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    _sync("unique")  # the number of unique values is read on the host
    result = np.unique(_dev(ar, "unique"), return_index, return_inverse, return_counts, axis)
    return _wrap_any(result)


def bincount(x, weights=None, minlength=None):
    """cupy/_statistics/histogram.py: two synchronisations (``(x < 0).any()`` and
    ``int(cupy.max(x))``), and an empty ``x`` raises in CuPy 13.0 to 14.1 (``cupy.max`` of
    an empty array) even with ``minlength``; 14.2 returns ``zeros(minlength, intp)``."""
    a = _dev(x, "bincount")
    if a.ndim > 1:
        raise ValueError("object too deep for desired array")
    if a.ndim < 1:
        raise ValueError("object of too small depth for desired array")
    if a.dtype.kind == "f":
        raise TypeError("x must be int array")
    _sync("bincount: (x < 0).any()")
    if (a < 0).any():
        raise ValueError("The first argument of bincount must be non-negative")
    w = None if weights is None else _dev(weights, "bincount")
    if w is not None and a.shape != w.shape:
        raise ValueError("The weights and list don't have the same length.")
    if minlength is not None:
        minlength = int(minlength)
        if minlength < 0:
            raise ValueError("minlength must be non-negative")
    if a.size == 0:
        raise ValueError("zero-size array to reduction operation cupy_max which has no "
                         "identity")
    _sync("bincount: int(cupy.max(x))")
    return _wrap(np.bincount(a, w, minlength or 0), owner=True)


def may_share_memory(a, b, max_work=None):
    return bool(np.may_share_memory(_dev(a, "may_share_memory"), _dev(b, "may_share_memory")))


def shares_memory(a, b, max_work=None):
    return bool(np.shares_memory(_dev(a, "shares_memory"), _dev(b, "shares_memory")))


def _ndim(a):
    return a.ndim if isinstance(a, ndarray) else np.ndim(a)


def _shape(a):
    return a.shape if isinstance(a, ndarray) else np.shape(a)


def _size(a, axis=None):
    if isinstance(a, ndarray):
        return a.size if axis is None else a.shape[axis]
    return np.size(a, axis)


def isscalar(element):
    return np.isscalar(element)


def _dtype_of(x):
    return x.dtype if isinstance(x, ndarray) else x


def result_type(*arrays_and_dtypes):
    return np.result_type(*[_dtype_of(x) for x in arrays_and_dtypes])


def can_cast(from_, to, casting="safe"):
    return np.can_cast(_dtype_of(from_), to, casting)


def is_available():
    return True


# ============================================================================ cupy.random

class RandomState:
    """``cupy.random.RandomState`` (cupy/random/_generator.py): seeds, draws in float32 or
    float64, and no ``get_state``/``set_state`` (cuRAND's state is not readable)."""

    def __init__(self, seed=None, method=None):
        self.method = 100 if method is None else method  # CURAND_RNG_PSEUDO_DEFAULT
        self.seed(seed)

    def seed(self, seed=None):
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        elif isinstance(seed, np.ndarray):
            import hashlib
            seed = int(hashlib.md5(seed, usedforsecurity=False).hexdigest()[:16], 16)
        else:
            seed_arr = np.asarray(seed)
            if seed_arr.dtype.kind not in "biu":
                raise TypeError("Seed must be an integer.")
            seed = int(seed_arr)
            if seed < 0 or seed >= 2**64:
                raise ValueError("Seed must be an integer between 0 and 2**64 - 1")
        self._gen = np.random.Generator(np.random.Philox(seed))

    @staticmethod
    def _float(dtype):
        dtype = np.dtype(dtype)
        if dtype.char not in "fd":
            raise TypeError("cupy.random only supports float32 and float64")
        return dtype

    def random_sample(self, size=None, dtype=float):
        size = () if size is None else size
        return _wrap(self._gen.random(size, dtype=self._float(dtype)), owner=True)

    random = random_sample

    def rand(self, *size, dtype=float):
        return self.random_sample(size=size, dtype=dtype)

    def _normal(self, size, dtype):
        # cuRAND draws normals in pairs: an odd count is cut from a longer array, a view
        size = () if size is None else (size if isinstance(size, tuple) else tuple(
            [size] if isinstance(size, numbers.Integral) else size))
        n = int(np.prod(size))
        draws = self._gen.standard_normal(n + n % 2, dtype=self._float(dtype))
        out = _wrap(draws, owner=True)
        return out if n % 2 == 0 else out[:n].reshape(size)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        out = self._normal(size, dtype)
        if scale != 1.0:
            out *= scale
        if loc != 0.0:
            out += loc
        return out

    def standard_normal(self, size=None, dtype=float):
        return self._normal(size, dtype)

    def randn(self, *size, dtype=float):
        return self.normal(size=size, dtype=dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        out = self.random_sample(size, dtype)
        out *= high - low
        out += low
        return out

    def randint(self, low, high=None, size=None, dtype=int):
        if high is None:
            low, high = 0, low
        return _wrap(np.asarray(self._gen.integers(low, high, size, dtype=dtype)), owner=True)

    def permutation(self, a):
        if isinstance(a, numbers.Integral):
            return _wrap(self._gen.permutation(int(a)), owner=True)
        return _wrap(self._gen.permutation(_dev(a, "permutation")), owner=True)

    def shuffle(self, a):
        self._gen.shuffle(_dev(a, "shuffle"))


_random_state = None


def _get_random_state():
    global _random_state
    if _random_state is None:
        _random_state = RandomState(os.environ.get("CUPY_SEED"))
    return _random_state


def _random_set_random_state(rs):
    global _random_state
    if not isinstance(rs, RandomState):
        raise TypeError(f"Random state must be an instance of RandomState. Actual: {type(rs)}")
    _random_state = rs


def _random_reset_states():
    global _random_state
    _random_state = None


def _random_fn(name):
    def fn(*args, **kwargs):
        return getattr(_get_random_state(), name)(*args, **kwargs)
    fn.__name__ = name
    return fn


# ============================================================================ cupy.cuda

class CUDARuntimeError(RuntimeError):
    def __init__(self, status=101):
        self.status = status
        super().__init__("cudaErrorInvalidDevice: invalid device ordinal")


_DEVICE_COUNT = 1
_TOTAL_MEMORY = 16 * 1024**3


def _check_device(i):
    if not 0 <= int(i) < _DEVICE_COUNT:
        raise CUDARuntimeError(101)


class Device:
    """``cupy.cuda.Device``: the one device of the double."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)

    def __int__(self):
        return self.id

    def __enter__(self):
        _check_device(self.id)
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return f"<CUDA Device {self.id}>"

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    __hash__ = object.__hash__

    def use(self):
        _check_device(self.id)

    def synchronize(self):
        _check_device(self.id)
        _sync("Device.synchronize")

    @property
    def compute_capability(self):
        return "90"

    @property
    def mem_info(self):
        return _TOTAL_MEMORY, _TOTAL_MEMORY


class Stream:
    """``cupy.cuda.Stream``: everything runs synchronously here; ``synchronize`` counts."""

    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0 if null else id(self)

    def synchronize(self):
        _sync("Stream.synchronize")

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


Stream.null = Stream(null=True)


def _get_device_properties(device):
    _check_device(device)
    return {"name": b"CuPy test double (NumPy)", "totalGlobalMem": _TOTAL_MEMORY,
            "major": 9, "minor": 0, "multiProcessorCount": 1, "warpSize": 32,
            "pciBusID": 0, "pciDeviceID": 0}


def _device_synchronize():
    _sync("runtime.deviceSynchronize")


def _set_device(device):
    _check_device(device)


# ============================================================================ cupy.lib

def as_strided(x, shape=None, strides=None):
    """A view with any strides, as ``cupy.ndarray(memptr=x.data, strides=...)`` makes it:
    its ``base`` is None. Unlike CuPy (which would read garbage), a view reaching outside
    the memory of ``x``'s owner raises."""
    a = _dev(x, "as_strided")
    shape = a.shape if shape is None else tuple(shape)
    strides = a.strides if strides is None else tuple(strides)
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    start = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    low = start + sum(s * (n - 1) for s, n in zip(strides, shape) if s < 0 and n)
    high = start + sum(s * (n - 1) for s, n in zip(strides, shape) if s > 0 and n)
    if 0 not in shape and (low < 0 or high + a.itemsize > root.nbytes):
        raise ValueError(f"CuPy double: as_strided(shape={shape}, strides={strides}) reaches "
                         f"bytes [{low}, {high + a.itemsize}) of an allocation of "
                         f"{root.nbytes} bytes")
    return _wrap(_strided(a, shape, strides), owner=True)


def sliding_window_view(x, window_shape, axis=None, *, subok=False, writeable=False):
    """A view of every window (cupy/lib/stride_tricks.py, the same in CuPy 13 and 14): it
    uploads ``window_shape`` and tests each entry's sign on the host, one synchronisation
    per entry, before it builds the view."""
    if writeable:
        raise NotImplementedError("Writeable views are not supported.")
    a = _dev(x, "sliding_window_view")
    shape = tuple(window_shape) if np.iterable(window_shape) else (window_shape,)
    on_device = np.array(shape)
    _upload_host(on_device, "sliding_window_view window_shape")
    for dim in on_device:
        _sync("sliding_window_view: `dim < 0` of the window shape")
        if dim < 0:
            raise ValueError("`window_shape` cannot contain negative values")
    view = np.lib.stride_tricks.sliding_window_view(a, shape, axis)
    return _wrap(_strided(view, view.shape, view.strides))


def _norm(x, ord=None, axis=None, keepdims=False):
    return _wrap(np.asarray(np.linalg.norm(_dev(x, "norm"), ord, axis, keepdims)), owner=True)


# ============================================================================ the namespaces

# Every public name of cupy/__init__.py in both v13.6.0 and v14.2.0 (top-level imports,
# definitions and assignments, found with `ast`), so that a missing name can be told apart
# from one that CuPy does not have. Regenerate when the supported CuPy versions change.
_CUPY_NAMES = frozenset("""
AxisError ComplexWarning DataSource ElementwiseKernel Inf Infinity ModuleDeprecationWarning
NAN NINF NZERO NaN PINF PZERO RankWarning RawKernel RawModule ReductionKernel TooHardError
VisibleDeprecationWarning abs absolute add all allclose alltrue amax amin angle any append
apply_along_axis arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin
argpartition argsort argwhere around array array2string array_equal array_equiv array_repr
array_split array_str asanyarray asarray asarray_chkfinite ascontiguousarray asfarray
asfortranarray asnumpy atleast_1d atleast_2d atleast_3d average bartlett base_repr
binary_repr bincount bitwise_and bitwise_not bitwise_or bitwise_xor blackman bool_ broadcast
broadcast_arrays broadcast_shapes broadcast_to byte byte_bounds c_ can_cast cbrt cdouble
ceil cfloat choose clear_memo clip column_stack common_type complex128 complex64 complex_
complexfloating compress concatenate conj conjugate convolve copy copysign copyto corrcoef
correlate cos cosh count_nonzero cov cross csingle cuda cumprod cumproduct cumsum deg2rad
degrees delete diag diag_indices diag_indices_from diagflat diagonal diff digitize
disable_experimental_feature_warning disp divide divmod dot double dsplit dstack dtype e
ediff1d einsum empty empty_like equal euler_gamma exp exp2 expand_dims expm1 extract eye
fabs fft fill_diagonal find_common_type finfo fix flatiter flatnonzero flip fliplr flipud
float16 float32 float64 float_ float_power floating floor floor_divide fmax fmin fmod
format_float_positional format_float_scientific format_parser frexp fromDlpack from_dlpack
frombuffer fromfile fromfunction fromiter fromstring full full_like fuse gcd generic
genfromtxt get_array_module get_array_wrap get_default_memory_pool
get_default_pinned_memory_pool get_printoptions gradient greater greater_equal half hamming
hanning heaviside histogram histogram2d histogramdd hsplit hstack hypot i0 identity iinfo
imag in1d index_exp indices inexact inf infty inner int16 int32 int64 int8 int_ intc integer
interp intersect1d intp invert is_available isclose iscomplex iscomplexobj isfinite
isfortran isin isinf isnan isneginf isposinf isreal isrealobj isscalar issctype issubclass_
issubdtype issubsctype iterable ix_ kaiser kron lcm ldexp left_shift less less_equal lexsort
lib linalg linspace load loadtxt log log10 log1p log2 logaddexp logaddexp2 logical_and
logical_not logical_or logical_xor logspace longlong mask_indices matmul max maximum
may_share_memory mean median memoize meshgrid mgrid min min_scalar_type minimum mintypecode
mod modf moveaxis msort multiply nan nan_to_num nanargmax nanargmin nancumprod nancumsum
nanmax nanmean nanmedian nanmin nanprod nanstd nansum nanvar ndarray ndim ndindex negative
newaxis nextafter nonzero not_equal number obj2sctype ogrid ones ones_like outer packbits
pad partition percentile pi piecewise place poly poly1d polyadd polyfit polymul polynomial
polysub polyval positive power printoptions prod product promote_types ptp put putmask
quantile r_ rad2deg radians random ravel ravel_multi_index real real_if_close reciprocal
remainder repeat require reshape resize result_type right_shift rint roll rollaxis roots
rot90 round round_ row_stack s_ safe_eval save savetxt savez savez_compressed sctype2char
searchsorted select set_printoptions set_string_function setdiff1d setxor1d shape
shares_memory short show_config sign signbit signedinteger sin sinc single singlecomplex
sinh size sometrue sort sort_complex split sqrt square squeeze stack std subtract sum
swapaxes take take_along_axis tan tanh tensordot testing tile trace transpose trapz tri tril
tril_indices tril_indices_from trim_zeros triu triu_indices triu_indices_from true_divide
trunc typename ubyte ufunc uint uint16 uint32 uint64 uint8 uintc uintp ulonglong union1d
unique unpackbits unravel_index unsignedinteger unwrap ushort vander var vdot vectorize
vsplit vstack where who zeros zeros_like
""".split())

_DTYPE_NAMES = ("bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 "
                "float64 complex64 complex128 intp uintp byte short intc int_ longlong ubyte "
                "ushort uintc uint ulonglong half single double csingle cdouble number integer "
                "signedinteger unsignedinteger floating inexact complexfloating generic dtype "
                "finfo iinfo promote_types").split()

_CUPY_EXPORTS = ("ndarray ufunc array asarray asanyarray asnumpy get_array_module "
                 "ascontiguousarray copy empty zeros ones full empty_like zeros_like ones_like "
                 "full_like arange linspace eye identity reshape transpose swapaxes moveaxis "
                 "expand_dims flip roll tile broadcast_to broadcast_arrays concatenate stack "
                 "vstack hstack split atleast_1d atleast_2d pad where nonzero argwhere "
                 "take_along_axis clip around dot tensordot einsum outer count_nonzero isclose "
                 "allclose array_equal sort argsort searchsorted unique bincount "
                 "may_share_memory shares_memory isscalar result_type can_cast "
                 "is_available").split()


def _namespace(name, members, real_names=()):
    """A module holding exactly ``members``; other names raise AttributeError."""
    module = types.ModuleType(name)
    module.__dict__.update(members)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__path__ = []
    module.__file__ = _THIS_FILE

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(f"module '{name}' has no attribute '{attr}'")
        if attr in real_names:
            raise AttributeError(
                f"module '{name}' has no attribute '{attr}': CuPy has `{name}.{attr}` but the "
                f"CuPy test double (tests/cupy_double.py) does not implement it yet; add it "
                f"there after checking CuPy's behaviour")
        raise AttributeError(f"module '{name}' has no attribute '{attr}' (CuPy 13/14 has "
                             f"no such name)" if real_names else
                             f"module '{name}' has no attribute '{attr}' (not in the CuPy "
                             f"test double; check that CuPy 13 and 14 have it)")

    module.__getattr__ = __getattr__
    return module


def _build():
    g = globals()
    runtime = _namespace("cupy.cuda.runtime", {
        "getDeviceCount": lambda: _DEVICE_COUNT, "getDevice": lambda: 0,
        "setDevice": _set_device, "getDeviceProperties": _get_device_properties,
        "runtimeGetVersion": lambda: 13000, "driverGetVersion": lambda: 13000,
        "deviceSynchronize": _device_synchronize,
        "memGetInfo": lambda: (_TOTAL_MEMORY, _TOTAL_MEMORY),
        "CUDARuntimeError": CUDARuntimeError, "is_hip": False,
    })
    cuda_ns = _namespace("cupy.cuda", {
        "Device": Device, "Stream": Stream, "runtime": runtime, "is_available": is_available,
        "get_device_id": lambda: 0, "get_current_stream": lambda: Stream.null,
    })
    random_ns = _namespace("cupy.random", {
        "RandomState": RandomState, "get_random_state": _get_random_state,
        "set_random_state": _random_set_random_state, "reset_states": _random_reset_states,
        **{n: _random_fn(n) for n in ("seed", "rand", "randn", "random_sample", "random",
                                      "normal", "standard_normal", "uniform", "randint",
                                      "permutation", "shuffle")},
    })
    stride_tricks = _namespace("cupy.lib.stride_tricks", {
        "as_strided": as_strided, "sliding_window_view": sliding_window_view})
    lib = _namespace("cupy.lib", {"stride_tricks": stride_tricks})
    linalg = _namespace("cupy.linalg", {"norm": _norm})
    members = {n: g[n] for n in _CUPY_EXPORTS}
    members.update(_METHOD_FUNCTIONS)
    members.update({"round": around, "ndim": _ndim, "shape": _shape, "size": _size})
    members.update({n: _UFUNCS[n] for n in _UFUNCS})
    members.update({n: getattr(np, n) for n in _DTYPE_NAMES})
    members.update({"float_": np.float64, "complex_": np.complex128})  # CuPy's own aliases
    members.update({"inf": np.inf, "nan": np.nan, "pi": np.pi, "e": np.e, "newaxis": None,
                    "cuda": cuda_ns, "random": random_ns, "lib": lib, "linalg": linalg,
                    "__version__": __version__})
    missing = set(members) - _CUPY_NAMES - {"__version__"}
    assert not missing, f"the double defines names CuPy 13/14 lacks: {sorted(missing)}"
    cupy = _namespace("cupy", members, _CUPY_NAMES)
    modules = {"cupy": cupy, "cupy.cuda": cuda_ns, "cupy.cuda.runtime": runtime,
               "cupy.random": random_ns, "cupy.lib": lib, "cupy.lib.stride_tricks": stride_tricks,
               "cupy.linalg": linalg}
    return modules


_MODULES = _build()
module = _MODULES["cupy"]  # the fake ``cupy``, whether or not it is installed


def install() -> types.ModuleType:
    """Make ``import cupy`` (and its submodules) give the double; returns the module."""
    present = sys.modules.get("cupy")
    if present is not None and present is not module:
        raise RuntimeError("a real `cupy` is already imported; install the CuPy double before "
                           "anything imports cupy")
    sys.modules.update(_MODULES)
    return module


def installed() -> bool:
    """Whether ``import cupy`` gives the double in this process (make test's second pass).
    Being imported is not enough: test_cupy_double imports it in every pass, also beside real
    CuPy on a GPU, where its counters see nothing."""
    return sys.modules.get("cupy") is module


def uninstall() -> None:
    for name, mod in _MODULES.items():
        if sys.modules.get(name) is mod:
            del sys.modules[name]
