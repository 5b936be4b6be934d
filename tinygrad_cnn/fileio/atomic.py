"""Writing files so that nothing on disk is lost, half-written or silently replaced.

Checkpoints, downloads, pictures and rendered graphs all go through :func:`atomic_write`:
the bytes land in a hidden temporary file beside the target, which is renamed onto it
(``os.replace`` is atomic on POSIX and Windows) only when writing finished without an
exception. Until then the previous file, if any, stays exactly as it was. Lines of a log
go through :func:`append_whole`: one write each, whole or not at all.

More promises, each kept here so that every writer keeps them:

* only a regular file (or a path where nothing is) is ever written or replaced: a FIFO, a
  device node, a socket or a directory is refused whatever ``force`` says, and a file is
  checked to be regular before it is opened to be read (:func:`check_readable`), so that
  nothing waits forever on a named pipe;
* a target that is a symbolic link stays a link: the new contents replace the file it
  points to, and that file keeps its permission bits;
* a temporary file left behind by a process that was killed mid-write is removed by the
  next write to the same target (only ours: named after the target, this host and a
  process that no longer runs); its name fits the file system's 255-byte limit whenever
  the target's own name does;
* :func:`check_writable` says *before* any long work starts that a destination cannot be
  written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import stat
import tempfile
import time

__all__ = ["NotARegularFileError", "TEMP_SUFFIX", "append_whole", "atomic_write",
           "check_readable", "check_writable", "fitting_name", "hidden_sibling",
           "host_tag", "remove_stale_temporaries", "write_bytes"]

TEMP_SUFFIX = ".part"  # what a temporary file left by a killed process is called

#: The longest file name (in bytes) that common file systems accept.
NAME_MAX = 255
# Room that a temporary file's name needs beside the target's: ".", ".", the host tag (at
# most 32), "-", a process id (at most 10 digits), ".", mkstemp's 8 characters, ".part".
_TEMP_ROOM = 1 + 1 + 32 + 1 + 10 + 1 + 8 + len(TEMP_SUFFIX)

# Temporary files written before process ids went into their names: removed once nothing
# has touched them for this long (no live writer leaves a file alone for an hour).
_LEGACY_STALE_SECONDS = 3600.0

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class NotARegularFileError(OSError):
    """A path names a FIFO, a device or a socket where a regular file was expected; the
    library neither reads from nor writes to such a thing."""


# ----------------------------------------------------------------------------- names

def host_tag() -> str:
    """This machine's name, reduced to characters that are safe in a file name."""
    return (re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host")[:32]


def fitting_name(name: str, room: int) -> str:
    """``name`` when it takes at most ``NAME_MAX - room`` bytes, else its beginning and a
    digest of the whole, so that a file named after it with ``room`` more bytes still
    fits and still belongs to this one name."""
    encoded = os.fsencode(name)
    limit = NAME_MAX - room
    if len(encoded) <= limit:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:12]
    head = encoded[: limit - len(digest) - 1].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def hidden_sibling(path, suffix: str) -> str:
    """The path of a hidden file beside ``path``'s real file, named after it
    (``dir/.name<suffix>``), shortened where needed to fit the file system."""
    directory, name = os.path.split(os.path.realpath(os.fspath(path)))
    return os.path.join(directory, f".{fitting_name(name, _TEMP_ROOM)}{suffix}")


def _temp_prefix(name: str) -> str:
    return f".{fitting_name(name, _TEMP_ROOM)}.{host_tag()}-{os.getpid()}."


# ----------------------------------------------------------------------------- kinds of file

def _kind(mode: int) -> str | None:
    """What a non-regular, non-directory file is, in words; None for a regular file."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def _ends_in_separator(path: str) -> bool:
    return path.endswith(os.sep) or bool(os.altsep and path.endswith(os.altsep))


def _refuse_directory_name(shown: str, what: str, example: str | None) -> None:
    """A path ending in a separator names a directory, whether or not it exists (the OS
    would otherwise drop the slash and write a file of the directory's name)."""
    if _ends_in_separator(shown):
        hint = f", e.g. {os.path.join(shown, example)}" if example else ""
        raise IsADirectoryError(errno.EISDIR, f"the {what} path ends in "
                                f"'{shown[-1]}', so it names a directory; give the file's "
                                f"name inside it{hint}", shown)


def _refuse_special(target: str, shown: str, what: str, action: str) -> os.stat_result | None:
    """``os.stat(target)``, or None when nothing is there; a directory, FIFO, device or
    socket is refused (no option overrides this: writing one would replace /dev/null or
    hang on a pipe)."""
    try:
        info = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):  # the callers explain a missing parent
        return None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"the {what} path is a directory; give a file "
                                "name inside it", shown)
    kind = _kind(info.st_mode)
    if kind:
        raise NotARegularFileError(errno.EINVAL, f"the {what} path is {kind}, not a regular "
                                   f"file, and tinygrad-cnn {action} only regular files; "
                                   "give the name of a regular file", shown)
    return info


