"""
4. Random kernels already respond to edges
==========================================

A kernel with random weights, never trained, still answers mostly where the image has
structure, while a random dense matrix spreads its answer over the whole image. How much
of that is "edges"? We measure it. Page: :doc:`/lecture/04-random-kernels`.
"""

# %%
# What we measure
# ---------------
# *Edge pixels* are where the textbook edge detector of the same size responds: for a
# 1x2 kernel, output positions whose two input pixels differ by more than 0.2 (images in
# [0, 1]); for a 3x3 kernel, pixels whose central-difference gradient exceeds 0.4 (the same
# change per pixel). The *edge share* of a response is the part of its energy (sum of
# squares over 200 test digits) that lands on edge pixels. A response spread evenly over
# the image scores the fraction of pixels that are edges.
import matplotlib.pyplot as plt
import numpy as np
from tinygrad_cnn import Tensor

import claims
import figures

images, labels = claims.digits(n=200)
results = {size: claims.edge_concentration(images, size, n_kernels=500, n_matrices=100)
           for size in (2, 3)}
for size, r in results.items():
    name = "1x2" if size == 2 else "3x3"
    k, d = r["random_kernels"], r["dense"]
    print(f"{name}: edge pixels are {100 * r['edge_fraction']:.1f}% of the outputs")
    print(f"  500 random kernels: median share {100 * np.median(k):.1f}% "
          f"(10th-90th percentile {100 * np.percentile(k, 10):.1f}-"
          f"{100 * np.percentile(k, 90):.1f}%), "
          f"{100 * (k > 0.5).mean():.0f}% of kernels above one half")
    print(f"  100 random dense matrices: median {100 * np.median(d):.1f}% "
          f"(range {100 * d.min():.1f}-{100 * d.max():.1f}%)")
    for ref in claims.REFERENCE_KERNELS[size]:
        print(f"  {ref}: {100 * r[ref]:.1f}%")
    edge, blur = claims.REFERENCE_KERNELS[size]
    for key, value in (("edge_fraction", r["edge_fraction"]), ("dense_median", np.median(d)),
                       ("dense_min", d.min()), ("dense_max", d.max()),
                       ("kernel_median", np.median(k)), ("kernel_p10", np.percentile(k, 10)),
                       ("kernel_p90", np.percentile(k, 90)),
                       ("blur", r[blur]), ("edge", r[edge])):
        figures.quote(f"p04.{key}_{name}", value, "{:.1%}")
    figures.quote(f"p04.above_half_{name}", (k > 0.5).mean(), "{:.0%}")
    figures.quote(f"p04.ratio_{name}", np.median(k) / r["edge_fraction"], "{:.1f}")
    figures.quote(f"p04.gap_{name}", 100 * (np.median(k) - r[blur]), "{:.0f}")

# %%
# A few random kernels on one digit
# ---------------------------------
rng = np.random.default_rng(7)
kernels = rng.standard_normal((4, 3, 3))
digit = images[:1]
responses = claims.kernel_responses(digit, kernels, 3)[0]
dense = rng.standard_normal((784, 784)).astype(np.float32)
dense_response = (Tensor(digit.reshape(1, 784)) @ Tensor(dense.T)).numpy().reshape(28, 28)
edges = claims.edge_pixels(digit, 3)[0, 0]
shares = claims.energy_share(responses[None], edges[None, None])
dense_share = claims.energy_share(dense_response[None, None], edges[None, None])[0]
figures.quote("p04.digit_dense", dense_share, "{:.0%}")
figures.quote("p04.digit_edge_fraction", edges.mean(), "{:.0%}")
figures.quote("p04.digit_kernel_min", min(shares), "{:.0%}")
figures.quote("p04.digit_kernel_max", max(shares), "{:.0%}")

fig, axes = plt.subplots(2, 7, figsize=(10.4, 2.9), height_ratios=[1, 0.45],
                         layout="constrained")
figures.image(axes[0, 0], digit[0, 0], f"a digit ({labels[0]})")
figures.image(axes[0, 1], edges, "edge pixels (3x3\ncentral differences)")
shown = figures.image(axes[0, 2], dense_response, f"random dense matrix\nedge share "
                      f"{100 * dense_share:.0f}%", signed=True)
response_max = float(np.abs(responses).max())
kernel_max = float(np.abs(kernels).max())
for i in range(4):
    shown = figures.image(axes[0, 3 + i], responses[i], f"random 3x3 kernel {i + 1}\n"
                          f"edge share {100 * shares[i]:.0f}%", signed=True, vmax=response_max)
    weights = figures.image(axes[1, 3 + i], kernels[i], "", signed=True, vmax=kernel_max)
figures.colorbar(fig, shown, axes[0, :], "response (a.u.)")
figures.colorbar(fig, weights, axes[1, :], "weight")
for ax in axes[1, :3]:
    ax.axis("off")
axes[1, 2].text(1.0, 0.5, "the kernels (red +, blue -):", ha="right", va="center",
                transform=axes[1, 2].transAxes)
figures.save(fig, "04_random_kernels.png")

# %%
# Over many kernels
# -----------------
# For 1x2 kernels the share depends only on the kernel's direction: a kernel is a mix of
# the blur ``(1, 1)`` and the edge kernel ``(-1, 1)``. Random directions are spread evenly
# around the circle.
angles = np.linspace(0, np.pi, 181)
sweep = np.stack([np.cos(angles), np.sin(angles)], axis=1)[:, None, :]
sweep_share = claims.energy_share(claims.kernel_responses(images, sweep, 2),
                                  claims.edge_pixels(images, 2))

fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.5), layout="constrained")
ax = axes[0]
ax.plot(np.degrees(angles), 100 * sweep_share, color="k")
ax.axhline(100 * results[2]["edge_fraction"], color=figures.COLORS["grey"], ls=":")
for deg, name in ((45, "blur (1, 1)"), (135, "edge (-1, 1)")):
    ax.plot(deg, 100 * sweep_share[deg], "o", color=figures.COLORS["orange"])
    ax.annotate(name, (deg, 100 * sweep_share[deg]), textcoords="offset points",
                xytext=(0, 7), ha="center")
ax.set_ylim(0, 112)
ax.set_xlabel("direction of (w1, w2), degrees")
ax.set_ylabel("edge share (%)")
ax.set_title("1x2 kernel (cos a, sin a)")
for ax, size in zip(axes[1:], (2, 3)):
    r = results[size]
    bins = np.linspace(0, 100, 41)
    ax.hist(100 * r["random_kernels"], bins=bins, color=figures.COLORS["conv"],
            alpha=0.8, label="random kernels")
    ax.hist(100 * r["dense"], bins=bins, color=figures.COLORS["dense"], alpha=0.8,
            label="random dense matrices")
    ax.axvline(100 * r["edge_fraction"], color=figures.COLORS["grey"], ls=":",
               label="share of edge pixels")
    for (ref, value), style in zip(((k, r[k]) for k in claims.REFERENCE_KERNELS[size]),
                                   ("-", "--")):
        ax.axvline(100 * value, color=figures.COLORS["orange"], ls=style,
                   label=ref.split(" (")[0] + " kernel")
    ax.set_xlabel("edge share (%)")
    ax.set_title(f"{'1x2' if size == 2 else '3x3'}: 500 kernels, 100 matrices")
axes[1].set_ylabel("count")
fig.legend(*axes[2].get_legend_handles_labels(), loc="outside lower center", ncol=5,
           frameon=False)
figures.save(fig, "04_edge_share.png")
figures.show()
