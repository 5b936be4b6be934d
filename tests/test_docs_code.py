"""The Python code blocks of the Markdown pages under ``docs/`` run, so the pages cannot
drift from the library.

A page is read like a notebook: its ```` ```python ```` blocks run in order in one
namespace, inside a temporary working directory (a block that writes a file writes it
there, never into the repository). A block whose info string says ``python notest`` is
shown, not run. Failures point at the page and the line in the block.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinygrad_cnn.viz import GraphvizNotFoundError
from tinygrad_cnn.viz.plots import MissingDependencyError

DOCS = Path(__file__).resolve().parents[1] / "docs"
GENERATED = {"gallery", "_build"}  # written by sphinx-gallery and Sphinx, not pages
OPENING = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


def code_blocks(text: str) -> list[tuple[int, str, str]]:
    """``(first line number, info string, code)`` of each fenced block of ``text``."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = OPENING.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body, j = [], i + 1
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))):])
            j += 1
        blocks.append((i + 2, opening["info"].strip(), "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def runnable(info: str) -> bool:
    words = info.split()
    return bool(words) and words[0] in ("python", "py", "python3") and "notest" not in words


PAGES = sorted(page for page in DOCS.rglob("*.md")
               if not GENERATED & set(page.relative_to(DOCS).parts))


def test_the_collector_reads_fences_like_markdown():
    text = ("intro\n```python\nx = 1\n```\n\n  ~~~~ py notest\n  y = 2\n  ~~~~\n"
            "````{toctree}\n```python\nnot code\n```\n````\n")
    blocks = code_blocks(text)
    assert [(line, info) for line, info, _ in blocks] == [
        (3, "python"), (7, "py notest"), (10, "{toctree}")]
    assert blocks[0][2] == "x = 1\n" and blocks[1][2] == "y = 2\n"
    assert [runnable(info) for _, info, _ in blocks] == [True, False, False]


def test_the_lecture_pages_have_code_to_run():
    lecture = [p for p in PAGES if p.parent.name == "lecture"]
    assert len(lecture) >= 11
    with_code = [p for p in lecture
                 if any(runnable(info) for _, info, _ in code_blocks(p.read_text("utf-8")))]
    assert len(with_code) >= 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    for line, info, code in code_blocks(page.read_text("utf-8")):
        if runnable(info):
            # pad with blank lines so that a traceback gives the line number in the page
            try:
                exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)
            except MissingDependencyError as exc:  # an optional extra (onnx, torch, ...)
                pytest.skip(f"{page.name} line {line}: {exc}")
            except GraphvizNotFoundError as exc:  # the system's dot program, not ours
                pytest.skip(f"{page.name} line {line}: {str(exc).split('. Install')[0]}")
