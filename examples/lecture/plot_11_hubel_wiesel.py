"""
11. Hubel and Wiesel in silico
==============================

The talk opens with Hubel and Wiesel's primary visual cortex (V1): a spatial map of the
image, *simple cells* that are a linear function of a small receptive field, *complex
cells* that keep answering when the pattern moves a little, and neurons that answer
oriented bars and hardly anything else. We show the trained LeNet-5 the same stimuli, bars
of every orientation, and measure each of the four properties in its units.
Page: :doc:`/lecture/11-hubel-wiesel`.
"""

# %%
# Orientation tuning
# ------------------
# A bar 2 pixels wide crosses the image at one of 12 orientations; each unit at the centre
# of a map is shown the bar at its best offset (Hubel and Wiesel moved the bar to where the
# cell answered). The selectivity index of a tuning curve :math:`r(\theta)` is
# :math:`\left|\sum_\theta r(\theta)\, e^{2i\theta}\right| / \sum_\theta r(\theta)`: 0 for
# the same answer to every orientation, 1 for one orientation only. LeNet-5 as initialised,
# after the lecture's 10 epochs, after 30, and after 10 on standardised digits (mean taken
# off, what the CLI trains on).
import matplotlib.pyplot as plt
import numpy as np

import claims_more

import claims
import figures

lenet = claims.trained("LeNet-5")
networks = {"untrained": claims_more.untrained(), "10 epochs": lenet,
            "30 epochs": claims_more.trained("LeNet-5", epochs=30),
            "standardised, 10 epochs": claims_more.trained("LeNet-5", standardise=True)}
table = claims_more.orientation_table(networks,
                                      {"standardised, 10 epochs": claims_more.standardised})
keys = {"untrained": "untrained", "10 epochs": "trained", "30 epochs": "epochs30",
        "standardised, 10 epochs": "standardised"}
for (name, stage), index in table.items():
    layer = {"relu1": "conv1", "relu2": "conv2"}[stage]
    median = figures.quote(f"p11.osi_{layer}_{keys[name]}", np.nanmedian(index), "{:.2f}")
    print(f"{layer} {name:24s} median selectivity {median} over {np.isfinite(index).sum()} "
          f"units answering a bar")
selective = np.mean(table["10 epochs", "relu2"][np.isfinite(table["10 epochs", "relu2"])] > 0.3)
print(f"conv2 units with an index above 0.3 after 10 epochs: "
      f"{figures.quote('p11.conv2_selective_share', selective, '{:.0%}')}")

# %%
# Simple cells: linear in a small receptive field
# -----------------------------------------------
# ``f(a x + b y) - a f(x) - b f(y) - (1 - a - b) f(0)`` over pairs of test digits, relative
# to the response: zero (float rounding) for an affine function of the image. And the pixels
# whose change alone moves the unit at the centre of the map.
linear = claims_more.linearity_error(lenet)
for stage, error in linear.items():
    quoted = figures.quote(f"p11.linear_{stage}", error, "{:.1e}")
    print(f"{stage}: departure from linearity {quoted}")
field1 = claims_more.receptive_pixels(lenet, "conv1")
field2 = claims_more.receptive_pixels(lenet, "conv2", channel=3)
print("pixels that move the centre unit: conv1",
      figures.quote("p11.field_conv1", int(field1.sum()), "{}") + ", conv2",
      figures.quote("p11.field_conv2", int(field2.sum()), "{}"))

# %%
# Complex cells: the preferred bar moved across itself
# ----------------------------------------------------
# Each unit's preferred bar moved by 0 to 3 pixels both ways; the share of its best response
# it keeps, for the units after the ReLU ("simple") and after the max pool ("complex").
moves = (0, 1, 2, 3)
tolerance = {**claims_more.shift_tolerance(lenet, "relu1", "pool1", moves),
             **claims_more.shift_tolerance(lenet, "relu2", "pool2", moves)}
for stage, kept in tolerance.items():
    texts = [figures.quote(f"p11.kept_{stage}_{m}px", k, "{:.0%}") for m, k in zip(moves, kept)]
    print(f"{stage}: " + "  ".join(f"{m} px {t}" for m, t in zip(moves, texts)))

# %%
# A spatial map of the image
# --------------------------
# The six maps of conv1 after the ReLU, summed, against the digit: their correlation.
correlation = claims_more.map_image_correlation(lenet)
print(f"median correlation of digit and summed conv1 maps: "
      f"{figures.quote('p11.map_correlation', correlation, '{:.2f}')}")

