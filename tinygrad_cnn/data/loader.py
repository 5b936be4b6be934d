"""Mini-batches from a dataset: PyTorch's map-style protocol, and a fast path for ours.

Any dataset with ``__len__`` and ``__getitem__(int)`` works, as with PyTorch's
``DataLoader``: the samples of a batch are fetched one by one (or all at once through the
dataset's ``__getitems__(indices)`` when it has one) and stacked by :func:`default_collate`
or the ``collate_fn`` given.

The library's own in-memory datasets (:class:`~tinygrad_cnn.data.ArrayDataset` and its
subclasses that keep its ``__getitem__``) take a faster path: each batch is cut out of the
whole arrays with one fancy-indexing operation, because per-sample Python work (64 calls
and a stack) costs more than a LeNet forward pass on a small batch. The choice is made by
type, never by attribute names, so a subclass that changes ``__getitem__`` (to normalise,
say) is always asked for its samples.
"""

from __future__ import annotations

import collections.abc
import numbers

import numpy as np

from .. import backend
from ..checks import is_int
from ..tensor import Tensor
from .datasets import ArrayDataset

__all__ = ["DataLoader", "default_collate"]


def default_collate(batch):
    """Stack a list of samples into a batch, as PyTorch's ``default_collate`` does.

    Arrays (NumPy, CuPy or Tensors) are stacked along a new first axis; Python ints become
    an int64 array, floats a float64 array, booleans a bool array, NumPy scalars an array
    of their dtype; strings and bytes stay a list. Tuples, lists, named tuples and dicts
    are collated element by element and keep their type. Everything stays on the host
    (CuPy samples are copied there); the loader turns the arrays into Tensors on its device.

    Raises
    ------
    TypeError
        A sample type that cannot be batched, or samples of different kinds.
    ValueError
        Arrays of different shapes, or sequences of different lengths; the message gives
        the shapes.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    first = batch[0]
    if isinstance(first, Tensor) or isinstance(first, np.ndarray) \
            or backend.on_accelerator(first) and hasattr(first, "shape"):
        arrays = [np.asarray(backend.to_host(x.data if isinstance(x, Tensor) else x))
                  for x in batch]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: samples have different shapes "
                             f"{sorted(shapes, key=str)}; pass a collate_fn to batch them")
        return np.stack(arrays)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, bool):
        return np.array(batch, dtype=bool)
    if isinstance(first, numbers.Integral) and not isinstance(first, np.generic):
        return np.array(batch, dtype=np.int64)
    if isinstance(first, numbers.Real) and not isinstance(first, np.generic):
        return np.array(batch, dtype=np.float64)
    if isinstance(first, np.generic):
        return np.array(batch, dtype=first.dtype)
    if isinstance(first, collections.abc.Mapping):
        try:
            return type(first)({key: default_collate([d[key] for d in batch])
                                for key in first})
        except TypeError:  # a mapping type that cannot be built from a dict
            return {key: default_collate([d[key] for d in batch]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        lengths = {len(sample) for sample in batch}
        if len(lengths) > 1:
            raise ValueError(f"default_collate: samples are sequences of different lengths "
                             f"{sorted(lengths)}")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; "
                    "samples should hold arrays, numbers, strings, or dicts/tuples/lists of "
                    "them (or pass a collate_fn)")


def _uses_array_path(dataset) -> bool:
    """Whether ``dataset`` is one of ours whose samples are exactly rows of its arrays."""
    kind = type(dataset)
    return (isinstance(dataset, ArrayDataset)
            and kind.__getitem__ is ArrayDataset.__getitem__
            and getattr(kind, "__getitems__", None) is None)


def _to_tensors(batch, device):
    """Arrays in ``batch`` (nested in tuples, lists, dicts) as Tensors on ``device``."""
    if isinstance(batch, Tensor):
        return batch if batch.device == device else batch.to(device)
    if isinstance(batch, np.ndarray) or backend.on_accelerator(batch) \
            and hasattr(batch, "shape"):
        return Tensor(batch, device=device)
    if isinstance(batch, collections.abc.Mapping):
        return type(batch)({k: _to_tensors(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_to_tensors(v, device) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_tensors(v, device) for v in batch)
    return batch


def _labels_to_int64(batch):
    """In an ``(inputs, labels)`` pair, integer labels become int64 (what cross_entropy
    takes); other batches are left alone."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and not hasattr(batch, "_fields"):
        labels = batch[1]
        if hasattr(labels, "dtype") and labels.dtype.kind in "iu" and labels.dtype != np.int64:
            return type(batch)((batch[0], labels.astype(np.int64)))
    return batch


