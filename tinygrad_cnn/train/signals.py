"""Stopping training at a clean point: Ctrl-C (SIGINT) or SIGTERM becomes a flag that the
loop reads between batches, so a checkpoint being written is finished rather than cut."""

from __future__ import annotations

import signal

__all__ = ["StopOnSignal"]


class StopOnSignal:
    """Turn SIGINT/SIGTERM into a flag checked between batches, so a checkpoint being
    written is finished rather than cut, and training stops at a clean point."""

    def __init__(self):
        self.stop = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.stop:  # a second Ctrl-C means "now"
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