# %%
# The pictures
# ------------
angles = claims_more.ORIENTATIONS
fig = plt.figure(figsize=(9.6, 5.6), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[0.55, 1])
bars = top.subplots(1, 6)
for ax, angle in zip(bars, (0, 30, 60, 90, 120, 150)):
    figures.image(ax, claims_more.bar(angle), f"bar at {angle}°", vmax=1)
ax1, ax2, ax3 = bottom.subplots(1, 3, width_ratios=[1, 1, 1.25])
for ax, stage, layer in ((ax1, "relu1", "conv1"), (ax2, "relu2", "conv2")):
    curves = claims_more.tuning_curves(lenet, stage)
    index = table["10 epochs", stage]
    for c in np.argsort(-np.nan_to_num(index)):
        if curves[c].max() <= 0:
            continue
        ax.plot(angles, curves[c] / curves[c].max(), "-", lw=1.2,
                color=plt.cm.viridis(np.nan_to_num(index[c])))
    ax.set_xticks(angles[::2])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("bar orientation (degrees)")
    ax.set_ylabel("response / its maximum")
    ax.set_title(f"{layer} + ReLU, centre units, 10 epochs\n(colour: selectivity index)")
fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(0, 1), cmap="viridis"), ax=ax2,
             label="selectivity index", shrink=0.8)
names = list(networks)
for stage, color, dx in (("relu1", figures.COLORS["grey"], -0.15),
                         ("relu2", figures.COLORS["conv"], 0.15)):
    for i, name in enumerate(names):
        values = table[name, stage]
        values = values[np.isfinite(values)]
        spread = np.linspace(-0.06, 0.06, len(values))
        ax3.plot(i + dx + spread, values, ".", color=color, alpha=0.6, ms=5)
        ax3.plot([i + dx - 0.1, i + dx + 0.1], [np.median(values)] * 2, "-", color=color,
                 lw=2.5, label=("conv1" if stage == "relu1" else "conv2") if i == 0 else None)
# two lines each: on one, "30 epochs" ran into "standardised"
ax3.set_xticks(range(len(names)), ["untrained", "10\nepochs", "30\nepochs",
                                   "standardised,\n10 epochs"])
ax3.set_ylim(0, 1)
ax3.set_ylabel("orientation selectivity index")
ax3.set_title("selectivity of every centre unit\n(bars: medians)")
ax3.legend(frameon=False, loc="upper left")
figures.save(fig, "11_orientation.png")

# %%
digit = claims.digits(n=1)[0]
maps = claims_more.stage_maps(lenet, digit)
fig = plt.figure(figsize=(9.6, 4.8), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[0.75, 1])
axes = top.subplots(1, 8)
figures.image(axes[0], digit[0, 0], "digit", vmax=1)
overlay = np.where(field1, 1.0, 0.25 * digit[0, 0])
figures.image(axes[1], overlay, f"conv1 field:\n{int(field1.sum())} pixels", vmax=1)
vmax = float(maps["relu1"][0].max())
for f in range(6):
    shown = figures.image(axes[f + 2], maps["relu1"][0, f], f"conv1 + ReLU\nmap {f}", vmax=vmax)
fig.colorbar(shown, ax=axes[-1], shrink=0.7, label="response")
ax_lin, ax_move = bottom.subplots(1, 2, width_ratios=[0.8, 1.2])
stages = list(linear)
ax_lin.bar(range(len(stages)), [max(linear[s], 1e-9) for s in stages],
           color=[figures.COLORS["conv"], figures.COLORS["grey"]] * 2)
ax_lin.set_yscale("log")
ax_lin.set_ylim(1e-8, 1)
ax_lin.set_xticks(range(len(stages)), ["conv1", "conv1\n+ ReLU", "conv2", "conv2\n+ ReLU"])
ax_lin.set_ylabel("departure from linearity in the image")
ax_lin.set_title("simple cells: conv1 is linear (float rounding)\nbefore its ReLU")
styles = {"relu1": ("o--", figures.COLORS["conv"], "conv1 + ReLU (simple)"),
          "pool1": ("o-", figures.COLORS["pool"], "pool1 (complex)"),
          "relu2": ("s--", figures.COLORS["other"], "conv2 + ReLU (simple)"),
          "pool2": ("s-", figures.COLORS["orange"], "pool2 (complex)")}
for stage, kept in tolerance.items():
    marker, color, label = styles[stage]
    ax_move.plot(moves, 100 * kept, marker, color=color, label=label)
ax_move.set_xticks(moves)
ax_move.set_ylim(0, 105)
ax_move.set_xlabel("preferred bar moved across itself (pixels)")
ax_move.set_ylabel("response kept (% of the best)")
ax_move.set_title("complex cells keep answering a moved bar")
ax_move.legend(frameon=False)
figures.save(fig, "11_simple_complex.png")
figures.show()
