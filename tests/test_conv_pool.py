"""conv2d, conv1d, max_pool2d and avg_pool2d: forward against plain NumPy loops, gradients
against float64 finite differences, both against PyTorch when installed; drawn geometry;
the first-maximum rule with ties; validation errors; recycled buffers never leak."""

import numpy as np
import pytest
from helpers import OpCase, check_op, check_op_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import conv_geometry, distinct, normal, pool_geometry, seeds

from tinygrad_cnn import Tensor
from tinygrad_cnn.nn import functional as F

rng = np.random.default_rng(7)


def randn(*shape):
    return rng.standard_normal(shape)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ----------------------------------------------------------------------------- references

def conv2d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Direct definition: a sum over kernel offsets of strided input slices."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    N, C, Hp, Wp = x.shape
    Fo, Cg, KH, KW = w.shape
    OH, OW = (Hp - dh * (KH - 1) - 1) // sh + 1, (Wp - dw * (KW - 1) - 1) // sw + 1
    out = np.zeros((N, Fo, OH, OW))
    Fg = Fo // groups
    for g in range(groups):
        xs, ws = x[:, g * Cg:(g + 1) * Cg], w[g * Fg:(g + 1) * Fg]
        for i in range(KH):
            for j in range(KW):
                patch = xs[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh,
                           j * dw:j * dw + sw * (OW - 1) + 1:sw]
                out[:, g * Fg:(g + 1) * Fg] += np.einsum("nchw,fc->nfhw", patch, ws[:, :, i, j])
    return out if b is None else out + b[None, :, None, None]


def conv1d_ref(x, w, b=None, stride=1, padding=0):
    out = conv2d_ref(x[:, :, None], w[:, :, None], b, (1, stride), (0, padding))
    return out[:, :, 0]


