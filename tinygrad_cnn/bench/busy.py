"""Busy neighbours for ``tinygrad-cnn bench --busy N``: N processes that spin on the CPU
beside each timed worker, as a browser, a test run or a second training job would.

Users' machines are rarely idle, and the busy case is where BLAS threads hurt most (a
matrix product split over two threads waits for the one the scheduler parked), so the
benchmark measures it on purpose rather than only leaving disturbed blocks out. Each
spinner is a child process that ends by itself after ``seconds`` (so even a parent killed
without cleanup leaves nothing spinning for long) and is stopped when the block ends.
"""

from __future__ import annotations

import subprocess
import sys

# The spinner: a pure-Python loop that never sleeps, bounded by its own deadline.
_SPIN = ("import sys, time\n"
         "end = time.monotonic() + float(sys.argv[1])\n"
         "while time.monotonic() < end:\n"
         "    pass\n")


class BusyProcesses:
    """``with BusyProcesses(n, seconds):`` runs ``n`` spinning processes for the block (at
    most ``seconds``); ``n == 0`` does nothing."""

    def __init__(self, count: int, seconds: float):
        self.count, self.seconds = count, seconds
        self.processes: list = []

    def __enter__(self):
        for _ in range(self.count):
            self.processes.append(subprocess.Popen(
                [sys.executable, "-c", _SPIN, str(self.seconds)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait()
        self.processes = []
        return False