def check_readable(path, what: str = "file") -> None:
    """Raise an ``OSError`` naming ``path`` unless it is an existing regular file, checked
    without opening it (opening a FIFO to read waits for a writer, maybe forever)."""
    shown = os.fspath(path)
    if not shown:
        raise FileNotFoundError(errno.ENOENT, f"empty path given for the {what}", shown)
    if _refuse_special(shown, shown, what, "reads") is None:
        raise FileNotFoundError(errno.ENOENT, f"{what} not found", shown)


# ----------------------------------------------------------------------------- temporaries

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
    short = fitting_name(name, _TEMP_ROOM)
    ours = re.compile(rf"\.{re.escape(short)}\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\."
                      rf"[A-Za-z0-9_]+{re.escape(TEMP_SUFFIX)}")
    legacy = re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}{re.escape(TEMP_SUFFIX)}")
    host, now, removed = host_tag(), time.time(), []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.endswith(TEMP_SUFFIX) or not (
                entry.name.startswith(f".{short}.") or entry.name.startswith(f".{name}.")):
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
def atomic_write(path, durable: bool = False, what: str = "output"):
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
        ``path`` is a directory, or ends in a path separator.
    NotARegularFileError
        ``path`` is a FIFO, a device node or a socket: never replaced.
    """
    path = os.fspath(path)
    _refuse_directory_name(path, what, None)
    target = os.path.realpath(path)
    info = _refuse_special(target, path, what, "writes")
    directory, name = os.path.split(target)
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(target)
    mode = stat.S_IMODE(info.st_mode) if info else 0o666 & ~_current_umask()
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


def write_bytes(path, data: bytes, durable: bool = False, what: str = "output") -> None:
    """Atomically replace ``path``'s contents with ``data``."""
    with atomic_write(path, durable=durable, what=what) as f:
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


def append_whole(path, data: bytes, what: str = "file") -> None:
    """Append ``data`` to ``path`` in one ``write``, whole or not at all.

    The file is created (with its missing directories) when absent; it must be a regular
    file (it is opened without blocking, so a FIFO swapped in is refused, not waited on).
    When the file's last byte is not a newline, a newline goes first, so that ``data``
    starts a line of its own. When the disk fills up partway, the part written is cut off
    again and the ``OSError`` says so: a reader never finds half a line.
    """
    shown = os.fspath(path)
    _refuse_directory_name(shown, what, None)
    _refuse_special(os.path.realpath(shown), shown, what, "writes")
    os.makedirs(os.path.dirname(os.path.realpath(shown)), exist_ok=True)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(shown, flags, 0o666)
    try:
        info = os.fstat(fd)
        kind = _kind(info.st_mode)
        if kind:
            raise NotARegularFileError(errno.EINVAL, f"the {what} is {kind}, not a regular "
                                       "file; tinygrad-cnn writes only regular files", shown)
        if info.st_size:
            os.lseek(fd, info.st_size - 1, os.SEEK_SET)  # O_APPEND still writes at the end
            if os.read(fd, 1) != b"\n":
                data = b"\n" + data
        written = 0
        try:
            written = os.write(fd, data)
        finally:
            if written != len(data):
                _cut_back(fd, info.st_size, written)
        if written != len(data):
            raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes could be "
                          f"written to the {what} (the disk is probably full); the partial "
                          "line was removed", shown)
    finally:
        os.close(fd)


def _cut_back(fd: int, size: int, written: int) -> None:
    """Remove a partial append, unless another writer appended after it meanwhile."""
    with contextlib.suppress(OSError):
        if written and os.fstat(fd).st_size == size + written:
            os.ftruncate(fd, size)


# ----------------------------------------------------------------------------- checks

def check_writable(path, what: str = "file", example: str | None = None) -> None:
    """Raise an ``OSError`` naming ``path`` now if :func:`atomic_write` could not write it.

    Called before long work (a training run) so that a destination that is a directory,
    a FIFO or a device, names a directory (ends in ``/``), or sits in a read-only or
    missing-and-uncreatable directory, fails at once instead of after an hour of
    computing. Leaves nothing behind: a probe file, and any missing directories made to
    prove they can be made, are removed again.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file is, for the message ("checkpoint", "--log file").
    example : str, optional
        A file name to suggest inside a path that names a directory ("lenet5.npz").
    """
    shown = os.fspath(path)
    if not shown:
        raise FileNotFoundError(errno.ENOENT, f"empty path given for the {what}", shown)
    _refuse_directory_name(shown, what, example)
    target = os.path.realpath(shown)
    _refuse_special(target, shown, what, "writes")
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
