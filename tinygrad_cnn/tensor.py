"""``Tensor``: an array on a device, its gradient, and the node that produced it.

This file says what a tensor *is*: its array and device, how it enters the tape
(``requires_grad``, ``backward``), how it is created and converted. What can be computed
with one (``+``, ``@``, ``exp``, ``sum``, ``reshape``...) is inherited from
:class:`~tinygrad_cnn.tensor_math.TensorMath`, beside the rules that turn Python values into
operands (:func:`place`, :func:`onto`, re-exported here); how it changes in place
(``add_``, ``-=``, ``zero_``...) from :class:`~tinygrad_cnn.tensor_inplace.InPlaceMath`.
"""

from __future__ import annotations

import numpy as np

from . import autograd, backend, display, ops
from .checks import shape_tuple
from .tensor_inplace import InPlaceMath
from .tensor_math import TensorMath, as_array, onto, place

__all__ = ["Tensor", "as_array", "onto", "place"]


class Tensor(TensorMath, InPlaceMath):
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : list, scalar, NumPy or CuPy array, Tensor
        Float data becomes float32 unless ``dtype`` is given.
    requires_grad : bool
        Record operations on this tensor so ``backward()`` can reach it.
    dtype : numpy dtype, optional
    device : ``"cpu"`` or ``"cuda"``, optional
        Default: CuPy arrays and Tensors stay where they are; Python data and NumPy arrays
        go to the default device (``TINYGRAD_CNN_DEVICE``).

    Notes
    -----
    ``data`` is the raw array. Writing into it (``t.data[...] = 0``) bypasses autograd, as
    PyTorch's ``.data`` does: a graph built earlier computes its gradients from the new
    values. In-place ops (``add_``, ``-=``, ``zero_``: see
    :mod:`~tinygrad_cnn.tensor_inplace`) and the library's own in-place updates
    (``optimizer.step()``, initialisers, ``load_state_dict``) count in ``version``, and
    ``backward()`` refuses a graph whose inputs changed that way since forward. A Tensor made
    from a Tensor of the same dtype and device shares its memory and its version.
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "device", "version_counter",
                 "__weakref__")

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        self.data = as_array(data, dtype, device)
        self.device = backend.device_of(self.data)
        self.grad = None
        self.grad_fn = None
        shared = isinstance(data, Tensor) and data.data is self.data
        self.version_counter = data.version_counter if shared else autograd.VersionCounter()
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def wrap(array, grad_fn=None) -> Tensor:
        """A Tensor around an array that is already on its device and dtype (no copy, no
        conversion): how op results and gradients become Tensors.

        Always a plain Tensor, even when called on a subclass such as ``nn.Parameter``:
        ``w.T`` or ``w * 2`` is a result, not a parameter.
        """
        t = Tensor.__new__(Tensor)
        t.data = array
        t.device = backend.device_of(array)
        t.grad = None
        t.grad_fn = grad_fn
        t.version_counter = autograd.VersionCounter()
        t.requires_grad = grad_fn is not None
        return t

    @property
    def version(self) -> int:
        """How often this tensor's memory was changed in place (shared with ``detach()`` and
        views, as PyTorch's ``_version``); assigning it is how library code that writes into
        ``data`` reports a change."""
        return self.version_counter.value

    @version.setter
    def version(self, value: int) -> None:
        self.version_counter.value = value

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The sub-tensors along the first axis, ``t[0], t[1], ...`` (as PyTorch's); a 0-d
        tensor has no axis to iterate over, and raises ``TypeError`` as PyTorch's does."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    # ------------------------------------------------------------------ grad bookkeeping
    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require grad; this one is {self.dtype}"
            )
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(flag)
        return self

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory and its version, as PyTorch's:
        changing it in place changes this tensor)."""
        t = Tensor.wrap(self.data)
        t.version_counter = self.version_counter
        return t

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf requiring grad.

        ``grad`` (needed unless the tensor has one element) is the gradient flowing in: a
        Tensor on this tensor's device, or host data (moved there).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (no input had "
                "requires_grad=True, or it was computed under no_grad)"
            )
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() needs a gradient argument for a non-scalar tensor of shape "
                    f"{self.shape}; pass grad= of that shape or reduce it (e.g. .sum()) first"
                )
            g = backend.array_module(self.device).ones(self.shape, dtype=self.dtype)
        else:
            g = onto(grad, self, "backward(): grad")
            if g.shape != self.shape:
                raise RuntimeError(
                    f"backward(): grad has shape {g.shape} but the tensor has shape {self.shape}"
                )
            g = g.astype(self.dtype, copy=False)
        if self.grad_fn is None:  # a leaf: its gradient is grad itself (copied, never aliased)
            self.grad = Tensor.wrap(g.copy() if self.grad is None else self.grad.data + g)
            return
        autograd.run_backward(self, g, retain_graph=retain_graph)

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a host NumPy array (a copy from the GPU, a view on the CPU)."""
        return backend.to_host(self.data)

    def __array__(self, dtype=None, copy=None):
        """The values for NumPy (``np.asarray(t)``, ``np.mean(t)``, matplotlib): a view of a
        CPU tensor's array, a host copy of a GPU tensor's (a read the caller asked for).

        As PyTorch's, it refuses a tensor that requires grad while autograd records (use
        ``t.detach()``); ``copy=False`` refuses what needs a copy, as NumPy's protocol says.
        """
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError("cannot convert a tensor that requires grad to a NumPy array "
                               "(np.asarray, np.mean...); use t.detach() first, or .numpy()")
        host = backend.to_host(self.data)
        needs_copy = host is not self.data or (dtype is not None and
                                               np.dtype(dtype) != host.dtype)
        if copy is False and needs_copy:
            raise ValueError(f"np.asarray(copy=False): this {self.device} tensor of "
                             f"{self.dtype} cannot be read without a copy")
        host = np.asarray(host, dtype=dtype)
        if copy and host is self.data or copy and host.base is self.data:
            host = host.copy()
        return host

    def __array_function__(self, func, types, args, kwargs):
        """NumPy functions (``np.mean(t)``, ``np.concatenate([a, b])``) read Tensors as
        arrays through :meth:`__array__` and give NumPy results, as they do for lists."""
        return func(*_as_arrays(args), **_as_arrays(kwargs))

    def item(self):
        if self.size != 1:
            raise ValueError(f"item(): tensor has {self.size} elements, expected 1")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device) -> Tensor:
        """This tensor on ``device``; differentiable, like PyTorch's ``to``."""
        device = backend.parse_device(device)
        if device == self.device:
            return self
        return ops.ToDevice.apply(self, device=device)

    def cpu(self) -> Tensor:
        return self.to(backend.HOST)

    def cuda(self) -> Tensor:
        return self.to(backend.ACCELERATOR)

    def astype(self, dtype) -> Tensor:
        return ops.Cast.apply(self, dtype=np.dtype(dtype))

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __repr__(self) -> str:
        return display.tensor_text(self)

    def _repr_html_(self) -> str:  # Jupyter
        return display.tensor_html(self)

    def __bool__(self):
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.size} elements is ambiguous"
            )
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    # ------------------------------------------------------------------ factories
    @staticmethod
    def zeros(*shape, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        device = place(None, device)
        return Tensor(backend.array_module(device).zeros(shape_tuple(shape), dtype=dtype),
                      requires_grad=requires_grad, dtype=dtype, device=device)

    @staticmethod
    def ones(*shape, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        device = place(None, device)
        return Tensor(backend.array_module(device).ones(shape_tuple(shape), dtype=dtype),
                      requires_grad=requires_grad, dtype=dtype, device=device)

    @staticmethod
    def full(shape, value, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        device = place(None, device)
        return Tensor(backend.array_module(device).full(shape_tuple((shape,)), value, dtype=dtype),
                      requires_grad=requires_grad, dtype=dtype, device=device)

    @staticmethod
    def randn(*shape, requires_grad=False, device=None, dtype=np.float32) -> Tensor:
        """Standard normal draws from the library generator (seed with ``manual_seed``)."""
        values = backend.host_rng().standard_normal(shape_tuple(shape)).astype(dtype)
        return Tensor(values, requires_grad=requires_grad, device=device, dtype=dtype)

    @staticmethod
    def uniform(low, high, shape, requires_grad=False, device=None, dtype=np.float32):
        """Uniform draws in [low, high) from the library generator."""
        values = backend.host_rng().uniform(low, high, shape_tuple((shape,))).astype(dtype)
        return Tensor(values, requires_grad=requires_grad, device=device, dtype=dtype)

    @staticmethod
    def arange(*args, device=None, dtype=None) -> Tensor:
        device = place(None, device)
        return Tensor(backend.array_module(device).arange(*args, dtype=dtype), dtype=dtype,
                      device=device)


def _as_arrays(value):
    """``value`` with the Tensors in it (also inside lists, tuples and dicts) as arrays."""
    if isinstance(value, Tensor):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_as_arrays(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_arrays(v) for k, v in value.items()}
    return value