def pool_ref(x, kernel_size, stride=None, padding=0, kind="max"):
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = (kh, kw) if stride is None else _pair(stride)
    (ph, pw) = _pair(padding)
    fill = -np.inf if kind == "max" else 0.0
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    OH, OW = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.empty(x.shape[:2] + (OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            window = x[:, :, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw]
            out[:, :, oh, ow] = window.max(axis=(2, 3)) if kind == "max" else window.mean((2, 3))
    return out


def max_pool_ref(x, kernel_size, stride=None, padding=0):
    return pool_ref(x, kernel_size, stride, padding, "max")


def avg_pool_ref(x, kernel_size, stride=None, padding=0):
    return pool_ref(x, kernel_size, stride, padding, "avg")


def _torch_f():
    import torch.nn.functional as TF
    return TF


def conv2d_torch(x, w, b=None, **kw):
    return _torch_f().conv2d(x, w, b, **kw)


def conv1d_torch(x, w, b=None, **kw):
    return _torch_f().conv1d(x, w, b, **kw)


def max_pool_torch(x, **kw):
    return _torch_f().max_pool2d(x, **kw)


def avg_pool_torch(x, **kw):
    return _torch_f().avg_pool2d(x, **kw)


def conv_case(name, x, w, b=None, **kw):
    args = (x, w) if b is None else (x, w, b)
    return OpCase(name, F.conv2d, conv2d_ref, args, torch_op=conv2d_torch, kwargs=kw)


def pool_case(name, kind, x, **kw):
    op, ref, top = ((F.max_pool2d, max_pool_ref, max_pool_torch) if kind == "max"
                    else (F.avg_pool2d, avg_pool_ref, avg_pool_torch))
    return OpCase(name, op, ref, (x,), torch_op=top, kwargs=kw)


# ----------------------------------------------------------------------------- the table

CASES = [
    conv_case("conv_basic", randn(2, 3, 6, 5), randn(4, 3, 3, 3), randn(4)),
    conv_case("conv_padding", randn(2, 2, 5, 5), randn(3, 2, 3, 3), randn(3), padding=1),
    conv_case("conv_no_bias", randn(1, 2, 6, 7), randn(2, 2, 2, 3)),
    conv_case("conv_stride", randn(2, 2, 7, 8), randn(3, 2, 3, 3), randn(3), stride=2,
              padding=1),
    conv_case("conv_pairs", randn(1, 2, 9, 8), randn(2, 2, 3, 2), randn(2), stride=(2, 1),
              padding=(1, 2)),
    conv_case("conv_dilation", randn(1, 2, 8, 9), randn(3, 2, 3, 2), randn(3), dilation=(2, 3),
              padding=1),
    conv_case("conv_groups", randn(2, 4, 6, 6), randn(6, 2, 3, 3), randn(6), groups=2,
              padding=1),
    conv_case("conv_depthwise", randn(1, 3, 5, 5), randn(3, 1, 3, 3), groups=3),
    conv_case("conv_1x1", randn(2, 3, 4, 4), randn(5, 3, 1, 1), randn(5)),
    conv_case("conv_kernel_equals_input", randn(2, 2, 4, 4), randn(3, 2, 4, 4), randn(3)),
    conv_case("conv_lenet_like", randn(2, 1, 12, 12), randn(3, 1, 5, 5), randn(3), padding=2),
    OpCase("conv1d", F.conv1d, conv1d_ref, (randn(2, 3, 9), randn(4, 3, 3), randn(4)),
           torch_op=conv1d_torch, kwargs=dict(stride=2, padding=1)),
    OpCase("conv1d_no_bias", F.conv1d, conv1d_ref, (randn(1, 2, 6), randn(3, 2, 2)),
           torch_op=conv1d_torch),
    pool_case("max_pool_2", "max", distinct((2, 3, 6, 6), 1), kernel_size=2),
    pool_case("max_pool_odd_size", "max", distinct((1, 2, 7, 5), 2), kernel_size=2),
    pool_case("max_pool_overlap", "max", distinct((2, 2, 7, 7), 3), kernel_size=3, stride=2),
    pool_case("max_pool_padding", "max", distinct((1, 2, 5, 6), 4), kernel_size=3, stride=2,
              padding=1),
    pool_case("max_pool_pairs", "max", distinct((2, 1, 6, 7), 5), kernel_size=(2, 3),
              stride=(1, 2), padding=(1, 1)),
    pool_case("max_pool_gaps", "max", distinct((1, 2, 8, 8), 6), kernel_size=2, stride=3),
    pool_case("avg_pool_2", "avg", randn(2, 3, 6, 6), kernel_size=2),
    pool_case("avg_pool_overlap", "avg", randn(2, 2, 7, 6), kernel_size=3, stride=2),
    pool_case("avg_pool_padding", "avg", randn(1, 2, 5, 5), kernel_size=3, stride=2, padding=1),
    pool_case("avg_pool_pairs", "avg", randn(2, 1, 7, 8), kernel_size=(3, 2), stride=(2, 1),
              padding=(1, 0)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check_op(case)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op_torch(case):
    pytest.importorskip("torch")
    check_op_torch(case)


# ----------------------------------------------------------------------------- drawn geometry

def _drawn_conv(geo, seed):
    x, w, b = normal(geo["x_shape"], seed), normal(geo["w_shape"], seed + 1), None
    if seed % 2:
        b = normal(geo["w_shape"][:1], seed + 2)
    kw = {k: geo[k] for k in ("stride", "padding", "dilation", "groups")}
    return conv_case(f"conv {geo}", x, w, b, **kw)


@settings(deadline=None)
@given(conv_geometry(), seeds)
def test_conv2d_drawn(geo, seed):
    check_op(_drawn_conv(geo, seed))


@settings(deadline=None)
@given(conv_geometry(), seeds)
def test_conv2d_drawn_torch(geo, seed):
    pytest.importorskip("torch")
    check_op_torch(_drawn_conv(geo, seed))


def _drawn_pool(geo, seed, kind):
    x = distinct(geo["x_shape"], seed) if kind == "max" else normal(geo["x_shape"], seed)
    kw = {k: geo[k] for k in ("kernel_size", "stride", "padding")}
    return pool_case(f"{kind}_pool {geo}", kind, x, **kw)


@settings(deadline=None)
@given(pool_geometry(), seeds, st.sampled_from(["max", "avg"]))
def test_pool_drawn(geo, seed, kind):
    check_op(_drawn_pool(geo, seed, kind))


@settings(deadline=None)
@given(pool_geometry(), seeds, st.sampled_from(["max", "avg"]))
def test_pool_drawn_torch(geo, seed, kind):
    pytest.importorskip("torch")
    check_op_torch(_drawn_pool(geo, seed, kind))


# ----------------------------------------------------------------------------- max-pool ties

def _pool_grad(x, **kw):
    t = Tensor(x, dtype=np.float64, requires_grad=True)
    F.max_pool2d(t, **kw).sum().backward()
    return t.grad.numpy()


def test_max_pool_ties_go_to_first_maximum():
    x = np.array([[[[1.0, 3.0, 0.0, 0.0],
                    [3.0, 2.0, 0.0, 0.0],
                    [5.0, 5.0, 4.0, 7.0],
                    [5.0, 5.0, 7.0, 7.0]]]])
    expected = np.array([[[[0, 1, 1, 0],
                           [0, 0, 0, 0],
                           [1, 0, 0, 1],
                           [0, 0, 0, 0]]]], dtype=float)
    np.testing.assert_array_equal(_pool_grad(x, kernel_size=2), expected)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1),
                                dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=(2, 1))], ids=str)