class DataLoader:
    """Iterate over a dataset in batches, as Tensors on one device.

    Parameters
    ----------
    dataset : object
        A map-style dataset: ``__len__`` and ``__getitem__(i)`` returning one sample, such
        as ``(image, label)``; optionally ``__getitems__(indices)`` returning the list of
        those samples at once (PyTorch's batched protocol).
        :class:`~tinygrad_cnn.data.ArrayDataset` and the datasets of this package are cut
        into batches with one indexing operation instead.
    batch_size : int
        Samples per batch (the last one may be smaller unless ``drop_last``).
    shuffle : bool
        Visit the samples in a fresh random order every epoch.
    drop_last : bool
        Skip a final batch smaller than ``batch_size``.
    collate_fn : callable, optional
        ``collate_fn(list_of_samples) -> batch``; default :func:`default_collate`. Arrays in
        what it returns (also inside tuples, lists and dicts) become Tensors.
    device : str, optional
        Where batches are placed; default the library's default device, read at iteration.
    transform : callable, optional
        ``transform(images, labels) -> (images, labels)`` on each ``(images, labels)``
        batch's host arrays, e.g. :class:`~tinygrad_cnn.data.RandomShift` for augmentation.
    seed : int, optional
        Shuffle with a private generator seeded once here (the order still changes from
        epoch to epoch, reproducibly). Without it shuffling draws from the library RNG
        (``tinygrad_cnn.manual_seed``), so one seed fixes initialisation and data order.

    Notes
    -----
    Arrays keep their dtype, except that float inputs become float32 (as ``Tensor()``
    makes them) and integer labels, the second item of an ``(input, label)`` batch, int64
    Tensors that never require grad. Each batch is a copy, never a view into the dataset.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, device: str | None = None, seed: int | None = None,
                 transform=None, collate_fn=None):
        if not is_int(batch_size):
            raise TypeError(f"DataLoader: batch_size must be a positive integer, got "
                            f"{batch_size!r} ({type(batch_size).__name__})")
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader: dataset {type(dataset).__name__} has no __len__")
        if not (hasattr(dataset, "__getitem__") or hasattr(dataset, "__getitems__")):
            raise TypeError(f"DataLoader: dataset {type(dataset).__name__} has no "
                            "__getitem__: a map-style dataset returns sample i for dataset[i]")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {collate_fn!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = None if device is None else backend.parse_device(device)
        self.seed = seed
        self.transform = transform
        self.collate_fn = collate_fn
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

    def _fetch(self, indices: np.ndarray):
        """One collated batch of the samples at ``indices``, on the host."""
        if self.collate_fn is None and _uses_array_path(self.dataset):
            return self.dataset.images[indices], self.dataset.labels[indices]
        keys = indices.tolist()  # Python ints, as PyTorch's samplers give
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(keys) if getitems is not None else [self.dataset[i] for i in keys]
        if len(samples) != len(keys):
            raise ValueError(f"DataLoader: {type(self.dataset).__name__}.__getitems__ returned "
                             f"{len(samples)} samples for {len(keys)} indices")
        return (self.collate_fn or default_collate)(samples)

    def __iter__(self):
        order = self._order()  # drawn when iteration starts: one permutation per epoch
        device = self.device or backend.default_device()
        if self.collate_fn is None and _uses_array_path(self.dataset):
            # a dataset kept on the GPU is indexed there: the order goes up once an epoch
            order = backend.move(order, backend.device_of(self.dataset.images))
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, len(order)), self.batch_size):
            batch = _labels_to_int64(self._fetch(order[start:start + self.batch_size]))
            if self.transform is not None:
                if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
                    raise TypeError("DataLoader: transform= takes (images, labels) batches; "
                                    f"this dataset's batches are {type(batch).__name__}; "
                                    "transform inside the dataset or collate_fn instead")
                batch = type(batch)(_labels_to_int64(tuple(self.transform(*batch))))
            yield _to_tensors(batch, device)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__}, n={len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, batches={len(self)})")
