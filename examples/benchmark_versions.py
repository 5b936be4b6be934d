"""Two checkouts of tinygrad_cnn against each other: did a change make LeNet-5 slower?

    git worktree add /tmp/before <commit>
    python examples/benchmark_versions.py before=/tmp/before now=. [--rounds 5]

Each checkout runs in processes of its own (``PYTHONPATH`` points at it), alternating
rounds, 2 threads each; every process warms up, then times 5 blocks of ~0.3 s. Prints
images/s, the median over rounds of each round's median block, with the range over rounds,
for a training step (SGD with momentum) at batch 64 and 256 and inference at batch 1,000.
Unlike ``tinygrad-cnn bench``, the timed code is only the public API of this file, so old
checkouts without the benchmark harness can be measured too.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r'''
import sys, time, json
import numpy as np
import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, optim
from tinygrad_cnn.models import LeNet5
from tinygrad_cnn.nn import functional as F
task, batch, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tg.manual_seed(0)
model = LeNet5()
opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
rng = np.random.default_rng(0)
xs = [Tensor(rng.random((batch, 1, 28, 28), dtype=np.float32)) for _ in range(4)]
ys = [Tensor(rng.integers(0, 10, batch)) for _ in range(4)]
def train(i):
    loss = F.cross_entropy(model(xs[i % 4]), ys[i % 4])
    opt.zero_grad()
    loss.backward()
    opt.step()
def infer(i):
    with tg.no_grad():
        model(xs[i % 4])
step = train if task == "train" else infer
start, i = time.perf_counter(), 0
while time.perf_counter() - start < 0.5:
    step(i)
    i += 1
rates = []
for _ in range(blocks):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < 0.3:
        step(n)
        n += 1
    rates.append(n * batch / (time.perf_counter() - start))
print(json.dumps(rates))
'''

TASKS = [("train", 64), ("train", 256), ("infer", 1000)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", metavar="NAME=PATH",
                        help="a name and the root of a checkout, e.g. before=/tmp/before")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.checkouts)
    threads = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)
    results = {(task, batch, name): [] for task, batch in TASKS for name in trees}
    for _ in range(args.rounds):
        for task, batch in TASKS:
            for name, tree in trees.items():
                # run from the checkout, so that it (not the current folder) is imported
                root = os.path.abspath(tree)
                run = subprocess.run([sys.executable, "-c", WORKER, task, str(batch), "5"],
                                     env=dict(env, PYTHONPATH=root), cwd=root,
                                     capture_output=True, text=True, check=True)
                results[(task, batch, name)].append(statistics.median(json.loads(run.stdout)))
    for task, batch in TASKS:
        cells = []
        for name in trees:
            rates = results[(task, batch, name)]
            cells.append(f"{name} {statistics.median(rates):8,.0f} images/s "
                         f"({min(rates):,.0f}-{max(rates):,.0f})")
        print(f"{task} batch {batch}: " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()