def test_max_pool_ties_match_torch(kw):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).integers(0, 3, size=(2, 3, 7, 8)).astype(float)
    x[0, 0] = 0.0  # an all-tie plane, as after a ReLU
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, **kw).sum().backward()
    np.testing.assert_array_equal(_pool_grad(x, **kw), tx.grad.numpy())


NAN = float("nan")


@pytest.mark.parametrize("window, position", [
    ([[1, NAN], [NAN, 3]], (1, 0)),
    ([[NAN, 1], [3, NAN]], (1, 1)),
    ([[5, 1], [NAN, 9]], (1, 0)),
    ([[NAN, 9], [1, 2]], (0, 0)),
    ([[5, NAN, NAN], [1, 2, 3], [4, 5, 6]], (0, 2)),
    ([[5, 1, 2], [NAN, 2, 3], [4, 5, NAN]], (2, 2)),
    ([[5, 1, 2], [1, 2, NAN], [NAN, 5, 1]], (2, 0)),
    ([[NAN, 9, 2], [1, 9, 3], [4, 5, 9]], (0, 0)),
], ids=str)
def test_max_pool_sends_a_nan_windows_gradient_to_its_last_nan_as_pytorch(window, position):
    """The window's maximum is NaN, and its gradient goes to the last NaN in row-major order
    (PyTorch's `val > max || isnan(val)`), not to a finite element."""
    x = np.array(window, dtype=float)[None, None]
    k = x.shape[-1]
    out = F.max_pool2d(Tensor(x, dtype=np.float64), k)
    assert np.isnan(out.numpy()).all()
    expected = np.zeros_like(x)
    expected[(0, 0) + position] = 1.0
    np.testing.assert_array_equal(_pool_grad(x, kernel_size=k), expected)


@pytest.mark.parametrize("with_nan", [False, True])
def test_max_pool_takes_the_nan_test_only_when_a_maximum_is_nan(monkeypatch, with_nan):
    """On the host the two passes of a 2x2 pooling first leave the NaN test out; they run
    again with it exactly when a maximum came out NaN, and the indices are those of the
    careful passes either way (ties everywhere, as after a ReLU)."""
    from tinygrad_cnn.nn import pool
    x = np.random.default_rng(3).integers(0, 2, size=(4, 3, 6, 6)).astype(np.float32)
    if with_nan:
        x[1, 2, 0, 1] = NAN  # the second of its pair: the hopeful pass points elsewhere
    calls = []
    first_max = pool._first_max

    def counted(xp, views, with_index, nan_aware=True):
        calls.append(nan_aware)
        return first_max(xp, views, with_index, nan_aware)

    monkeypatch.setattr(pool, "_first_max", counted)
    t = Tensor(x, requires_grad=True, device="cpu")  # the host's path, in both passes
    out = F.max_pool2d(t, 2)
    out.sum().backward()
    assert calls == ([False, False, True, True] if with_nan else [False, False])
    views = [x[..., 0::2], x[..., 1::2]]
    for nan_aware in (False, True):
        if with_nan and not nan_aware:
            continue  # the hopeful indices of a NaN window are not to be trusted
        colmax, colidx = first_max(np, views, True, nan_aware)
        careful_max, careful_idx = first_max(np, views, True)
        np.testing.assert_array_equal(colmax, careful_max)
        np.testing.assert_array_equal(colidx, careful_idx)
    expected = _pool_grad(x.astype(float), kernel_size=2)
    np.testing.assert_array_equal(t.grad.numpy(), expected)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1),
                                dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=(2, 1))], ids=str)
