"""BLAS threads on the host: how many the matrix products use, and choosing that by measuring.

Why the library decides, and why by measuring: with two BLAS threads every matrix product
waits for both. On a quiet machine the second thread can pay (large products), or cost more
than it brings (LeNet-5 at batch 64: the products are small and the rest of a step is
NumPy's single-threaded work). On a machine where another process is running, a thread the
scheduler has parked costs a whole time slice at every product: a training step measured
at 6-7 ms with one thread took 40-90 ms with two beside one busy process. No rule of thumb
from the core count gets both cases right, so a :class:`ThreadTuner` times real batches
with each candidate count, keeps the fewest threads within 5% of the fastest, and looks
again when the batches' time drifts (another process started or stopped) and, less and
less often, when it does not.

The count is set through threadpoolctl (NumPy's OpenBLAS or MKL alike): one ``ctypes`` call
of about a microsecond, cheap enough to call around every batch. A user fixes the count
with :func:`set_num_threads` (the CLI's ``--threads N``); ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` set in the environment cap the candidates, as
those variables cap the BLAS itself. Work on a GPU leaves the count alone.
"""

from __future__ import annotations

import collections
import contextlib
import os
import statistics
import time

__all__ = ["ENV_VARS", "ThreadTuner", "available_cores", "blas_library", "blas_threads",
           "candidates", "current_blas_threads", "fixed_for", "fixed_threads",
           "get_num_threads", "set_blas_threads",
           "set_num_threads", "threads_setting", "tuner"]

#: Environment variables that cap the BLAS threads (the smallest one set wins).
ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_state = {"controllers": None, "fixed": None, "current": None}
_tuners: dict = {}


def _blas_controllers() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (NumPy's),
    found once; empty where threadpoolctl is missing or no BLAS was found."""
    if _state["controllers"] is None:
        try:
            import numpy  # noqa: F401  (its BLAS must be loaded to be found)
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _state["controllers"] = []
        else:
            found = ThreadpoolController().select(user_api="blas")
            _state["controllers"] = list(found.lib_controllers)
    return _state["controllers"]


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _environment_caps() -> list:
    """``[(value, variable)]`` for each variable of :data:`ENV_VARS` set to a count."""
    caps = []
    for var in ENV_VARS:
        try:
            value = int(os.environ.get(var, ""))
        except ValueError:
            continue
        if value >= 1:
            caps.append((value, var))
    return sorted(caps)


def _environment_cap() -> int | None:
    caps = _environment_caps()
    return caps[0][0] if caps else None


def candidates() -> tuple:
    """The thread counts a tuner tries: 1 up to the cores available, capped by the
    environment variables of :data:`ENV_VARS` when one is set, and at most 8 (past that a
    LeNet-sized step has nothing left to split)."""
    top = min(available_cores(), 8)
    cap = _environment_cap()
    if cap is not None:
        top = min(top, cap)
    return tuple(range(1, max(top, 1) + 1))


def blas_library() -> str:
    """What does the products, for banners: ``"openblas 0.3.31 (pthreads)"``."""
    controllers = _blas_controllers()
    if not controllers:
        return "BLAS not controllable (threadpoolctl missing or no BLAS found)"
    lib = controllers[0]
    layer = getattr(lib, "threading_layer", None)
    name = f"{lib.internal_api} {lib.version or ''}".strip()
    return f"{name} ({layer})" if layer and layer != "unknown" else name


def blas_threads() -> int | None:
    """The BLAS's thread count now (None where it cannot be read)."""
    controllers = _blas_controllers()
    return controllers[0].num_threads if controllers else None


def current_blas_threads() -> int:
    """The BLAS thread count as last set here (read from the BLAS the first time): a dict
    lookup, cheap enough for a decision per matrix product (:mod:`.products`)."""
    if _state["current"] is None:
        _state["current"] = blas_threads() or 1
    return _state["current"]


def set_blas_threads(count: int) -> None:
    """Set every BLAS library's thread count: the cheap setter the tuners call (nothing to
    do when the count is already set)."""
    if count == _state["current"]:
        return
    for lib in _blas_controllers():
        lib.set_num_threads(count)
    _state["current"] = count


def set_num_threads(count: int | None) -> None:
    """Fix the BLAS threads the library uses on the CPU to ``count``, as
    ``torch.set_num_threads`` does; ``None`` hands the choice back to measuring.

    Raises ValueError for anything but a positive int or None.
    """
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"threads: expected a positive whole number or None, "
                             f"got {count!r}")
        set_blas_threads(count)
    _state["fixed"] = count
    for tuner_ in _tuners.values():
        tuner_.restart()


