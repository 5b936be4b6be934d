"""Writing files so that nothing on disk is lost, half-written or silently replaced.

Checkpoints, downloads, pictures and rendered graphs all go through :func:`atomic_write`:
the bytes land in a hidden temporary file beside the target, which is renamed onto it
(``os.replace`` is atomic on POSIX and Windows) only when writing finished without an
exception. Until then the previous file, if any, stays exactly as it was.

Three more promises, each kept here so that every writer keeps them:

* a target that is a symbolic link stays a link: the new contents replace the file it
  points to, and that file keeps its permission bits;
* a temporary file left behind by a process that was killed mid-write is removed by the
  next write to the same target (only ours: named after the target, this host and a
  process that no longer runs);
* :func:`check_writable` and :func:`check_output` say *before* any long work starts that a
  destination cannot be written, or holds a file we did not write and must not replace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
import struct
import tempfile
import time
import zlib

TEMP_SUFFIX = ".part"  # what a temporary file left by a killed process is called

#: Written into every picture and graph the library saves, so that rewriting our own
#: output is allowed while somebody else's file of the same name is not replaced.
SIGNATURE = b"tinygrad-cnn"

# Temporary files written before process ids went into their names: removed once nothing
# has touched them for this long (no live writer leaves a file alone for an hour).
_LEGACY_STALE_SECONDS = 3600.0


# ----------------------------------------------------------------------------- temporaries

def _host_tag() -> str:
    """This machine's name, reduced to characters that are safe in a file name."""
    return (re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host")[:32]


def _temp_prefix(name: str) -> str:
    return f".{name}.{_host_tag()}-{os.getpid()}."


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # exists but belongs to someone else, or cannot be asked: keep it
        return False
    return False


def remove_stale_temporaries(path) -> list[str]:
    """Delete temporary files that a killed writer of ``path`` left beside it.

    Only files named as :func:`atomic_write` names them for this very target are
    considered: those written on this host by a process that has since ended, and
    nameless-process ones from older versions untouched for an hour. Others' files, and
    a temporary file another live process is writing right now, are left alone.

    Returns the paths removed.
    """
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return []
    target = os.path.realpath(os.fspath(path))
    directory, name = os.path.split(target)
    ours = re.compile(rf"\.{re.escape(name)}\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\."
                      rf"[A-Za-z0-9_]+{re.escape(TEMP_SUFFIX)}")
    legacy = re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}{re.escape(TEMP_SUFFIX)}")
    host, now, removed = _host_tag(), time.time(), []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(f".{name}.") or not entry.name.endswith(TEMP_SUFFIX):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            match = ours.fullmatch(entry.name)
            if match:
                stale = match["host"] == host and _process_is_gone(int(match["pid"]))
            else:
                stale = (legacy.fullmatch(entry.name) is not None
                         and now - entry.stat(follow_symlinks=False).st_mtime
                         > _LEGACY_STALE_SECONDS)
            if stale:
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:  # gone meanwhile, or not ours to delete: not our business
            continue
    return removed


# ----------------------------------------------------------------------------- writing

def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_write(path, durable: bool = False):
    """Yield a binary file to write ``path``'s new contents into.

    On a clean exit the file replaces ``path``; on an exception (raise one to abandon the
    write, e.g. after a failed checksum) it is deleted and ``path`` is untouched. Missing
    parent directories are created. A symbolic link is written through: the file it points
    to is replaced, the link stays. An existing file keeps its permission bits; a new one
    gets the usual ``0o666`` less the umask. ``durable`` also fsyncs the data and the
    directory, so the new file survives a power cut (worth it for checkpoints).

    Raises
    ------
    IsADirectoryError
        ``path`` is a directory.
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", path)
    directory, name = os.path.split(target)
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_current_umask()
    fd, temp = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(name), suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(temp, mode)  # mkstemp makes it private; the result keeps the old file's bits
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if durable:
        _fsync_directory(directory)


def write_bytes(path, data: bytes, durable: bool = False) -> None:
    """Atomically replace ``path``'s contents with ``data``."""
    with atomic_write(path, durable=durable) as f:
        f.write(data)


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


# ----------------------------------------------------------------------------- checks

