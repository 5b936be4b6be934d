"""``save`` and ``load`` for state dicts and checkpoints, as ``.npz`` archives without pickle.

File format
-----------
A zip archive readable by ``numpy.load(path, allow_pickle=False)``:

* one ``.npy`` member per array, named by its path in the saved structure with ``/``
  between levels (``model/conv1.weight``, ``optimizer/state/0/exp_avg``), dtype kept;
* the marker member ``__tinygrad_cnn__``: a JSON string
  ``{"format": "tinygrad_cnn", "version": 1, "tree": ...}`` describing the nesting of
  dicts (keys ``str`` or ``int``), lists and tuples, with every non-array leaf (numbers,
  strings, ``None``, booleans, big integers such as RNG states) stored inline.

Nothing in the file is executable. ``save`` writes to a temporary file in the target's
directory, fsyncs it and renames it over the target, so an interrupted save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from . import backend
from .fileio import atomic_write
from .tensor import Tensor

MARKER = "__tinygrad_cnn__"
FORMAT_VERSION = 1
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class CheckpointError(ValueError):
    """A file that cannot be read as a tinygrad_cnn checkpoint (corrupt, foreign, newer)."""


# ----------------------------------------------------------------------------- encoding

def _encode(obj, path: list, arrays: dict):
    """The JSON tree for ``obj``; arrays go into ``arrays`` under a unique member name."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, (np.ndarray, np.generic)) or backend.device_of(obj) == "cuda":
        array = np.asarray(backend.to_host(obj))
        if array.dtype.hasobject:
            raise TypeError(f"cannot save {_where(path)}: arrays of Python objects "
                            f"(dtype {array.dtype}) would need pickle")
        name = _unique_name("/".join(path) or "root", arrays)
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

def load(path):
    """Read a file written by :func:`save`; arrays come back as NumPy arrays.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    CheckpointError (a ValueError)
        The file is not an ``.npz`` archive, is truncated or corrupt, lacks the
        ``__tinygrad_cnn__`` marker (written by something else), or has a newer version.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in _ZIP_MAGIC:
        raise CheckpointError(
            f"{path} is not a tinygrad_cnn checkpoint: not an .npz (zip) archive"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if MARKER not in names:
                raise CheckpointError(
                    f"{path} is an .npz archive but not a tinygrad_cnn checkpoint: it has no "
                    f"'{MARKER}' entry (it was not written by tinygrad_cnn.save)"
                )
            header = json.loads(str(archive[MARKER][()]))
            arrays = {name: archive[name] for name in names if name != MARKER}
    except CheckpointError:
        raise
    except Exception as exc:  # zipfile, zlib, npy-format and JSON errors alike
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(header, dict) or header.get("format") != "tinygrad_cnn":
        raise CheckpointError(f"{path}: the '{MARKER}' entry is not a tinygrad_cnn header")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {version!r}; this tinygrad_cnn reads up to "
            f"{FORMAT_VERSION} (upgrade tinygrad_cnn)"
        )
    try:
        return _decode(header["tree"], arrays, path)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path} is corrupt: its structure refers to missing or "
                              f"malformed entries ({type(exc).__name__}: {exc})") from exc