@contextlib.contextmanager
def fixed_for(count: int | None):
    """Within the block, ``count`` threads fixed as by :func:`set_num_threads`; afterwards
    what was fixed before (or measuring) again. ``None`` changes nothing."""
    if count is None:
        yield
        return
    before = fixed_threads()
    set_num_threads(count)
    try:
        yield
    finally:
        set_num_threads(before)


def fixed_threads() -> int | None:
    """The count fixed by :func:`set_num_threads`, or None when it is chosen by measuring."""
    return _state["fixed"]


def get_num_threads() -> int:
    """The BLAS threads in use now (the fixed count, or the tuner's latest choice)."""
    return _state["fixed"] or blas_threads() or 1


def threads_setting() -> str:
    """One line for banners and ``info``: who chooses, among what, with which BLAS."""
    fixed = fixed_threads()
    if fixed is not None:
        how = f"{fixed} (fixed)"
    else:
        options, caps = candidates(), _environment_caps()
        how = (f"chosen by measuring among {options[0]}-{options[-1]}" if len(options) > 1
               else "1")
        if caps and caps[0][0] < min(available_cores(), 8):
            how += f" (capped by {caps[0][1]}={caps[0][0]})"
        elif len(options) == 1:
            how += " (one core available)"
    return f"{how}; {blas_library()}"


