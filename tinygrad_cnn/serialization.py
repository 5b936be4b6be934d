"""``save`` and ``load`` for state dicts and checkpoints, as ``.npz`` archives without pickle.

File format
-----------
A zip archive readable by ``numpy.load(path, allow_pickle=False)``:

* one ``.npy`` member per array, named by its path in the saved structure with ``/``
  between levels (``model/conv1.weight``, ``optimizer/state/0/exp_avg``), dtype kept; a
  path that a zip name cannot hold (a NUL byte, over 65,000 bytes) is a numbered ``~N``;
* the marker member ``__tinygrad_cnn__``: a JSON string
  ``{"format": "tinygrad_cnn", "version": 1, "tree": ...}`` describing the nesting of
  dicts (keys ``str`` or ``int``), lists and tuples, with every non-array leaf (numbers,
  strings, ``None``, booleans, big integers such as RNG states) stored inline.

Nothing in the file is executable. ``save`` writes to a temporary file in the target's
directory, fsyncs it and renames it over the target, so an interrupted save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import errno
import json
import os
import zipfile
from typing import NamedTuple

import numpy as np

from . import backend
from .fileio import atomic_write, check_readable
from .tensor import Tensor

MARKER = "__tinygrad_cnn__"
#: The longest member name written, in UTF-8 bytes: zip gives a name 16 bits of length,
#: less room for ``.npy`` and a ``~n`` suffix.
MAX_MEMBER_NAME = 65_000
FORMAT_VERSION = 1
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class CheckpointError(ValueError):
    """A file that cannot be read as a tinygrad_cnn checkpoint (corrupt, foreign, newer)."""


# ----------------------------------------------------------------------------- encoding

def _encode(obj, path: list, arrays: dict):
    """The JSON tree for ``obj``; arrays go into ``arrays`` under a unique member name."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, (np.ndarray, np.generic)) or backend.on_accelerator(obj):
        array = np.asarray(backend.to_host(obj))
        if array.dtype.hasobject:
            raise TypeError(f"cannot save {_where(path)}: arrays of Python objects "
                            f"(dtype {array.dtype}) would need pickle")
        name = _member_name(path, arrays)
        arrays[name] = array
        node = {"array": name}
        if isinstance(obj, np.generic):
            node["scalar"] = True
        return node
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(
                    f"cannot save {_where(path)}: dict key {key!r} is a "
                    f"{type(key).__name__}; only str and int keys are supported"
                )
            items.append([key, _encode(value, path + [str(key)], arrays)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, path + [str(i)], arrays) for i, v in enumerate(obj)]}
    hint = " (save its state_dict() instead)" if hasattr(obj, "state_dict") else ""
    raise TypeError(
        f"cannot save {_where(path)}: values of type {type(obj).__name__} are not supported"
        f"{hint}; use arrays, Tensors, numbers, strings, None, and dicts/lists/tuples of them"
    )


def _where(path: list) -> str:
    return f"key '{'/'.join(path)}'" if path else "the top-level object"


def _member_name(path: list, taken: dict) -> str:
    """The archive member of the array at ``path``: its key path (``model/conv1.weight``)
    where a zip member can bear that name, else a numbered one. The keys themselves are
    kept whole in the structure header either way, so any str key saves and loads, as in
    PyTorch: one holding a NUL byte (zip cuts names there), a backslash (Windows reads it
    as ``/``), a lone surrogate (not UTF-8) or a name too long for zip's 16-bit length."""
    name = "/".join(path) or "root"
    try:
        fits = len(name.encode("utf-8")) <= MAX_MEMBER_NAME and not {"\0", "\\"} & set(name)
    except UnicodeEncodeError:
        fits = False
    return _unique_name(name if fits else f"~{len(taken)}", taken)


def _unique_name(name: str, taken: dict) -> str:
    """``name``, or ``name~1``, ``name~2``... if a dict key containing ``/`` collided."""
    if name == MARKER:
        name += "~"
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}~{n}"
    return candidate


def _decode(node, arrays: dict, path: str):
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise CheckpointError(f"{path}: malformed structure entry {node!r:.80}")
    if "array" in node:
        array = arrays[node["array"]]
        if isinstance(array, ArrayInfo):
            return array
        return array[()] if node.get("scalar") else array
    if "value" in node:
        return node["value"]
    if "dict" in node:
        return {key: _decode(value, arrays, path) for key, value in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, path) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, path) for v in node["tuple"])
    raise CheckpointError(f"{path}: malformed structure entry {node!r:.80}")


# ----------------------------------------------------------------------------- writing

