"""Writing files so that a crash never leaves a half-written one under the final name.

Checkpoints, downloads and rendered graphs all go through :func:`atomic_write`: the bytes
land in a temporary file beside the target, which is renamed onto it (``os.replace`` is
atomic on POSIX and Windows) only when writing finished without an exception. Until then
the previous file, if any, stays exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

TEMP_SUFFIX = ".part"  # what a temporary file left by a killed process is called


@contextlib.contextmanager
def atomic_write(path, durable: bool = False):
    """Yield a binary file to write ``path``'s new contents into.

    On a clean exit the file replaces ``path``; on an exception (raise one to abandon the
    write, e.g. after a failed checksum) it is deleted and ``path`` is untouched. Missing
    parent directories are created. ``durable`` also fsyncs the data and the directory,
    so the new file survives a power cut (worth it for checkpoints).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it private; the result need not be
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if durable:
        _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
