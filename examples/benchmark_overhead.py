"""How much does the engine itself cost? Tiny ops (where the arithmetic is free and only the
bookkeeping of the graph remains) plus their backward, ours against PyTorch.

    python examples/benchmark_overhead.py [--repeat 2000] [--rounds 3]

Each library runs in processes of its own, alternating rounds, one thread each (the ops are
8x8: threads would only add overhead). Prints the median microseconds per iteration over the
rounds, the spread (max-min)/2, and the ratio ours / PyTorch (lower is better). Blocks
during which other processes took more than 10% of the CPU are repeated (up to 3 times).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

from tinygrad_cnn.bench import worker as bw
from tinygrad_cnn.bench.harness import thread_env

CASES = {
    "mul+sum, backward": lambda x, y: (x * y).sum(),
    "add, relu, mean, backward": lambda x, y: (x + y).relu().mean(),
    "matmul, tanh, sum, backward": lambda x, y: (x @ y).tanh().sum(),
}


def worker(library, repeat):
    a_np = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    b_np = np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32)
    if library == "ours":
        import tinygrad_cnn as tg

        a, b = tg.Tensor(a_np, requires_grad=True), tg.Tensor(b_np, requires_grad=True)
        no_grad = tg.no_grad
    else:
        import torch

        torch.set_num_threads(1)
        a, b = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
        no_grad = torch.no_grad

    def per_call(fn, n):
        for _ in range(n // 10):  # warm-up
            fn()
        for _ in range(3):
            with bw.CpuWatch() as watch:
                for _ in range(n):
                    fn()
            if bw.is_quiet(watch.record, 0.1):
                break
        return watch.record["seconds"] / n * 1e6

    result = {}
    for name, f in CASES.items():
        def step(f=f):
            a.grad = b.grad = None
            f(a, b).backward()

        result[name] = per_call(step, repeat)

    def forward_only():
        with no_grad():
            a * b

    result["mul forward only, no_grad"] = per_call(forward_only, repeat * 5)
    return result


def main():
    if sys.argv[1:2] == ["worker"]:
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import importlib.util

    libraries = ["ours"] + (["torch"] if importlib.util.find_spec("torch") else [])
    if len(libraries) == 1:
        print("torch not installed: printing our timings only")
    times = {lib: [] for lib in libraries}
    for _ in range(args.rounds):
        for lib in libraries:
            done = subprocess.run([sys.executable, os.path.abspath(__file__), "worker", lib,
                                   str(args.repeat)], env=thread_env(1), capture_output=True,
                                  text=True, check=True)
            times[lib].append(json.loads(done.stdout))
    print(f"{'case (8x8 float32)':32s} {'ours us':>14s} {'torch us':>14s} {'ratio':>6s}")
    for name in times["ours"][0]:
        cells, medians = [], []
        for lib in libraries:
            values = [r[name] for r in times[lib]]
            m = statistics.median(values)
            medians.append(m)
            cells.append(f"{m:7.1f} ±{(max(values) - min(values)) / 2:4.1f}")
        ratio = f"{medians[0] / medians[1]:6.2f}" if len(medians) > 1 else ""
        print(f"{name:32s} " + " ".join(f"{c:>14s}" for c in cells) + f" {ratio}")


if __name__ == "__main__":
    main()
