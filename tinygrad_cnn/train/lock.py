"""One run per checkpoint: :class:`CheckpointLock`.

Two ``train`` runs writing one checkpoint would each replace the other's model, the last
writer winning. So a run holds its checkpoint for as long as it trains: an operating-system
lock (``filelock``'s, on ``flock``) on a hidden file beside it, ``.NAME.lock``. A second
run fails at once with one line naming the checkpoint and the run that holds it (noted in
``.NAME.run`` while held). The operating system drops the lock when its process ends, even
when killed, so the lock file left beside the checkpoint never blocks a later run.

Before each write the run checks again that it still holds the checkpoint: that the lock
file is still the one it locked (not deleted and made anew by another run) and that the
checkpoint is still the file it last wrote (not replaced by a program that takes no lock).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os

import filelock

from ..fileio import fitting_name, hidden_sibling, host_tag, write_bytes

__all__ = ["CheckpointInUseError", "CheckpointLock"]


class CheckpointInUseError(OSError):
    """Another training run holds the checkpoint; the message names it."""


def _identity(path, content: bool = True):
    """What tells one file from another (and, with ``content``, one version of it from
    the next); None when nothing is there."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    key = (info.st_dev, info.st_ino)
    return key + (info.st_size, info.st_mtime_ns) if content else key


class CheckpointLock:
    """Hold ``path`` for the run ``run_id``: ``with CheckpointLock(path, run_id) as lock``.

    :meth:`check` before writing the checkpoint, :meth:`wrote` after.

    Raises
    ------
    CheckpointInUseError
        On entry, when another run holds ``path``.
    """

    def __init__(self, path, run_id: str):
        self.path = os.fspath(path)
        self.run_id = run_id
        self.lock_path = hidden_sibling(self.path, ".lock")
        self.note_path = hidden_sibling(self.path, ".run")
        self._lock = filelock.FileLock(self.lock_path, timeout=0)
        self._created: list[str] = []  # directories made for the lock
        self._locked = None  # identity of the lock file we hold
        self._written = None  # identity of the checkpoint as we last saw or wrote it

    def __enter__(self) -> CheckpointLock:
        self._make_directories()
        try:
            self._lock.acquire()
        except filelock.Timeout:
            self._remove_made_directories()
            raise CheckpointInUseError(
                errno.EBUSY, f"in use by another training run ({self.holder()}); wait for "
                "it to end, or choose another --checkpoint", self.path) from None
        except BaseException:
            self._remove_made_directories()
            raise
        self._locked = _identity(self.lock_path, content=False)
        self._written = _identity(self.path)
        note = {"run": self.run_id, "pid": os.getpid(), "host": host_tag(),
                "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        with contextlib.suppress(OSError):  # the note only makes a refusal more helpful
            write_bytes(self.note_path, json.dumps(note).encode(), what="lock note")
        return self

    def __exit__(self, *exc) -> bool:
        with contextlib.suppress(OSError):
            os.unlink(self.note_path)
        self._lock.release()
        if self._created and not os.path.exists(self.path):
            with contextlib.suppress(OSError):  # nothing was written: leave no trace
                os.unlink(self.lock_path)
            self._remove_made_directories()
        return False

    def holder(self) -> str:
        """The run holding the lock, in words, from its note."""
        try:
            if os.path.isfile(self.note_path) and os.path.getsize(self.note_path) < 4096:
                with open(self.note_path, encoding="utf-8") as f:
                    note = json.load(f)
                return (f"run {note['run']}, process {note['pid']} on {note['host']}, "
                        f"started {note['started']}")
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return "its process could not be told"

    def check(self, write_aside=None, where: str = "") -> None:
        """Make sure this run still holds the checkpoint before writing it.

        When it does not (its lock file was removed or replaced, or a program that takes no
        lock replaced the checkpoint), the checkpoint is left alone: ``write_aside(path)``
        saves the run beside it, named after the run, and CheckpointInUseError says where.
        """
        if not self._lock.is_locked or _identity(self.lock_path, False) != self._locked:
            lost = (f"its lock file {self.lock_path} was removed or replaced, so another run "
                    "may be writing it")
        elif _identity(self.path) != self._written:
            lost = "it was replaced by another program since this run last wrote it"
        else:
            return
        message = f"{lost}; it was left as it is"
        if write_aside is not None:
            directory, name = os.path.split(self.path)
            stem, ext = os.path.splitext(name)
            aside = os.path.join(directory, f"{fitting_name(stem, len(self.run_id) + 1 + len(ext))}"
                                 f".{self.run_id}{ext}")
            write_aside(aside)
            message += (f", and this run ({where}) was saved to {aside} instead: continue it "
                        f"with --resume --checkpoint {aside}")
        raise CheckpointInUseError(errno.EBUSY, message, self.path)

    def wrote(self) -> None:
        """Note the checkpoint this run just wrote, for the next :meth:`check`."""
        self._written = _identity(self.path)

    def _make_directories(self) -> None:
        missing, d = [], os.path.dirname(self.lock_path)
        while d and not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        for d in reversed(missing):
            os.mkdir(d)
            self._created.append(d)

    def _remove_made_directories(self) -> None:
        for d in reversed(self._created):
            with contextlib.suppress(OSError):
                os.rmdir(d)
        self._created = []
