"""The package keeps to its layer table (tinygrad_cnn/viz/architecture.py): every import of
every module of every subpackage, read from the source; and the checker itself, on
made-up source trees, so a broken rule is seen to fail."""

import textwrap

import pytest

from tinygrad_cnn.viz import architecture as arch


def make_tree(root, files):
    """A made-up package ``tinygrad_cnn`` under ``root``: {relative path: source}."""
    package = root / "tinygrad_cnn"
    for rel, text in {"__init__.py": "", **files}.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return str(package)


# ----------------------------------------------------------------------------- the package

def test_imports_flow_one_way():
    """No module imports a layer above its own or a peer of its layer (train and viz, say),
    for every file of every subpackage, imports inside functions included."""
    broken = arch.violations()
    assert broken == [], "the imports break the layer table:\n" + "\n".join(broken)


def test_every_module_is_placed_in_the_layer_table():
    """A new module (or subpackage) at the top of the package must be placed explicitly."""
    assert arch.modules() and arch.unplaced_modules() == []
    units = [unit for layer in arch.LAYERS for unit in layer.units]
    assert len(units) == len(set(units)), "a unit is in two layers"


def test_every_exception_to_the_table_is_still_needed():
    assert arch.unused_exceptions() == [], "remove these from EXCEPTIONS"


def test_layers_are_found_by_folder_so_files_can_move_inside_a_subpackage():
    assert arch.layer_of("tinygrad_cnn/backend.py").name == "devices"
    assert arch.layer_of("tinygrad_cnn/backend/cuda.py").name == "devices"
    assert arch.layer_of("tinygrad_cnn.nn.conv.geometry").name == "blocks"
    assert arch.layer_of("tinygrad_cnn/cli/train.py") == arch.layer_of("tinygrad_cnn.cli")
    assert arch.layer_of("tinygrad_cnn/__init__.py").name == "public face"
    assert arch.layer_of("tinygrad_cnn") == arch.layer_of("tinygrad_cnn/inspect.py")
    assert arch.layer_of("tinygrad_cnn/nn/__init__.py").name == "blocks"
    assert arch.layer_of("tinygrad_cnn/newthing.py") is None
    order = [layer.name for layer in arch.LAYERS]
    for low, high in (("devices", "tape"), ("tape", "ops"), ("ops", "tensor"),
                      ("tensor", "blocks"), ("blocks", "parts"), ("parts", "applications"),
                      ("applications", "benchmarks"), ("benchmarks", "command line")):
        assert order.index(low) < order.index(high)


def test_the_package_imports_are_read_as_they_resolve():
    edges = {(imp.importer, imp.imported, imp.names) for imp in arch.import_graph()}
    # from . import autograd, backend, display, ops
    assert ("tinygrad_cnn/tensor.py", "tinygrad_cnn/ops.py", ()) in edges
    # a function's own import
    assert any(src == "tinygrad_cnn/viz/training_step.py" and dst == "tinygrad_cnn/models.py"
               for src, dst, _ in edges)
    # from .viz import provenance
    assert ("tinygrad_cnn/__init__.py", "tinygrad_cnn/viz/provenance.py", ()) in edges


def test_the_picture_has_a_band_per_layer_and_a_box_per_unit():
    source = arch.draw().source
    for layer in arch.LAYERS:
        assert f"<B>{layer.name}</B>" in source
    for unit in ("nn/", "viz/", "cli/", "tensor.py", "backend", "__init__.py"):
        assert f"<B>{unit}" in source
    assert "architecture.py" in source  # a subpackage lists its modules
    assert " -> " in source


# ----------------------------------------------------------------------------- the checker

def test_a_back_import_inside_a_function_is_found(tmp_path):
    root = make_tree(tmp_path, {
        "nn/__init__.py": "",
        "nn/conv.py": """
            import numpy as np

            def conv():
                from ..train.loop import fit
                return fit
        """,
        "train/__init__.py": "",
        "train/loop.py": "from ..nn import conv\n\ndef fit():\n    pass\n",
    })
    assert arch.violations(root) == [
        "tinygrad_cnn/nn/conv.py:5 imports tinygrad_cnn/train/loop.py: nn sits below train"]
    edges = [(imp.importer, imp.imported) for imp in arch.import_graph(root)]
    assert ("tinygrad_cnn/train/loop.py", "tinygrad_cnn/nn/conv.py") in edges
    red = [line for line in arch.draw(root).source.splitlines() if "#d62728" in line]
    assert len(red) == 1 and "->" in red[0]


def test_peers_may_not_import_each_other_and_absolute_imports_count(tmp_path):
    root = make_tree(tmp_path, {
        "train/__init__.py": "",
        "train/loop.py": "",
        "viz/__init__.py": "",
        "viz/plots.py": "import tinygrad_cnn.train.loop as loop\n",
    })
    assert arch.violations(root) == [
        "tinygrad_cnn/viz/plots.py:1 imports tinygrad_cnn/train/loop.py: viz and train are "
        "peers in layer applications: neither may import the other"]


def test_a_new_module_an_unknown_import_and_an_exception(tmp_path):
    root = make_tree(tmp_path, {
        "newthing.py": "",
        "tensor.py": "from .nosuchmodule import thing\nfrom .backend import xp\n",
        "backend.py": "from . import __version__\n",  # a root constant: allowed
        "bench/__init__.py": "import tinygrad_cnn as tg\n",
    })
    assert arch.unplaced_modules(root) == ["tinygrad_cnn/newthing.py"]
    assert arch.violations(root) == [
        "tinygrad_cnn/newthing.py is in no layer: place 'newthing' in LAYERS "
        "(tinygrad_cnn/viz/architecture.py)",
        "tinygrad_cnn/tensor.py:1 imports tinygrad_cnn.nosuchmodule, which is no module of "
        "the package"]
    assert arch.violations(root, exceptions={}) == [
        "tinygrad_cnn/bench/__init__.py:1 imports tinygrad_cnn/__init__.py: bench sits "
        "below __init__", *arch.violations(root)]
    assert arch.unused_exceptions(root, exceptions={**arch.EXCEPTIONS, ("cli", "nn"): ""}) \
        == ["cli -> nn"]


@pytest.mark.parametrize("text, found", [
    ("from .ops import _normalize_axis\n", "imports _normalize_axis from tinygrad_cnn/ops.py"),
    ("from . import ops\nops._normalize_axis(1)\n", "reads _normalize_axis of "
                                                    "tinygrad_cnn/ops.py"),
    ("from . import ops\nops.normalize_axis(1)\nops.__name__\n", None),
])
def test_private_names_crossing_modules_are_found(tmp_path, text, found):
    root = make_tree(tmp_path, {"ops.py": "", "tensor.py": text})
    assert arch.private_names_crossing(root) == ([f"tinygrad_cnn/tensor.py:"
                                                  f"{1 if 'import _' in text else 2} {found}"]
                                                 if found else [])


def test_the_command_draws_the_picture_and_reports_violations(tmp_path, capsys):
    assert arch.main([]) == 2
    dot_path = tmp_path / "architecture.dot"
    assert arch.main([str(dot_path)]) == 0
    assert dot_path.read_text().startswith("digraph architecture {")
    assert f"wrote {dot_path}" in capsys.readouterr().out


def test_no_private_name_crosses_modules():
    """A name with a leading underscore stays in its module: what another module needs is
    public, with a name that explains it."""
    assert arch.private_names_crossing() == []
