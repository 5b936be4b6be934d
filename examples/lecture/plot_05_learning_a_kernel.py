"""
5. Learning a kernel
====================

Start from a random two-tap kernel and let gradient descent, through tinygrad_cnn's
autograd, make ``conv1d(f, w)`` reproduce the edge map ``conv1d(f, (-1, 1))`` of the rows
of real digits. The kernel finds ``(-1, 1)``. Page: :doc:`/lecture/05-learning-a-kernel`.
"""

# %%
# Five random starts, 200 steps of plain gradient descent
# -------------------------------------------------------
# The loss is the mean squared error over the rows of 64 training digits (1,792 signals of
# 28 samples); the learning rate is 1. Because the target is the edge map itself, its scale
# is fixed too: the answer is exactly ``(-1, 1)``, not just a multiple of it.
import matplotlib.pyplot as plt
import numpy as np
from tinygrad_cnn import Tensor
from tinygrad_cnn.nn import functional as F

import claims
import figures

signals = claims.digit_rows(64)
runs = [claims.learn_edge_kernel(signals, steps=200, lr=1.0, seed=seed) for seed in range(5)]
target = np.array([-1.0, 1.0])
for seed, run in enumerate(runs):
    w0, w = run["w"][0], run["w"][-1]
    distance = np.linalg.norm(run["w"] - target, axis=1)
    within = int(np.argmax(distance < 0.01)) if (distance < 0.01).any() else None
    print(f"start {seed}: w0 = ({w0[0]:+.3f}, {w0[1]:+.3f}) -> w = ({w[0]:+.5f}, {w[1]:+.5f}); "
          f"loss {run['loss'][0]:.3g} -> {run['loss'][-1]:.2g}; within 0.01 of (-1, 1) "
          f"after {within} steps")
    figures.quote(f"p05.start{seed}_w1_start", w0[0], "{:+.3f}")
    figures.quote(f"p05.start{seed}_w2_start", w0[1], "{:+.3f}")
    figures.quote(f"p05.start{seed}_w1_end", w[0], "{:+.5f}")
    figures.quote(f"p05.start{seed}_w2_end", w[1], "{:+.5f}")
    figures.quote(f"p05.start{seed}_loss_start", run["loss"][0], "{:.2g}")
    figures.quote(f"p05.start{seed}_loss_end", run["loss"][-1], "{:.2g}")
    figures.quote(f"p05.start{seed}_steps", within, "{}")
steps = [int(np.argmax(np.linalg.norm(run["w"] - target, axis=1) < 0.01)) for run in runs]
figures.quote("p05.steps_min", min(steps), "{}")
figures.quote("p05.steps_max", max(steps), "{}")

# %%
# Why the path bends: the loss surface
# ------------------------------------
# The loss is a quadratic bowl in ``(w1, w2)``. Digit rows are smooth, so neighbouring
# samples are strongly correlated: the bowl is steep along ``w1 + w2`` (a blur's output is
# large) and shallow along ``w2 - w1`` (differences are small). Gradient descent first
# removes the blur part, then slides slowly along the valley to ``(-1, 1)``.
grid = np.linspace(-3, 3, 61)
g1, g2 = np.meshgrid(grid, grid)
kernels = np.stack([g1.ravel(), g2.ravel()], axis=1).astype(np.float32)
x = Tensor(signals.reshape(len(signals), 1, 28))
target_map = F.conv1d(x, Tensor(claims.EDGE_KERNEL.reshape(1, 1, 2))).numpy()
surface = np.concatenate([
    ((F.conv1d(x, Tensor(kernels[i:i + 400, None, :])).numpy() - target_map) ** 2)
    .mean(axis=(0, 2)) for i in range(0, len(kernels), 400)]).reshape(g1.shape)

fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.3), width_ratios=[1.05, 1, 1],
                         layout="constrained")
ax = axes[0]
ax.contour(g1, g2, np.log10(surface + 1e-4), levels=14, colors="#bbbbbb", linewidths=0.7,
           negative_linestyles="solid")
for seed, run in enumerate(runs):
    ax.plot(run["w"][:, 0], run["w"][:, 1], ".-", ms=2.5, lw=0.8, color=f"C{seed}")
    ax.plot(*run["w"][0], "o", color=f"C{seed}", ms=5)
ax.plot(-1, 1, "*", color="k", ms=12)
ax.annotate("(-1, 1)", (-1, 1), textcoords="offset points", xytext=(6, 6))
ax.set_xlabel("w1")
ax.set_ylabel("w2")
ax.set_aspect("equal")
ax.set_title("paths from five random starts (dots)")
for seed, run in enumerate(runs):
    axes[1].semilogy(run["loss"], color=f"C{seed}")
axes[1].set_xlabel("step")
axes[1].set_title("loss (mean squared error)")
for seed, run in enumerate(runs):
    axes[2].plot(run["w"][:, 0], color=f"C{seed}", ls="-")
    axes[2].plot(run["w"][:, 1], color=f"C{seed}", ls="--")
axes[2].axhline(-1, color="k", lw=0.6)
axes[2].axhline(1, color="k", lw=0.6)
axes[2].set_xlabel("step")
axes[2].set_title("w1 (solid) and w2 (dashed)")
figures.save(fig, "05_learning_a_kernel.png")
figures.show()
