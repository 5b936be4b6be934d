"""Where MNIST-style data lives and how to fetch it: the standard file names, the data
directory (``$TINYGRAD_CNN_DATA`` or the user cache), mirrors and SHA-256 checks.

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

#: Environment variable naming a shared data directory.
DATA_ENV_VAR = "TINYGRAD_CNN_DATA"

#: split -> (images file, labels file), without the optional ``.gz``.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# -------------------------------------------------------------------------------- download

#: Mirrors tried in turn, each serving the four ``.gz`` files under their standard names.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

#: SHA-256 of the published ``.gz`` files; a download that does not match is discarded.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

_NAMES = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
          "fashionmnist": "fashion-mnist", "fashion": "fashion-mnist"}


class _ChecksumMismatch(Exception):
    """Raised inside the atomic write to abandon a download whose SHA-256 is wrong."""


class DownloadError(OSError):
    """No mirror delivered a file; the message lists each URL and its error."""


def dataset_key(name: str) -> str:
    """Canonical dataset name (``"mnist"`` or ``"fashion-mnist"``) for a user spelling."""
    key = _NAMES.get(str(name).lower())
    if key is None:
        raise ValueError(f"unknown dataset {name!r}: expected 'mnist' or 'fashion-mnist'")
    return key


def _xdg_cache_home() -> Path:
    value = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".cache"


def default_data_root() -> Path:
    """Where downloads go without a ``root``: ``$TINYGRAD_CNN_DATA``, else the user cache."""
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env).expanduser() if env else _xdg_cache_home() / "tinygrad_cnn"


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
    """Fetch the four ``.gz`` files of MNIST or Fashion-MNIST into ``<root>/<name>``.

    Files already there with the right SHA-256 are kept. Returns that directory.

    Parameters
    ----------
    name : str
        ``"mnist"`` or ``"fashion-mnist"``.
    root : str or path-like, optional
        Base data directory; default ``$TINYGRAD_CNN_DATA``, else the user cache
        ``~/.cache/tinygrad_cnn`` (``$XDG_CACHE_HOME`` honoured).
    mirrors : sequence of str, optional
        Base URLs to try in turn instead of ``MIRRORS[name]``.
    sha256 : dict, optional
        File name -> SHA-256 instead of ``SHA256[name]``.
    """
    key = dataset_key(name)
    target = (Path(root).expanduser() if root is not None else default_data_root()) / key
    mirrors = MIRRORS[key] if mirrors is None else list(mirrors)
    hashes = SHA256[key] if sha256 is None else sha256
    for stems in SPLIT_FILES.values():
        for fname in (stem + ".gz" for stem in stems):
            dest = target / fname
            if dest.is_file() and _sha256_of(dest) == hashes[fname].lower():
                continue
            urls = [m.rstrip("/") + "/" + fname for m in mirrors]
            download_file(urls, dest, hashes[fname], timeout=timeout, progress=progress)
    return target