def test_max_pool_with_nans_matches_torch(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(float)
    x[rng.random(x.shape) < 0.15] = NAN
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.max_pool2d(tx, **kw)
    expected.sum().backward()
    t = Tensor(x, dtype=np.float64, requires_grad=True)
    out = F.max_pool2d(t, **kw)
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())


# ----------------------------------------------------------------------------- dtypes, buffers

def test_float32_stays_float32():
    x = Tensor(randn(2, 3, 8, 8).astype(np.float32), requires_grad=True)
    w = Tensor(randn(4, 3, 3, 3).astype(np.float32), requires_grad=True)
    b = Tensor(randn(4).astype(np.float32), requires_grad=True)
    y = F.max_pool2d(F.conv2d(x, w, b, padding=1), 2)
    y = F.avg_pool2d(y, 2)
    assert y.dtype == np.float32
    y.sum().backward()
    assert {t.grad.dtype for t in (x, w, b)} == {np.dtype(np.float32)}


def test_recycled_buffers_do_not_leak_between_calls():
    x1, x2 = randn(2, 2, 6, 6).astype(np.float32), randn(2, 2, 6, 6).astype(np.float32)
    w = Tensor(randn(3, 2, 3, 3).astype(np.float32), requires_grad=True)
    out1 = F.conv2d(Tensor(x1), w, padding=1)
    kept = out1.numpy().copy()
    out2 = F.conv2d(Tensor(x2), w, padding=1)
    np.testing.assert_array_equal(out1.numpy(), kept)
    assert not np.shares_memory(out1.numpy(), out2.numpy())
    (out1.sum() + out2.sum() * 2).backward()
    expected = conv2d_grad_w(x1, 1.0) + conv2d_grad_w(x2, 2.0)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-5, atol=1e-5)


