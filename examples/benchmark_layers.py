"""Where a LeNet-5 step spends its time: each layer's forward and backward, ours against PyTorch.

    python examples/benchmark_layers.py [--batch-size 64] [--threads N] [--rounds 3]
                                        [--blocks 3] [--block-seconds 0.2] [--no-torch] [--json]

The protocol of ``tinygrad-cnn bench``: each library in its own processes (a fresh one per
round, rounds alternating), the same weights and batch (written once from a seed), the same
thread count, and timed blocks during which other processes took more than 10% of the CPU
left out. Every layer gets the real activations of a LeNet-5 forward pass as input and a
fixed random upstream gradient; forward (with the graph recorded) and backward are timed
separately. The whole-step rows time one SGD-momentum training step in its parts, and a
forward pass under no_grad. Times are milliseconds per call, medians over the quiet blocks
of all rounds, with the spread (max-min)/2 in percent; the ratio is ours / PyTorch time
(above 1: ours is slower). Not a unit test: the figures depend on the machine and on
whatever else runs on it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from tinygrad_cnn.bench import worker as bw
from tinygrad_cnn.bench.harness import default_threads, thread_env

LAYERS = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3",
          "fc2", "relu4", "fc3", "loss"]
STEP_PARTS = ["forward + loss", "zero_grad + backward", "optimizer step", "whole step",
              "forward, no_grad"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=default_threads(),
                   help="threads for both libraries (default: the cores available)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument("--blocks", type=int, default=3,
                   help="quiet timed blocks per layer, round and library (default 3)")
    p.add_argument("--block-seconds", type=float, default=0.2)
    p.add_argument("--max-other-cpu", type=float, default=0.1)
    p.add_argument("--no-torch", dest="torch", action="store_false")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- in a worker

class Library:
    """The few calls that differ between the two libraries."""

    def __init__(self, name, threads):
        self.name = name
        if name == "ours":
            import tinygrad_cnn as tg
            from tinygrad_cnn.nn import functional

            self.F, self.no_grad = functional, tg.no_grad
            self.tensor = lambda a, grad=False: tg.Tensor(a, requires_grad=grad)
        else:
            import torch

            torch.set_num_threads(threads)
            self.F, self.no_grad = torch.nn.functional, torch.no_grad
            self.tensor = lambda a, grad=False: torch.tensor(a, requires_grad=grad)

    def build(self, weights):
        return (bw.build_ours if self.name == "ours" else bw.build_torch)(weights)


def layer_calls(lib, model):
    """``name -> (function of the inputs, which inputs need a gradient, extra arrays)``."""
    F = lib.F
    p = {name: t.detach().numpy() for name, t in model.named_parameters()}
    calls = {}
    for conv, padding in (("conv1", 2), ("conv2", 0)):
        calls[conv] = (lambda x, w, b, pad=padding: F.conv2d(x, w, b, padding=pad),
                       [conv != "conv1", True, True], [p[f"{conv}.weight"], p[f"{conv}.bias"]])
    for fc in ("fc1", "fc2", "fc3"):
        calls[fc] = (F.linear, [True, True, True], [p[f"{fc}.weight"], p[f"{fc}.bias"]])
    for relu in ("relu1", "relu2", "relu3", "relu4"):
        calls[relu] = (F.relu, [True], [])
    for pool in ("pool1", "pool2"):
        calls[pool] = (lambda x: F.max_pool2d(x, 2), [True], [])
    calls["flatten"] = (lambda x: x.reshape(x.shape[0], 400), [True], [])
    calls["loss"] = (F.cross_entropy, [True, False], None)  # labels filled in by the caller
    return calls


def layer_inputs(lib, model, images):
    """The input array of every layer in a forward pass over ``images``."""
    F, inputs = lib.F, {}
    with lib.no_grad():
        x = lib.tensor(images)
        for name in LAYERS[:-1]:
            inputs[name] = x.numpy().copy()
            if name.startswith(("conv", "fc")):
                x = getattr(model, name)(x)
            elif name.startswith("relu"):
                x = F.relu(x)
            elif name.startswith("pool"):
                x = F.max_pool2d(x, 2)
            else:
                x = x.reshape(x.shape[0], 400)
        inputs["loss"] = x.numpy().copy()
    return inputs


def timed_blocks(run_once, block_seconds, blocks, max_other_cpu):
    """Call ``run_once()`` (which returns a list of seconds, one per timed part) in blocks of
    about ``block_seconds`` until ``blocks`` quiet ones ran (at most 3 * blocks); return, per
    block, the mean seconds of each part and the share of the CPU other processes took."""
    for _ in range(3):  # warm-up: caches, recycled buffers, thread pools
        run_once()
    start = time.perf_counter()
    run_once()
    per_block = max(1, round(block_seconds / (time.perf_counter() - start)))
    records, quiet = [], 0
    while quiet < blocks and len(records) < 3 * blocks:
        sums = None
        with bw.CpuWatch() as watch:
            for _ in range(per_block):
                parts = run_once()
                sums = parts if sums is None else [a + b for a, b in zip(sums, parts)]
        record = dict(watch.record, parts=[s / per_block for s in sums])
        records.append(record)
        quiet += bw.is_quiet(record, max_other_cpu)
    return records


def worker(args):
    lib = Library(args.library, args.threads)
    weights, batches = bw.read_inputs(args.inputs, "train", args.batch_size)
    images, labels = batches[0]
    model, opt = lib.build(weights)
    inputs = layer_inputs(lib, model, images)
    rng = np.random.default_rng(1)
    result = {"layers": {}, "step": None, "shapes": {}}
    for name, (fn, grads, extra) in layer_calls(lib, model).items():
        arrays = [inputs[name]] + (extra if extra is not None else [labels])
        tensors = [lib.tensor(a, grad=g) for a, g in zip(arrays, grads)]
        out = fn(*tensors)
        upstream = None if name == "loss" else lib.tensor(
            rng.standard_normal(tuple(out.shape)).astype(np.float32))
        result["shapes"][name] = list(arrays[0].shape)

        def run_once(fn=fn, tensors=tensors, upstream=upstream):
            for t in tensors:
                t.grad = None
            t0 = time.perf_counter()
            out = fn(*tensors)
            t1 = time.perf_counter()
            out.backward(upstream)
            return [t1 - t0, time.perf_counter() - t1]

        result["layers"][name] = timed_blocks(run_once, args.block_seconds, args.blocks,
                                              args.max_other_cpu)
    x, y = lib.tensor(images), lib.tensor(labels)

    def step_once():
        t0 = time.perf_counter()
        loss = lib.F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        with lib.no_grad():
            model(x)
        t4 = time.perf_counter()
        return [t1 - t0, t2 - t1, t3 - t2, t3 - t0, t4 - t3]

    result["step"] = timed_blocks(step_once, args.block_seconds, args.blocks,
                                  args.max_other_cpu)
    return result


# ----------------------------------------------------------------------------- the parent

def run_worker(library, inputs, args):
    path = os.path.join(inputs, f"{library}.json")
    command = [sys.executable, os.path.abspath(__file__), "worker", "--library", library,
               "--inputs", inputs, "--result", path, "--batch-size", str(args.batch_size),
               "--threads", str(args.threads), "--blocks", str(args.blocks),
               "--block-seconds", str(args.block_seconds),
               "--max-other-cpu", str(args.max_other_cpu)]
    done = subprocess.run(command, env=thread_env(args.threads), capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"the {library} worker failed:\n{done.stderr}")
    with open(path) as f:
        return json.load(f)


def pooled(records_per_round, part, max_other_cpu):
    """Median, min and max (ms) of one part over the quiet blocks of all rounds, and how
    many blocks were left out (all are kept, and marked, if none was quiet)."""
    blocks = [b for records in records_per_round for b in records]
    quiet = [b for b in blocks if bw.is_quiet(b, max_other_cpu)]
    values = sorted(1e3 * b["parts"][part] for b in (quiet or blocks))
    return {"median": statistics.median(values), "min": values[0], "max": values[-1],
            "blocks": len(quiet or blocks), "left_out": len(blocks) - len(quiet or blocks),
            "disturbed": not quiet}


def summarize(results, max_other_cpu):
    summary = {"layers": {}, "step": {}}
    for lib, rounds in results.items():
        for name in LAYERS:
            per_round = [r["layers"][name] for r in rounds]
            summary["layers"].setdefault(name, {})[lib] = {
                "forward": pooled(per_round, 0, max_other_cpu),
                "backward": pooled(per_round, 1, max_other_cpu)}
        for i, part in enumerate(STEP_PARTS):
            summary["step"].setdefault(part, {})[lib] = pooled(
                [r["step"] for r in rounds], i, max_other_cpu)
    summary["shapes"] = results["ours"][0]["shapes"]
    return summary


def _cell(stats):
    spread = 100 * (stats["max"] - stats["min"]) / 2 / stats["median"]
    return f"{stats['median']:.3f} ±{spread:.0f}%" + (" (!)" if stats["disturbed"] else "")


def _ratio(entry, key=None):
    if "torch" not in entry:
        return "-"
    ours, theirs = (entry["ours"], entry["torch"]) if key is None else (
        entry["ours"][key], entry["torch"][key])
    return f"{ours['median'] / theirs['median']:.2f}"


def print_tables(summary, args, versions):
    both = args.torch and "PyTorch" in versions
    print(f"LeNet-5 at batch {args.batch_size}, {args.threads} threads per library; "
          f"{', '.join(f'{k} {v}' for k, v in versions.items())}")
    print(f"each library in its own processes, {args.rounds} alternating rounds; ms per call, "
          "median ±(max-min)/2 over quiet blocks; ratio = ours / PyTorch time; "
          "(!) = no quiet block, figures disturbed")
    print()
    print("| layer | input | forward ours | forward PyTorch | ratio | backward ours "
          "| backward PyTorch | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    totals = {lib: [0.0, 0.0] for lib in ("ours", "torch")}
    for name in LAYERS:
        e = summary["layers"][name]
        row = [name, "x".join(map(str, summary["shapes"][name]))]
        for key in ("forward", "backward"):
            row += [_cell(e["ours"][key]), _cell(e["torch"][key]) if both else "-",
                    _ratio(e, key) if both else "-"]
            for lib in e:
                totals[lib][key == "backward"] += e[lib][key]["median"]
        print("| " + " | ".join(row) + " |")
    t_ours, t_torch = totals["ours"], totals["torch"]
    if both:
        print(f"| sum of layers | | {t_ours[0]:.3f} | {t_torch[0]:.3f} | "
              f"{t_ours[0] / t_torch[0]:.2f} | {t_ours[1]:.3f} | {t_torch[1]:.3f} | "
              f"{t_ours[1] / t_torch[1]:.2f} |")
    else:
        print(f"| sum of layers | | {t_ours[0]:.3f} | - | - | {t_ours[1]:.3f} | - | - |")
    print()
    print("| whole step | ours ms | PyTorch ms | ratio | ours images/s | PyTorch images/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for part in STEP_PARTS:
        e = summary["step"][part]
        rates = [f"{args.batch_size / e[lib]['median'] * 1e3:,.0f}" if lib in e else "-"
                 for lib in ("ours", "torch")]
        print(f"| {part} | {_cell(e['ours'])} | {_cell(e['torch']) if both else '-'} | "
              f"{_ratio(e) if both else '-'} | {rates[0]} | {rates[1] if both else '-'} |")
    left = sum(s["left_out"] for e in summary["layers"].values() for lib in e.values()
               for s in lib.values())
    left += sum(s["left_out"] for e in summary["step"].values() for s in e.values())
    print(f"\nblocks left out (other processes above {100 * args.max_other_cpu:g}% of the CPU):"
          f" {left}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        p = argparse.ArgumentParser()
        for opt in ("--library", "--inputs", "--result"):
            p.add_argument(opt, required=True)
        for opt, kind in (("--batch-size", int), ("--threads", int), ("--blocks", int),
                          ("--block-seconds", float), ("--max-other-cpu", float)):
            p.add_argument(opt, type=kind, required=True)
        args = p.parse_args(argv[1:])
        with open(args.result, "w") as f:
            json.dump(worker(args), f)
        return 0
    args = parse_args(argv)
    libraries = ["ours"]
    versions = {"NumPy": np.__version__}
    if args.torch:
        try:
            import importlib.metadata

            versions["PyTorch"] = importlib.metadata.version("torch")
            libraries.append("torch")
        except importlib.metadata.PackageNotFoundError:
            print("PyTorch is not installed: ours only", file=sys.stderr)
            args.torch = False
    results = {lib: [] for lib in libraries}
    with tempfile.TemporaryDirectory(prefix="tinygrad-cnn-layers-") as inputs:
        bw.write_inputs(inputs, [("train", args.batch_size)])
        for r in range(args.rounds):
            for lib in libraries:
                results[lib].append(run_worker(lib, inputs, args))
                print(f"round {r + 1}/{args.rounds}: {lib} done", file=sys.stderr, flush=True)
    summary = summarize(results, args.max_other_cpu)
    if args.json:
        print(json.dumps(dict(summary, batch_size=args.batch_size, threads=args.threads,
                              versions=versions), indent=1))
    else:
        print_tables(summary, args, versions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
