"""Graph drawings: DOT structure, clusters, collapse, red marks, determinism, rendering."""

import os
import re
import shutil

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, autograd, viz
from tinygrad_cnn.nn.hooks import running
from tinygrad_cnn.viz import rendering as viz_rendering
from tinygrad_cnn.viz import style as viz_style

RED = 'color="#d62728"'
NODE = re.compile(r"^\s*(\w+) \[label=(<.*>) (.*)\]$")


def parse(source):
    """Node id -> (label, style, cluster labels from the outermost in); edges as pairs."""
    nodes, edges, stack = {}, [], []
    for line in source.splitlines():
        if line.strip().startswith("subgraph cluster_"):
            stack.append(None)
        elif stack and stack[-1] is None and line.strip().startswith("label="):
            stack[-1] = re.search(r"<B>(.*?)</B>", line).group(1)
        elif line.strip() == "}" and stack:
            stack.pop()
        elif " -> " in line:
            src, dst = line.split(" [")[0].strip().split(" -> ")
            edges.append((src, dst))
        elif NODE.match(line):
            nid, label, style = NODE.match(line).groups()
            nodes[nid] = (label, style, tuple(stack))
    return nodes, edges


def op_nodes(nodes):
    return {k: v for k, v in nodes.items() if re.fullmatch(r"n\d+", k)}


