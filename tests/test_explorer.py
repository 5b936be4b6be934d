"""The graph explorer's data and page, without a browser (tests/test_explorer_browser.py
opens the page in Chromium): what the page is told about modules, boxes, edges, gradients
and the backward walk; that the page is one file that fetches nothing; saving; Jupyter;
the CLI."""

import html
import json
import re

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, viz
from tinygrad_cnn.fileio import written_by_us
from tinygrad_cnn.nn.hooks import running
from tinygrad_cnn.viz.explorer_data import graph_data


def small_net(seed=0):
    """Net > fc1 (Linear), relu outside a module, Net > fc2 (Linear); loss outside."""
    tg.manual_seed(seed)
    x = Tensor.randn(4, 8)
    w1 = Tensor.randn(5, 8, requires_grad=True)
    w2 = Tensor.randn(3, 5, requires_grad=True)
    with running("", "Net"):
        with running("fc1", "Linear"):
            h = x @ w1.T
        h = h.relu()
        with running("fc2", "Linear"):
            h = h @ w2.T
    loss = (h * h).sum(axis=1).mean()
    return loss, {"fc1.weight": w1, "fc2.weight": w2}


def page_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page,
                      flags=re.S)
    return json.loads(found.group(1))


def test_modules_boxes_and_edges_follow_the_tape():
    loss, params = small_net()
    data = graph_data(loss, params)
    titles = [(m["title"], m["parent"], m["leaf"]) for m in data["modules"]]
    assert titles == [("Net", -1, False), ("fc1 (Linear)", 0, True), ("fc2 (Linear)", 0, True)]
    ops = [n for n in data["nodes"] if n["kind"] == "op"]
    assert len(ops) == len(tg.autograd.topological_order(loss.grad_fn))
    by_name = {n["name"]: i for i, n in enumerate(data["nodes"])}
    w1 = data["nodes"][by_name["fc1.weight"]]
    assert w1["kind"] == "param" and w1["module"] == 1
    assert w1["lines"][1] == ["(5, 8) float32", True]
    relu = next(n for n in ops if n["name"] == "ReLU")
    assert relu["module"] == 0  # inside Net, in no layer
    assert data["nodes"][-1]["kind"] == "output"
    for source, target, _, _ in data["edges"]:  # forward order: inputs come first
        assert source < target
    # the input x needs no gradient: backward() sends none along its edge
    x_edges = [e for e in data["edges"] if data["nodes"][e[0]]["kind"] == "input"]
    assert x_edges and all(e[3] is False for e in x_edges)
    assert x_edges[0][2] == "(4, 8)"


def test_backward_steps_count_down_from_the_root():
    loss, params = small_net()
    data = graph_data(loss, params)
    steps = [n["step"] for n in data["nodes"] if n["kind"] == "op"]
    assert data["backward_steps"] == len(steps)
    # backward() runs the root's op first (step 1) and the first forward op last
    assert steps == sorted(steps, reverse=True) and steps[-1] == 1
    assert sorted(steps) == list(range(1, len(steps) + 1))


def test_gradient_lines_and_red_marks_are_the_static_pictures():
    loss, params = small_net()
    with viz.record_grad_stats():
        loss.backward()
    data = graph_data(loss, params, show_grads=True)
    w1 = next(n for n in data["nodes"] if n["name"] == "fc1.weight")
    norm = float(np.sqrt((params["fc1.weight"].grad.numpy().astype(np.float64) ** 2).sum()))
    assert w1["lines"][-1][0].startswith(f"\u2207 norm {norm:.3g} ")
    fc1 = data["modules"][1]
    assert any(text.startswith("weight \u2207 norm") for text, _ in fc1["lines"])
    assert not any(n["bad"] for n in data["nodes"])
    # a float64 input in a float32 model is marked, with what it turns into float64
    w = Tensor.randn(3, requires_grad=True)
    c = Tensor(np.ones(3), dtype=np.float64)
    data = graph_data((w * c).sum(), {"w": w})
    marked = [(n["kind"], n["lines"][1][0]) for n in data["nodes"] if n["bad"]]
    assert ("input", "(3,) float64") in marked and ("op", "(3,) float64") in marked
    assert not next(n for n in data["nodes"] if n["name"] == "w")["bad"]


def test_ten_thousand_op_graph_needs_no_recursion():
    x = Tensor.randn(2, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    data = graph_data(y.sum(), {"x": x})
    assert sum(n["kind"] == "op" for n in data["nodes"]) == 10_001


def test_the_page_is_one_file_that_fetches_nothing():
    loss, params = small_net()
    page = viz.explore(loss, params, title="a <small> net").html()
    assert page.count("@DATA@") == 0 and page.count("@SCRIPT@") == 0
    assert "<title>a &lt;small&gt; net</title>" in page
    assert not re.search(r"""<(script|link|img|iframe)[^>]*\s(src|href)=""", page)
    assert "sourceMappingURL" not in page and "http" not in page.split("MIT")[0]
    assert "Copyright (c) 2012-2014 Chris Pettitt" in page  # dagre's licence travels with it
    assert page_data(page)["modules"][0]["title"] == "Net"


def test_names_cannot_end_the_script_early():
    x = Tensor.randn(2, 3)
    w = Tensor.randn(4, 3, requires_grad=True)
    name = "</script><script>alert(1)</script>"
    page = viz.explore((x @ w.T).sum(), {name: w}).html()
    assert name not in page
    assert any(n["name"] == name for n in page_data(page)["nodes"])


def test_save_signs_and_refuses_a_foreign_file(tmp_path):
    loss, params = small_net()
    path = tmp_path / "graph.html"
    explorer = viz.explore(loss, params, path=path)
    assert path.read_text("utf-8").startswith("<!-- written by tinygrad-cnn; sha256 ")
    assert "<!DOCTYPE html>" in path.read_text("utf-8")[:200]
    assert written_by_us(path)
    explorer.save(path)  # our own file: replaced without force
    foreign = tmp_path / "mine.html"
    foreign.write_text("<p>my notes</p>")
    with pytest.raises(FileExistsError, match="not written by tinygrad-cnn"):
        explorer.save(foreign)
    assert foreign.read_text() == "<p>my notes</p>"


def test_jupyter_gets_the_page_in_an_iframe():
    loss, params = small_net()
    explorer = viz.explore(loss, params)
    shown = explorer._repr_html_()
    assert shown.startswith("<iframe srcdoc=\"") and 'sandbox="allow-scripts"' in shown
    inner = re.search(r'srcdoc="([^"]*)"', shown).group(1)
    assert html.unescape(inner) == explorer.html()
    assert repr(explorer).startswith("<Explorer of ")


def test_cli_writes_the_explorer_for_an_html_output(main, tmp_path):
    status, out, _ = main("graph", "--output", "step.html", "--batch-size", "2", "--grads")
    assert status == 0 and out.strip() == "wrote step.html"
    data = page_data((tmp_path / "step.html").read_text("utf-8"))
    assert data["grads"] and data["title"].startswith("LeNet5: one training step")
    leaf_titles = [m["title"] for m in data["modules"] if m["leaf"]]
    assert leaf_titles[:2] == ["conv1 (Conv2d)", "relu1 (ReLU)"]
    status, _, err = main("graph", "--output", "step.svg", "--format", "html")
    assert status == 2 and "ends in .svg but the format is 'html'" in err
