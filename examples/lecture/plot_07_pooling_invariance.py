"""
7. Pooling gives local translation invariance
=============================================

Move a digit by a pixel or two. The convolution's output moves with it, so almost every
unit at a fixed position changes its value. A max pool reports the largest value in a
window, which survives small moves inside the window. We count how many units keep their
value, and how a trained LeNet-5 copes with moved digits. Page:
:doc:`/lecture/07-pooling`.
"""

# %%
# How many units keep their value?
# --------------------------------
# conv1 of the trained LeNet-5 (10 epochs on the sample, as on page 6), on 200 test digits
# moved by 1, 2 and 3 pixels in each of the four directions. A unit counts if the digit
# drives it to a positive value (other than its value on a blank image) in either position;
# it *keeps its value* if the two values agree to 1e-6 of the largest.
import matplotlib.pyplot as plt
import numpy as np
import tinygrad_cnn as tg
from tinygrad_cnn import Tensor
from tinygrad_cnn.nn import functional as F

import claims
import figures

model = claims.trained("LeNet-5")
images, labels = claims.digits()
shifts = (1, 2, 3)
share_kept = claims.unchanged_share(model.conv1, images[:200], shifts)
for stage, key in zip(share_kept, ("conv", "pool2", "pool3")):
    for s, v in zip(shifts, share_kept[stage]):
        figures.quote(f"p07.kept_{key}_{s}px", v, "{:.1%}")
figures.quote("p07.kept_pool2_1px_round", share_kept["max pool 2x2, stride 2 (LeNet-5)"][0],
              "{:.0%}")
figures.quote("p07.kept_pool3_1px_round", share_kept["max pool 3x3, stride 1"][0], "{:.0%}")
for stage, shares in share_kept.items():
    print(f"{stage:34s} " + "  ".join(f"{s} px: {100 * v:5.1f}%"
                                      for s, v in zip(shifts, shares)))

# %%
# Accuracy on moved digits
# ------------------------
# The same LeNet-5 and the fully connected network of page 10 (784-78-10, same training),
# tested on the 1,000 test digits moved by 0 to 4 pixels (mean over the four directions).
# Neither network saw a moved digit in training.
moves = (0, 1, 2, 3, 4)
curves = {name: claims.accuracy_under_shift(claims.trained(name), images, labels, moves)
          for name in claims.MODELS}
for name, accs in curves.items():
    key = "lenet" if name == "LeNet-5" else "mlp"
    for s, a in zip(moves, accs):
        figures.quote(f"p07.acc_{key}_{s}px", a, "{:.1%}")
    for s in (1, 2):
        figures.quote(f"p07.loss_{key}_{s}px", 100 * (accs[0] - accs[s]), "{:.1f}")
for name, accs in curves.items():
    print(f"{name:8s} " + "  ".join(f"{s} px: {100 * a:5.1f}%" for s, a in zip(moves, accs)))

# %%
# One digit moved by one pixel
# ----------------------------
index, channel = 0, 1
with tg.no_grad():
    pair = np.concatenate([images[index:index + 1], claims.shift(images[index:index + 1], 1),
                           np.zeros_like(images[:1])])        # before, after, blank
    detector = F.relu(model.conv1(Tensor(pair)))
    pooled = F.max_pool2d(detector, 2).numpy()[:, channel]
    detector = detector.numpy()[:, channel]
vmax = float(detector.max())


def kept_map(maps):
    """1 where a responding unit changed, 0.35 where it kept its value, 0 elsewhere; and
    the counts (the definition of claims.unchanged_share, for one map)."""
    before, after, blank = maps
    tol = 1e-6 * vmax
    responding = (((np.abs(before - blank) > tol) | (np.abs(after - blank) > tol))
                  & ((before > tol) | (after > tol)))
    kept = responding & (np.abs(before - after) <= tol)
    return np.where(kept, 0.35, responding.astype(float)), kept.sum(), responding.sum()


moved = pair[1, 0]
before_only = np.clip(pair[0, 0] - moved, 0, 1)
overlay = np.stack([1 - moved, 1 - moved - 0.5 * before_only, 1 - moved - before_only], axis=-1)
fig = plt.figure(figsize=(9.6, 5.6), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1.05, 1])
axes = top.subplots(1, 5)
figures.image(axes[0], np.zeros((28, 28)), "digit moved 1 px right\n(orange: where it was)")
axes[0].imshow(np.clip(overlay, 0, 1))
figures.image(axes[1], detector[0], f"conv1 + ReLU, map {channel}", vmax=vmax)
figures.image(axes[2], detector[1], "... after the move", vmax=vmax)
shown, kept, responding = kept_map(detector)
figures.image(axes[3], shown, f"kept: {kept} of {responding}\nresponding units", vmax=1)
shown, kept, responding = kept_map(pooled)
figures.image(axes[4], shown, f"after the 2x2 max pool:\nkept {kept} of {responding}",
              vmax=1)
axes[4].text(0.5, -0.08, "black: changed, grey: kept", ha="center", va="top",
             transform=axes[4].transAxes)
ax_share, ax_acc = bottom.subplots(1, 2)
styles = {"conv + ReLU": ("o-", figures.COLORS["conv"]),
          "max pool 2x2, stride 2 (LeNet-5)": ("s-", figures.COLORS["pool"]),
          "max pool 3x3, stride 1": ("^-", figures.COLORS["other"])}
for stage, shares in share_kept.items():
    marker, color = styles[stage]
    ax_share.plot(shifts, 100 * np.array(shares), marker, color=color, label=stage)
ax_share.set_xticks(shifts)
ax_share.set_xlabel("move (pixels)")
ax_share.set_ylabel("units keeping their value (%)")
ax_share.set_title("responding units of conv1 that keep their value")
ax_share.legend(frameon=False)
for (name, accs), color in zip(curves.items(), (figures.COLORS["conv"],
                                                figures.COLORS["dense"])):
    ax_acc.plot(moves, 100 * np.array(accs), "o-", color=color, label=name)
ax_acc.set_xticks(moves)
ax_acc.set_ylim(0, 100)
ax_acc.set_xlabel("move (pixels)")
ax_acc.set_ylabel("test accuracy (%)")
ax_acc.set_title("accuracy on moved digits (not trained on any)")
ax_acc.legend(frameon=False)
figures.save(fig, "07_pooling.png")
figures.show()
