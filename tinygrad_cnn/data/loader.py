"""Mini-batches from an in-memory dataset, one fancy-indexing operation per batch.

Per-sample Python work (``dataset[i]`` for every i, then stacking) costs more than a LeNet
forward pass on a small batch; cutting the batch out of the whole arrays with an index array
costs one copy.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over a dataset in batches of ``(images, labels)`` Tensors.

    Parameters
    ----------
    dataset : object
        Has ``__len__`` and either ``images`` / ``labels`` arrays (as every dataset in
        ``tinygrad_cnn.data`` has) or ``__getitem__`` accepting an integer index array and
        returning ``(images, labels)``.
    batch_size : int
        Samples per batch (the last one may be smaller unless ``drop_last``).
    shuffle : bool
        Visit the samples in a fresh random order every epoch.
    drop_last : bool
        Skip a final batch smaller than ``batch_size``.
    device : str, optional
        Where batches are placed; default the library's default device, read at iteration.
    transform : callable, optional
        ``transform(images, labels) -> (images, labels)`` on each batch's host arrays,
        e.g. :class:`~tinygrad_cnn.data.RandomShift` for augmentation.
    seed : int, optional
        Shuffle with a private generator seeded once here (the order still changes from
        epoch to epoch, reproducibly). Without it shuffling draws from the library RNG
        (``tinygrad_cnn.manual_seed``), so one seed fixes initialisation and data order.

    Notes
    -----
    Images keep their dtype (float32 for the bundled datasets); integer labels become int64
    Tensors that never require grad. Each batch is a copy, never a view into the dataset.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, device: str | None = None, seed: int | None = None,
                 transform=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(f"DataLoader: batch_size must be a positive integer, got "
                            f"{batch_size!r} ({type(batch_size).__name__})")
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader: dataset {type(dataset).__name__} has no __len__")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = None if device is None else backend.parse_device(device)
        self.seed = seed
        self.transform = transform
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else backend.host_rng()
        return rng.permutation(n)

    def _take(self, idx: np.ndarray):
        """The samples at ``idx`` as two arrays, fetched in one indexing operation each."""
        images = getattr(self.dataset, "images", None)
        labels = getattr(self.dataset, "labels", None)
        if images is not None and labels is not None:
            return images[idx], labels[idx]
        return self.dataset[idx]

    def __iter__(self):
        order = self._order()  # drawn when iteration starts: one permutation per epoch
        device = self.device or backend.default_device()
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, len(order)), self.batch_size):
            images, labels = self._take(order[start:start + self.batch_size])
            if self.transform is not None:
                images, labels = self.transform(images, labels)
            labels = labels if hasattr(labels, "dtype") else np.asarray(labels)
            if labels.dtype.kind in "iub" and labels.dtype != np.int64:
                labels = labels.astype(np.int64)
            yield Tensor(images, device=device), Tensor(labels, device=device)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__}, n={len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, batches={len(self)})")
