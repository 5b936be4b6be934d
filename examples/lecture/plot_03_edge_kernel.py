"""
3. An edge kernel
=================

The two-tap kernel ``w = (-1, 1)`` turns a signal into the differences of neighbouring
samples: zero where the signal is flat, large where it jumps. On an image it finds edges,
vertical ones when it slides along the rows and horizontal ones when it slides down the
columns. Page: :doc:`/lecture/03-edge-kernel`.
"""

# %%
# One row of a digit
# ------------------
import matplotlib.pyplot as plt
import numpy as np
from tinygrad_cnn import Tensor
from tinygrad_cnn.nn import functional as F

import claims
import figures

images, labels = claims.digits()
digit = images[3, 0]
row = 14
signal = digit[row]
kernel = Tensor(claims.EDGE_KERNEL.reshape(1, 1, 2))
difference = F.conv1d(Tensor(signal.reshape(1, 1, 28)), kernel).numpy().ravel()
print("conv1d with (-1, 1) equals numpy.diff:", np.array_equal(difference, np.diff(signal)))

# %%
# The whole digit, and all the test digits
# ----------------------------------------
across, down = claims.edge_maps(images)
print(f"vertical edges (kernel along rows): output {across.shape[2:]}; horizontal edges "
      f"(kernel down columns): output {down.shape[2:]}")
for name, response in (("along rows", across), ("down columns", down)):
    flat = response == 0
    where = "rows" if name == "along rows" else "columns"
    figures.quote(f"p03.zero_{where}", flat.mean(), "{:.1%}")
    figures.quote(f"p03.strong_{where}", (np.abs(response) > claims.EDGE_STEP).mean(), "{:.1%}")
    strong = np.abs(response) > claims.EDGE_STEP
    print(f"{name}: {100 * flat.mean():.1f}% of the outputs are exactly 0 (flat "
          f"background or flat ink); {100 * strong.mean():.1f}% exceed "
          f"{claims.EDGE_STEP} in magnitude (edges), over {len(images):,} test digits")

# %%
# The picture
# -----------
fig = plt.figure(figsize=(9.6, 4.6), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.1])
ax_in, ax_out = top.subplots(1, 2)
ax_in.step(np.arange(28), signal, where="mid", color="k")
ax_in.set_title(f"f: row {row} of the digit (intensity)")
ax_in.set_xlabel("t")
ax_out.axhline(0, color="#cccccc", lw=0.8)
ax_out.bar(np.arange(27) + 0.5, difference, width=0.8,
           color=np.where(difference > 0, "#b2182b", "#2166ac"))
ax_out.set_title("conv1d(f, (-1, 1)): f[t+1] - f[t], nonzero only where f changes")
ax_out.set_xlabel("t (between samples t and t+1)")
for ax in (ax_in, ax_out):
    ax.set_xlim(-1, 28)
axes = bottom.subplots(1, 3)
figures.image(axes[0], digit, f"a digit ({labels[3]})")
axes[0].axhline(row, color=figures.COLORS["orange"], lw=1)
vmax = float(np.abs(np.concatenate([across[3].ravel(), down[3].ravel()])).max())
figures.image(axes[1], across[3, 0], "kernel (-1, 1) along the rows:\nvertical edges",
              signed=True, vmax=vmax)
figures.image(axes[2], down[3, 0], "kernel (-1, 1) down the columns:\nhorizontal edges",
              signed=True, vmax=vmax)
figures.save(fig, "03_edge_kernel.png")
figures.show()
