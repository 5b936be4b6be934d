"""A dependency-free progress bar for long loops (training epochs, evaluation)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """``[#####.....] 31/63 loss 0.412 acc 87.5% 9,120 img/s`` redrawn in place.

    Drawn only on a terminal (or when ``enabled=True``): logs and CI output get the
    one-line summaries the caller prints instead of hundreds of carriage returns.
    Redraws at most every ``interval`` seconds so the bar never costs training time.
    """

    def __init__(self, total: int, desc: str = "", stream=None, enabled: bool | None = None,
                 width: int = 24, interval: float = 0.1):
        self.total = max(int(total), 1)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.interval = interval
        self.count = 0
        self.postfix = ""
        self._last_draw = 0.0
        self._drawn = False

    def update(self, n: int = 1, **postfix) -> None:
        self.count = min(self.count + n, self.total)
        if postfix:
            self.postfix = "  ".join(_format(k, v) for k, v in postfix.items())
        now = time.perf_counter()
        if self.enabled and (now - self._last_draw >= self.interval or self.count == self.total):
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        filled = self.width * self.count // self.total
        bar = "#" * filled + "." * (self.width - filled)
        text = f"\r{self.desc} [{bar}] {self.count}/{self.total}  {self.postfix}"
        self.stream.write(text.ljust(getattr(self, "_last_len", 0)))
        self._last_len = len(text)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the bar so the caller's summary line takes its place."""
        if self._drawn:
            self.stream.write("\r" + " " * getattr(self, "_last_len", 0) + "\r")
            self.stream.flush()
            self._drawn = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _format(key: str, value) -> str:
    if key == "acc":
        return f"acc {100 * value:.1f}%"
    if key == "img_s":
        return f"{value:,.0f} img/s"
    if isinstance(value, float):
        return f"{key} {value:.4f}"
    return f"{key} {value}"
