"""
6. Several kernels per layer
============================

A convolutional layer holds several kernels, each sliding over the whole image and each
free to learn its own pattern. We train LeNet-5 on the bundled 4,000-digit sample and look
at what its first two layers learned. Page: :doc:`/lecture/06-several-kernels`.
"""

# %%
# Train LeNet-5
# -------------
# Ten epochs of Adam (learning rate 2e-3, batches of 64, no augmentation) on the 4,000
# training digits, seeded; 10 to 20 seconds on one CPU core.
import matplotlib.pyplot as plt
import numpy as np
import tinygrad_cnn as tg
from tinygrad_cnn import Tensor
from tinygrad_cnn.inspect import activations
from tinygrad_cnn.models import LeNet5

import claims
import figures

model = claims.trained("LeNet-5")
test_images, test_labels = claims.digits()
tg.manual_seed(0)
start = LeNet5()  # the same seed: the weights training started from
print(f"LeNet-5, {claims.count_parameters(model):,} parameters: test accuracy "
      f"{100 * claims.accuracy(model, test_images, test_labels):.1f}% on 1,000 digits")
w1, w1_start = model.conv1.weight.numpy(), start.conv1.weight.numpy()
moved = np.linalg.norm(w1 - w1_start) / np.linalg.norm(w1_start)
print(f"conv1 moved {100 * moved:.0f}% of its initial norm; the most similar pair of its "
      f"6 filters has |cosine| {claims.filter_similarity(w1):.2f} "
      f"(at the start: {claims.filter_similarity(w1_start):.2f})")
figures.quote("p06.params", claims.count_parameters(model), "{:,}")
figures.quote("p06.moved", moved, "{:.0%}")
figures.quote("p06.cosine", claims.filter_similarity(w1), "{:.2f}")
figures.quote("p06.cosine_start", claims.filter_similarity(w1_start), "{:.2f}")

# %%
# Do the kernels matter one by one?
# ---------------------------------
# Zero the weights of all conv1 filters but one, or of just one, and measure the test
# accuracy of the network as trained (nothing retrained).
ablation = claims.filter_ablation(model, test_images, test_labels)
print(f"all 6 filters: {100 * ablation['all']:.1f}%")
print("only filter f kept:   " + ", ".join(f"{100 * a:.1f}%" for a in ablation["keep_one"]))
print("only filter f zeroed: " + ", ".join(f"{100 * a:.1f}%" for a in ablation["drop_one"]))
figures.quote("p06.acc_all", ablation["all"], "{:.1%}")
for f, (kept, dropped) in enumerate(zip(ablation["keep_one"], ablation["drop_one"])):
    figures.quote(f"p06.kept_{f}", kept, "{:.1%}")
    figures.quote(f"p06.removed_{f}", dropped, "{:.1%}")
needed = int(np.argmin(ablation["drop_one"]))
figures.quote("p06.needed", needed, "{}")
figures.quote("p06.others_cost_max", 100 * max(ablation["all"] - a for f, a in
                                               enumerate(ablation["drop_one"]) if f != needed),
              "{:.1f}")
figures.quote("p06.kept_min", min(ablation["keep_one"]), "{:.0%}")
figures.quote("p06.kept_max", max(ablation["keep_one"]), "{:.0%}")

# %%
# conv1's filters and the maps they make
# --------------------------------------
# ``tinygrad_cnn.inspect.activations`` records every layer's output through forward
# hooks; the feature maps below are conv1's output after the ReLU.
picks = [int(np.flatnonzero(test_labels == d)[0]) for d in (0, 4, 7)]
maps = activations(model, Tensor(test_images[picks]))["relu1"].numpy()
fig, axes = plt.subplots(4, 7, figsize=(9.6, 5.8), layout="constrained")
axes[0, 0].axis("off")
axes[0, 0].text(0.5, 0.5, "conv1's filters\n(5x5, red +, blue -)", ha="center",
                va="center", transform=axes[0, 0].transAxes)
weight_max = float(np.abs(w1).max())
for f in range(6):
    weights = figures.image(axes[0, f + 1], w1[f, 0], f"filter {f}\nalone: "
                            f"{100 * ablation['keep_one'][f]:.0f}%", signed=True,
                            vmax=weight_max)
map_max = float(maps.max())
for r, index in enumerate(picks):
    figures.image(axes[r + 1, 0], test_images[index, 0], f"digit {test_labels[index]}")
    for f in range(6):
        shown = figures.image(axes[r + 1, f + 1], maps[r, f], vmax=map_max)
figures.colorbar(fig, weights, axes[0, :], "weight")
figures.colorbar(fig, shown, axes[1:, :], "ReLU output")
fig.suptitle("conv1's six filters (top row) and the maps they make after the ReLU, for "
             "three test digits", fontsize=9.5)
figures.save(fig, "06_conv1_filters.png")

# %%
# conv2's filters
# ---------------
# conv2 has 16 filters, each reading all 6 maps of conv1 through its own 5x5 kernel: a
# grid of 16 x 6 kernels.
w2 = model.conv2.weight.numpy()
fig, axes = plt.subplots(6, 16, figsize=(9.6, 3.9), layout="constrained")
vmax = float(np.abs(w2).max())
for out in range(16):
    for inp in range(6):
        shown = figures.image(axes[inp, out], w2[out, inp], signed=True, vmax=vmax)
    axes[0, out].set_title(str(out), fontsize=8)
for inp in range(6):
    axes[inp, 0].set_ylabel(f"map {inp}", fontsize=8)
figures.colorbar(fig, shown, axes, "weight")
fig.suptitle("conv2: filter (column) x input map of conv1 (row)", fontsize=9.5)
figures.save(fig, "06_conv2_filters.png")
figures.show()
