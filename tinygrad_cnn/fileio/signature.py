"""The signature that marks a file as written by tinygrad-cnn, and the checks built on it.

A command may replace its own earlier output without ``--force`` (a second ``plot`` run
rewrites ``learning_curves.png``), but never somebody else's file of the same name. So every
picture, graph and log line the library writes carries a signature: ``tinygrad-cnn`` and
the SHA-256 of the rest of the file (or line), in a place its format allows:

======  ===========================================================================
png     a ``tEXt`` chunk ``tinygrad-cnn`` right after the header chunk
svg     an XML comment right after the XML declaration (or first)
html    the same comment, first (before ``<!DOCTYPE html>``, where browsers allow one)
pdf     a comment line after the end marker (readers ignore it)
dot     a ``//`` comment as the last line
jsonl   a last key ``"signature"`` in each JSON line of a ``--log`` file
======  ===========================================================================

A file is ours only when the signature sits in its place *and* its hash matches what is
around it. A user's file that merely mentions tinygrad-cnn (a slide titled after it) is not
ours, and neither is one of our files edited by hand: its hash no longer matches.

Files signed by versions before the hash (a bare ``tinygrad-cnn`` mark) are not recognised:
that mark cannot tell an edited file from an untouched one, so replacing such a file takes
``--force`` once; the refusal says that it carries the old mark.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import struct
import zlib

from .atomic import check_writable, write_bytes

__all__ = ["SIGNATURE", "check_output", "has_old_mark", "line_signature", "sign",
           "sign_line", "signed_content", "write_output", "written_by_us"]

SIGNATURE = b"tinygrad-cnn"

#: Files larger than this are never ours (no picture or graph of the library comes close),
#: so checking a stranger's big file never reads it whole.
MAX_SIGNED_BYTES = 256 << 20

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_KEYWORD = b"tinygrad-cnn\x00sha256 "
_SVG_MARK = re.compile(rb"<!-- written by tinygrad-cnn; sha256 ([0-9a-f]{64}) of the rest "
                       rb"of this file -->\n")
_PDF_MARK = re.compile(rb"%tinygrad-cnn sha256 ([0-9a-f]{64})\n\Z")
_DOT_MARK = re.compile(rb"// written by tinygrad-cnn; sha256 ([0-9a-f]{64}) of the lines "
                       rb"above\n\Z")
_LINE_MARK = re.compile(r', "signature": "tinygrad-cnn sha256 ([0-9a-f]{64})"\}\Z')


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def _svg_declaration_end(data: bytes) -> int:
    """Where the signature comment goes: after the XML declaration's line, else at 0."""
    if data.startswith(b"<?xml") and b"?>" in data[:1024]:
        return data.index(b"?>") + 2
    return 0


# ----------------------------------------------------------------------------- files

