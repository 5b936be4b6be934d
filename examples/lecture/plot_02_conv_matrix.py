"""
2. Convolution is multiplication by a constrained matrix
========================================================

Every convolution is a matrix product ``W @ x`` with a matrix ``W`` that repeats the same
few numbers along its diagonals and is zero elsewhere. ``tinygrad_cnn.inspect.conv_matrix``
builds that matrix. Page: :doc:`/lecture/02-conv-matrix`.
"""

# %%
# The matrix of a 1-D and of a 2-D convolution
# --------------------------------------------
# ``conv_matrix`` gives the matrix of what ``conv1d``/``conv2d`` compute (a
# cross-correlation); the matrix of the true convolution, ``W[t, tau] = w[t - tau]``,
# is the matrix of the flipped kernel. Padding ``k // 2`` keeps the output as long as
# the input, so the matrices are square.
import matplotlib.pyplot as plt
import numpy as np
from tinygrad_cnn import Tensor
from tinygrad_cnn.inspect import conv_matrix
from tinygrad_cnn.nn import functional as F

import claims
import figures

w = np.array([1.0, 2.0, 3.0])
D = 12
W1 = conv_matrix(w[::-1], (D,), padding=1)          # the convolution with w
k2 = np.arange(1.0, 10.0).reshape(3, 3)
W2 = conv_matrix(k2, (6, 6), padding=1)             # a 6x6 image, 3x3 kernel
dense = np.random.default_rng(0).standard_normal((D, D))

# the product equals the layer's output, for a real digit too
images, _ = claims.digits(n=1)
x = images[0, 0]
kernel = np.random.default_rng(1).standard_normal((3, 3)).astype(np.float32)
matrix = conv_matrix(kernel, x.shape, padding=1)
product = matrix @ x.reshape(-1)
layer = F.conv2d(Tensor(images[:1]), Tensor(kernel[None, None]), padding=1).numpy()
figures.quote("p02.product_gap", np.abs(product - layer.reshape(-1)).max(), "{:.2g}")
print(f"28x28 digit, 3x3 kernel: max |W @ x - conv2d(x)| = "
      f"{np.abs(product - layer.reshape(-1)).max():.2g}")

# %%
# Counting
# --------
# A general matrix mapping a D-pixel input to a D-pixel output has D^2 free entries.
# The convolution's matrix has k (1-D) or kh * kw (2-D) independent entries, repeated on
# a band: about k nonzeros per row, fewer at the borders.
for label, w_count, shape in (("1-D, D = 100, k = 3", np.ones(3), (100,)),
                              ("1-D, D = 784, k = 5", np.ones(5), (784,)),
                              ("2-D, 28x28 image, 3x3", np.ones((3, 3)), (28, 28)),
                              ("2-D, 28x28 image, 5x5", np.ones((5, 5)), (28, 28))):
    c = claims.banded_counts(w_count, shape)
    key = f"p02.{'1d' if len(shape) == 1 else '2d'}_{shape[0]}_{w_count.size}"
    figures.quote(f"{key}_nonzeros", c["nonzeros"], "{:,}")
    figures.quote(f"{key}_share", c["nonzeros"] / c["entries"], "{:.2%}")
    print(f"{label}: matrix {c['shape'][0]}x{c['shape'][1]} = {c['entries']:,} entries, "
          f"{c['nonzeros']:,} nonzero ({100 * c['nonzeros'] / c['entries']:.2f}%), "
          f"{c['independent']} independent (a general matrix: {c['dense_independent']:,})")

fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.5), width_ratios=[1, 1, 1.25],
                         layout="constrained")
figures.image(axes[0], dense, "a general matrix (12x12):\n144 independent entries",
              signed=True)
shown = figures.image(axes[1], W1, "a 1-D convolution, w = (1, 2, 3):\n"
                      "W[t, tau] = w[t - tau] (w indexed -1, 0, 1)", signed=True, vmax=9)
for (r, c), value in np.ndenumerate(W1):
    if value:
        axes[1].text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=6.5)
