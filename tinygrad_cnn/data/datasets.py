"""MNIST, Fashion-MNIST and the bundled MNIST sample as in-memory array datasets.

A dataset here is two NumPy arrays held whole in memory: ``images`` float32 ``(N, 1, 28, 28)``
and ``labels`` int64 ``(N,)``. Keeping them whole lets the ``DataLoader`` cut a batch with one
fancy-indexing operation instead of a Python loop over samples.

Where the files are looked for (the first directory holding both files of the requested
split wins):

* with a ``root`` argument (the CLI's ``--data-dir``), there and only there: its subfolders
  ``<name>`` and ``<TorchvisionName>/raw``, then the folder itself. A directory the user
  named must exist and hold the data; nothing else is quietly used instead.
* without one: 1. ``$TINYGRAD_CNN_DATA`` (its subfolders as above, then itself); 2. the user
  cache ``$XDG_CACHE_HOME/tinygrad_cnn/<name>`` (default ``~/.cache/...``); 3. for
  Fashion-MNIST, where Debian's ``dataset-fashion-mnist`` package installs it:
  ``/usr/share/datasets/fashion-mnist``.

``<name>`` is ``mnist`` or ``fashion-mnist``. The two datasets use identical file names, so
keep them in separate subfolders of a shared data directory.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backend
from .download import (
    DATA_ENV_VAR,
    MIRRORS,
    SHA256,
    SPLIT_FILES,
    DownloadError,
    _xdg_cache_home,
    dataset_key,
    default_data_root,
    download_dataset,
    download_file,
)
from .idx import DataFormatError, load_idx

__all__ = ["ArrayDataset", "MNIST", "FashionMNIST", "MNISTSample", "SAMPLE_PATH",
           "DATA_ENV_VAR", "MIRRORS", "SHA256", "DownloadError", "download_file",
           "download_dataset", "default_data_root", "search_dirs", "find_split"]

#: The bundled 5,000-digit MNIST sample (see SAMPLE_LICENSE.txt next to it).
SAMPLE_PATH = Path(__file__).with_name("mnist_sample.npz")

@dataclass(frozen=True)
class _Spec:
    """What differs between MNIST and Fashion-MNIST."""

    key: str                    # folder name and download_dataset name
    torch_name: str             # torchvision's folder name, so its downloads are found too
    classes: tuple[str, ...]
    mean: float                 # training-set pixel mean and std of the [0, 1] images
    std: float
    system_dirs: tuple[str, ...] = ()
    hint: str = ""              # extra advice for the not-found message


_MNIST = _Spec("mnist", "MNIST", tuple(str(d) for d in range(10)), 0.1307, 0.3081)
_FASHION = _Spec(
    "fashion-mnist", "FashionMNIST",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    0.2860, 0.3530,
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    hint="on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist",
)


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


def _to_float_images(raw: np.ndarray, spec: _Spec, normalize: bool) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` -> float32 ``(N, 1, 28, 28)`` in [0, 1], or standardised."""
    images = raw.astype(np.float32).reshape(raw.shape[0], 1, *raw.shape[1:])
    images /= 255.0
    if normalize:
        images -= np.float32(spec.mean)
        images /= np.float32(spec.std)
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


def search_dirs(spec_or_name, root=None) -> list[Path]:
    """Every directory searched for a dataset, in the order searched.

    Parameters
    ----------
    spec_or_name : str
        ``"mnist"`` or ``"fashion-mnist"``.
    root : str or path-like, optional
        An explicit data directory: when given, the only place searched.
    """
    spec = spec_or_name if isinstance(spec_or_name, _Spec) else _SPECS[dataset_key(spec_or_name)]
    if root is not None:  # the user named a place: only there
        base = Path(root).expanduser()
        return [base / spec.key, base / spec.torch_name / "raw", base]
    dirs = []
    env = os.environ.get(DATA_ENV_VAR) or None
    if env is not None:
        base = Path(env).expanduser()
        dirs += [base / spec.key, base / spec.torch_name / "raw", base]
    dirs.append(_xdg_cache_home() / "tinygrad_cnn" / spec.key)
    dirs += [Path(d) for d in spec.system_dirs]
    return list(dict.fromkeys(dirs))  # drop duplicates, keep order


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a search directory we may not read: treat as absent
        return False


