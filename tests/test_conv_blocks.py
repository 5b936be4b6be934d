"""The paths of the fast convolution that the table of ``test_conv_pool.py`` does not pick by
itself: the blocked im2col of an input that needs no gradient, in blocks of every size;
the checks that make a broken block fail loudly; and chains of convolution, ReLU and pooling
handing batch-last activations (and gradients) to each other."""

import numpy as np
import pytest
from test_conv_pool import CASES, conv2d_ref, conv2d_torch, randn

from tinygrad_cnn import Tensor
from tinygrad_cnn.nn import functional as F
from tinygrad_cnn.testing import gradcheck

# ----------------------------------------------------------------------------- blocked im2col

def _geometry(x_shape, w_shape, kw):
    from tinygrad_cnn.nn.conv import conv_geometry

    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    return conv_geometry(x_shape, w_shape, pair(kw.get("stride", 1)), pair(kw.get("padding", 0)),
                         pair(kw.get("dilation", 1)), kw.get("groups", 1))


# working-set budgets, in float64 im2col values of one output position of one sample,
# times these many positions: "samples" leaves one position of one sample per block,
# "columns" two positions of every sample, "two_rows" two whole output rows of every sample,
# "whole" everything
BUDGETS = {"samples": lambda geo: 1, "columns": lambda geo: 2 * geo.N,
           "two_rows": lambda geo: 2 * geo.OW * geo.N, "whole": lambda geo: 10**6}

BLOCKED = [c for c in CASES if c.name.startswith("conv_") and c.args[0].shape[0] > 1]


@pytest.mark.parametrize("budget", BUDGETS, ids=lambda b: f"blocks_of_{b}")
@pytest.mark.parametrize("case", BLOCKED, ids=str)
def test_conv_blocked_when_the_input_needs_no_gradient(case, budget, monkeypatch):
    """A first layer (input without gradient) and inference build the im2col matrix in
    cache-sized blocks of output rows and samples; weight and bias gradients are rebuilt
    block by block. Every block size is checked in float64 against the reference, finite
    differences and PyTorch."""
    from tinygrad_cnn import backend, no_grad
    from tinygrad_cnn.nn.conv import blocks

    x, *params = case.args
    geo = _geometry(x.shape, params[0].shape, case.kwargs)
    per_position = geo.C * geo.KH * geo.KW * 8
    monkeypatch.setattr(type(backend.get("cpu")), "working_set_bytes",
                        per_position * BUDGETS[budget](geo))
    pieces = blocks(geo, 8, "cpu")
    covered = np.zeros((geo.OH, geo.OW, geo.N), int)
    for r0, r1, c0, c1, s0, s1 in pieces:
        covered[r0:r1, c0:c1, s0:s1] += 1
        assert (c0, c1) == (0, geo.OW) or r1 - r0 == 1  # one run per filter
        if budget == "samples":
            assert (r1 - r0, c1 - c0, s1 - s0) == (1, 1, 1)
        elif budget == "columns":
            assert (s0, s1) == (0, geo.N) and (r1 - r0) * (c1 - c0) <= max(2, geo.OW)
        elif budget == "two_rows":
            assert (s0, s1, c0, c1) == (0, geo.N, 0, geo.OW) and r1 - r0 <= 2
    assert (covered == 1).all(), "blocks must tile the output exactly once"
    if budget == "whole":
        assert len(pieces) == 1
    image = Tensor(x, dtype=np.float64)  # requires no grad: the blocked path
    weights = [Tensor(p, dtype=np.float64, requires_grad=True) for p in params]
    expected = conv2d_ref(x, *params, **case.kwargs)
    with no_grad():
        np.testing.assert_allclose(F.conv2d(image, *weights, **case.kwargs).numpy(), expected,
                                   rtol=1e-10, atol=1e-12)
    gradcheck(lambda *ws: F.conv2d(image, *ws, **case.kwargs), *weights)
    if _has_torch():
        import torch

        upstream = np.random.default_rng(3).standard_normal(expected.shape)
        for t in weights:
            t.grad = None  # gradcheck left its own there
        out = F.conv2d(image, *weights, **case.kwargs)
        (out * Tensor(upstream, dtype=np.float64)).sum().backward()
        theirs = [torch.tensor(p, requires_grad=True) for p in params]
        ref = conv2d_torch(torch.tensor(x), *theirs, **case.kwargs)
        (ref * torch.tensor(upstream)).sum().backward()
        for ours, their in zip(weights, theirs):
            np.testing.assert_allclose(ours.grad.numpy(), their.grad.numpy(), rtol=1e-9,
                                       atol=1e-11)


def test_conv_blocks_are_about_equal():
    """A budget a little short of a row splits it evenly, not into a full block and a
    sliver (LeNet-5's conv1 at batch 256 with the CPU's budget: half rows of every
    sample, each im2col block 25 x 3,584)."""
    from tinygrad_cnn.nn.conv import blocks

    geo = _geometry((256, 1, 28, 28), (6, 1, 5, 5), {"padding": 2})
    pieces = blocks(geo, 4, "cpu")
    assert {(r1 - r0, c1 - c0, s1 - s0) for r0, r1, c0, c1, s0, s1 in pieces} == {(1, 14, 256)}
    assert len(pieces) == 2 * 28