def check_writable(path, what: str = "file") -> None:
    """Raise an ``OSError`` naming ``path`` now if :func:`atomic_write` could not write it.

    Called before long work (a training run) so that a destination that is a directory,
    sits in a read-only or missing-and-uncreatable directory, fails at once instead of
    after an hour of computing. Leaves nothing behind: a probe file, and any missing
    directories made to prove they can be made, are removed again.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file is, for the message ("checkpoint", "--log file").
    """
    shown = os.fspath(path)
    if not shown:
        raise FileNotFoundError(errno.ENOENT, f"empty path given for the {what}", shown)
    target = os.path.realpath(shown)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"the {what} path is a directory; give a file "
                                "name inside it", shown)
    directory = os.path.dirname(target)
    existing = directory
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        raise NotADirectoryError(errno.ENOTDIR, f"cannot write the {what}: {existing} is a "
                                 "file, not a directory", shown)
    created = []  # directories made only to prove they can be made; removed again
    try:
        if existing != directory:
            missing, d = [], directory
            while d != existing:
                missing.append(d)
                d = os.path.dirname(d)
            for d in reversed(missing):
                os.mkdir(d)
                created.append(d)
        # the real test: ACLs, read-only mounts and root all answer truthfully
        fd, probe = tempfile.mkstemp(dir=directory,
                                     prefix=_temp_prefix(os.path.basename(target)),
                                     suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        problem = (f"cannot write the {what} into {directory}" if existing == directory
                   else f"cannot create the directory {directory} for the {what}")
        raise type(exc)(exc.errno, f"{problem}: {exc.strerror}", shown) from None
    finally:
        for d in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(d)


def written_by_us(path) -> bool:
    """True when ``path`` is a picture, graph or source file this library wrote (it carries
    :data:`SIGNATURE` near its start or end, where :func:`sign` puts it)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(size - (1 << 16), 0))
            tail = f.read()
    except OSError:
        return False
    return SIGNATURE in head or SIGNATURE in tail


def check_output(path, force: bool = False, what: str = "output") -> None:
    """:func:`check_writable`, and refuse to replace a file that this library did not write.

    Raises
    ------
    FileExistsError
        ``path`` exists, was not written by tinygrad-cnn, and ``force`` is false.
    """
    check_writable(path, what)
    if not force and os.path.exists(path) and not written_by_us(path):
        raise FileExistsError(errno.EEXIST, f"refusing to overwrite the {what}: the file "
                              "exists and was not written by tinygrad-cnn (use --force, or "
                              "force=True, to replace it, or choose another name)",
                              os.fspath(path))


def write_output(path, data: bytes, format: str, force: bool = False,
                 what: str = "output") -> None:
    """Sign ``data`` (see :func:`sign`), check ``path`` with :func:`check_output`, write it
    atomically."""
    check_output(path, force, what)
    write_bytes(path, sign(data, format))


# ----------------------------------------------------------------------------- signatures

def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def sign(data: bytes, format: str) -> bytes:
    """``data`` with :data:`SIGNATURE` added in a way its format allows, unchanged where it
    is already there.

    png: a ``tEXt`` chunk ``Software`` after the header chunk; svg: an XML comment after
    the declaration; pdf: a comment line after the end marker (readers ignore it); dot: a
    ``//`` comment as the last line.
    """
    if SIGNATURE in data[: 1 << 16] or SIGNATURE in data[-(1 << 16):]:
        return data
    format = format.lower()
    if format == "png" and data.startswith(b"\x89PNG\r\n\x1a\n"):
        ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4
        chunk = _png_chunk(b"tEXt", b"Software\x00" + SIGNATURE)
        return data[:ihdr_end] + chunk + data[ihdr_end:]
    if format == "svg":
        comment = b"<!-- written by " + SIGNATURE + b" -->\n"
        if data.startswith(b"<?xml"):
            end = data.index(b"?>") + 2
            return data[:end] + b"\n" + comment + data[end:].lstrip(b"\n")
        return comment + data
    if format == "pdf":
        return data + (b"" if data.endswith(b"\n") else b"\n") + b"%" + SIGNATURE + b"\n"
    if format in ("dot", "gv"):
        return data + (b"" if data.endswith(b"\n") else b"\n") + b"// written by " \
            + SIGNATURE + b"\n"
    raise ValueError(f"sign: cannot mark a {format!r} file; expected png, svg, pdf or dot")