def find_split(directory: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``split`` in ``directory``, raw preferred over ``.gz``."""
    found = []
    for stem in SPLIT_FILES[split]:
        for name in (stem, stem + ".gz"):
            if _is_file(directory / name):
                found.append(directory / name)
                break
        else:
            return None
    return found[0], found[1]


def _not_found_message(cls_name: str, spec: _Spec, split: str, dirs: list[Path],
                       target: Path) -> str:
    """One line: what was looked for, where, and the ways to get it."""
    img, lbl = SPLIT_FILES[split]
    places = ", ".join(str(d) for d in dirs)
    message = (f"{cls_name} {split} files ({img}[.gz], {lbl}[.gz]) not found in: {places}. "
               f"Fetch them (11-30 MB) into {target} with download=True (the CLI: "
               "--download), or point root= (the CLI: --data-dir) or $TINYGRAD_CNN_DATA at "
               f"a folder that holds them, directly or in a '{spec.key}' subfolder")
    return message + (f"; {spec.hint}" if spec.hint else "")


class _IdxDataset(ArrayDataset):
    """Shared loader of the MNIST-format datasets; subclasses only pick a spec."""

    _spec: _Spec

    def __init__(self, root=None, train: bool = True, download: bool = False,
                 normalize: bool = False):
        spec, split = self._spec, ("train" if train else "test")
        if root is not None and not download and not Path(root).expanduser().is_dir():
            raise FileNotFoundError(
                errno.ENOENT, f"the {type(self).__name__} data directory (root=, the CLI's "
                "--data-dir) does not exist; pass download=True (--download) to fetch the "
                "data into it", str(root))
        dirs = search_dirs(spec, root)
        files = next((f for f in (find_split(d, split) for d in dirs) if f), None)
        base = Path(root).expanduser() if root is not None else default_data_root()
        if files is None and download:
            files = find_split(download_dataset(spec.key, base), split)
        if files is None:
            raise FileNotFoundError(_not_found_message(type(self).__name__, spec, split, dirs,
                                                       base / spec.key))
        raw_images, labels = load_idx(files[0]), load_idx(files[1])
        _check_pair(raw_images, labels, files, len(spec.classes))
        super().__init__(_to_float_images(raw_images, spec, normalize), labels, spec.classes)
        self.train, self.normalize = train, normalize
        self.root = files[0].parent
        self.files = files

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split!r}, n={len(self)}, root='{self.root}')"


class MNIST(_IdxDataset):
    """The MNIST handwritten digits (LeCun, Cortes & Burges): 60,000 train, 10,000 test.

    Parameters
    ----------
    root : str or path-like, optional
        Data directory searched first (see the module docstring for the full search order).
    train : bool
        The training split if true, else the test split.
    download : bool
        Fetch the files (SHA-256 verified) when they are not found anywhere.
    normalize : bool
        Standardise with the training-set mean 0.1307 and std 0.3081 instead of [0, 1].

    Attributes
    ----------
    images : numpy.ndarray
        float32 ``(N, 1, 28, 28)``.
    labels : numpy.ndarray
        int64 ``(N,)``.
    classes : list of str
    files : tuple of Path
        The image and label files that were read.
    """

    _spec = _MNIST


class FashionMNIST(_IdxDataset):
    """Zalando's Fashion-MNIST clothing images, a drop-in harder replacement for MNIST.

    Same interface and file names as :class:`MNIST`; normalisation uses mean 0.2860 and
    std 0.3530. Also found where Debian's ``dataset-fashion-mnist`` package installs it.
    """

    _spec = _FASHION


class MNISTSample(ArrayDataset):
    """5,000 real MNIST digits bundled with the package: 4,000 train / 1,000 test.

    Stratified (400 / 100 per class), so examples and tests run offline with real data.
    Provenance and licence (CC BY-SA 3.0): ``SAMPLE_LICENSE.txt`` next to the data file.

    Parameters
    ----------
    train : bool
        The 4,000-image training part if true, else the 1,000-image test part.
    normalize : bool
        Standardise with the MNIST mean and std, as :class:`MNIST` does.
    """

    def __init__(self, train: bool = True, normalize: bool = False):
        split = "train" if train else "test"
        with np.load(SAMPLE_PATH, allow_pickle=False) as npz:
            raw_images, labels = npz[f"{split}_images"], npz[f"{split}_labels"]
        _check_pair(raw_images, labels, (SAMPLE_PATH, SAMPLE_PATH), 10)
        super().__init__(_to_float_images(raw_images, _MNIST, normalize), labels,
                         _MNIST.classes)
        self.train, self.normalize = train, normalize

    def __repr__(self) -> str:
        return f"MNISTSample(split={'train' if self.train else 'test'!r}, n={len(self)})"


_SPECS = {"mnist": _MNIST, "fashion-mnist": _FASHION}