figures.image(axes[2], W2, "a 2-D convolution, 3x3 kernel, 6x6 image:\n"
              "36x36, 9 independent, doubly banded", signed=True, vmax=9)
for edge in range(6, 36, 6):  # the 6x6 blocks: one block row per image row
    axes[2].axhline(edge - 0.5, color="#999999", lw=0.4)
    axes[2].axvline(edge - 0.5, color="#999999", lw=0.4)
fig.colorbar(shown, ax=axes[2], shrink=0.8, label="entry (convolution panels)")
figures.save(fig, "02_conv_matrix.png")

# %%
# How the cost grows with D
# -------------------------
# ``W @ x`` with the dense matrix touches all D^2 entries; ``conv1d`` touches k per output.
# The times are medians of repeated blocks of calls through tinygrad_cnn Tensors on this
# machine; the slopes on the log-log plot, not the exact times, are the point. They are
# machine-dependent: ``figures.timings`` keeps the times of record (those the page quotes)
# while a new run agrees with them within 35%.
sizes = [2 ** p for p in range(6, 21)]
measured = claims.time_dense_and_conv(sizes)
timing = {key: figures.timings(f"p02.times_{key}", measured[key]) for key in ("dense", "conv")}
for D_, dense_s, conv_s in zip(sizes, timing["dense"], timing["conv"]):
    dense_text = f"{1e6 * dense_s:9.1f} us" if dense_s is not None else "  (4 TiB)" \
        if D_ == 2 ** 20 else "        -"
    print(f"D = {D_:8,d}: dense W @ x {dense_text}, conv1d {1e6 * conv_s:8.1f} us")
dense_D = [d for d, s in zip(sizes, timing["dense"]) if s is not None]
dense_t = [s for s in timing["dense"] if s is not None]
slope_dense = np.polyfit(np.log(dense_D[-3:]), np.log(dense_t[-3:]), 1)[0]
slope_conv = np.polyfit(np.log(sizes[-3:]), np.log(timing["conv"][-3:]), 1)[0]
for D_, dense_s, conv_s in zip(sizes, timing["dense"], timing["conv"]):
    if D_ in (64, 1024, 4096, 65536, 2 ** 20):
        figures.quote(f"p02.conv_us_{D_}", 1e6 * conv_s, "{:,.4g}", machine=True)
        if dense_s is not None:
            figures.quote(f"p02.dense_us_{D_}", 1e6 * dense_s, "{:,.4g}", machine=True)
figures.quote("p02.slope_dense", slope_dense, "{:.2f}", machine=True)
figures.quote("p02.slope_conv", slope_conv, "{:.2f}", machine=True)
figures.quote("p02.conv_fixed_us", 1e6 * np.median(timing["conv"][:4]), "{:.0f}", machine=True)
print(f"log-log slopes: dense {slope_dense:.2f} (D = {dense_D[-3]:,} to {dense_D[-1]:,}), "
      f"conv1d {slope_conv:.2f} (D = {sizes[-3]:,} to {sizes[-1]:,})")

fig, ax = plt.subplots(figsize=(5.8, 3.5), layout="constrained")
ax.loglog(dense_D, 1e6 * np.array(dense_t), "o-", color=figures.COLORS["dense"],
          label="dense W @ x (D x D matrix)")
ax.loglog(sizes, 1e6 * np.array(timing["conv"]), "s-", color=figures.COLORS["conv"],
          label="conv1d, k = 3")
guide = np.array([dense_D[-3], dense_D[-1]], dtype=float)
ax.loglog(guide, 1e6 * dense_t[-1] * (guide / guide[-1]) ** 2, ":", color="k", lw=1,
          label="slope 2 (D^2)")
guide = np.array([sizes[-3], sizes[-1]], dtype=float)
ax.loglog(guide, 1e6 * timing["conv"][-1] * (guide / guide[-1]), "--", color="k", lw=1,
          label="slope 1 (D)")
ax.set_xlabel("signal length D")
ax.set_ylabel("time per call (microseconds)")
ax.set_title("dense product vs convolution (median time per call, one core)")
ax.legend(frameon=False)
figures.save(fig, "02_scaling.png")
figures.show()