def _write_archive(file, arrays: dict, header: str) -> None:
    """Write the ``.npz`` members (uncompressed, like ``numpy.savez``) to an open file."""
    members = {MARKER: np.array(header), **arrays}
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for name, array in members.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def save(obj, path) -> None:
    """Write ``obj`` (a state dict or a checkpoint dict) to ``path`` atomically.

    Parameters
    ----------
    obj : dict, list, tuple, array, Tensor, number, str or None, nested
        Tensors and CuPy arrays are saved as host NumPy arrays.
    path : str or os.PathLike
        Written exactly as given (no ``.npz`` suffix is added); missing parent
        directories are created.

    Raises
    ------
    TypeError
        A value that cannot be saved without pickle; the message names its key. Nothing
        is written in that case.
    """
    arrays: dict = {}
    tree = _encode(obj, [], arrays)
    header = json.dumps({"format": "tinygrad_cnn", "version": FORMAT_VERSION, "tree": tree})
    with atomic_write(path, durable=True) as f:
        _write_archive(f, arrays, header)


# ----------------------------------------------------------------------------- reading

#: Largest structure header read (the JSON tree: names, numbers, RNG states).
MAX_HEADER_BYTES = 16 << 20
#: Arrays may always add up to this much; more only when the file itself is that large.
MIN_ARRAY_BYTES_LIMIT = 256 << 20
#: ... or up to this many times the file's size (a stored, uncompressed archive is 1x).
MAX_EXPANSION = 16


class ArrayInfo(NamedTuple):
    """What an array member's ``.npy`` header declares, read without reading the array."""

    shape: tuple
    dtype: np.dtype