def small_net(seed=0):
    """Two 'Linear' modules inside a 'Net' scope, built from core ops; returns loss, params."""
    tg.manual_seed(seed)
    x = Tensor.randn(4, 8)
    w1 = Tensor.randn(5, 8, requires_grad=True)
    b1 = Tensor.zeros(5, requires_grad=True)
    w2 = Tensor.randn(3, 5, requires_grad=True)
    with running("", "Net"):
        with running("fc1", "Linear"):
            h = x @ w1.T + b1
        h = h.relu()
        with running("fc2", "Linear"):
            h = h @ w2.T
    loss = (h * h).sum(axis=1).mean()
    return loss, {"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2}


def test_one_op_node_per_recorded_node_and_forward_edges():
    loss, params = small_net()
    nodes, edges = parse(viz.make_dot(loss, params).source)
    order = autograd.topological_order(loss.grad_fn)
    assert len(op_nodes(nodes)) == len(order)
    names = [re.search(r"<B>(\w+)</B>", label).group(1) for label, _, _ in
             op_nodes(nodes).values()]
    assert names.count("MatMul") == 2 and names.count("Transpose") == 2
    # forward direction: the data input feeds the first MatMul, the last op feeds 'out'
    assert ("c0", "n1") in edges
    assert edges[-1] == (f"n{len(order) - 1}", "out")
    # h * h uses one tensor twice: both inputs are drawn
    mul = [k for k, v in nodes.items() if "<B>Mul</B>" in v[0]]
    assert sum(1 for e in edges if e[1] == mul[0]) == 2


def test_labels_show_attrs_shapes_and_dtypes_but_not_array_values():
    x = Tensor.randn(2, 3, 4, requires_grad=True)
    y = x.transpose(0, 2, 1).reshape(2, 12).pad(((0, 0), (1, 1)))
    y = y[np.array([1, 0, 1])].sum(axis=1, keepdims=True)
    source = viz.make_dot(y).source
    assert "axes (0, 2, 1)" in source
    assert "shape (2, 12)" in source
    assert "pad ((0, 0), (1, 1))" in source
    assert "axis 1, keepdims" in source
    assert "index int64[3]" in source  # the index array shows its shape, not its values
    assert "(3, 14) float32" in source and "(2, 3, 4) float32" in source
    assert "<B>output</B>" in source and "(3, 1) float32" in source
    plain = viz.make_dot(y, show_attrs=False).source
    assert "axes" not in plain and "keepdims" not in plain


def test_long_attrs_are_clipped():
    x = Tensor.randn(1, 2, 1, 2, 1, 2, 1, 2, requires_grad=True)
    y = x.transpose(7, 6, 5, 4, 3, 2, 1, 0)
    assert "axes (7, 6, 5, 4, 3, 2, 1, 0)" in viz.make_dot(y).source
    assert "axes (7, \u2026<" in viz.make_dot(y, max_label=10).source


def test_parameters_named_inputs_and_output_marked():
    loss, params = small_net()
    nodes, _ = parse(viz.make_dot(loss, params).source)
    labels = {k: v for k, v in nodes.items()}
    names = {re.search(r"<B>(.*?)</B>", v[0]).group(1): (k, v) for k, v in labels.items()}
    for name in params:
        nid, (_, style, clusters) = names[name]
        assert nid.startswith("t") and viz_style.NODE_STYLES["param"] in style
        assert clusters[-1] == name.split(".")[0] + " (Linear)"
    _, (_, style, clusters) = names["input"]
    assert viz_style.NODE_STYLES["input"] in style and clusters == ()
    assert viz_style.NODE_STYLES["output"] in nodes["out"][1]


def test_module_gives_parameter_names():
    loss, params = small_net()

    class FakeModule:  # anything with named_parameters(), as nn.Module has
        def named_parameters(self):
            return iter(params.items())

    assert viz.make_dot(loss, FakeModule()).source == viz.make_dot(loss, params).source


def test_unnamed_leaves_are_parameters_inside_modules_and_inputs_outside():
    loss, _ = small_net()
    x = Tensor.randn(3, requires_grad=True)
    y = (x * 2.0).sum()
    nodes, _ = parse(viz.make_dot(loss).source)
    kinds = [re.search(r"<B>(.*?)</B>", v[0]).group(1) for k, v in nodes.items() if k[0] == "t"]
    assert kinds == ["parameter"] * 3
    nodes, _ = parse(viz.make_dot(y).source)
    assert "<B>input</B>" in nodes["t0"][0]
    assert "with scalar float32" in nodes["n0"][0]  # the 2.0 is folded into the Mul


def test_clusters_nest_as_modules_nest():
    tg.manual_seed(0)
    x = Tensor.randn(2, 3, requires_grad=True)
    with running("", "Model"):
        with running("features", "Sequential"):
            with running("0", "Linear"):
                y = x * 2.0
            with running("1", "ReLU"):
                y = y.relu()
        y = y.sum()
    source = viz.make_dot(y).source
    nodes, _ = parse(source)
    ops = op_nodes(nodes)
    assert ops["n0"][2] == ("Model", "features (Sequential)", "0 (Linear)")
    assert ops["n1"][2] == ("Model", "features (Sequential)", "1 (ReLU)")
    assert ops["n2"][2] == ("Model",)
    assert source.count("subgraph cluster_") == 4


def test_collapse_draws_one_node_per_module_with_shapes_on_edges():
    loss, params = small_net()
    source = viz.make_dot(loss, params, collapse=True).source
    nodes, edges = parse(source)
    modules = {k: v for k, v in nodes.items() if k.startswith("m")}
    assert [re.search(r"<B>(.*?)</B>", v[0]).group(1) for v in modules.values()] == [
        "fc1 (Linear)", "fc2 (Linear)"]
    assert "8\u21925" in modules["m0"][0] and "45 parameters" in modules["m0"][0]
    assert "5\u21923" in modules["m1"][0] and "15 parameters" in modules["m1"][0]
    assert all(v[2] == ("Net",) for v in modules.values())
    assert not any(k.startswith("t") for k in nodes)  # parameters folded into modules
    assert ("c0", "m0") in edges and ("m0", "n3") in edges and ("n3", "m1") in edges
    assert 'm0 -> n3 [label="(4, 5)"]' in source
    # the ops outside modules (relu in Net, the loss) stay
    assert {re.search(r"<B>(\w+)</B>", v[0]).group(1) for v in op_nodes(nodes).values()} == {
        "ReLU", "Mul", "Sum"}


def test_collapse_levels():
    x = Tensor.randn(2, 3, requires_grad=True)
    with running("", "Model"):
        with running("block", "Sequential"):
            with running("0", "Linear"):
                y = x * 2.0
            with running("1", "ReLU"):
                y = y.relu()
    top = viz.make_dot(y.sum(), collapse="top").source
    assert "<B>block (Sequential)</B>" in top and "0 (Linear)" not in top
    leaf = viz.make_dot(y.sum(), collapse=True).source
    assert "<B>0 (Linear)</B>" in leaf and "<B>1 (ReLU)</B>" in leaf
    assert viz.make_dot(y.sum(), collapse=1).source.count("<B>Model</B>") == 1
    with pytest.raises(ValueError, match="collapse"):
        viz.make_dot(y.sum(), collapse="all")


def test_grad_stats_shown_after_backward():
    loss, params = small_net()
    with viz.record_grad_stats():
        loss.backward()
    nodes, _ = parse(viz.make_dot(loss, params, show_grads=True).source)
    assert all("\u2207 norm" in label for label, _, _ in op_nodes(nodes).values())
    g = params["fc1.bias"].grad.numpy()
    bias = [v[0] for v in nodes.values() if "fc1.bias" in v[0]][0]
    assert f"\u2207 norm {np.linalg.norm(g):.3g}" in bias
    assert RED not in viz.make_dot(loss, params, show_grads=True).source
    collapsed = viz.make_dot(loss, params, show_grads=True, collapse=True).source
    assert "weight \u2207 norm" in collapsed and "bias \u2207 norm" in collapsed


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nonfinite_gradients_are_red():
    x = Tensor([0.0, 1.0], requires_grad=True)
    y = x.sqrt()
    z = y.sqrt().sum()  # d/dy sqrt(y) = inf at y = 0
    with viz.record_grad_stats():
        z.backward()
    nodes, _ = parse(viz.make_dot(z, {"x": x}, show_grads=True).source)
    assert RED in nodes["n0"][1] and "NaN/Inf" in nodes["n0"][0]  # y's gradient
    assert RED in nodes["t0"][1]  # x.grad holds inf too
    assert RED not in nodes["n2"][1]
    assert RED not in viz.make_dot(z, {"x": x}).source  # only asked for with show_grads


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_output_value_is_red():
    x = Tensor([-1.0], requires_grad=True)
    y = x.log().sum()
    nodes, _ = parse(viz.make_dot(y, show_grads=True).source)
    assert RED in nodes["out"][1] and "value has NaN/Inf" in nodes["out"][0]


def test_float64_in_float32_model_is_red():
    w = Tensor.randn(3, requires_grad=True)
    c = Tensor(np.ones(3), dtype=np.float64)
    y = (w * c).sum()  # NumPy promotes to float64
    nodes, _ = parse(viz.make_dot(y, {"w": w}).source)
    assert RED in nodes["n0"][1] and "(3,) float64" in nodes["n0"][0]
    assert RED in nodes["c0"][1]  # the float64 input
    assert RED not in nodes["t0"][1]
    w64 = Tensor(np.ones(3), requires_grad=True, dtype=np.float64)
    assert RED not in viz.make_dot((w64 * c).sum(), {"w": w64}).source


def test_same_graph_gives_the_same_source():
    first = viz.make_dot(*small_net(seed=3)).source
    loss, params = small_net(seed=3)
    assert viz.make_dot(loss, params).source == first
    assert viz.make_dot(loss, params).source == first
    assert viz.make_dot(loss, params, collapse=True).source == viz.make_dot(
        loss, params, collapse=True).source


def test_leaf_root_and_title():
    x = Tensor.randn(2, requires_grad=True)
    nodes, edges = parse(viz.make_dot(x, title="just a leaf").source)
    assert set(nodes) == {"t0", "out"} and edges == [("t0", "out")]
    assert "just a leaf" in viz.make_dot(x, title="just a leaf").source


def test_ten_thousand_op_chain_draws_without_recursion():
    x = Tensor.randn(2, requires_grad=True)
    y = x
    for i in range(10_000):
        y = y * 1.0001 if i % 2 else y.tanh()
    source = viz.make_dot(y, {"x": x}).source
    assert source.count(" -> ") == 10_001
    assert len(re.findall(r"^\tn\d+ \[", source, flags=re.M)) == 10_000


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz 'dot' not installed (apt-get install graphviz)")
@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"),
                                        ("pdf", b"%PDF")])
