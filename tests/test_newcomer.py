"""What a newcomer meets in the first hour: how to run the installed command, and pictures
that are drawn into a folder of their own, never over the files tracked in docs/."""

import importlib.util
import pathlib
import re
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _section(text, title):
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_readme_says_how_to_run_the_installed_command():
    setup = _section((ROOT / "README.md").read_text(), "Quick start")
    commands = [block.strip() for block in re.findall(r"```\n(.*?)```", setup, re.S)
                if block.lstrip().startswith("make ")]
    assert commands == ["make train", "make test"]  # still two set-up commands
    for needed in ("`.venv/bin/tinygrad-cnn info`", "`source .venv/bin/activate`",
                   "tinygrad-cnn: command not found"):
        assert needed in setup, needed


def _draw_graph():
    spec = importlib.util.spec_from_file_location("draw_graph",
                                                  ROOT / "examples" / "draw_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_draw_graph_writes_into_an_ignored_folder_unless_told_docs(tmp_path, monkeypatch,
                                                                    capsys):
    draw_graph = _draw_graph()
    assert "build/" in (ROOT / ".gitignore").read_text().splitlines()
    assert pathlib.Path(draw_graph.DEFAULT_OUT).parts[0] == "build"
    with pytest.raises(SystemExit):
        draw_graph.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "default build/pictures, which git ignores; --out docs replaces" in help_text
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    try:
        draw_graph.main(["--batch-size", "1", "--format", "svg"])
        drawn = ("lenet5_graph.svg", "lenet5_layers.svg")
    except SystemExit:  # no Graphviz here: the DOT source is written instead
        assert shutil.which("dot") is None
        drawn = ("lenet5_graph.dot",)
    for name in drawn:
        assert (tmp_path / "build" / "pictures" / name).is_file()
    assert not any((tmp_path / "docs").iterdir())


def _recipe(makefile, target):
    found = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert found, f"no target {target}"
    return found.group(1)


def test_make_figures_leaves_docs_alone_and_docs_pictures_redraws_them():
    makefile = (ROOT / "Makefile").read_text()
    figures = [line for line in _recipe(makefile, "figures").splitlines()
               if not line.strip().startswith("@echo")]
    assert not [line for line in figures if "docs" in line], figures
    assert "make_figures.py build/figures" in "\n".join(figures)
    pictures = _recipe(makefile, "docs-pictures")
    assert "make_figures.py docs/lecture/img" in pictures
    assert "draw_graph.py --out docs" in pictures
