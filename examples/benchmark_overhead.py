"""How much does the engine itself cost? Times tiny ops (where the arithmetic is free and
only Python bookkeeping remains) plus their backward, against PyTorch in the same run.

    python examples/benchmark_overhead.py [--repeat 2000]

Prints microseconds per iteration for both and the ratio ours / torch (lower is better).
"""

import argparse
import statistics
import time

import numpy as np

import tinygrad_cnn as tg


def bench(fn, repeat, rounds=7):
    for _ in range(repeat // 10):
        fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        times.append((time.perf_counter() - start) / repeat)
    return statistics.median(times) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
        print("torch not installed: printing our timings only")

    a_np = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    b_np = np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32)
    a = tg.Tensor(a_np, requires_grad=True)
    b = tg.Tensor(b_np, requires_grad=True)
    cases = {
        "mul+sum, backward": lambda x, y: (x * y).sum(),
        "add, relu, mean, backward": lambda x, y: (x + y).relu().mean(),
        "matmul, tanh, sum, backward": lambda x, y: (x @ y).tanh().sum(),
    }
    if torch is not None:
        ta = torch.tensor(a_np, requires_grad=True)
        tb = torch.tensor(b_np, requires_grad=True)
    print(f"{'case (8x8 float32)':32s} {'ours us':>9s} {'torch us':>9s} {'ratio':>6s}")
    for name, f in cases.items():
        def ours(f=f):
            a.grad = b.grad = None
            f(a, b).backward()

        t_ours = bench(ours, args.repeat)
        line = f"{name:32s} {t_ours:9.1f}"
        if torch is not None:
            def theirs(f=f):
                ta.grad = tb.grad = None
                f(ta, tb).backward()

            t_torch = bench(theirs, args.repeat)
            line += f" {t_torch:9.1f} {t_ours / t_torch:6.2f}"
        print(line)

    with tg.no_grad():
        t_fwd = bench(lambda: a * b, args.repeat * 5)
    line = f"{'mul forward only, no_grad':32s} {t_fwd:9.1f}"
    if torch is not None:
        with torch.no_grad():
            t_tfwd = bench(lambda: ta * tb, args.repeat * 5)
        line += f" {t_tfwd:9.1f} {t_fwd / t_tfwd:6.2f}"
    print(line)


if __name__ == "__main__":
    main()
