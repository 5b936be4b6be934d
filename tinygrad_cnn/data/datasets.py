"""Datasets held as in-memory arrays, read by the record that describes them.

A dataset here is two NumPy arrays held whole in memory: ``images`` float32 ``(N, 1, H, W)``
and ``labels`` int64 ``(N,)``. Keeping them whole lets the ``DataLoader`` cut a batch with one
fancy-indexing operation instead of a Python loop over samples.

Two readers serve every registered dataset: :class:`IdxDataset` for one kept in IDX files
(MNIST, Fashion-MNIST), searched for on disk or downloaded, and :class:`BundledDataset` for
one shipped inside the package (the MNIST sample). :func:`open_dataset` opens either by name.

Where the files are looked for (the first directory holding both files of the requested
split wins):

* with a ``root`` argument (the CLI's ``--data-dir``), there and only there: its subfolders
  ``<name>`` and ``<TorchvisionName>/raw``, then the folder itself. A directory the user
  named must exist and hold the data; nothing else is quietly used instead.
* without one: 1. ``$TINYGRAD_CNN_DATA`` (its subfolders as above, then itself); 2. the user
  cache ``$XDG_CACHE_HOME/tinygrad_cnn/<name>`` (default ``~/.cache/...``); 3. where a
  system package installs it, when its record names such a place (Debian's
  ``dataset-fashion-mnist``: ``/usr/share/datasets/fashion-mnist``).

``<name>`` is the dataset's registered name (``mnist``, ``fashion-mnist``). Datasets of this
family use identical file names, so keep them in separate subfolders of a shared data
directory.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from .. import backend
from .download import (
    DATA_ENV_VAR,
    default_data_root,
    download_dataset,
    files_dataset,
    user_cache_dir,
)
from .idx import DataFormatError, load_idx
from .registry import SPLIT_FILES, DatasetInfo, check_data_source, get_dataset

__all__ = ["ArrayDataset", "BundledDataset", "IdxDataset", "find_split", "open_dataset",
           "search_dirs"]


class ArrayDataset:
    """A dataset held as two aligned arrays, indexed together.

    Parameters
    ----------
    images : array_like
        Inputs, first axis the sample axis. A CuPy array keeps the whole set on the GPU:
        batches are then cut there, with no upload per batch.
    labels : array_like
        One integer label per sample, stored as int64 (the dtype ``cross_entropy``
        expects), on the same device as the images.
    classes : sequence of str, optional
        Class names, ``classes[label]``.
    """

    def __init__(self, images, labels, classes=None):
        device = backend.device_of(images)
        images, labels = backend.move(images, device), backend.move(labels, device)
        if labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"ArrayDataset: images {images.shape} and labels {labels.shape} "
                             "must have the same length along the first axis, labels 1-D")
        if labels.dtype.kind in "iub":
            labels = labels.astype(np.int64, copy=False)
        self.images = images
        self.labels = labels
        self.classes = list(classes) if classes is not None else []

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        """``(images[index], labels[index])`` for an int, a slice or an integer array."""
        return self.images[index], self.labels[index]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={len(self)}, images={self.images.shape} "
                f"{self.images.dtype}, labels={self.labels.dtype})")


def _to_float_images(raw: np.ndarray, info: DatasetInfo, normalize: bool) -> np.ndarray:
    """uint8 ``(N, H, W)`` -> float32 ``(N, 1, H, W)`` in [0, 1], or standardised."""
    images = raw.astype(np.float32).reshape(raw.shape[0], 1, *raw.shape[1:])
    images /= 255.0
    if normalize:
        images -= np.float32(info.mean)
        images /= np.float32(info.std)
    return images


def _check_pair(images: np.ndarray, labels: np.ndarray, where: tuple, n_classes: int) -> None:
    """Raise ValueError naming both files when images and labels do not belong together."""
    img_file, lbl_file = where
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataFormatError(f"{img_file}: expected uint8 images of shape (N, H, W), got "
                              f"{images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise DataFormatError(f"{lbl_file}: expected a 1-D label array, got shape {labels.shape}")
    if len(images) == 0:
        raise DataFormatError(f"{img_file}: holds no images (an IDX file of shape {images.shape}); "
                              "there is nothing to train or test on")
    if len(images) != len(labels):
        raise DataFormatError(f"image/label count mismatch: {img_file} has {len(images)} images "
                              f"but {lbl_file} has {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataFormatError(f"{lbl_file}: labels must lie in [0, {n_classes - 1}], found "
                              f"{labels.min()}..{labels.max()}")


def search_dirs(dataset, root=None) -> list[Path]:
    """Every directory searched for a dataset kept in files, in the order searched.

    Parameters
    ----------
    dataset : str or DatasetInfo
        ``"mnist"``, ``"fashion-mnist"`` or another registered name, or a record.
    root : str or path-like, optional
        An explicit data directory: when given, the only place searched.
    """
    info = dataset if isinstance(dataset, DatasetInfo) else files_dataset(dataset)

    def inside(base: Path) -> list[Path]:
        torchvision = [base / info.torchvision_name / "raw"] if info.torchvision_name else []
        return [base / info.name, *torchvision, base]

    if root is not None:  # the user named a place: only there
        return inside(Path(root).expanduser())
    dirs = []
    env = os.environ.get(DATA_ENV_VAR) or None
    if env is not None:
        dirs += inside(Path(env).expanduser())
    dirs.append(user_cache_dir() / info.name)
    dirs += [Path(d) for d in info.system_dirs]
    return list(dict.fromkeys(dirs))  # drop duplicates, keep order


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a search directory we may not read: treat as absent
        return False


def find_split(directory: Path, split: str, files=None) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``split`` in ``directory``, raw preferred over ``.gz``.

    ``files`` is a record's split -> file names table (default: the standard IDX names).
    """
    found = []
    for stem in (files or SPLIT_FILES)[split]:
        for name in (stem, stem + ".gz"):
            if _is_file(directory / name):
                found.append(directory / name)
                break
        else:
            return None
    return found[0], found[1]


