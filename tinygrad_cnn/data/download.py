"""Where datasets kept in files live and how to fetch them: the data directory
(``$TINYGRAD_CNN_DATA`` or the user cache), and downloads from the mirrors a dataset's record
lists, checked against the SHA-256 it gives.

Downloads stream into a temporary file in the destination folder and are renamed into
place only once their checksum matches, so a broken or forged file never sits under the
final name, and an existing good file is never replaced by a bad one.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from http.client import HTTPException
from pathlib import Path

from ..fileio import atomic_write
from .idx import DataFormatError
from .registry import DatasetError, DatasetInfo, RegistryView, get_dataset

#: Environment variable naming a shared data directory.
DATA_ENV_VAR = "TINYGRAD_CNN_DATA"


def _kept_in_files(info: DatasetInfo) -> bool:
    return info.bundled is None


#: name -> the mirrors of each dataset kept in files (read-only; the records are the source).
MIRRORS = RegistryView(lambda info: info.mirrors, keep=_kept_in_files)

#: name -> {``.gz`` file: SHA-256} of each dataset kept in files (read-only, from the records).
SHA256 = RegistryView(lambda info: info.sha256, keep=_kept_in_files)


class _ChecksumMismatch(Exception):
    """Raised inside the atomic write to abandon a download whose SHA-256 is wrong."""


class DownloadError(OSError):
    """No mirror delivered a file; the message lists each URL and its error."""


def files_dataset(name: str) -> DatasetInfo:
    """The record of a dataset kept in IDX files (searched for on disk and downloadable),
    by any spelling :func:`get_dataset` accepts.

    Raises
    ------
    DatasetError
        ``name`` is unknown or bundled with the package; the message lists the others.
    """
    try:
        info = get_dataset(name)
    except DatasetError:
        info = None
    if info is None or not _kept_in_files(info):
        names = [repr(n) for n in MIRRORS]
        either = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise DatasetError(f"unknown dataset {name!r}: expected {either}")
    return info


def user_cache_dir() -> Path:
    """The package's folder in the user's cache: ``$XDG_CACHE_HOME/tinygrad_cnn``, by default
    ``~/.cache/tinygrad_cnn``; downloads go there when no data directory is named."""
    value = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    cache = Path(value) if value and os.path.isabs(value) else Path.home() / ".cache"
    return cache / "tinygrad_cnn"


def default_data_root() -> Path:
    """Where downloads go without a ``root``: ``$TINYGRAD_CNN_DATA``, else the user cache."""
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env).expanduser() if env else user_cache_dir()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, out, timeout: float) -> str:
    """Stream ``url`` into the open file ``out``; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "tinygrad_cnn"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        while chunk := response.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def download_file(urls, dest, sha256: str, timeout: float = 30.0, progress: bool = True) -> Path:
    """Download one file from the first mirror that delivers it intact.

    The bytes go to a temporary file in ``dest``'s directory, which is renamed onto ``dest``
    (``os.replace``, atomic) only after its SHA-256 matched. So an interrupted or corrupt
    download never sits under the final name, and an existing ``dest`` survives a failure.

    Parameters
    ----------
    urls : str or sequence of str
        Full URLs of the same file, tried in order.
    dest : str or path-like
        Final path; parent directories are created.
    sha256 : str
        Expected SHA-256 hex digest.
    timeout : float
        Seconds to wait on a connect or read before giving up on a mirror.
    progress : bool
        Print one line per attempt to stderr.

    Raises
    ------
    DataFormatError (a ValueError)
        Some mirror delivered the file but with the wrong SHA-256 and none delivered it
        intact; names the file, the expected and the actual hash.
    DownloadError
        No mirror could be reached; lists each URL with its error.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest, expected = Path(dest), sha256.lower()
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures, mismatch = [], None
    for url in urls:
        if progress:
            print(f"downloading {url} -> {dest}", file=sys.stderr, flush=True)
        try:
            with atomic_write(dest) as out:
                actual = _fetch(url, out, timeout)
                if actual != expected:
                    raise _ChecksumMismatch(f"expected {expected}, got {actual}")
            return dest
        except _ChecksumMismatch as exc:
            mismatch = str(exc)
            failures.append(f"{url}: SHA-256 mismatch ({mismatch})")
        except (OSError, HTTPException, ValueError) as exc:  # URLError, timeouts, bad URLs
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
    tried = "; ".join(failures) or "no URLs given"
    if mismatch is not None:
        raise DataFormatError(f"checksum mismatch for {dest.name}: SHA-256 {mismatch}; "
                              f"nothing was written to {dest}. Tried: {tried}")
    raise DownloadError(f"could not download {dest.name} from any mirror: {tried}")


def download_dataset(name: str, root=None, *, mirrors=None, sha256=None,
                     timeout: float = 30.0, progress: bool = True) -> Path:
    """Fetch the ``.gz`` files of a registered dataset into ``<root>/<name>``.

    Files already there with the right SHA-256 are kept. Returns that directory.

    Parameters
    ----------
    name : str
        A dataset kept in files: ``"mnist"``, ``"fashion-mnist"`` or one registered since.
    root : str or path-like, optional
        Base data directory; default ``$TINYGRAD_CNN_DATA``, else the user cache
        ``~/.cache/tinygrad_cnn`` (``$XDG_CACHE_HOME`` honoured).
    mirrors : sequence of str, optional
        Base URLs to try in turn instead of the record's.
    sha256 : dict, optional
        File name -> SHA-256 instead of the record's.
    """
    info = files_dataset(name)
    target = (Path(root).expanduser() if root is not None else default_data_root()) / info.name
    mirrors = info.mirrors if mirrors is None else list(mirrors)
    hashes = info.sha256 if sha256 is None else sha256
    for stems in info.files.values():
        for fname in (stem + ".gz" for stem in stems):
            dest = target / fname
            if dest.is_file() and _sha256_of(dest) == hashes[fname].lower():
                continue
            urls = [m.rstrip("/") + "/" + fname for m in mirrors]
            download_file(urls, dest, hashes[fname], timeout=timeout, progress=progress)
    return target
