"""Grad mode, the hooks of a running computation and the path of running modules belong to
one thread, as in PyTorch: ``no_grad`` in one thread leaves another recording, a new thread
starts with grad enabled, and contexts that exit out of order restore what each saved.

Every test interleaves its threads with events or barriers, so it is deterministic."""

import threading

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, autograd, nn, optim
from tinygrad_cnn.nn.hooks import current_path, running

WAIT = 60  # seconds: only reached when a test is broken (or the machine is very busy)


def run_in_thread(target):
    """Start ``target`` in a thread; returns a function that joins it and re-raises what
    the thread raised."""
    errors = []

    def body():
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the joining thread
            errors.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()

    def join():
        thread.join(WAIT)
        assert not thread.is_alive(), "thread did not finish"
        if errors:
            raise errors[0]

    return join


def test_no_grad_in_one_thread_leaves_another_recording():
    inside, release, seen = threading.Event(), threading.Event(), []

    def evaluate():
        with tg.no_grad():
            inside.set()
            release.wait(WAIT)
            seen.append(tg.is_grad_enabled())

    join = run_in_thread(evaluate)
    assert inside.wait(WAIT)
    try:
        assert tg.is_grad_enabled()
        x = Tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
        (x * x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    finally:
        release.set()
        join()
    assert seen == [False] and tg.is_grad_enabled()


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with tg.no_grad():
        run_in_thread(lambda: seen.append(tg.is_grad_enabled()))()
        assert not tg.is_grad_enabled()
    assert seen == [True] and tg.is_grad_enabled()


def test_no_grad_blocks_of_two_threads_exiting_out_of_order_restore_each_thread():
    """A enters, B enters, A exits, B exits: with one process-wide flag, B would restore
    the False it saw and leave autograd off for the rest of the process."""
    step = threading.Barrier(2, timeout=WAIT)
    seen = {}

    def thread(name, exit_at):
        def body():
            block = tg.no_grad()
            for moment in range(4):
                if moment == 0 and name == "A" or moment == 1 and name == "B":
                    block.__enter__()
                if moment == exit_at:
                    block.__exit__(None, None, None)
                step.wait()
            seen[name] = tg.is_grad_enabled()
        return body

    join_a = run_in_thread(thread("A", exit_at=2))
    join_b = run_in_thread(thread("B", exit_at=3))
    join_a()
    join_b()
    assert seen == {"A": True, "B": True} and tg.is_grad_enabled()


def test_no_grad_blocks_exiting_out_of_order_in_one_thread_restore_what_each_saved():
    """PyTorch's rule: each block restores the mode it found when it was entered."""
    outer, inner = tg.no_grad(), tg.no_grad()
    try:
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)
        assert tg.is_grad_enabled()  # outer found grad on
        inner.__exit__(None, None, None)
        assert not tg.is_grad_enabled()  # inner found it off
        with tg.no_grad():
            pass
        assert not tg.is_grad_enabled()
    finally:
        autograd.set_grad_enabled(True)  # the state every test starts from
    assert tg.is_grad_enabled()


def test_one_no_grad_object_entered_twice_restores_both_levels():
    block = tg.no_grad()
    with block:
        with block:
            assert not tg.is_grad_enabled()
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()


