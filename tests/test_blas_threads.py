"""The BLAS thread count: chosen by timing real batches (backend/threads.py), fixed by
``set_num_threads`` / ``--threads``, capped by the environment, reported where it was used.

The tuner's logic is driven by a fake clock and a recorded setter, so every decision here is
deterministic; one test sets the real BLAS through threadpoolctl."""

import json

import pytest

import tinygrad_cnn as tg
from tinygrad_cnn.backend import threads


class Machine:
    """A fake machine: ``cost[n]`` seconds per item with ``n`` threads; the tuner's clock
    advances by that cost on every batch."""

    def __init__(self, cost):
        self.cost, self.now, self.applied = dict(cost), 0.0, []
        self.current = None

    def clock(self):
        return self.now

    def apply(self, count):
        self.applied.append(count)
        self.current = count

    def run(self, tuner, batches, items=64):
        for _ in range(batches):
            tuner.begin()
            self.now += self.cost[self.current] * items
            tuner.end(items)


def make_tuner(machine, **settings):
    settings = {"options": (1, 2), "probe": 3, "settle": 1, "window": 4, "recheck": 10.0,
                **settings}
    return threads.ThreadTuner("test", clock=machine.clock, apply=machine.apply, **settings)


@pytest.fixture(autouse=True)
def nothing_fixed():
    tg.set_num_threads(None)
    yield
    tg.set_num_threads(None)


def test_the_faster_count_is_kept_after_one_probe_of_each():
    machine = Machine({1: 100e-6, 2: 140e-6})
    tuner = make_tuner(machine)
    machine.run(tuner, 8)  # (1 settle + 3 timed) per candidate
    assert tuner.choice == 1
    assert tuner.last_probe == pytest.approx({1: 100e-6, 2: 140e-6})
    machine.run(tuner, 20)
    assert machine.current == 1
    assert tuner.take_usage() == {1: 24, 2: 4}
    assert "1 thread (1: 100 us, 2: 140 us per item)" == tuner.describe()


def test_a_hopeless_candidate_is_dropped_after_one_timed_batch():
    machine = Machine({1: 100e-6, 2: 400e-6})    # two threads beside a busy process
    tuner = make_tuner(machine)
    machine.run(tuner, 4 + 2)  # candidate 1 whole, then 2: settle + one timed batch
    assert tuner.choice == 1
    assert tuner.take_usage() == {1: 4, 2: 2}


def test_a_candidate_ten_times_slower_is_dropped_after_its_first_batch():
    machine = Machine({1: 100e-6, 2: 1000e-6})
    tuner = make_tuner(machine)
    machine.run(tuner, 4 + 1)
    assert tuner.choice == 1
    assert tuner.take_usage() == {1: 4, 2: 1}


def test_a_change_of_load_starts_a_new_probe_and_the_choice_follows_it():
    machine = Machine({1: 100e-6, 2: 80e-6})     # quiet: two threads win
    tuner = make_tuner(machine)
    machine.run(tuner, 8)
    assert tuner.choice == 2
    machine.cost = {1: 110e-6, 2: 900e-6}        # another process starts spinning
    machine.run(tuner, 4)                        # the window fills with slow batches
    assert tuner.probes == 2
    machine.run(tuner, 8)
    assert tuner.choice == 1
    machine.cost = {1: 100e-6, 2: 80e-6}          # ... and stops: only a recheck sees it
    machine.run(tuner, 10)
    assert tuner.choice == 1
    machine.now += 11.0                          # past the recheck interval
    machine.run(tuner, 12)
    assert tuner.choice == 2


def test_a_passing_slowdown_does_not_drop_a_standing_choice_of_two_threads():
    machine = Machine({1: 100e-6, 2: 80e-6})
    tuner = make_tuner(machine, recheck=1000.0)
    machine.run(tuner, 8)
    assert tuner.choice == 2
    machine.cost = {1: 112e-6, 2: 115e-6}        # for a moment two threads lose their edge
    machine.run(tuner, 4)                        # slower than 1.35x: a new probe
    assert tuner.probes == 2
    machine.run(tuner, 8)
    assert tuner.choice == 2                     # a tie: the standing choice stays
    machine.cost = {1: 100e-6, 2: 80e-6}         # ... and the edge is back
    machine.run(tuner, 20)
    assert machine.current == 2 and tuner.probes == 2