def _unsigned(data: bytes) -> tuple[bytes, str] | None:
    """``(the content without its signature, the digest the signature holds)``, or None
    when ``data`` carries no signature in any place a format gives it."""
    if data.startswith(_PNG_MAGIC) and len(data) > 45 and data[37:41] == b"tEXt":
        length = struct.unpack(">I", data[33:37])[0]
        body = data[41:41 + length]
        chunk_end = 41 + length + 4
        if body.startswith(_PNG_KEYWORD) and data[41 + length:chunk_end] == struct.pack(
                ">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF):
            return data[:33] + data[chunk_end:], body[len(_PNG_KEYWORD):].decode("latin-1")
    for mark in (_PDF_MARK, _DOT_MARK):
        found = mark.search(data[-200:])
        if found:
            return data[:len(data) - len(found[0])], found[1].decode()
    start = _svg_declaration_end(data)
    if start:
        start += data[start:start + 1] == b"\n"
    found = _SVG_MARK.match(data, start)
    if found:
        return data[:found.start()] + data[found.end():], found[1].decode()
    return None


def signed_content(data: bytes) -> bool:
    """Whether ``data`` carries a tinygrad-cnn signature that matches its content."""
    parts = _unsigned(data)
    return parts is not None and _digest(parts[0]) == parts[1]


def sign(data: bytes, format: str) -> bytes:
    """``data`` with a signature added where ``format`` allows one (see the module's
    table); unchanged when it is already validly signed."""
    if signed_content(data):
        return data
    format = format.lower()
    if format == "png" and data.startswith(_PNG_MAGIC):
        head, tail = data[:33], data[33:]  # the magic and the header chunk, then the rest
        chunk = _png_chunk(b"tEXt", _PNG_KEYWORD + _digest(head + tail).encode())
        return head + chunk + tail
    if format in ("svg", "html"):
        end = _svg_declaration_end(data)
        if end:
            data = data[:end] + b"\n" + data[end:].lstrip(b"\n")
            end += 1
        comment = (b"<!-- written by tinygrad-cnn; sha256 " + _digest(data).encode()
                   + b" of the rest of this file -->\n")
        return data[:end] + comment + data[end:]
    if format in ("pdf", "dot", "gv"):
        data += b"" if data.endswith(b"\n") else b"\n"
        digest = _digest(data).encode()
        return data + (b"%tinygrad-cnn sha256 " + digest + b"\n" if format == "pdf" else
                       b"// written by tinygrad-cnn; sha256 " + digest + b" of the lines "
                       b"above\n")
    raise ValueError(f"sign: cannot mark a {format!r} file; expected png, svg, html, pdf or dot")


def has_old_mark(data: bytes) -> bool:
    """Whether ``data`` carries the bare mark that versions before the hashed signature
    put in their pictures (shown in a refusal, never trusted)."""
    start = _svg_declaration_end(data)
    start += data[start:start + 1] == b"\n" if start else 0
    return (data.startswith(b"<!-- written by tinygrad-cnn -->\n", start)
            or (data.startswith(_PNG_MAGIC) and data[37:41] == b"tEXt"
                and data.startswith(b"Software\x00tinygrad-cnn", 41))
            or data.endswith((b"\n%tinygrad-cnn\n", b"\n// written by tinygrad-cnn\n")))


def _read_small_regular(path) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of at most MAX_SIGNED_BYTES."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SIGNED_BYTES:
            return None
        with open(path, "rb") as f:
            return f.read(MAX_SIGNED_BYTES + 1)
    except OSError:
        return None


def written_by_us(path) -> bool:
    """True when ``path`` is a regular file whose tinygrad-cnn signature matches its
    content: written by this library and not changed since."""
    data = _read_small_regular(path)
    return data is not None and signed_content(data)


def check_output(path, force: bool = False, what: str = "output") -> None:
    """``check_writable``, and refuse to replace a file that this library did not write.

    Raises
    ------
    FileExistsError
        ``path`` exists, was not written by tinygrad-cnn (or was edited since), and
        ``force`` is false.
    IsADirectoryError, NotARegularFileError
        ``path`` is a directory, FIFO, device or socket: refused even with ``force``.
    """
    check_writable(path, what)
    if force or not os.path.exists(path) or written_by_us(path):
        return
    data = _read_small_regular(path) or b""
    why = ("it carries the mark of an earlier tinygrad-cnn, which cannot show whether it "
           "was edited since" if has_old_mark(data) else
           "its tinygrad-cnn signature no longer matches: it was edited since"
           if _unsigned(data) else "it was not written by tinygrad-cnn")
    raise FileExistsError(errno.EEXIST, f"refusing to overwrite the {what}: the file exists "
                          f"and {why} (use --force, or force=True, to replace it, or choose "
                          "another name)", os.fspath(path))


def write_output(path, data: bytes, format: str, force: bool = False,
                 what: str = "output") -> None:
    """Sign ``data`` (see :func:`sign`), check ``path`` with :func:`check_output`, write it
    atomically."""
    check_output(path, force, what)
    write_bytes(path, sign(data, format), what=what)


# ----------------------------------------------------------------------------- log lines

def sign_line(record: dict) -> str:
    """``record`` as one JSON line (no newline) whose last key, ``"signature"``, holds the
    SHA-256 of the line without it."""
    if not record or "signature" in record:
        raise ValueError("sign_line: expected a non-empty dict without a 'signature' key")
    body = json.dumps(record, allow_nan=True)
    return (f'{body[:-1]}, "signature": "tinygrad-cnn sha256 '
            f'{_digest(body.encode())}"}}')


def line_signature(line: str) -> bool | None:
    """For one line of a log: None when it carries no signature, else whether the
    signature matches the rest of the line."""
    found = _LINE_MARK.search(line.rstrip("\r\n"))
    if not found:
        return None
    body = line[:found.start()] + "}"
    return _digest(body.encode()) == found[1]