def _not_found_message(who: str, info: DatasetInfo, split: str, dirs: list[Path],
                       target: Path) -> str:
    """One line: what was looked for, where, and the ways to get it."""
    img, lbl = info.files[split]
    places = ", ".join(str(d) for d in dirs)
    message = (f"{who} {split} files ({img}[.gz], {lbl}[.gz]) not found in: {places}. "
               f"Fetch them (11-30 MB) into {target} with download=True (the CLI: "
               "--download), or point root= (the CLI: --data-dir) or $TINYGRAD_CNN_DATA at "
               f"a folder that holds them, directly or in a '{info.name}' subfolder")
    return message + (f"; {info.hint}" if info.hint else "")


class IdxDataset(ArrayDataset):
    """A registered dataset kept in IDX files: found on disk, or fetched with ``download``.

    Parameters
    ----------
    root : str or path-like, optional
        Data directory, the only place searched when given (see the module docstring for
        the search order without one).
    train : bool
        The training split if true, else the test split.
    download : bool
        Fetch the files (SHA-256 verified) when they are not found anywhere.
    normalize : bool
        Standardise with the record's training-set mean and std instead of [0, 1].
    dataset : str
        The registered name; a subclass of its own (``MNIST``) fixes it.

    Attributes
    ----------
    images : numpy.ndarray
        float32 ``(N, 1, H, W)``.
    labels : numpy.ndarray
        int64 ``(N,)``.
    classes : list of str
    files : tuple of Path
        The image and label files that were read.
    """

    dataset: str | None = None

    def __init__(self, root=None, train: bool = True, download: bool = False,
                 normalize: bool = False, *, dataset: str | None = None):
        info, split = files_dataset(dataset or self.dataset), ("train" if train else "test")
        self.dataset = info.name
        if root is not None and not download and not Path(root).expanduser().is_dir():
            raise FileNotFoundError(
                errno.ENOENT, f"the {self._who()} data directory (root=, the CLI's "
                "--data-dir) does not exist; pass download=True (--download) to fetch the "
                "data into it", str(root))
        dirs = search_dirs(info, root)
        files = next((f for f in (find_split(d, split, info.files) for d in dirs) if f), None)
        base = Path(root).expanduser() if root is not None else default_data_root()
        if files is None and download:
            files = find_split(download_dataset(info.name, base), split, info.files)
        if files is None:
            raise FileNotFoundError(_not_found_message(self._who(), info, split, dirs,
                                                       base / info.name))
        raw_images, labels = load_idx(files[0]), load_idx(files[1])
        _check_pair(raw_images, labels, files, len(info.classes))
        super().__init__(_to_float_images(raw_images, info, normalize), labels, info.classes)
        self.train, self.normalize = train, normalize
        self.root = files[0].parent
        self.files = files

    def _who(self) -> str:
        """How messages name this reader: its own class, else the generic one and the name."""
        if type(self).dataset is None:
            return f"{type(self).__name__}({self.dataset!r})"
        return type(self).__name__

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return (f"{type(self).__name__}({_generic_name(self)}split={split!r}, n={len(self)}, "
                f"root='{self.root}')")


class BundledDataset(ArrayDataset):
    """A registered dataset shipped inside the package as one ``.npz`` file.

    The file holds ``train_images``, ``train_labels``, ``test_images`` and ``test_labels``
    (uint8 images ``(N, H, W)``, integer labels). Nothing is searched for or downloaded.

    Parameters
    ----------
    train : bool
        The training part if true, else the test part.
    normalize : bool
        Standardise with the record's mean and std instead of [0, 1].
    dataset : str
        The registered name; a subclass of its own (``MNISTSample``) fixes it.
    """

    dataset: str | None = None

    def __init__(self, train: bool = True, normalize: bool = False, *,
                 dataset: str | None = None):
        info = get_dataset(dataset or self.dataset)
        if info.bundled is None:
            raise ValueError(f"{info.name!r} is not bundled with the package: read it with "
                             "IdxDataset")
        split = "train" if train else "test"
        with np.load(info.bundled, allow_pickle=False) as npz:
            raw_images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
        _check_pair(raw_images, labels, (info.bundled, info.bundled), len(info.classes))
        super().__init__(_to_float_images(raw_images, info, normalize), labels, info.classes)
        self.dataset, self.train, self.normalize = info.name, train, normalize

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}({_generic_name(self)}split={split!r}, n={len(self)})"


def _generic_name(reader) -> str:
    """``'name', `` for a generic reader's repr; nothing for a class of the dataset's own."""
    return "" if type(reader).dataset else f"{reader.dataset!r}, "


def open_dataset(name: str, root=None, *, train: bool = True, download: bool = False,
                 normalize: bool = False) -> ArrayDataset:
    """One split of a registered dataset, read by its record's loader.

    Parameters
    ----------
    name : str
        A registered name (:func:`dataset_names`) or alias.
    root, download :
        Where to look and whether to fetch, for a dataset kept in files; a bundled one
        refuses both (``DatasetError``).
    train, normalize :
        As :class:`IdxDataset`.
    """
    info = get_dataset(name)
    if info.bundled is not None:
        check_data_source(info.name, root, download, named_by="--dataset")
        return (info.loader or BundledDataset)(train=train, normalize=normalize,
                                               dataset=info.name)
    return (info.loader or IdxDataset)(root, train=train, download=download,
                                       normalize=normalize, dataset=info.name)
