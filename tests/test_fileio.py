"""fileio: atomic writes that keep symlinks and permissions, clean up after killed writers,
and refuse destinations that cannot be written or hold somebody else's file."""

import errno
import json
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
    host = fileio.host_tag()
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

    monkeypatch.setattr(fileio.atomic.os, "mkdir", mkdir)
    with pytest.raises(FileNotFoundError) as info:
        check_writable(tmp_path / "new" / "deeper" / "f.npz", "checkpoint")
    assert info.value.filename == str(tmp_path / "new" / "deeper" / "f.npz")
    assert f"cannot create the directory {tmp_path / 'new' / 'deeper'} for the checkpoint" \
        in str(info.value)
    assert sorted(os.listdir(tmp_path)) == []


def test_check_writable_reports_an_unwritable_directory(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(fileio.atomic.tempfile, "mkstemp", refuse)
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
        assert signed[33:37] == (20 + 64).to_bytes(4, "big") and signed[37:41] == b"tEXt"
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


# ----------------------------------------------------------------------------- regular files only

@pytest.fixture
def no_hang():
    """Fail a test that would block (opening a FIFO waits for its other end) instead of
    hanging the suite."""
    import signal

    def expired(signum, frame):
        raise TimeoutError("blocked: a FIFO was opened")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_never_replaced_opened_or_suggested_for_force(tmp_path, no_hang):
    from tinygrad_cnn.fileio import NotARegularFileError, append_whole, check_readable

    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    link = tmp_path / "link.png"
    link.symlink_to(fifo)
    for attempt in (lambda: write_bytes(fifo, b"zip"), lambda: write_bytes(link, b"png"),
                    lambda: check_output(fifo, force=True, what="picture"),
                    lambda: check_writable(link, "checkpoint"),
                    lambda: append_whole(fifo, b"{}\n", "--log file")):
        with pytest.raises(NotARegularFileError) as info:
            attempt()
        message = str(info.value)
        assert "is a FIFO (named pipe), not a regular file" in message
        assert "force" not in message
    with pytest.raises(NotARegularFileError, match="reads only regular files"):
        check_readable(fifo, "checkpoint")
    assert not written_by_us(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()
    assert temporaries(tmp_path) == []


def test_a_device_is_refused_before_anything_is_written():
    from tinygrad_cnn.fileio import NotARegularFileError

    with pytest.raises(NotARegularFileError, match="is a character device") as info:
        check_output("/dev/null", force=True, what="checkpoint")
    assert info.value.filename == "/dev/null" and "--force" not in str(info.value)
    assert not written_by_us("/dev/zero")  # not read forever either
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_path_ending_in_a_separator_names_a_directory(tmp_path):
    shown = f"{tmp_path / 'newdir'}{os.sep}"
    with pytest.raises(IsADirectoryError) as info:
        check_writable(shown, "checkpoint", example="lenet5.npz")
    assert f"e.g. {tmp_path / 'newdir' / 'lenet5.npz'}" in str(info.value)
    with pytest.raises(IsADirectoryError, match="names a directory"):
        write_bytes(shown, b"x")
    assert not (tmp_path / "newdir").exists()


@pytest.mark.parametrize("length", [230, 255])  # valid names, however long the host's name
def test_a_long_valid_name_is_written_and_its_leftovers_found(tmp_path, length):
    target = tmp_path / ("n" * (length - 4) + ".npz")
    check_writable(target, "checkpoint")
    write_bytes(target, b"one")
    assert target.read_bytes() == b"one" and temporaries(tmp_path) == []
    script = ("import os, sys\n"
              "from tinygrad_cnn.fileio import atomic_write\n"
              "with atomic_write(sys.argv[1]) as f:\n"
              "    f.write(b'half'); f.flush(); os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", script, str(target)]).returncode == 9
    left = temporaries(tmp_path)
    assert len(left) == 1 and len(left[0].encode()) <= 255
    write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and temporaries(tmp_path) == []


# ----------------------------------------------------------------------------- appending

def test_append_whole_writes_a_line_on_a_line_of_its_own(tmp_path):
    from tinygrad_cnn.fileio import append_whole

    log = tmp_path / "new" / "m.jsonl"  # its directory is made, as for checkpoints
    append_whole(log, b'{"a": 1}\n')
    log.write_bytes(log.read_bytes() + b'{"torn')  # an older version's cut line
    append_whole(log, b'{"a": 2}\n')
    assert log.read_bytes() == b'{"a": 1}\n{"torn\n{"a": 2}\n'


def test_a_full_disk_leaves_no_half_line(tmp_path, monkeypatch):
    from tinygrad_cnn.fileio import append_whole

    log = tmp_path / "m.jsonl"
    log.write_bytes(b"first\n")
    real_write = os.write

    def half(fd, data):
        return real_write(fd, data[:5])  # what write(2) does when the disk fills up

    monkeypatch.setattr(fileio.atomic.os, "write", half)
    with pytest.raises(OSError, match="disk is probably full") as info:
        append_whole(log, b"second line\n", "--log file")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(log)
    assert log.read_bytes() == b"first\n"


# ----------------------------------------------------------------------------- signatures

def test_mentioning_tinygrad_cnn_does_not_make_a_file_ours(tmp_path):
    slide = tmp_path / "slide.svg"
    slide.write_bytes(b'<?xml version="1.0"?>\n<svg><title>Why tinygrad-cnn</title>'
                      b"<!-- written by tinygrad-cnn --></svg>\n")
    assert not written_by_us(slide)
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n(made with tinygrad-cnn)\n%%EOF\n%tinygrad-cnn\n")
    assert not written_by_us(report)
    with pytest.raises(FileExistsError, match="it was not written by tinygrad-cnn"):
        check_output(slide, what="graph")
    with pytest.raises(FileExistsError, match="mark of an earlier tinygrad-cnn"):
        check_output(report, what="picture")


@pytest.mark.parametrize("fmt, data", [
    ("png", PNG), ("svg", b'<?xml version="1.0"?>\n<svg><text>7</text></svg>\n'),
    ("pdf", b"%PDF-1.4\n(7)\n%%EOF\n"), ("dot", b"digraph { a [label=7] }\n")])
def test_a_hand_edited_file_is_no_longer_ours(tmp_path, fmt, data):
    path = tmp_path / f"f.{fmt}"
    signed = sign(data, fmt)
    path.write_bytes(signed)
    assert written_by_us(path)
    edited = signed.replace(b"7", b"8") if fmt != "png" else signed.replace(b"IHDR", b"IHDR", 1)
    if fmt == "png":  # a pixel changed: one byte of the image header
        edited = edited[:20] + b"\x01" + edited[21:]
    path.write_bytes(edited)
    assert not written_by_us(path)
    with pytest.raises(FileExistsError, match="signature no longer matches: it was edited"):
        check_output(path)


def test_log_lines_carry_a_signature_that_an_edit_breaks():
    from tinygrad_cnn.fileio import line_signature, sign_line

    line = sign_line({"run": "r1", "epoch": 1, "train_loss": 0.5})
    assert json.loads(line)["epoch"] == 1 and line_signature(line + "\n") is True
    assert line_signature(line.replace("0.5", "0.4")) is False
    assert line_signature('{"epoch": 1, "train_loss": 0.5}') is None
