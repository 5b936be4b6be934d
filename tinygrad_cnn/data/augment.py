"""Batch-level data augmentation: random translations without a per-image loop.

With only a few thousand training digits (the bundled sample), LeNet-5 starts to memorise
them; shifting each digit by a couple of pixels is the classic cure (LeCun et al. 1998
used distortions for the same reason) and costs one padded copy and one gather per batch.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import backend

__all__ = ["RandomShift", "largest_shift"]


def largest_shift(side: int) -> int:
    """The largest shift :class:`RandomShift` allows on images whose shorter side is
    ``side`` pixels: a quarter of it (7 on 28x28 MNIST). Shifted further, a digit starts
    to leave the frame (MNIST centres each in 20x20 with a 4-pixel margin): at a quarter
    of the side at most 3 of its 20 pixels are cut, while ``--augment 30`` on 28 pixels
    leaves about half the images blank."""
    return int(side) // 4


class RandomShift:
    """Translate each image by up to ``max_shift`` pixels in each direction.

    Borders are filled by repeating the edge pixels (background on MNIST-like data, whether
    or not it was normalised). Offsets are drawn from the library generator, so
    ``manual_seed`` makes them reproducible and a resumed run replays them exactly.

    Parameters
    ----------
    max_shift : int
        Largest shift in pixels; 0 returns the batch unchanged. At most a quarter of the
        images' shorter side (:func:`largest_shift`), checked when a batch comes.
    """

    def __init__(self, max_shift: int = 2):
        if int(max_shift) != max_shift or max_shift < 0:
            raise ValueError(f"RandomShift: max_shift must be a non-negative integer, "
                             f"got {max_shift!r}")
        self.max_shift = int(max_shift)

    def __call__(self, images: np.ndarray, labels: np.ndarray):
        s = self.max_shift
        if s == 0 or len(images) == 0:
            return images, labels
        if images.ndim != 4:
            raise ValueError(f"RandomShift: expected images of shape (N, C, H, W), got "
                             f"{images.shape}")
        n, _, h, w = images.shape
        if s > largest_shift(min(h, w)):
            raise ValueError(
                f"RandomShift: max_shift={s} is more than a quarter of the {h}x{w} images' "
                f"shorter side; shifts that large move much of each image out of view "
                f"(use at most {largest_shift(min(h, w))})")
        padded = np.pad(images, ((0, 0), (0, 0), (s, s), (s, s)), mode="edge")
        # (N, C, 2s+1, 2s+1, H, W): every shifted copy, as a view
        windows = sliding_window_view(padded, (h, w), axis=(2, 3))
        rng = backend.host_rng()
        dy = rng.integers(0, 2 * s + 1, n)
        dx = rng.integers(0, 2 * s + 1, n)
        return windows[np.arange(n), :, dy, dx], labels

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift})"