def test_render_writes_the_picture_and_nothing_beside_it(tmp_path, fmt, magic):
    loss, params = small_net()
    dot = viz.make_dot(loss, params)
    (tmp_path / "graph.dot").write_text("someone else's file")
    path = viz.render(dot, tmp_path / f"graph.{fmt}")
    assert path == str(tmp_path / f"graph.{fmt}")
    assert (tmp_path / f"graph.{fmt}").read_bytes().startswith(magic)
    assert (tmp_path / "graph.dot").read_text() == "someone else's file"  # left alone
    assert sorted(os.listdir(tmp_path)) == ["graph.dot", f"graph.{fmt}"]  # no temp files
    viz.render(dot, tmp_path / f"graph.{fmt}")  # our own picture may be replaced
    (tmp_path / "mine.svg").write_text("<svg/>")
    with pytest.raises(FileExistsError, match="not written by tinygrad-cnn"):
        viz.render(dot, tmp_path / "mine.svg")
    viz.render(dot, tmp_path / "mine.svg", force=True)


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz 'dot' not installed (apt-get install graphviz)")
def test_render_format_argument_and_svg_content(tmp_path):
    loss, params = small_net()
    path = viz.render(viz.make_dot(loss, params), tmp_path / "graph", format="svg")
    assert path.endswith("graph.svg")
    svg = (tmp_path / "graph.svg").read_text()
    assert "fc1 (Linear)" in svg and "fc1.weight" in svg


