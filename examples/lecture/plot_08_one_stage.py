"""
8. One stage: convolution, detector, pooling
============================================

A convolutional stage applies several kernels (the convolution), passes each output
through a nonlinearity (the detector: here a ReLU, with the kernel's bias added first) and
summarises neighbourhoods (the pooling: a 2x2 max). LeNet-5's first stage, drawn as the
graph that tinygrad_cnn records, and its three maps for one digit. Page:
:doc:`/lecture/08-one-stage`.
"""

# %%
# The graph autograd records
# --------------------------
# ``tinygrad_cnn.viz.make_dot`` draws the tape in forward direction; every op sits in a frame
# for the layer that ran it.
import io

import matplotlib.pyplot as plt
import numpy as np
import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, viz
from tinygrad_cnn.fileio import atomic_write

import claims
import figures

model = claims.trained("LeNet-5")
images, labels = claims.digits()
digit = Tensor(images[:1])
convolved = model.conv1(digit)
detected = model.relu1(convolved)
pooled = model.pool1(detected)
dot = viz.make_dot(pooled, model, rankdir="LR",
                   title="LeNet-5, first stage: conv1 -> relu1 -> pool1 (one digit)")
print(f"shapes: input {digit.shape} -> conv1 {convolved.shape} -> relu1 {detected.shape} "
      f"-> pool1 {pooled.shape}")
try:
    png = dot.pipe(format="png")
except Exception as exc:  # the Graphviz programs are missing: say so, draw the rest
    png = None
    print(f"no graph picture: {exc}")
folder = figures.save_dir()
if png is not None and folder is not None:
    with atomic_write(f"{folder}/08_stage_graph.png") as f:
        f.write(png)
    print(f"wrote {folder}/08_stage_graph.png")
if png is not None:
    picture = plt.imread(io.BytesIO(png), format="png")
    fig, ax = plt.subplots(figsize=(picture.shape[1] / 100, picture.shape[0] / 100))
    ax.imshow(picture)
    ax.axis("off")

# %%
# What each step does to the numbers
# ----------------------------------
# Over all 1,000 test digits: the share of conv1's outputs that the ReLU sets to zero, and
# how much the pooling shrinks the maps.
with tg.no_grad():
    conv_all = model.conv1(Tensor(images)).numpy()
    relu_all = np.maximum(conv_all, 0)
    pool_all = model.pool1(Tensor(relu_all)).numpy()
zeroed = (conv_all <= 0).mean()
figures.quote("p08.relu_zeroes", zeroed, "{:.1%}")
per_map = [(conv_all[:, f] <= 0).mean() for f in range(6)]
figures.quote("p08.relu_zeroes_map_min", min(per_map), "{:.0%}")
figures.quote("p08.relu_zeroes_map_max", max(per_map), "{:.0%}")
open_map = int(np.argmin(per_map))
figures.quote("p08.open_map", open_map, "{}")
figures.quote("p08.open_map_positive", 1 - per_map[open_map], "{:.0%}")
figures.quote("p08.pooled_zero", (pool_all == 0).mean(), "{:.1%}")
print(f"ReLU zeroes {100 * zeroed:.1f}% of conv1's outputs "
      f"(per map: {', '.join(f'{100 * (conv_all[:, f] <= 0).mean():.0f}%' for f in range(6))})")
print(f"pooling: {relu_all[0].size:,} units per digit -> {pool_all[0].size:,} "
      f"({relu_all[0].size // pool_all[0].size}x fewer); "
      f"{100 * (pool_all == 0).mean():.1f}% of pooled units are 0")

# %%
# The three maps of one digit
# ---------------------------
stages = (("convolution", convolved.numpy()[0], True),
          ("detector: ReLU", detected.numpy()[0], False),
          ("pooling: 2x2 max", pooled.numpy()[0], False))
fig, axes = plt.subplots(3, 7, figsize=(9.6, 4.4), layout="constrained")
figures.image(axes[1, 0], images[0, 0], f"input ({labels[0]})")
axes[0, 0].axis("off")
axes[2, 0].axis("off")
for row, (name, maps, signed) in enumerate(stages):
    for f in range(6):
        figures.image(axes[row, f + 1], maps[f], signed=signed,
                      vmax=float(np.abs(stages[0][1][f]).max()))
        if row == 0:
            axes[row, f + 1].set_title(f"map {f}")
    axes[row, 1].set_ylabel(name, fontsize=8.5)
    axes[row, 1].yaxis.set_label_coords(-0.12, 0.5)
fig.suptitle("convolution (red +, blue -) -> ReLU (keeps the red) -> 2x2 max pool (28x28 to "
             "14x14)", fontsize=9.5)
figures.save(fig, "08_stage_maps.png")
figures.show()