def _read_npy_header(member, where: str):
    """``(shape, dtype, header length)`` from an open ``.npy`` stream, data left unread."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise CheckpointError(f"{where}: unsupported .npy format version {version}")
    if dtype.hasobject:
        raise CheckpointError(f"{where}: arrays of Python objects (dtype {dtype}) would need "
                              "pickle; refusing to read them")
    return tuple(shape), dtype, member.tell()


class _Archive:
    """A checkpoint's zip archive, its structure validated before any array is read.

    Every member must be an ``.npy`` file named in the structure header, every name in the
    header must exist, each member's declared size must match what its ``.npy`` header
    says its array holds, and the arrays together must stay under ``max_bytes``. So a
    crafted file is refused before it can make us allocate gigabytes.
    """

    def __init__(self, path: str, max_bytes: int | None):
        self.path = path
        self.zip = zipfile.ZipFile(path)
        infos = self.zip.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise CheckpointError(f"{path} is corrupt: duplicate member names in the archive")
        self.members, strays = {}, {}
        for info in infos:
            if info.filename.endswith(".npy") and not info.is_dir():
                self.members[info.filename[:-4]] = info
            else:
                strays[info.filename] = info
        if strays and MARKER not in self.members:
            self._refuse(strays)
        if MARKER not in self.members:
            raise CheckpointError(
                f"{path} is an .npz archive but not a tinygrad_cnn checkpoint: it has no "
                f"'{MARKER}' entry (it was not written by tinygrad_cnn.save)"
            )
        file_size = os.path.getsize(path)
        self.limit = (max_bytes if max_bytes is not None
                      else max(MIN_ARRAY_BYTES_LIMIT, MAX_EXPANSION * file_size))
        declared = sum(info.file_size for info in infos)
        if declared > self.limit:
            raise CheckpointError(
                f"{path}: its members declare {declared:,} bytes, more than the limit of "
                f"{self.limit:,} for a {file_size:,}-byte file (pass max_bytes= to load a "
                "larger one you trust)"
            )
        marker = self.members[MARKER]
        if marker.file_size > MAX_HEADER_BYTES:
            raise CheckpointError(f"{path}: the '{MARKER}' entry is {marker.file_size:,} "
                                  f"bytes, more than the {MAX_HEADER_BYTES:,} allowed")
        self.header = self._header()
        # older versions let a NUL byte in a key cut its member's name there, ".npy" and all
        for name in self.referenced():
            if "\0" in name and name.split("\0")[0] in strays:
                self.members[name] = strays.pop(name.split("\0")[0])
        self._refuse(strays)
        self.infos = {}
        for name, info in self.members.items():
            if name != MARKER:
                self.infos[name] = self._array_info(name, info)

    def _refuse(self, strays: dict) -> None:
        for name in strays:
            raise CheckpointError(f"{self.path}: unexpected member {name!r} (a checkpoint "
                                  "holds only .npy members)")

    def _header(self) -> dict:
        with self.zip.open(self.members[MARKER]) as member:
            text = np.lib.format.read_array(member, allow_pickle=False)
        if text.shape != () or text.dtype.kind != "U":
            raise CheckpointError(f"{self.path}: the '{MARKER}' entry is not a text header")
        header = json.loads(str(text[()]))
        if not isinstance(header, dict) or header.get("format") != "tinygrad_cnn":
            raise CheckpointError(f"{self.path}: the '{MARKER}' entry is not a tinygrad_cnn "
                                  "header")
        version = header.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CheckpointError(
                f"{self.path} has format version {version!r}; this tinygrad_cnn reads up to "
                f"{FORMAT_VERSION} (upgrade tinygrad_cnn)"
            )
        if "tree" not in header:
            raise CheckpointError(f"{self.path}: the '{MARKER}' header has no structure tree")
        return header

    def _array_info(self, name: str, info: zipfile.ZipInfo) -> ArrayInfo:
        where = f"{self.path}: member '{name}'"
        with self.zip.open(info) as member:
            shape, dtype, header_length = _read_npy_header(member, where)
        if any(not isinstance(d, int) or d < 0 for d in shape):
            raise CheckpointError(f"{where}: invalid shape {shape}")
        count = 1
        for d in shape:
            count *= d
        expected = header_length + count * dtype.itemsize
        if expected != info.file_size:
            raise CheckpointError(
                f"{where} is corrupt: its header declares a {dtype} array of shape {shape} "
                f"({count * dtype.itemsize:,} bytes) but the member holds "
                f"{info.file_size - header_length:,} bytes of data"
            )
        return ArrayInfo(shape, dtype)

    def read(self, name: str) -> np.ndarray:
        with self.zip.open(self.members[name]) as member:
            return np.lib.format.read_array(member, allow_pickle=False)

    def referenced(self) -> set:
        """Names of the array members the structure tree points at."""
        names, stack = set(), [self.header["tree"]]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if isinstance(node.get("array"), str):
                    names.add(node["array"])
                for key in ("dict", "list", "tuple"):
                    value = node.get(key)
                    if isinstance(value, list):
                        stack.extend(v[1] if key == "dict" and isinstance(v, list)
                                     and len(v) == 2 else v for v in value)
        return names

    def check_names(self) -> None:
        referenced, present = self.referenced(), set(self.infos)
        if referenced - present:
            missing = ", ".join(sorted(referenced - present)[:5])
            raise CheckpointError(f"{self.path} is corrupt: its structure refers to missing "
                                  f"entries ({missing})")
        if present - referenced:
            extra = ", ".join(sorted(present - referenced)[:5])
            raise CheckpointError(f"{self.path}: unexpected members not named in its "
                                  f"structure ({extra})")


def _open(path, max_bytes, use):
    """Open and validate ``path``, then ``use(archive)``; every failure a CheckpointError
    (or FileNotFoundError / IsADirectoryError) naming the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "checkpoint file not found", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a checkpoint file", path)
    check_readable(path, "checkpoint")  # a FIFO or device would block the read below
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in _ZIP_MAGIC:
        raise CheckpointError(
            f"{path} is not a tinygrad_cnn checkpoint: not an .npz (zip) archive"
        )
    try:
        archive = _Archive(path, max_bytes)
        try:
            archive.check_names()
            return use(archive)
        finally:
            archive.zip.close()
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{path} is corrupt: its structure refers to missing or "
                              f"malformed entries ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # zipfile, zlib, npy-format and JSON errors alike
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from exc


def load(path, max_bytes: int | None = None):
    """Read a file written by :func:`save`; arrays come back as NumPy arrays.

    The archive's structure is checked before any array is read: member names against the
    structure header, each member's size against its ``.npy`` header (shape and dtype),
    and the total against a limit, so a crafted file cannot make ``load`` allocate more
    than the limit.

    Parameters
    ----------
    path : str or os.PathLike
    max_bytes : int, optional
        Largest total size of the arrays accepted. Default: 256 MiB, or 16 times the
        file's size when that is more (a file written by :func:`save` is not compressed,
        so its arrays are never larger than the file).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CheckpointError (a ValueError)
        The file is not an ``.npz`` archive, is truncated or corrupt, lacks the
        ``__tinygrad_cnn__`` marker (written by something else), has a newer version,
        or declares more data than the limit.
    """
    def read(archive):
        arrays = {name: archive.read(name) for name in archive.infos}
        return _decode(archive.header["tree"], arrays, archive.path)

    return _open(path, max_bytes, read)


def describe(path, max_bytes: int | None = None):
    """The structure :func:`load` would return, with every array replaced by its
    :class:`ArrayInfo` (shape and dtype from the ``.npy`` header), without reading any
    array. Validates exactly as :func:`load` does."""
    return _open(path, max_bytes,
                 lambda archive: _decode(archive.header["tree"], archive.infos, archive.path))
