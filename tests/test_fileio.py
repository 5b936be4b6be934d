"""fileio: atomic writes that keep symlinks and permissions, clean up after killed writers,
and refuse destinations that cannot be written or hold somebody else's file."""

import errno
import os
import stat
import subprocess
import sys
import time

import pytest

from tinygrad_cnn import fileio
from tinygrad_cnn.fileio import (
    TEMP_SUFFIX,
    atomic_write,
    check_output,
    check_writable,
    remove_stale_temporaries,
    sign,
    write_bytes,
    written_by_us,
)


def temporaries(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(TEMP_SUFFIX))


def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path):
    (tmp_path / "store").mkdir()
    real = tmp_path / "store" / "real.npz"
    real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    write_bytes(link, b"new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new" and link.read_bytes() == b"new"
    assert temporaries(tmp_path) == [] and temporaries(tmp_path / "store") == []


def test_permissions_are_kept(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    path.chmod(0o640)
    write_bytes(path, b"new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.bin"
    write_bytes(fresh, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_a_directory_is_not_replaced(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        write_bytes(tmp_path / "d", b"x")
    assert info.value.filename == str(tmp_path / "d")
    assert (tmp_path / "d").is_dir()


def dead_pid():
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_killed_writers_are_removed_and_nothing_else(tmp_path):
    target = tmp_path / "ckpt.npz"
    host = fileio._host_tag()
    stale = tmp_path / f".ckpt.npz.{host}-{dead_pid()}.abc123{TEMP_SUFFIX}"
    live = tmp_path / f".ckpt.npz.{host}-{os.getpid()}.def456{TEMP_SUFFIX}"
    elsewhere = tmp_path / f".ckpt.npz.otherhost-{dead_pid()}.ghi789{TEMP_SUFFIX}"
    other_target = tmp_path / f".other.npz.{host}-{dead_pid()}.jkl012{TEMP_SUFFIX}"
    old_legacy = tmp_path / f".ckpt.npz.abcd1234{TEMP_SUFFIX}"
    new_legacy = tmp_path / f".ckpt.npz.efgh5678{TEMP_SUFFIX}"
    for p in (stale, live, elsewhere, other_target, old_legacy, new_legacy):
        p.write_bytes(b"partial")
    hour_ago = time.time() - 2 * 3600
    os.utime(old_legacy, (hour_ago, hour_ago))
    write_bytes(target, b"done")
    assert target.read_bytes() == b"done"
    left = set(temporaries(tmp_path))
    assert stale.name not in left and old_legacy.name not in left
    assert {live.name, elsewhere.name, other_target.name, new_legacy.name} <= left
    assert remove_stale_temporaries(target) == []


def test_a_killed_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    target = tmp_path / "ckpt.npz"
    target.write_bytes(b"previous")
    script = ("import os, sys\n"
              "from tinygrad_cnn.fileio import atomic_write\n"
              "with atomic_write(sys.argv[1]) as f:\n"
              "    f.write(b'half'); f.flush(); os._exit(9)\n")
    run = subprocess.run([sys.executable, "-c", script, str(target)])
    assert run.returncode == 9
    assert len(temporaries(tmp_path)) == 1 and target.read_bytes() == b"previous"
    with atomic_write(target) as f:
        f.write(b"next")
    assert temporaries(tmp_path) == [] and target.read_bytes() == b"next"


def test_check_writable_names_the_problem(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "f.npz", "checkpoint")  # creatable
    assert not (tmp_path / "new").exists()  # and nothing was created
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="checkpoint path is a directory"):
        check_writable(tmp_path / "d", "checkpoint")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        check_writable(tmp_path / "file" / "sub" / "f.npz", "checkpoint")
    assert "is a file, not a directory" in str(info.value)
    with pytest.raises(FileNotFoundError, match="empty path"):
        check_writable("", "checkpoint")
    assert temporaries(tmp_path) == []


def test_check_writable_tries_to_create_missing_directories(tmp_path, monkeypatch):
    # a parent that exists and looks writable, but where directories cannot be made
    # (as /proc for root): found before training, and nothing is left behind
    real_mkdir = os.mkdir

    def mkdir(path, *args):
        if os.path.basename(path) == "deeper":
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return real_mkdir(path, *args)

    monkeypatch.setattr(fileio.os, "mkdir", mkdir)
    with pytest.raises(FileNotFoundError) as info:
        check_writable(tmp_path / "new" / "deeper" / "f.npz", "checkpoint")
    assert info.value.filename == str(tmp_path / "new" / "deeper" / "f.npz")
    assert f"cannot create the directory {tmp_path / 'new' / 'deeper'} for the checkpoint" \
        in str(info.value)
    assert sorted(os.listdir(tmp_path)) == []


def test_check_writable_reports_an_unwritable_directory(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(fileio.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as info:
        check_writable(tmp_path / "f.npz", "--log file")
    assert info.value.filename == str(tmp_path / "f.npz")
    assert f"cannot write the --log file into {tmp_path}" in str(info.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_check_writable_in_a_read_only_directory(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            check_writable(tmp_path / "ro" / "f.npz")
        with pytest.raises(PermissionError):
            check_writable(tmp_path / "ro" / "sub" / "f.npz")
    finally:
        (tmp_path / "ro").chmod(0o700)


PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(13) + b"\x00\x00\x00\x00"
       + b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.mark.parametrize("fmt, data", [
    ("png", PNG), ("svg", b'<?xml version="1.0"?>\n<svg></svg>\n'), ("svg", b"<svg/>"),
    ("pdf", b"%PDF-1.4\n%%EOF\n"), ("dot", b"digraph {}\n")])
def test_signed_files_are_recognised(tmp_path, fmt, data):
    signed = sign(data, fmt)
    assert signed != data and sign(signed, fmt) == signed
    path = tmp_path / f"f.{fmt}"
    path.write_bytes(data)
    assert not written_by_us(path)
    path.write_bytes(signed)
    assert written_by_us(path)
    if fmt == "png":  # the inserted chunk is a valid tEXt chunk right after IHDR
        assert signed[33:37] == b"\x00\x00\x00\x15" and signed[37:41] == b"tEXt"
    if fmt == "dot":
        assert signed.startswith(b"digraph")


def test_check_output_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(PNG)
    with pytest.raises(FileExistsError) as info:
        check_output(path, what="picture")
    assert info.value.filename == str(path) and "--force" in str(info.value)
    check_output(path, force=True)
    path.write_bytes(sign(PNG, "png"))
    check_output(path)  # ours: may be rewritten
    check_output(tmp_path / "new.png")
