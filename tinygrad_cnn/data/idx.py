"""Reader for the IDX format that MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type, ``NN`` the number
of dimensions), ``NN`` big-endian uint32 sizes, then the elements in C order, big-endian.
Files are often gzip-compressed; we look at the first bytes, not the file name, to tell.

Every malformed file raises :class:`DataFormatError` (a ``ValueError``) naming the file and
the fault, because a silently misread dataset shows up much later as a model that
mysteriously fails to learn.
"""

from __future__ import annotations

import errno
import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DataFormatError", "IDX_DTYPES", "load_idx"]


class DataFormatError(ValueError):
    """A data file that is not what it should be (malformed IDX, images and labels that do
    not belong together, a download with the wrong checksum); the message names the file."""


#: IDX type code -> element dtype as stored on disk (big-endian for multi-byte types).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Whole file contents, gunzipped when the file starts with the gzip magic bytes."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "IDX file not found", str(path)) from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        # EOFError: the gzip stream was cut short; OSError/zlib.error: corrupt stream.
        raise DataFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        The file. Compression is detected from its first two bytes, not from its name.

    Returns
    -------
    numpy.ndarray
        A new, writable array in native byte order with the shape and element type the
        header declares (e.g. ``(60000, 28, 28)`` uint8 for MNIST training images).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    DataFormatError (a ValueError)
        The file is not valid IDX: wrong magic number, unknown type code, truncated header
        or data, trailing bytes after the data, or a corrupt gzip stream. The message names
        the file and the fault.
    """
    path = Path(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise DataFormatError(f"{path}: truncated IDX file: {len(buf)} bytes, too short for the "
                              "4-byte magic number")
    zero, type_code, ndim = int.from_bytes(buf[:2], "big"), buf[2], buf[3]
    if zero != 0 or type_code not in IDX_DTYPES:
        valid = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise DataFormatError(
            f"{path}: not an IDX file: magic number 0x{buf[:4].hex().upper()} should be "
            f"0x0000TTNN with type code TT one of {valid} (got 0x{type_code:02X})")
    if ndim == 0:
        raise DataFormatError(f"{path}: invalid IDX header: zero dimensions "
                              f"(magic 0x{buf[:4].hex()})")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataFormatError(f"{path}: truncated IDX header: {ndim} dimensions need {header} "
                              f"header bytes, file has {len(buf)}")
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    count = int(np.prod(shape, dtype=object))  # Python int: no overflow for absurd headers
    expected, found = count * dtype.itemsize, len(buf) - header
    if found < expected:
        raise DataFormatError(f"{path}: truncated IDX data: shape {shape} of {dtype.name} needs "
                              f"{expected} bytes after the header, found only {found}")
    if found > expected:
        raise DataFormatError(f"{path}: size mismatch: {found - expected} unexpected trailing "
                              f"bytes after the data (shape {shape} of {dtype.name} needs "
                              f"{expected})")
    data = np.frombuffer(buf, dtype=dtype, count=count, offset=header).reshape(shape)
    # astype copies: the result owns its memory, is writable and in native byte order.
    return data.astype(dtype.newbyteorder("="))