class ThreadTuner:
    """Chooses the BLAS thread count for one kind of work by timing real batches.

    Call :meth:`begin` before a batch and :meth:`end` (with the batch's item count) after
    it. While probing, the tuner runs each candidate count for ``settle`` batches it does
    not time (the new count's first products warm up) and ``probe`` timed ones, one
    candidate after the other. (Not in turn, batch by batch: after a batch on two threads
    OpenBLAS's idle worker spins on for a while, and beside a busy process the one-thread
    batches that follow were measured twice as slow as they are, so that two threads were
    wrongly kept there.) It keeps the fewest threads within ``prefer_fewer`` (5%) of the
    fastest per item, or, when probing again, the standing choice if that is still within
    it: a tie is no reason to change, and dropping to fewer threads on every passing
    slowdown would leave a quiet machine's second core unused until the next recheck. A
    candidate is dropped early when one of its batches is three times slower than the best
    so far, or its untimed first batch six times slower (two threads beside a busy process
    can be ten times slower: a full probe would cost seconds). Once settled it keeps the
    last ``window`` batch times; their median leaving ``[baseline / drift, baseline *
    drift]`` means the machine's load changed, and a new probe starts when the change could
    alter the choice (slower with more than the fewest threads, faster with fewer than the
    most). Without such a drift it probes again after ``recheck`` seconds, doubling that
    interval (to at most 16 times) while the choice stands, so a machine that became quiet
    is noticed and a steady one pays almost nothing.

    ``clock`` and ``apply`` are injectable so the logic is tested without a BLAS or timing.
    """

    def __init__(self, name: str = "work", options=None, probe: int = 4, settle: int = 1,
                 window: int = 8, drift: float = 1.35, recheck: float = 10.0,
                 prefer_fewer: float = 0.05, clock=time.perf_counter, apply=None):
        self.name = name
        self.prefer_fewer = prefer_fewer
        self._options = tuple(options) if options is not None else None
        self.probe, self.settle, self.window_size = probe, settle, window
        self.drift, self.base_recheck = drift, recheck
        self._clock = clock
        self._apply = apply or set_blas_threads
        self.used = collections.Counter()     # batches run per thread count
        self.last_probe: dict = {}            # thread count -> seconds per item
        self.probes = 0
        self.restart()

    # --------------------------------------------------------------------- state

    def restart(self) -> None:
        """Forget the choice and probe again from the next batch."""
        self.choice = None
        self._candidates = None
        self._plan: list = []      # (count, timed) for each batch left in the probe
        self._samples: dict = {}   # count -> its timed seconds per item in this probe
        self._window = collections.deque(maxlen=self.window_size)
        self._recheck = self.base_recheck
        self._next_check = None
        self._current = None
        self._started = None

    def options(self) -> tuple:
        """The counts this tuner chooses among: read from the machine when it (re)starts
        and before each probe, not per batch (an affinity syscall and three environment
        lookups would otherwise sit in every step)."""
        if self._candidates is None:
            self._candidates = (self._options if self._options is not None
                                else candidates())
        return self._candidates

    def _set(self, count: int) -> None:
        self._apply(count)  # cheap when already set; another tuner may have changed it
        self._current = count

    def _start_probe(self) -> None:
        self.probes += 1
        self._candidates = None  # the cores or the environment may have changed meanwhile
        options = self.options()
        # the standing choice first: its numbers are the yardstick for early stops
        order = sorted(options, key=lambda c: (c != self.choice, c))
        self._plan = [(c, timed) for c in order
                      for timed in [False] * self.settle + [True] * self.probe]
        self._samples = {c: [] for c in order}
        self._set(order[0])

    # --------------------------------------------------------------------- per batch

    def begin(self) -> None:
        """Before a batch: set the count this batch runs with, and start its clock."""
        fixed = fixed_threads()
        if fixed is not None:
            self._current = fixed
            self._started = None
            return
        options = self.options()
        if len(options) == 1:
            self._set(options[0])
            self.choice = options[0]
            self._started = None
            return
        if self.choice is None and not self._plan:
            self._start_probe()
        else:
            self._set(self._plan[0][0] if self._plan else self.choice)
        self._started = self._clock()

    def end(self, items: int = 1) -> None:
        """After a batch of ``items`` items: record its time and decide what comes next."""
        self.used[self._current] += 1
        if self._started is None:
            return
        now = self._clock()
        per_item = (now - self._started) / max(items, 1)
        self._started = None
        if self._plan:
            self._probing(per_item, now)
        else:
            self._watching(per_item, now)

    def _probing(self, per_item: float, now: float) -> None:
        count, timed = self._plan.pop(0)
        others = [statistics.median(t) for c, t in self._samples.items() if t and c != count]
        best = min(others, default=None)
        if timed:
            self._samples[count].append(per_item)
        # a timed batch three times slower than the best, or a warm-up batch six times (that
        # is not warm-up): the candidate is dropped at once
        if best is not None and per_item > (3 if timed else 6) * best:
            if not timed:
                self._samples[count].append(per_item)
            self._plan = [step for step in self._plan if step[0] != count]
        if self._plan:
            self._set(self._plan[0][0])
            return
        results = {c: statistics.median(t) for c, t in self._samples.items() if t}
        previous = self.choice
        best = min(results.values())
        near = [c for c, t in results.items() if t <= best * (1 + self.prefer_fewer)]
        # the standing choice stays on a tie; otherwise the fewest threads near the fastest:
        # a tie is not worth a second thread, which a busy neighbour would later make costly
        self.choice = previous if previous in near else min(near)
        self.last_probe = dict(sorted(results.items()))
        self._baseline = results[self.choice]
        self._window.clear()
        self._recheck = (min(self._recheck * 2, 16 * self.base_recheck)
                         if previous == self.choice else self.base_recheck)
        self._next_check = now + self._recheck
        self._set(self.choice)

    def _watching(self, per_item: float, now: float) -> None:
        self._window.append(per_item)
        drifted = False
        if len(self._window) == self.window_size:
            typical = statistics.median(self._window)
            options = self.options()
            # Only a drift that could change the choice counts: slower batches when more
            # threads than the fewest were chosen (a parked thread now costs), faster ones
            # when fewer than the most were (the machine became quieter). On a busy machine
            # one thread stays best however the load moves, so it is not probed again.
            drifted = ((typical > self._baseline * self.drift and self.choice > options[0])
                       or (typical < self._baseline / self.drift
                           and self.choice < options[-1]))
        if drifted or now >= self._next_check:
            if drifted:
                self._recheck = self.base_recheck
            self._start_probe()

    # --------------------------------------------------------------------- reports

    def take_usage(self) -> dict:
        """Batches per thread count since the last call (for the ``--log`` lines)."""
        usage = dict(sorted(self.used.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))
        self.used.clear()
        return usage

    def describe(self) -> str:
        """What was chosen and why, in one line: ``"1 thread (1: 95 us, 2: 140 us per
        item)"``."""
        fixed = fixed_threads()
        if fixed is not None:
            return f"{fixed} thread{'s' if fixed > 1 else ''} (fixed)"
        if self.choice is None:
            return "not chosen yet"
        measured = ", ".join(f"{c}: {1e6 * s:,.0f} us" for c, s in self.last_probe.items())
        plural = "s" if self.choice > 1 else ""
        return (f"{self.choice} thread{plural}" +
                (f" ({measured} per item)" if measured else ""))


def tuner(kind: str) -> ThreadTuner:
    """The process's tuner for one kind of work (``"training"``, ``"evaluation"``,
    ``"inference"``): shared by every entry point, so a choice made in one epoch carries
    into the next."""
    if kind not in _tuners:
        _tuners[kind] = ThreadTuner(kind)
    return _tuners[kind]