def test_a_busier_machine_does_not_reprobe_a_choice_of_one_thread():
    machine = Machine({1: 100e-6, 2: 140e-6})
    tuner = make_tuner(machine, recheck=1000.0)
    machine.run(tuner, 8)
    assert tuner.choice == 1 and tuner.probes == 1
    machine.cost = {1: 300e-6, 2: 2000e-6}       # a neighbour takes a share of the core
    machine.run(tuner, 20)
    assert tuner.probes == 1                     # one thread was already the safest
    machine.cost = {1: 50e-6, 2: 30e-6}          # ... a much quieter machine is noticed
    machine.run(tuner, 4 + 8)
    assert tuner.probes == 2 and tuner.choice == 2


def test_rechecks_become_rarer_while_the_choice_stands():
    machine = Machine({1: 100e-6, 2: 140e-6})
    tuner = make_tuner(machine, recheck=1.0)
    machine.run(tuner, 8)
    intervals = []
    for _ in range(5):
        probes = tuner.probes
        while tuner.probes == probes:
            machine.run(tuner, 1)
        machine.run(tuner, 8)          # the probe itself
        intervals.append(tuner._recheck)
        assert tuner.choice == 1
    assert intervals == [2.0, 4.0, 8.0, 16.0, 16.0]


def test_a_fixed_count_is_never_changed_by_a_tuner():
    machine = Machine({1: 100e-6, 2: 50e-6, 3: 10e-6})
    tuner = make_tuner(machine)
    tg.set_num_threads(3)
    tuner.begin()
    tuner.end(64)
    assert machine.applied == []
    assert tuner.take_usage() == {3: 1}
    assert tuner.describe() == "3 threads (fixed)"
    assert tg.get_num_threads() == 3
    tg.set_num_threads(None)
    machine.run(tuner, 8)
    assert tuner.choice == 2                # options (1, 2): measuring again


def test_fixed_for_restores_what_was_fixed_before():
    tg.set_num_threads(2)
    with threads.fixed_for(1):
        assert threads.fixed_threads() == 1
    assert threads.fixed_threads() == 2
    with threads.fixed_for(None):
        assert threads.fixed_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_refuses_anything_but_a_positive_int(bad):
    with pytest.raises(ValueError, match="threads: expected a positive whole number"):
        tg.set_num_threads(bad)


def test_environment_variables_cap_the_candidates(monkeypatch):
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    assert threads.candidates() == (1, 2, 3, 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert threads.candidates() == (1, 2)
    assert "capped by OPENBLAS_NUM_THREADS=2" in threads.threads_setting()
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "many")   # not a count: ignored
    assert threads.candidates() == (1, 2, 3)


def test_one_candidate_is_set_without_timing(monkeypatch):
    machine = Machine({1: 1e-6})
    tuner = make_tuner(machine, options=(1,))
    machine.run(tuner, 3)
    assert tuner.choice == 1 and tuner.probes == 0 and set(machine.applied) == {1}


def test_the_real_blas_follows_the_setter():
    pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed")
    if threads.blas_threads() is None:
        pytest.skip("threadpoolctl found no BLAS in this NumPy")
    before = threads.blas_threads()
    try:
        for count in (2, 1):
            threads.set_blas_threads(count)
            assert threads.blas_threads() == count
    finally:
        threads.set_blas_threads(before)


def test_train_reports_the_threads_it_used(main, tmp_path):
    log = tmp_path / "metrics.jsonl"
    status, out, err = main("train", "--epochs", "1", "--checkpoint", "", "--log", str(log),
                            "--threads", "1", "--dataset", "sample")
    assert status == 0, err
    if tg.default_device() != "cpu":
        assert "BLAS threads" not in out   # a GPU run leaves them alone
        return
    assert "BLAS threads 1 (fixed)" in out
    assert "threads 1" in out.splitlines()[-2]
    line = json.loads(log.read_text().splitlines()[-1])
    assert set(line["threads"]) == {"1"} and line["threads"]["1"] > 0
    assert threads.fixed_threads() is None  # fixed for that run only


def test_threads_out_of_range_is_one_line(main):
    status, out, err = main("train", "--threads", "0")
    assert status == 2
    assert "--threads: expected an integer from 1 to 1,024" in err


@pytest.mark.parametrize("two, chosen", [(97e-6, 1), (90e-6, 2)])
def test_a_second_thread_must_be_clearly_faster_to_be_kept(two, chosen):
    machine = Machine({1: 100e-6, 2: two})
    tuner = make_tuner(machine)
    machine.run(tuner, 8)
    assert tuner.choice == chosen