def test_a_write_through_a_copying_reshape_fails_loudly():
    """``reshape`` copies, silently, when the strides allow no view; the conv kernels write
    through ``reshaped_view``, which refuses such a copy (on the default device's arrays:
    the CuPy double in the GPU pass) and passes views and empty arrays."""
    from tinygrad_cnn import backend
    from tinygrad_cnn.nn.conv.im2col import reshaped_view

    xp = backend.array_module(Tensor([0.0]).device)
    square = xp.arange(16.0).reshape(4, 4)
    view = reshaped_view(xp, square[1:3], (2, 2, 2))
    view[...] = -1
    assert float((square[1:3] == -1).all()), "a view's write lands in the array"
    assert reshaped_view(xp, square[:0], (0, 2, 2)).shape == (0, 2, 2)
    with pytest.raises(AssertionError, match=r"made a copy"):
        reshaped_view(xp, square.T, (16,))


def test_a_block_that_breaks_its_invariant_fails_loudly(monkeypatch):
    """A block of two output rows but not every column is not one contiguous run per filter
    of the output, so its product cannot be written in place: forward must raise instead of
    writing into a copy and leaving those outputs unset."""
    from tinygrad_cnn.nn.conv import Block, op

    monkeypatch.setattr(op, "blocks", lambda geo, itemsize, device: [
        Block(r, min(r + 2, geo.OH), c, c + 1, 0, geo.N)
        for r in range(0, geo.OH, 2) for c in range(geo.OW)])
    x, w = Tensor(randn(2, 1, 5, 5)), Tensor(randn(3, 1, 3, 3))
    with pytest.raises(AssertionError, match=r"made a copy"):
        F.conv2d(x, w)


def _has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- batch-last chains

CHAINS = {
    # conv -> relu -> pool -> conv without padding: the second conv reads the pooled,
    # batch-last activation in place; its gradient reaches the pool batch-last
    "lenet_like": [("conv", dict(padding=2)), ("relu", {}), ("pool", dict(kernel_size=2)),
                   ("conv", {}), ("relu", {}), ("pool", dict(kernel_size=2))],
    # a padded conv of a batch-last input, a strided one (col2im path), an overlapping,
    # padded pool of a batch-last input
    "padded_and_strided": [("conv", {}), ("conv", dict(padding=1)),
                           ("conv", dict(stride=(2, 1), dilation=(1, 2))),
                           ("relu", {}), ("pool", dict(kernel_size=3, stride=1, padding=1)),
                           ("conv", dict(stride=2, padding=1))],
}


def _chain(x, weights, steps):
    weights = iter(weights)
    for kind, kw in steps:
        if kind == "conv":
            x = F.conv2d(x, next(weights), next(weights), **kw)
        elif kind == "relu":
            x = x.relu()
        else:
            x = F.max_pool2d(x, **kw)
    return x


@pytest.mark.parametrize("budget", ["default", "one_byte"])
@pytest.mark.parametrize("name", CHAINS)
def test_batch_last_activations_chain(name, budget, monkeypatch):
    """Convolution, ReLU and pooling hand activations on batch-last in memory (and the
    gradients back the same way): a chain of them in float64 against finite differences
    and PyTorch, for the input and every weight, with the upstream gradient arriving in
    the usual (N, C, H, W) order. A one-byte working-set budget sends everything through
    the smallest blocks (one position of one sample, one output row of the input
    gradient)."""
    if budget == "one_byte":
        from tinygrad_cnn import backend

        monkeypatch.setattr(type(backend.get("cpu")), "working_set_bytes", 1)
    steps = CHAINS[name]
    gen = np.random.default_rng(11)
    x = gen.standard_normal((3, 2, 12, 11))
    params, channels = [], 2
    for kind, _ in steps:
        if kind == "conv":
            params += [gen.standard_normal((3, channels, 3, 3)), gen.standard_normal(3)]
            channels = 3
    image = Tensor(x, dtype=np.float64, requires_grad=True)
    weights = [Tensor(p, dtype=np.float64, requires_grad=True) for p in params]
    out = _chain(image, weights, steps)
    assert not out.data.flags.c_contiguous  # batch-last, not (N, C, H, W)
    gradcheck(lambda *ts: _chain(ts[0], ts[1:], steps), image, *weights, max_elements=400)
    if _has_torch():
        import torch
        import torch.nn.functional as f

        upstream = gen.standard_normal(out.shape)
        image.grad = None
        for t in weights:
            t.grad = None
        (_chain(image, weights, steps) * Tensor(upstream, dtype=np.float64)).sum().backward()
        theirs = [torch.tensor(a, requires_grad=True) for a in [x, *params]]
        ref, it = theirs[0], iter(theirs[1:])
        for kind, kw in steps:
            ref = (f.conv2d(ref, next(it), next(it), **kw) if kind == "conv" else
                   f.relu(ref) if kind == "relu" else f.max_pool2d(ref, **kw))
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        (ref * torch.tensor(upstream)).sum().backward()
        for ours, their in zip([image, *weights], theirs):
            np.testing.assert_allclose(ours.grad.numpy(), their.grad.numpy(), rtol=1e-9,
                                       atol=1e-11)
