"""The datasets the package knows: one record each, in one registry.

Everything that depends on which dataset is meant (the CLI's ``--dataset`` choices, the
loaders, downloads, the epoch benchmark, the training recipe) reads a :class:`DatasetInfo`
from here, so adding a dataset is one :func:`register_dataset` call and nothing else:

>>> from tinygrad_cnn.data import get_dataset
>>> info = get_dataset("fashion-mnist")
>>> info.classes[9], info.mean, info.recipe.optimizer
('Ankle boot', 0.286, 'sgd')

The built-in records (MNIST, Fashion-MNIST, the bundled sample) are in ``catalog.py``.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["SPLIT_FILES", "DatasetError", "DatasetInfo", "Recipe", "RegistryView",
           "check_data_source", "dataset_names", "get_dataset", "register_dataset",
           "unregister_dataset"]

#: split -> (images file, labels file) of an IDX dataset, without the optional ``.gz``:
#: the names MNIST published, which Fashion-MNIST and its successors kept.
SPLIT_FILES = types.MappingProxyType({
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
})


class DatasetError(ValueError):
    """A dataset name nobody registered, or a data source that does not apply to the dataset
    named (a data directory for one bundled with the package)."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How ``tinygrad-cnn train`` trains on a dataset when the user does not say.

    Each field is the default of the training setting of the same name; batch size and
    momentum are the same for every dataset, so they stay ``TrainConfig``'s defaults.
    """

    optimizer: str              # "sgd" (with momentum) or "adam"
    lr: float
    epochs: int
    schedule: str = "constant"  # or "cosine": decayed to zero over all the epochs
    augment: int = 0            # random shifts of up to this many pixels, 0 for none


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Everything the package knows about one dataset.

    Parameters
    ----------
    name : str
        The name as the CLI spells it (``--dataset NAME``); the folder it is kept in.
    title : str
        The name in sentences ("training LeNet-5 on Fashion-MNIST ...").
    classes : tuple of str
        Class names, ``classes[label]``; their number sizes the model's output layer.
    mean, std : float
        Pixel mean and standard deviation of the training images scaled to [0, 1], used to
        standardise them (``normalize=True``).
    recipe : Recipe
        The training defaults.
    files : mapping
        split -> (images file, labels file) of IDX files, without ``.gz``.
    sha256 : mapping
        ``.gz`` file name -> SHA-256 of the published file; a download must match it.
    mirrors : tuple of str
        Base URLs serving the ``.gz`` files under their names, tried in turn.
    bundled : Path, optional
        The ``.npz`` file inside the package holding the whole dataset; such a dataset is
        never searched for or downloaded, so ``--data-dir`` and ``--download`` refuse it.
    torchvision_name : str, optional
        torchvision's folder for it, so data fetched by torchvision (``<name>/raw``) is found.
    aliases : tuple of str
        Other spellings accepted by :func:`get_dataset` ("fashion" for "fashion-mnist").
    system_dirs : tuple of str
        Where system packages install it, searched last.
    hint : str
        Extra advice for the not-found message (how to install that package).
    loader : type, optional
        The class that reads it, when it has one of its own (``MNIST``): it names the
        dataset in messages and is what :func:`open_dataset` returns. Without one, the
        generic ``IdxDataset`` or ``BundledDataset`` reads it.
    """

    name: str
    title: str
    classes: tuple[str, ...]
    mean: float
    std: float
    recipe: Recipe
    files: Mapping[str, tuple[str, str]] = dataclasses.field(
        default_factory=lambda: SPLIT_FILES)
    sha256: Mapping[str, str] = dataclasses.field(default_factory=dict)
    mirrors: tuple[str, ...] = ()
    bundled: Path | None = None
    torchvision_name: str | None = None
    aliases: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    hint: str = ""
    loader: type | None = None

    def __post_init__(self):
        # frozen all the way down: the tables are read-only views, the sequences tuples
        for field in ("files", "sha256"):
            object.__setattr__(self, field, types.MappingProxyType(dict(getattr(self, field))))
        for field in ("classes", "mirrors", "aliases", "system_dirs"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        if self.bundled is None:
            published = {stem + ".gz" for pair in self.files.values() for stem in pair}
            if self.sha256 and set(self.sha256) != published:
                raise ValueError(f"dataset {self.name!r}: sha256 must give the hash of each of "
                                 f"{sorted(published)}, got {sorted(self.sha256)}")


_REGISTRY: dict[str, DatasetInfo] = {}


def _spelling(name: str) -> str:
    """The one form names are compared in: lower case, ``-`` for ``_``."""
    return str(name).lower().replace("_", "-")


def register_dataset(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Add ``info`` to the datasets the package knows; return it.

    ``replace=True`` swaps the record of a registered name (tests use it to point a
    dataset at their own folders); otherwise a name or alias already taken is an error.
    """
    others = [other for other in _REGISTRY.values()
              if not (replace and other.name == info.name)]
    taken = {_spelling(n) for other in others for n in (other.name, *other.aliases)}
    clashes = [n for n in (info.name, *info.aliases) if _spelling(n) in taken]
    if clashes:
        raise ValueError(f"register_dataset: {', '.join(map(repr, clashes))} already names a "
                         "registered dataset (replace=True swaps a record)")
    _REGISTRY[info.name] = info
    return info


def unregister_dataset(name: str) -> DatasetInfo:
    """Remove a dataset from the registry; return its record."""
    return _REGISTRY.pop(get_dataset(name).name)


def dataset_names() -> tuple[str, ...]:
    """The registered names, in the order they were registered."""
    return tuple(_REGISTRY)


def get_dataset(name: str) -> DatasetInfo:
    """The record of a dataset, by its name or an alias, in any case, ``_`` for ``-``.

    Raises
    ------
    DatasetError
        No dataset has that name; the message lists those that do.
    """
    wanted = _spelling(name)
    for info in _REGISTRY.values():
        if wanted in (_spelling(n) for n in (info.name, *info.aliases)):
            return info
    raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(_REGISTRY)}")


def check_data_source(name: str, data_dir=None, download: bool = False, *,
                      named_by: str | None = None, error: type[Exception] = DatasetError):
    """Refuse a data directory or a download for a dataset bundled with the package.

    The one statement of that rule; the CLI's commands, the training loop and the epoch
    benchmark all call it. Names that are not registered (``auto``) pass: whoever resolves
    them reports an unknown one.

    Parameters
    ----------
    name : str
        The dataset asked for.
    data_dir : str or path-like, optional
        The data directory given (``--data-dir``); an empty string counts as given.
    download : bool
        Whether a download was asked for (``--download``).
    named_by : str, optional
        The option that named the dataset (``"--dataset"``), quoted in the message;
        without it the message says "it".
    error : type of Exception
        What to raise, so each caller reports the rule in its own terms (the CLI as a usage
        error, exit status 2).
    """
    try:
        info = get_dataset(name)
    except DatasetError:
        return
    if info.bundled is not None and (data_dir is not None or download):
        target = f"{named_by} {info.name}" if named_by else "it"
        raise error(f"the bundled {info.name} is part of the package: --data-dir and "
                    f"--download do not apply to {target}")


class RegistryView(Mapping):
    """A read-only, always current table ``name -> read(record)`` over the registry.

    Keeps the tables scripts knew before datasets were records (``data.MIRRORS``,
    ``data.SHA256``, ``train.RECIPES``) answering from the records.
    """

    def __init__(self, read: Callable[[DatasetInfo], object],
                 keep: Callable[[DatasetInfo], bool] = lambda info: True):
        self._read, self._keep = read, keep

    def _records(self) -> dict[str, DatasetInfo]:
        return {name: info for name, info in _REGISTRY.items() if self._keep(info)}

    def __getitem__(self, name):
        info = self._records().get(name)
        if info is None:
            raise KeyError(name)
        return self._read(info)

    def __iter__(self):
        return iter(self._records())

    def __len__(self) -> int:
        return len(self._records())

    def __repr__(self) -> str:
        return f"RegistryView({dict(self)!r})"
