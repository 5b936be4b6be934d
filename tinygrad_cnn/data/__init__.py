"""Data: one record per dataset in a registry, the readers of IDX files and of the bundled
MNIST sample, downloads, the DataLoader.

>>> from tinygrad_cnn.data import MNISTSample, DataLoader
>>> loader = DataLoader(MNISTSample(train=True), batch_size=64, shuffle=True)
>>> images, labels = next(iter(loader))    # Tensors: float32 (64, 1, 28, 28), int64 (64,)

Every dataset is a :class:`DatasetInfo` (name, files, checksums, mirrors, classes,
normalisation, training recipe); :func:`get_dataset` and :func:`dataset_names` read the
registry, :func:`register_dataset` adds one, :func:`load_datasets` opens one by name.
"""

from .augment import RandomShift
from .catalog import AUTO, MNIST, FashionMNIST, MNISTSample, load_datasets
from .datasets import ArrayDataset, BundledDataset, IdxDataset, open_dataset, search_dirs
from .download import (
    DATA_ENV_VAR,
    MIRRORS,
    SHA256,
    DownloadError,
    default_data_root,
    download_dataset,
    download_file,
    user_cache_dir,
)
from .idx import DataFormatError, load_idx
from .loader import DataLoader, default_collate
from .registry import (
    DatasetError,
    DatasetInfo,
    Recipe,
    RegistryView,
    check_data_source,
    dataset_names,
    get_dataset,
    register_dataset,
    unregister_dataset,
)

__all__ = [
    "AUTO", "ArrayDataset", "BundledDataset", "DATA_ENV_VAR", "DataFormatError", "DataLoader",
    "DatasetError", "DatasetInfo", "DownloadError", "FashionMNIST", "IdxDataset", "MIRRORS",
    "MNIST", "MNISTSample", "RandomShift", "Recipe", "RegistryView", "SHA256", "check_data_source",
    "dataset_names", "default_collate", "default_data_root", "download_dataset",
    "download_file", "get_dataset", "load_datasets", "load_idx", "open_dataset",
    "register_dataset", "search_dirs", "unregister_dataset", "user_cache_dir",
]
