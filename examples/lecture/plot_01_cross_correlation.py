"""
1. Convolution or cross-correlation?
====================================

What ``conv1d`` and ``conv2d`` compute is a cross-correlation: the kernel slides over the
input unflipped. Flipping the kernel gives the convolution of signal processing, which
``numpy.convolve`` computes. Page: :doc:`/lecture/01-cross-correlation`.
"""

# %%
# One dimension: an echo
# ----------------------
# A kernel that decays, ``w = (1, 0.5, 0.25)``, applied to two spikes. Convolution puts
# the echo *after* each spike (as a room does to a clap); cross-correlation puts it
# *before*. Both in NumPy's "full" mode, where the output is ``k - 1`` samples longer.
import matplotlib.pyplot as plt
import numpy as np

import claims
import figures

x = np.zeros(16)
x[3], x[10] = 1.0, 0.6
w = np.array([1.0, 0.5, 0.25])
one_d = claims.correlation_and_convolution(x, w, mode="full")
for key in ("conv1d_vs_correlate", "conv1d_vs_convolve", "flipped_vs_convolve"):
    print(f"max |{key.replace('_vs_', ' - ')}| = {one_d[key]:.3g}")
    figures.quote(f"p01.{key}", one_d[key], "{:.2g}")

# %%
# Two dimensions: a kernel that moves the image
# ---------------------------------------------
# A 5x5 kernel whose only nonzero weight sits in its top-left corner. With padding 2,
# cross-correlation reads the pixel two up and two left of each output, so the digit moves
# *down and right*; the true convolution (the kernel flipped) moves it *up and left*.
images, labels = claims.digits()
digit = images[0, 0].astype(np.float64)
corner = np.zeros((5, 5))
corner[0, 0] = 1.0
correlated = claims.conv2d_one(digit, corner, padding=2)
convolved = claims.conv2d_one(digit, corner[::-1, ::-1], padding=2)
reference = claims.convolve2d(digit, corner, padding=2)
print(f"2-D: max |conv2d(w) - convolution| = {np.abs(correlated - reference).max():.3g}, "
      f"max |conv2d(flipped w) - convolution| = {np.abs(convolved - reference).max():.3g}")

# a kernel without symmetry on real data: the same relations
rng = np.random.default_rng(0)
w_random = rng.standard_normal((5, 5))
gap = np.abs(claims.conv2d_one(digit, w_random[::-1, ::-1], padding=2)
             - claims.convolve2d(digit, w_random, padding=2)).max()
print(f"random 5x5 kernel: max |conv2d(flipped w) - convolution| = {gap:.3g}")
figures.quote("p01.corner_gap", np.abs(convolved - reference).max(), "{:.2g}")
figures.quote("p01.random_gap", gap, "{:.2g}")

# %%
# The picture
# -----------
fig = plt.figure(figsize=(9.6, 4.4), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.15])
ax_signal, ax_kernel, ax_out = top.subplots(1, 3, width_ratios=[1.3, 0.45, 2])
t = np.arange(len(x))
ax_signal.stem(t, x, basefmt=" ", linefmt="k-", markerfmt="ko")
ax_signal.set_title("signal x: two spikes")
ax_signal.set_xlabel("t")
ax_kernel.stem(np.arange(3), w, basefmt=" ", linefmt="C1-", markerfmt="C1s")
ax_kernel.set_xticks([0, 1, 2])
ax_kernel.set_xlim(-0.6, 2.6)
ax_kernel.set_title("kernel w")
n = np.arange(len(one_d["conv1d"]))
ax_out.plot(n, one_d["convolve"], "-o", color=figures.COLORS["conv"], ms=5,
            label="numpy.convolve(x, w): the echo follows each spike")
ax_out.plot(n, one_d["conv1d_flipped"], "x", color="k", ms=7,
            label="conv1d(x, flipped w): the same values")
ax_out.plot(n, one_d["conv1d"], "-s", color=figures.COLORS["orange"], ms=4,
            label="conv1d(x, w) = numpy.correlate: reversed echo")
ax_out.set_xlabel("output index (full mode: x[t] lands at index t)")
ax_out.set_ylim(-0.05, 1.75)
ax_out.set_title("conv1d computes a cross-correlation")
ax_out.legend(loc="upper right", frameon=False)
axes = bottom.subplots(1, 4)
figures.image(axes[0], corner, "kernel (5x5, one weight)")
axes[0].text(0, 0, "1", ha="center", va="center", color="white", fontsize=8)
figures.image(axes[1], digit, f"a digit ({labels[0]})")
figures.image(axes[2], correlated, "conv2d(x, w):\nmoved down and right")
figures.image(axes[3], convolved, "conv2d(x, flipped w) = convolution:\nmoved up and left")
for ax in axes[1:]:
    ax.axhline(13.5, color=figures.COLORS["pool"], lw=0.6)
    ax.axvline(13.5, color=figures.COLORS["pool"], lw=0.6)
figures.save(fig, "01_cross_correlation.png")
figures.show()
