"""Time the LeNet-5 layers, forward + backward at batch 64, against PyTorch in the same run.

    python examples/benchmark_layers.py [--threads 2] [--repeat 50] [--rounds 10]

Each row is the median time of ``--rounds`` x ``--repeat`` single calls after a warm-up,
in milliseconds; ``ratio`` is ours / torch (lower is better). Both
libraries get the same number of threads (NumPy's BLAS through its environment variables,
set before NumPy is imported, and ``torch.set_num_threads``). The last row is a whole
LeNet-5 forward + backward with cross-entropy, and its images per second.
Not a unit test: numbers depend on the machine and on whatever else runs on it.
"""

import argparse
import ctypes
import os
import statistics
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for both libraries (default: all cores)")
    parser.add_argument("--repeat", type=int, default=50, help="calls per turn")
    parser.add_argument("--rounds", type=int, default=10, help="turns of each library")
    parser.add_argument("--batch", type=int, default=64)
    return parser.parse_args()


def blas_threads():
    """The thread count of the OpenBLAS that NumPy loaded, or None if it can't be asked."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in paths:
        lib = ctypes.CDLL(path)
        for name in ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
                     "openblas_get_num_threads64_"):
            if hasattr(lib, name):
                return getattr(lib, name)()
    return None


def compare(fns, repeat, rounds):
    """Median milliseconds of single calls of each function in ``fns``.

    The functions take turns, ``repeat`` calls each per round, so that slow phases of a
    shared machine hit all of them alike; the median of single calls shrugs off bursts.
    Before each turn the process idles briefly: both libraries' worker threads spin for a
    while after their last parallel call and would steal the cores from the next one.
    """
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, kept in zip(fns, times):
            time.sleep(0.15)
            for _ in range(3):  # warm-up: caches, recycled buffers, spun-up threads
                fn()
            for _ in range(repeat):
                start = time.perf_counter()
                fn()
                kept.append(time.perf_counter() - start)
    return [statistics.median(kept) * 1e3 for kept in times]


def main():
    args = parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    import tinygrad_cnn as tg
    from tinygrad_cnn.nn import functional as F

    try:
        import torch
        import torch.nn.functional as TF

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    B = args.batch

    def arr(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    # name -> (inputs, which need grad, our op, torch op)
    x1, w1, b1 = arr(B, 1, 28, 28), arr(6, 1, 5, 5, scale=0.2), arr(6)
    x2, w2, b2 = arr(B, 6, 14, 14), arr(16, 6, 5, 5, scale=0.1), arr(16)
    p1, p2 = np.maximum(arr(B, 6, 28, 28), 0), np.maximum(arr(B, 16, 10, 10), 0)
    xl, wl, bl = arr(B, 400), arr(120, 400, scale=0.05), arr(120)
    cases = {
        "conv1 (64,1,28,28) * (6,1,5,5) p2": (
            (x1, w1, b1), (False, True, True),
            lambda x, w, b: F.conv2d(x, w, b, padding=2),
            lambda x, w, b: TF.conv2d(x, w, b, padding=2)),
        "conv2 (64,6,14,14) * (16,6,5,5)": (
            (x2, w2, b2), (True, True, True),
            lambda x, w, b: F.conv2d(x, w, b), lambda x, w, b: TF.conv2d(x, w, b)),
        "max_pool2d 2 (64,6,28,28)": (
            (p1,), (True,), lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2)),
        "max_pool2d 2 (64,16,10,10)": (
            (p2,), (True,), lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2)),
        "linear (64,400) -> 120": (
            (xl, wl, bl), (True, True, True), F.linear, TF.linear if torch else None),
    }
    print(f"threads: {args.threads} (NumPy BLAS reports {blas_threads()}, torch "
          f"{torch.get_num_threads() if torch else '-'}); batch {B}; NumPy {np.__version__}"
          f"{', torch ' + torch.__version__ if torch else ', torch not installed'}")
    print(f"{'forward + backward':36s} {'ours ms':>8s} {'torch ms':>9s} {'ratio':>6s}")
    for name, (arrays, grads, ours, theirs) in cases.items():
        tensors = [tg.Tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
        upstream = tg.Tensor(np.ones(ours(*tensors).shape, dtype=np.float32))

        def run_ours(ours=ours, tensors=tensors, upstream=upstream):
            for t in tensors:
                t.grad = None
            ours(*tensors).backward(upstream)

        fns = [run_ours]
        if torch is not None:
            t_tensors = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
            t_upstream = torch.ones(theirs(*t_tensors).shape)

            def run_torch(theirs=theirs, t_tensors=t_tensors, t_upstream=t_upstream):
                for t in t_tensors:
                    t.grad = None
                theirs(*t_tensors).backward(t_upstream)

            fns.append(run_torch)
        print(_row(name, compare(fns, args.repeat, args.rounds)))
    lenet(args, np, tg, F, torch)


def lenet(args, np, tg, F, torch):
    """A whole LeNet-5 forward + backward with cross-entropy, the same weights in both."""
    rng = np.random.default_rng(1)
    shapes = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,),
              (10, 84), (10,)]
    weights = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]
    images = rng.random((args.batch, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, args.batch)

    def forward(f, x, p):
        x = f.max_pool2d(f.relu(f.conv2d(x, p[0], p[1], padding=2)), 2)
        x = f.max_pool2d(f.relu(f.conv2d(x, p[2], p[3])), 2)
        x = x.reshape(x.shape[0], 400)
        x = f.relu(f.linear(x, p[4], p[5]))
        x = f.relu(f.linear(x, p[6], p[7]))
        return f.linear(x, p[8], p[9])

    params = [tg.Tensor(w, requires_grad=True) for w in weights]
    x, y = tg.Tensor(images), tg.Tensor(labels)

    def run_ours():
        for p in params:
            p.grad = None
        F.cross_entropy(forward(F, x, params), y).backward()

    fns = [run_ours]
    if torch is not None:
        import torch.nn.functional as TF

        t_params = [torch.tensor(w, requires_grad=True) for w in weights]
        tx, ty = torch.tensor(images), torch.tensor(labels)

        def run_torch():
            for p in t_params:
                p.grad = None
            TF.cross_entropy(forward(TF, tx, t_params), ty).backward()

        fns.append(run_torch)
    ms = compare(fns, max(args.repeat // 2, 10), args.rounds)
    print(_row("LeNet-5 step (no optimizer)", ms))
    print(", ".join(f"{who} {args.batch / t * 1e3:,.0f} images/s"
                    for who, t in zip(("ours", "torch"), ms)))


def _row(name, ms):
    line = f"{name:36s} {ms[0]:8.3f}"
    if len(ms) > 1:
        line += f" {ms[1]:9.3f} {ms[0] / ms[1]:6.2f}"
    return line


if __name__ == "__main__":
    sys.exit(main())
