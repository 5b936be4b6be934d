"""
10. A strong prior: structure, not pixel order
==============================================

A convolutional network assumes that neighbouring pixels belong together and that a
pattern means the same wherever it appears. A fully connected network assumes nothing
about pixel order: shuffle the pixels of every image the same way and it can learn just as
well. We train both, on the digits as they are and with one fixed random permutation of
the pixels. Page: :doc:`/lecture/10-permutation`.
"""

# %%
# Two networks of the same size
# -----------------------------
import matplotlib.pyplot as plt
import numpy as np

import claims
import figures

for name, build in claims.MODELS.items():
    print(f"{name}: {claims.count_parameters(build()):,} parameters")
    figures.quote("p10.params_" + ("lenet" if name == "LeNet-5" else "mlp"),
                  claims.count_parameters(build()), "{:,}")

# %%
# Train and test, with and without the permutation
# ------------------------------------------------
# Ten epochs of Adam each (as on pages 6 and 7), three seeds (initial weights and batch
# order); the permutation is the same for training and test images.
seeds = (0, 1, 2)
table = claims.permutation_table(seeds=seeds)
print(f"{'':8s} {'pixels as they are':>22s} {'pixels permuted':>22s} {'loss':>7s}")
for name in claims.MODELS:
    plain, permuted = (np.array(table[name, p]) for p in (False, True))
    print(f"{name:8s} {100 * plain.mean():11.1f}% ({100 * plain.min():.1f}-"
          f"{100 * plain.max():.1f}) {100 * permuted.mean():11.1f}% "
          f"({100 * permuted.min():.1f}-{100 * permuted.max():.1f}) "
          f"{100 * (plain - permuted).mean():6.1f}")
    key = "lenet" if name == "LeNet-5" else "mlp"
    for which, runs in (("plain", plain), ("permuted", permuted)):
        figures.quote(f"p10.{key}_{which}", runs.mean(), "{:.1%}")
        figures.quote(f"p10.{key}_{which}_min", runs.min(), "{:.1%}")
        figures.quote(f"p10.{key}_{which}_max", runs.max(), "{:.1%}")
    figures.quote(f"p10.{key}_loss", 100 * (plain - permuted).mean(), "{:.1f}")

figures.quote("p10.gap_plain", 100 * (np.mean(table["LeNet-5", False])
                                      - np.mean(table["MLP", False])), "{:.1f}")

# %%
# The picture
# -----------
images, labels = claims.digits(n=4)
shuffled = claims.permute_pixels(images)
fig = plt.figure(figsize=(9.6, 3.4), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[1, 1.25])
axes = left.subplots(2, 4)
for i in range(4):
    figures.image(axes[0, i], images[i, 0], f"digit {labels[i]}")
    figures.image(axes[1, i], shuffled[i, 0], "permuted" if i == 0 else "")
ax = right.subplots()
for name, color in zip(claims.MODELS, (figures.COLORS["conv"], figures.COLORS["dense"])):
    runs = [100 * np.array(table[name, permuted]) for permuted in (False, True)]
    means = [r.mean() for r in runs]
    ax.plot([0, 1], means, "o-", color=color, lw=2, ms=7, label=name)
    for x0, r in zip((0, 1), runs):
        ax.plot(np.full(len(r), x0) + np.linspace(-0.04, 0.04, len(r)), r, ".", color=color,
                ms=4, alpha=0.6)
    for x0, m, side in zip((0, 1), means, (-1, 1)):
        ax.annotate(f"{m:.1f}%", (x0, m), textcoords="offset points", xytext=(side * 12, 0),
                    ha="right" if side < 0 else "left", va="center", color=color)
ax.set_xticks([0, 1], ["pixels as they are", "pixels permuted"])
ax.set_xlim(-0.5, 1.5)
ax.set_ylim(0, 100)  # from 0: the drop is shown at its true size
ax.axhline(10, color=figures.COLORS["grey"], ls=":", lw=1)
ax.text(1.5, 11, "chance (10%)", ha="right", va="bottom", fontsize=8,
        color=figures.COLORS["grey"])
ax.set_ylabel("test accuracy (%): mean and 3 seeds")
ax.set_title("1,000 test digits after 10 epochs on 4,000")
ax.legend(frameon=False, loc="lower left")
figures.save(fig, "10_permutation.png")
figures.show()