def test_render_without_graphviz_writes_dot_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    loss, params = small_net()
    dot = viz.make_dot(loss, params)
    with pytest.raises(viz.GraphvizNotFoundError) as info:
        viz.render(dot, tmp_path / "graph.png")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "install graphviz" in message
    assert str(tmp_path / "graph.dot") in message
    assert (tmp_path / "graph.dot").read_text().startswith(dot.source)
    assert os.listdir(tmp_path) == ["graph.dot"]


@pytest.mark.parametrize("platform, conda, first", [
    ("linux", None, "apt-get install graphviz"), ("darwin", None, "brew install graphviz"),
    ("linux", "/opt/conda", "conda install graphviz")])
def test_install_hint_names_the_platform_command_first(monkeypatch, platform, conda, first):
    monkeypatch.setattr(viz_rendering.sys, "platform", platform)
    if conda:
        monkeypatch.setenv("CONDA_PREFIX", conda)
    else:
        monkeypatch.delenv("CONDA_PREFIX", raising=False)
    hint = viz_rendering.install_hint()
    assert hint.startswith(first) and "conda install graphviz" in hint


def test_render_dot_only_and_bad_format(tmp_path):
    loss, params = small_net()
    dot = viz.make_dot(loss, params)
    assert viz.render(dot, tmp_path / "g.dot") == str(tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text().startswith(dot.source)
    with pytest.raises(ValueError, match="unknown format"):
        viz.render(dot, tmp_path / "g.svg", format="jpeg2000")
    with pytest.raises(ValueError, match="ends in .svg but the format is 'png'"):
        viz.render(dot, tmp_path / "g.svg", format="png")


# ----------------------------------------------------------------------------- LeNet-5

def test_lenet5_full_graph_has_a_cluster_per_layer():
    pytest.importorskip("tinygrad_cnn.models")
    dot = viz.draw_training_step("lenet5", batch_size=2)
    nodes, _ = parse(dot.source)
    layers = {v[2][-1] for v in nodes.values() if len(v[2]) == 2}
    assert {"conv1 (Conv2d)", "conv2 (Conv2d)", "fc1 (Linear)", "fc2 (Linear)",
            "fc3 (Linear)"} <= layers
    for name in ("conv1.weight", "conv1.bias", "fc3.weight"):
        assert f"<B>{name}</B>" in dot.source
    assert "pad 2" in dot.source


def test_lenet5_collapsed_and_with_grads():
    pytest.importorskip("tinygrad_cnn.models")
    collapsed = viz.draw_training_step("lenet5", batch_size=2, collapse=True).source
    assert "<B>conv1 (Conv2d)</B><BR/><FONT POINT-SIZE=\"9\">1\u21926 5\u00d75, pad 2" in collapsed
    assert "<B>fc1 (Linear)</B><BR/><FONT POINT-SIZE=\"9\">400\u2192120" in collapsed
    assert "(2, 6, 28, 28)" in collapsed
    grads = viz.draw_training_step("lenet5", batch_size=2, grads=True).source
    assert "\u2207 norm" in grads and RED not in grads
    assert grads == viz.draw_training_step("lenet5", batch_size=2, grads=True).source
