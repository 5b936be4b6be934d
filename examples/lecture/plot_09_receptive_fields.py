"""
9. Receptive fields grow layer by layer
=======================================

A unit of conv1 sees a 5x5 patch of the image; a unit of a deeper layer sees a larger one,
because it combines units that each see a patch. ``tinygrad_cnn.inspect.receptive_field``
measures the patch with autograd, and the formula from the layers' settings agrees.
Page: :doc:`/lecture/09-receptive-fields`.
"""

# %%
# Measured and computed
# ---------------------
# The measurement takes the gradient of the centre unit of a layer with respect to the
# input in a linear stand-in of the network (ReLUs as identities, max pools as average
# pools over the same windows, weights made positive), where no ReLU gates and no max pool
# picks a single winner: the nonzero gradient is the whole region that *can* reach the
# unit. The formula: ``r += (kernel - 1) * jump`` and ``jump *= stride`` layer by layer.
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from tinygrad_cnn import inspect as ti

import claims
import figures

model = claims.trained("LeNet-5")
layers = ("conv1", "pool1", "conv2", "pool2")
measured = {name: ti.receptive_field(model, name, (1, 28, 28)) for name in layers}
formula = claims.formula_receptive_fields(model, layers)
for name in layers:
    print(f"{name}: measured {measured[name][0]}x{measured[name][1]}, "
          f"formula {formula[name][0]}x{formula[name][1]}")

# %%
# What actually reaches a unit, for real digits
# ---------------------------------------------
# In the trained network as it is, the ReLUs and max pools cut paths: a max pool passes
# the gradient of each 2x2 window to one winner, and a ReLU whose input is negative passes
# nothing. ``inspect.input_gradient`` gives the plain gradient of one unit with respect to
# the input, here pool2's centre unit in one channel, for the 1,000 test digits in one
# batch. We take the channel whose unit is active for the most digits.
images, labels = claims.digits()
mask = ti.receptive_field_mask(model, "pool2", (1, 28, 28))
reach = {c: (ti.input_gradient(model, "pool2", images, channel=c)[:, 0] != 0)
         for c in range(16)}
silent = {c: float((r.sum(axis=(1, 2)) == 0).mean()) for c, r in reach.items()}
channel = min(silent, key=silent.get)
reached = reach[channel].sum(axis=(1, 2))
active = reached[reached > 0]
print(f"pool2's centre unit, channel {channel}: field {mask.sum()} pixels; silent (nothing "
      f"reaches it) for {100 * silent[channel]:.1f}% of the test digits; when active, "
      f"{np.median(active):.0f} pixels reach it for the median digit (10th-90th percentile "
      f"{np.percentile(active, 10):.0f}-{np.percentile(active, 90):.0f})")
figures.quote("p09.channel", channel, "{}")
others = [v for c, v in silent.items() if c != channel]
figures.quote("p09.silent_others_min", min(others), "{:.0%}")
figures.quote("p09.silent_others_max", max(others), "{:.0%}")
figures.quote("p09.field_pixels", mask.sum(), "{}")
figures.quote("p09.silent", silent[channel], "{:.1%}")
figures.quote("p09.reached_median", np.median(active), "{:.0f}")
figures.quote("p09.reached_p10", np.percentile(active, 10), "{:.0f}")
figures.quote("p09.reached_p90", np.percentile(active, 90), "{:.0f}")
print("silent share per channel: " + ", ".join(f"{100 * v:.0f}%" for v in silent.values()))
assert not any(r[:, ~mask].any() for r in reach.values())  # nothing outside the field
gradients = ti.input_gradient(model, "pool2", images[:8], channel=channel)[:, 0]

# %%
# The picture
# -----------
index = 2
colors = {"conv1": "#d62728", "pool1": "#ff7f0e", "conv2": "#2ca02c", "pool2": "#1f77b4"}
fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.6), layout="constrained")
figures.image(axes[0], images[index, 0], "fields of the centre units,\nmeasured by autograd",
              vmax=2.5)
for name in layers:
    rows, cols = np.nonzero(ti.receptive_field_mask(model, name, (1, 28, 28)))
    h, w = measured[name]
    axes[0].add_patch(Rectangle((cols.min() - 0.5, rows.min() - 0.5), w, h, fill=False,
                                lw=1.8, color=colors[name], label=f"{name}: {h}x{w}"))
axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
               handlelength=1.2)
grad = gradients[index]
shown = figures.image(axes[1], grad, f"pool2 unit (channel {channel}): gradient for\n"
                      f"this digit, nonzero on {reached[index]} of {mask.sum()} pixels",
                      signed=True)
figures.colorbar(fig, shown, axes[1], "d unit / d pixel")
rows, cols = np.nonzero(mask)
axes[1].add_patch(Rectangle((cols.min() - 0.5, rows.min() - 0.5), 16, 16, fill=False, lw=1.2,
                            color=colors["pool2"], ls="--"))
axes[2].hist(reached, bins=np.arange(0, 264, 8), color=colors["pool2"])
axes[2].axvline(mask.sum(), color="k", ls="--")
axes[2].annotate("whole field\n(256)", (mask.sum(), axes[2].get_ylim()[1] * 0.9),
                 ha="right", textcoords="offset points", xytext=(-4, 0))
axes[2].set_xlabel("pixels with nonzero gradient")
axes[2].set_ylabel("test digits")
axes[2].set_title("what reaches that unit, 1,000 test digits\n(0: the unit is silent)")
figures.save(fig, "09_receptive_fields.png")
figures.show()
