"""Host matrix products cut into chunks of columns (tinygrad_cnn.backend.products): the
chunk widths, the decision (kept only when faster and bit for bit the same), and the
results against NumPy's own product."""

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn.backend import products, threads
from tinygrad_cnn.nn import functional as F


@pytest.fixture(autouse=True)
def fresh_decisions(monkeypatch):
    """Each test starts with nothing decided and leaves the process's decisions alone."""
    monkeypatch.setattr(products, "_decisions", {})


def test_chunks_stay_within_the_small_product_limit_and_start_on_aligned_columns():
    # LeNet-5's conv2 forward and input gradient at batch 256
    assert products.chunk_columns(16, 151, 25600) == 384
    assert products.chunk_columns(30, 80, 35840) == 384
    for rows, inner in ((16, 151), (30, 80), (6, 26), (1, 10)):
        step = products.chunk_columns(rows, inner, 10 ** 7)
        assert step % products.ALIGN == 0
        assert rows * inner * step <= products.SMALL_PRODUCT
        assert rows * inner * (step + products.ALIGN) > products.SMALL_PRODUCT
    assert products.chunk_columns(6, 26, 3584) == 0      # small enough whole
    assert products.chunk_columns(120, 400, 10 ** 6) == 0  # a chunk would be under 64 columns


def test_decide_keeps_chunks_only_when_faster_and_the_same(monkeypatch):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 151)).astype(np.float32)
    b = rng.standard_normal((151, 2000)).astype(np.float32)
    expected = a @ b

    def clock_where(chunk_cost, whole_cost):
        """A clock under which a whole product takes ``whole_cost`` and the chunks of one
        take ``chunk_cost`` in all, told apart by the width of the product just run."""
        now = [0.0]
        last = {"width": None}

        def product(x, y, out):
            last["width"] = y.shape[-1]
            np.matmul(x, y, out=out)
            now[0] += whole_cost if y.shape[-1] == 2000 else chunk_cost * y.shape[-1] / 2000

        return (lambda: now[0]), product

    clock, product = clock_where(chunk_cost=1.0, whole_cost=2.0)
    out = np.empty((16, 2000), np.float32)
    assert products.decide(a, b, out, clock, product) == 384
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)

    clock, product = clock_where(chunk_cost=1.98, whole_cost=2.0)  # within 5%: not worth it
    assert products.decide(a, b, out, clock, product) == 0

    def rounding_otherwise(x, y, out):  # a BLAS whose chunks round differently
        np.matmul(x, y, out=out)
        if y.shape[-1] < 2000:
            out += np.float32(1e-3)

    fast_clock, _ = clock_where(chunk_cost=0.5, whole_cost=2.0)
    assert products.decide(a, b, out, fast_clock, rounding_otherwise) == 0


@pytest.mark.parametrize("step", [None, 64, 384])
def test_results_equal_numpys_product_for_groups_and_strided_outputs(monkeypatch, step):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 16, 151)).astype(np.float32)
    b = rng.standard_normal((2, 151, 1000)).astype(np.float32)
    big = np.zeros((2, 16, 1200), np.float32)
    out = big[..., 100:1100]  # rows 4,800 bytes apart: a strided view, as conv writes
    key = (a.shape, b.shape, "f", threads.current_blas_threads(), a.strides, b.strides)
    if step is not None:
        monkeypatch.setitem(products._decisions, key, step)
    assert products.matmul(np, a, b, out) is out
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-5, atol=1e-4)
    assert not big[..., :100].any() and not big[..., 1100:].any()  # nothing written beside
    assert key in products.decisions()


def test_on_this_blas_the_kept_chunks_give_numpys_bits():
    """What decide() promises, checked on the BLAS this machine has: a shape it cut gives
    exactly the whole product's bits (else it would have kept the whole product)."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((1, 16, 151)).astype(np.float32)
    b = rng.standard_normal((1, 151, 6400)).astype(np.float32)
    out = np.empty((1, 16, 6400), np.float32)
    for _ in range(2):  # the first call decides, the second runs what was decided
        products.matmul(np, a, b, out)
        assert np.array_equal(out, np.matmul(a, b))


def test_decisions_are_per_thread_count(monkeypatch):
    a = np.ones((16, 151), np.float32)
    b = np.ones((151, 3000), np.float32)
    out = np.empty((16, 3000), np.float32)
    for count in (1, 2):
        monkeypatch.setitem(threads._state, "current", count)
        products.matmul(np, a, b, out)
    assert {key[3] for key in products.decisions()} == {1, 2}


def test_arrays_of_another_module_go_to_its_own_matmul():
    calls = []

    class Module:
        @staticmethod
        def matmul(a, b, out):
            calls.append((a, b, out))
            return out

    assert products.matmul(Module, "a", "b", "out") == "out"
    assert calls == [("a", "b", "out")] and not products.decisions()


def test_a_training_conv_layer_agrees_with_chunks_or_without(monkeypatch):
    """LeNet-5's conv2 at batch 64 (products of 6,400 and 8,960 columns), its products
    forced whole and forced into chunks: the output and every gradient agree."""
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((64, 6, 14, 14)).astype(np.float32)
    w0 = rng.standard_normal((16, 6, 5, 5)).astype(np.float32) * 0.1
    b0 = rng.standard_normal(16).astype(np.float32)
    g0 = rng.standard_normal((64, 16, 10, 10)).astype(np.float32)

    def run(cut: bool):
        def forced(a, b, out, *_):
            step = products.chunk_columns(a.shape[-2], a.shape[-1], b.shape[-1]) if cut else 0
            products._chunked(a, b, out, step or b.shape[-1])
            return step

        monkeypatch.setattr(products, "_decisions", {})
        monkeypatch.setattr(products, "decide", forced)
        # on the host in every pass: a GPU's products never come here
        x, w, b = (tg.Tensor(v, requires_grad=True, device="cpu") for v in (x0, w0, b0))
        y = F.conv2d(x, w, b)
        y.backward(tg.Tensor(g0, device="cpu"))
        return [y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()], products.decisions()

    (whole, whole_plan), (cut, cut_plan) = run(False), run(True)
    assert set(whole_plan.values()) == {0} and 384 in cut_plan.values()
    for u, v in zip(whole, cut):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5)


def test_what_is_remembered_stays_bounded(monkeypatch):
    monkeypatch.setattr(products, "_MAX_DECISIONS", 3)
    a = np.ones((2, 3), np.float32)
    for n in range(1, 6):
        products.matmul(np, a, np.ones((3, n), np.float32), np.empty((2, n), np.float32))
    assert [key[1] for key in products.decisions()] == [(3, 3), (3, 4), (3, 5)]