def _model(seed):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _train(model, batches, step=None):
    opt = optim.SGD(model.parameters(), lr=0.1)
    for x, y in batches:
        if step is not None:
            step.wait()  # the evaluating thread is inside no_grad now
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if step is not None:
            step.wait()
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_training_thread_keeps_its_gradients_while_another_evaluates_under_no_grad():
    rng = np.random.default_rng(0)
    batches = [(Tensor(rng.standard_normal((5, 4))), Tensor(rng.integers(0, 3, 5)))
               for _ in range(6)]
    expected = _train(_model(1), batches)

    step = threading.Barrier(2, timeout=WAIT)
    evaluated = []
    # both models made here: tg.manual_seed is process-wide, as torch.manual_seed is, so two
    # threads seeding and drawing at once would interleave their draws (seen on a GPU)
    trained, other = _model(1), _model(2)

    def evaluate():
        for x, _ in batches:
            with tg.no_grad():
                step.wait()  # the training thread runs one whole step now
                out = other(x)
                step.wait()
            evaluated.append(out.requires_grad)

    join = run_in_thread(evaluate)
    try:
        got = _train(trained, batches, step)
    except BaseException:
        step.abort()  # frees the other thread, whose error would hide this one
        raise
    join()
    assert evaluated == [False] * len(batches)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_hooks_for_this_thread_only_see_this_threads_backward():
    everywhere, here = [], []
    handle_all = autograd.on_backward(lambda node, g: everywhere.append(node.name))
    handle_here = autograd.on_backward(lambda node, g: here.append(node.name),
                                       only_this_thread=True)
    recorded = []
    handle_rec = autograd.on_record(lambda node, out, params: recorded.append(node.name),
                                    only_this_thread=True)
    try:
        def other():
            x = Tensor([1.0, 2.0], requires_grad=True)
            (x * 2).sum().backward()

        run_in_thread(other)()
        assert here == [] and recorded == [] and everywhere == ["Sum", "Mul"]
        x = Tensor([1.0, 2.0], requires_grad=True)
        x.exp().sum().backward()
        assert here == ["Sum", "Exp"] and recorded == ["Exp", "Sum"]
        assert everywhere == ["Sum", "Mul", "Sum", "Exp"]
    finally:
        handle_all.remove()
        handle_here.remove()
        handle_rec.remove()
    x = Tensor([1.0], requires_grad=True)
    x.exp().sum().backward()
    assert len(here) == 2 and len(everywhere) == 4 and len(recorded) == 2


def test_a_handle_removes_its_hook_from_the_thread_that_registered_it():
    calls = []
    handles = []
    registered = threading.Event()

    def register():
        handles.append(autograd.on_backward(lambda node, g: calls.append(node.name),
                                            only_this_thread=True))
        registered.set()

    run_in_thread(register)()
    assert registered.is_set()
    handles[0].remove()  # from another thread: harmless, and it does not touch ours
    x = Tensor([1.0], requires_grad=True)
    x.exp().sum().backward()
    assert calls == []


def test_module_path_is_per_thread():
    inside, release, seen = threading.Event(), threading.Event(), []

    class Waits(nn.Module):
        def forward(self, x):
            inside.set()
            release.wait(WAIT)
            seen.append(current_path())
            return x

    join = run_in_thread(lambda: Waits()(Tensor([1.0])))
    assert inside.wait(WAIT)
    try:
        assert current_path() == ()
        with running("here", "Label"):
            assert current_path() == (("here", "Label"),)
    finally:
        release.set()
        join()
    assert seen == [(("", "Waits"),)] and current_path() == ()


@pytest.mark.parametrize("flag", [True, False])
def test_set_grad_enabled_is_per_thread(flag):
    seen = []
    previous = tg.is_grad_enabled()
    autograd.set_grad_enabled(flag)
    try:
        run_in_thread(lambda: seen.append(tg.is_grad_enabled()))()
        assert tg.is_grad_enabled() is flag
    finally:
        autograd.set_grad_enabled(previous)
    assert seen == [True]


def test_recording_gradient_statistics_watches_only_its_own_thread():
    from tinygrad_cnn.viz.gradstats import node_grad_stats, record_grad_stats

    inside, release = threading.Event(), threading.Event()

    def record():
        with record_grad_stats():
            inside.set()
            release.wait(WAIT)

    join = run_in_thread(record)
    assert inside.wait(WAIT)
    try:
        x = Tensor([1.0, 2.0], requires_grad=True)
        loss = x.exp().sum()
        node = loss.grad_fn
        loss.backward()
    finally:
        release.set()
        join()
    assert node_grad_stats(node) is None
    with record_grad_stats():
        loss = x.exp().sum()
        node = loss.grad_fn
        loss.backward()
    assert node_grad_stats(node)["norm"] == 1.0
