"""How long does drawing a big graph take? Builds a chain of N ops and times make_dot.

    python examples/benchmark_viz.py [--ops 10000]
"""

import argparse
import time

import tinygrad_cnn as tg
from tinygrad_cnn import viz

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--ops", type=int, default=10_000)
args = parser.parse_args()

x = tg.Tensor([1.0], requires_grad=True)
y = x
for _ in range(args.ops):
    y = y * 1.0001
start = time.perf_counter()
source = viz.make_dot(y, {"x": x}).source
print(f"{args.ops:,} ops -> {len(source):,} characters of DOT in "
      f"{time.perf_counter() - start:.3f} s")
