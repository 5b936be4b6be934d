"""
14. Pixelwise classification: the classifier as a fully convolutional network
=============================================================================

The talk ends with pixelwise classification (detection, segmentation). A trained classifier
becomes a dense one without retraining: its fully connected layers are convolutions whose
kernels cover the whole input (fc1: 5x5 over pool2's 16 maps; fc2, fc3: 1x1), with the same
weights. Run once over a large image, it scores every 28x28 window at a stride of 4 pixels
and shares the convolutions between overlapping windows.
Page: :doc:`/lecture/14-pixelwise`.
"""

# %%
# The same network, rewritten
# ---------------------------
import matplotlib.pyplot as plt
import numpy as np
from tinygrad_cnn.models import fully_convolutional

import claims_more

import claims
import figures

lenet = claims.trained("LeNet-5")
print(fully_convolutional(lenet))
equal = claims_more.equal_on_digits(lenet)
print(f"LeNet-5 against its fully convolutional rewrite on 1,000 digits: largest difference "
      f"{figures.quote('p14.equal_digits', equal, '{:.0e}')} of the largest logit")

# %%
# One pass over a canvas against every window
# -------------------------------------------
picture, labels, corners = claims_more.canvas()
result = claims_more.pixelwise(lenet, picture, repeats=7)
times = figures.timings("p14.times", [result["fcn_seconds"], result["windows_seconds"]])
print(f"canvas {picture.shape[2]}x{picture.shape[3]} with digits {labels}: "
      f"{figures.quote('p14.n_windows', result['n_windows'], '{:,}')} windows")
print(f"where a window's frame is dark: largest difference "
      f"{figures.quote('p14.diff_dark', result['max_difference_dark'], '{:.1g}')} "
      f"({figures.quote('p14.dark_share', result['dark_frame'].mean(), '{:.0%}')} of the windows)")
print(f"everywhere: same class for "
      f"{figures.quote('p14.same_class', result['same_class'], '{:.1%}')} of the windows")
print(f"one pass {figures.quote('p14.time_fcn', 1e3 * times[0], '{:.1f}', machine=True)} ms, "
      "every window "
      f"{figures.quote('p14.time_windows', 1e3 * times[1], '{:.1f}', machine=True)} ms:"
      f" {figures.quote('p14.speedup', times[1] / times[0], '{:.0f}', machine=True)} times faster")

# %%
# The picture
# -----------
# The class of each window where the network gives it a probability above 0.9, and the
# class of the window exactly on each digit (printed above it). A window
# half over a digit, or over nothing, still gets a class: LeNet-5 was never taught to say
# "no digit here".
logits = result["fcn"]
probs = np.exp(logits - logits.max(0))
probs /= probs.sum(0)
classes, confidence = probs.argmax(0), probs.max(0)
H, W = picture.shape[2:]
extent = (14 - 2, 14 + 4 * (logits.shape[2] - 1) + 2, 14 + 4 * (logits.shape[1] - 1) + 2, 14 - 2)
fig, (ax_c, ax_m, ax_d) = plt.subplots(1, 3, figsize=(9.6, 3.4), layout="constrained",
                                       width_ratios=[1, 1.2, 0.9])
figures.image(ax_c, picture[0, 0], f"canvas {H}x{W}, digits {', '.join(map(str, labels))}",
              vmax=1)
cmap = plt.get_cmap("tab10")
colours = cmap(classes)
colours[..., 3] = np.where(confidence > 0.9, 0.75, 0.0)
ax_m.imshow(np.ones((H, W)), cmap="gray", vmin=0, vmax=1)
ax_m.imshow(colours, extent=extent)
ax_m.imshow(np.ma.masked_equal(picture[0, 0], 0), cmap="gray_r", vmin=0, vmax=1, alpha=0.6)
for r, c in corners:       # the window exactly on each digit
    ax_m.text(c + 14, r - 1, str(classes[r // 4, c // 4]), ha="center", va="bottom",
              fontsize=8, fontweight="bold")
for spine in ax_m.spines.values():
    spine.set_visible(True)
    spine.set_color("#bbbbbb")
ax_m.set_xlim(0, W)
ax_m.set_ylim(H, 0)
ax_m.set_xticks([])
ax_m.set_yticks([])
ax_m.set_title("class of the window centred at each point,\nwhere its probability is above 0.9")
bar = fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(-0.5, 9.5), cmap=cmap), ax=ax_m,
                   ticks=range(10), label="class")
bar.ax.tick_params(labelsize=7)
ax_d.bar([0, 1], [1e3 * times[0], 1e3 * times[1]],
         color=[figures.COLORS["conv"], figures.COLORS["dense"]])
ax_d.set_xticks([0, 1], ["one pass\n(fully convolutional)",
                         f"{result['n_windows']} windows\n(one batch)"])
ax_d.set_ylabel("milliseconds (machine-dependent)")
ax_d.set_title("time, one CPU core")
figures.save(fig, "14_pixelwise.png")
figures.show()
