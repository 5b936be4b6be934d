"""Numerical gradient checking: analytic gradients against central finite differences."""

from __future__ import annotations

import numpy as np

from . import backend
from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message names the worst element."""


def _loss(fn, inputs, upstream):
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if upstream is None:
        return out, out.sum()
    return out, (out * upstream).sum()


def gradcheck(fn, *inputs, upstream=None, eps=1e-6, atol=1e-5, rtol=1e-3,
              max_elements=2000, seed=0, raise_exception=True) -> bool:
    """Check ``fn``'s gradients with central finite differences in float64.

    Parameters
    ----------
    fn : callable
        Takes the inputs (Tensors) and returns a Tensor.
    inputs : Tensor
        Those with ``requires_grad`` are checked; they should be float64, since float32
        finite differences are too coarse to tell a wrong gradient from rounding.
    upstream : array or Tensor, optional
        The gradient flowing into ``fn``'s output, i.e. the check is on
        ``sum(fn(*inputs) * upstream)``. A random one (the default) catches errors that an
        all-ones gradient hides, such as a transposed or mis-summed result.
    max_elements : int
        Inputs larger than this are checked along three random directions instead of
        element by element, which keeps big convolutions cheap.

    Returns
    -------
    bool
        True, or raises :class:`GradcheckError` naming the input, the element index and
        both values of the worst mismatch (returns False if ``raise_exception`` is False).
    """
    checked = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i, t in checked:
        if t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {t.dtype}; use float64 (Tensor(..., dtype=np.float64))"
            )
    rng = np.random.default_rng(seed)
    out = fn(*inputs)
    if upstream is None:
        upstream = rng.standard_normal(out.shape)
    if not isinstance(upstream, Tensor):
        upstream = Tensor(upstream, dtype=np.float64, device=out.device)
    for _, t in checked:
        t.grad = None
    _, loss = _loss(fn, inputs, upstream)
    loss.backward()
    for i, t in checked:
        analytic = np.zeros(t.shape) if t.grad is None else t.grad.numpy().astype(np.float64)
        if analytic.shape != t.shape:
            return _fail(f"input {i}: gradient shape {analytic.shape} != input shape {t.shape}",
                         raise_exception)
        data = t.data  # perturbed in place, restored after each probe
        xp = backend.array_module(t.device)

        def f():
            with no_grad():
                return float(_loss(fn, inputs, upstream)[1].item())

        if t.size <= max_elements:
            flat = data.reshape(-1)
            numeric = np.zeros(t.size)
            for k in range(t.size):
                old = float(flat[k])
                flat[k] = old + eps
                plus = f()
                flat[k] = old - eps
                minus = f()
                flat[k] = old
                numeric[k] = (plus - minus) / (2 * eps)
            err = np.abs(numeric - analytic.reshape(-1))
            tol = atol + rtol * np.abs(numeric)
            k = int(np.argmax(err - tol))
            if err[k] > tol[k]:
                index = np.unravel_index(k, t.shape) if t.ndim else ()
                return _fail(
                    f"input {i} element {tuple(int(j) for j in index)}: analytic "
                    f"{analytic.reshape(-1)[k]:.8g} vs numerical {numeric[k]:.8g} "
                    f"(abs error {err[k]:.3g}, {int((err > tol).sum())} of {t.size} elements off)",
                    raise_exception,
                )
        else:
            original = data.copy()
            for _ in range(3):
                direction = xp.asarray(rng.standard_normal(t.shape))
                data[...] = original + eps * direction
                plus = f()
                data[...] = original - eps * direction
                minus = f()
                data[...] = original
                numeric = (plus - minus) / (2 * eps)
                projected = float((analytic * backend.to_host(direction)).sum())
                if abs(numeric - projected) > atol + rtol * abs(numeric):
                    return _fail(
                        f"input {i} (random direction, {t.size} elements): analytic "
                        f"{projected:.8g} vs numerical {numeric:.8g}",
                        raise_exception,
                    )
    return True


def _fail(message, raise_exception):
    if raise_exception:
        raise GradcheckError("gradcheck failed: " + message)
    return False
