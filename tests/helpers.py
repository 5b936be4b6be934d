"""One way to check an op: forward against a NumPy reference, gradient against finite
differences in float64 with a random upstream gradient, and against PyTorch when present.

Each test module keeps a table of cases; adding an op means adding a line to a table.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable

import numpy as np

from tinygrad_cnn import Tensor
from tinygrad_cnn.testing import gradcheck

try:
    import torch
except ImportError:  # the suite passes without torch; torch comparisons skip
    torch = None


@dataclasses.dataclass
class OpCase:
    """An op under test.

    op: callable on Tensors (ours); ref: the same on float64 NumPy arrays;
    torch_op: the same on torch tensors (None: no torch comparison);
    args: NumPy arrays (float arrays are differentiated, integer arrays are not);
    kwargs: passed to all three callables.
    """

    name: str
    op: Callable
    ref: Callable | None
    args: tuple
    torch_op: Callable | None = None
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad: bool = True
    rtol: float = 1e-4
    atol: float = 1e-5

    def __str__(self):
        return self.name


def _tensors(args, dtype, requires_grad):
    out = []
    for a in args:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            out.append(Tensor(a, dtype=dtype, requires_grad=requires_grad))
        else:
            out.append(Tensor(a))
    return out


def check_op(case: OpCase, seed: int = 0) -> None:
    """Forward (float32 against the float64 reference), then gradcheck in float64.

    Also checks that the default result dtype is float32, that gradients have the inputs'
    shapes, and that neither the inputs nor the upstream gradient were modified.
    """
    args = tuple(np.asarray(a) for a in case.args)
    snapshot = [a.copy() for a in args]
    out32 = case.op(*_tensors(args, None, False), **case.kwargs)
    if case.ref is not None:
        expected = case.ref(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in args],
                            **case.kwargs)
        np.testing.assert_allclose(out32.numpy(), expected, rtol=case.rtol, atol=case.atol,
                                   err_msg=f"{case.name}: forward differs from NumPy")
    if any(a.dtype.kind == "f" for a in args):
        assert out32.dtype == np.float32, f"{case.name}: float32 in, {out32.dtype} out"
    if case.grad:
        inputs = _tensors(args, np.float64, True)
        out = case.op(*inputs, **case.kwargs)
        upstream = np.random.default_rng(seed).standard_normal(out.shape)
        kept = upstream.copy()
        gradcheck(lambda *xs: case.op(*xs, **case.kwargs), *inputs, upstream=upstream)
        for t in inputs:
            if t.requires_grad:
                assert t.grad is not None and t.grad.shape == t.shape, case.name
        np.testing.assert_array_equal(upstream, kept)
    for a, s in zip(args, snapshot):
        np.testing.assert_array_equal(a, s, err_msg=f"{case.name} modified its input")


def check_op_torch(case: OpCase, seed: int = 0) -> None:
    """Forward and input gradients in float64 against PyTorch, for the same upstream."""
    assert torch is not None
    args = tuple(np.asarray(a) for a in case.args)
    ours = _tensors(args, np.float64, case.grad)
    theirs = [
        torch.tensor(a, dtype=torch.float64, requires_grad=case.grad) if a.dtype.kind == "f"
        else torch.tensor(a) for a in args
    ]
    out = case.op(*ours, **case.kwargs)
    ref = case.torch_op(*theirs, **case.kwargs)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-7, atol=1e-9,
                               err_msg=f"{case.name}: forward differs from PyTorch")
    if not case.grad:
        return
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    (out * Tensor(upstream, dtype=np.float64)).sum().backward()
    (ref * torch.tensor(upstream)).sum().backward()
    for k, (a, b) in enumerate(zip(ours, theirs)):
        if a.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-9,
                                       err_msg=f"{case.name}: gradient of input {k}")


def sample_subsets(n_train: int, n_test: int):
    """The first ``n_train`` training and ``n_test`` test images of the bundled sample
    (normalised), as ``(train, test)`` ArrayDatasets: training runs that stay fast."""
    from tinygrad_cnn.data import ArrayDataset, MNISTSample

    train = MNISTSample(train=True, normalize=True)
    test = MNISTSample(train=False, normalize=True)
    return (ArrayDataset(train.images[:n_train], train.labels[:n_train], train.classes),
            ArrayDataset(test.images[:n_test], test.labels[:n_test], test.classes))


def cupy_double_in_use():
    """The CuPy test double when it stands in for CuPy in this pass (make test's second),
    else None. Being imported is not enough: test_cupy_double imports it in every pass, also
    beside real CuPy on a GPU, where its counters see nothing."""
    double = sys.modules.get("cupy_double")
    return double if double is not None and double.installed() else None
