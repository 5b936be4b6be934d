"""Data: the IDX reader, MNIST / Fashion-MNIST, the bundled MNIST sample, the DataLoader.

>>> from tinygrad_cnn.data import MNISTSample, DataLoader
>>> loader = DataLoader(MNISTSample(train=True), batch_size=64, shuffle=True)
>>> images, labels = next(iter(loader))    # Tensors: float32 (64, 1, 28, 28), int64 (64,)
"""

from .augment import RandomShift
from .datasets import (
    DATA_ENV_VAR,
    MIRRORS,
    MNIST,
    SHA256,
    ArrayDataset,
    DownloadError,
    FashionMNIST,
    MNISTSample,
    download_dataset,
    download_file,
    search_dirs,
)
from .idx import DataFormatError, load_idx
from .loader import DataLoader, default_collate

__all__ = [
    "ArrayDataset", "DATA_ENV_VAR", "DataFormatError", "DataLoader", "DownloadError",
    "FashionMNIST", "MIRRORS", "MNIST", "MNISTSample", "RandomShift", "SHA256",
    "default_collate", "download_dataset", "download_file", "load_idx", "search_dirs",
]