def conv2d_grad_w(x, scale):
    """dL/dw of sum(scale * conv2d(x, w, padding=1)) for a 3x3 kernel: a window sum."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    g = np.empty((3, 2, 3, 3))
    for i in range(3):
        for j in range(3):
            g[:, :, i, j] = scale * xp[:, :, i:i + 6, j:j + 6].sum(axis=(0, 2, 3))
    return g


def test_backward_twice_with_retain_graph():
    x = Tensor(randn(2, 2, 6, 6), dtype=np.float64, requires_grad=True)
    w = Tensor(randn(3, 2, 3, 3), dtype=np.float64, requires_grad=True)
    loss = F.max_pool2d(F.conv2d(x, w, padding=1), 2).sum()
    loss.backward(retain_graph=True)
    first = (x.grad.numpy().copy(), w.grad.numpy().copy())
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first[0])
    np.testing.assert_allclose(w.grad.numpy(), 2 * first[1])


# ----------------------------------------------------------------------------- errors

def T(*shape, dtype=np.float32):
    return Tensor(np.zeros(shape), dtype=dtype)


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.conv2d(T(1, 28, 28), T(6, 1, 5, 5)), ValueError,
     r"conv2d: expected a 4-D input \(N, C, H, W\), got shape \(1, 28, 28\) \(3-D\)"),
    (lambda: F.conv2d(T(1, 3, 28, 28), T(6, 1, 5, 5)), ValueError,
     r"^conv2d: input has 3 channels but weight expects 1 \(weight shape \(6, 1, 5, 5\)\)$"),
    (lambda: F.conv2d(T(1, 3, 8, 8), T(6, 3, 5)), ValueError, r"4-D weight"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(6, 1, 5, 5), padding=0), ValueError,
     r"kernel 5x5 is larger than the padded input 4x4 \(input 4x4, padding 0x0\)"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(6, 1, 3, 3), dilation=2), ValueError,
     r"kernel 3x3 \(dilated to 5x5\) is larger than the padded input 4x4"),
    (lambda: F.conv2d(T(1, 1, 8, 8), T(6, 1, 3, 3), stride=0), ValueError,
     r"conv2d: stride must be a positive int or a sequence of 2 of them, got 0"),
    (lambda: F.conv2d(T(1, 1, 8, 8), T(6, 1, 3, 3), padding=-1), ValueError,
     r"conv2d: padding must be a non-negative int"),
    (lambda: F.conv2d(T(1, 1, 8, 8), T(6, 1, 3, 3), stride=(1, 2, 3)), ValueError,
     r"stride must be"),
    (lambda: F.conv2d(T(1, 1, 8, 8), T(6, 1, 3, 3), stride=1.5), ValueError,
     r"stride must be"),
    (lambda: F.conv2d(T(1, 1, 8, 8), T(6, 1, 3, 3), T(5)), ValueError,
     r"conv2d: bias has shape \(5,\) but weight has 6 output channels"),
    (lambda: F.conv2d(T(1, 4, 8, 8), T(6, 2, 3, 3), groups=3), ValueError,
     r"input has 4 channels but weight expects 2 x groups=3 = 6"),
    (lambda: F.conv2d(T(1, 4, 8, 8), T(5, 2, 3, 3), groups=2), ValueError,
     r"5 output channels, not divisible by groups=2"),
    (lambda: F.conv2d(T(1, 1, 8, 8), T(6, 1, 3, 3, dtype=np.float64)), TypeError,
     r"conv2d: all operands need one dtype, but input is float32, weight is float64"),
    (lambda: F.conv2d(T(1, 1, 8, 8, dtype=np.int64), T(6, 1, 3, 3)), TypeError,
     r"conv2d: input must be floating point, got int64"),
    (lambda: F.conv2d(np.zeros((1, 1, 8, 8)), T(6, 1, 3, 3)), TypeError,
     r"conv2d: input must be a Tensor, got ndarray"),
    (lambda: F.conv1d(T(1, 3, 8, 8), T(6, 3, 3)), ValueError,
     r"conv1d: expected a 3-D input \(N, C, L\), got shape \(1, 3, 8, 8\)"),
    (lambda: F.conv1d(T(1, 2, 8), T(6, 3, 3)), ValueError,
     r"conv1d: input has 2 channels but weight expects 3 \(weight shape \(6, 3, 3\)\)"),
    (lambda: F.conv1d(T(1, 3, 2), T(6, 3, 3)), ValueError,
     r"conv1d: kernel 3 is larger than the padded input 2"),
    (lambda: F.max_pool2d(T(1, 1, 3, 3), 4), ValueError,
     r"max_pool2d: kernel 4x4 is larger than the padded input 3x3"),
    (lambda: F.max_pool2d(T(1, 1, 8, 8), 3, padding=2), ValueError,
     r"max_pool2d: padding 2x2 must be at most half the kernel size 3x3"),
    (lambda: F.avg_pool2d(T(1, 8, 8), 2), ValueError,
     r"avg_pool2d: expected a 4-D input \(N, C, H, W\), got shape \(1, 8, 8\)"),
    (lambda: F.avg_pool2d(T(1, 1, 8, 8), 0), ValueError,
     r"avg_pool2d: kernel_size must be a positive int"),
    (lambda: F.max_pool2d(T(1, 1, 8, 8), 2, stride=0), ValueError,
     r"max_pool2d: stride must be a positive int"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
