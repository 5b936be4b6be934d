"""
13. A smarter head: convolutions and a global average
=====================================================

The talk asks: "Why do we put fully connected layers on top of the convolutional layers?
If our classification label is translation-invariant, there should be a smarter way?" One
answer: make the head convolutional too (a class score at every position) and average the
scores over all positions. We train that network beside LeNet-5, LeNet-5 without pooling
and the fully connected network, and move the test digits.
Page: :doc:`/lecture/13-smarter-head`.
"""

# %%
# Four networks, trained alike
# ----------------------------
# Ten epochs of Adam on the 4,000 training digits (as pages 6 to 10), none shown a moved
# digit; tested on the 1,000 test digits moved by 0 to 4 pixels (mean of four directions).
import matplotlib.pyplot as plt
import numpy as np
from tinygrad_cnn.models import LeNet5GAP

import claims_more

import figures

print(LeNet5GAP())
names = {"LeNet-5": "lenet", "LeNet-5, conv head + GAP": "gap",
         "LeNet-5 without pooling": "nopool", "MLP": "mlp"}
moves = (0, 1, 2, 3, 4)
table = claims_more.shift_table(names, moves)
for name, (params, accs) in table.items():
    key = names[name]
    texts = [figures.quote(f"p13.acc_{key}_{m}px", a, "{:.1%}") for m, a in zip(moves, accs)]
    print(f"{name:26s} {figures.quote(f'p13.params_{key}', params, '{:,}'):>7s} parameters  "
          + "  ".join(f"{m} px {t}" for m, t in zip(moves, texts)))
# page 7's comparison that isolates pooling: the same numbers under page 7's keys
for key in ("lenet", "nopool"):
    name = next(n for n, k in names.items() if k == key)
    for m, a in zip(moves, table[name][1]):
        figures.quote(f"p07.acc_{key}_{m}px", a, "{:.1%}")
    loss = table[name][1][0] - table[name][1][2]
    figures.quote(f"p07.loss_{key}_2px", 100 * loss, "{:.1f}")
    figures.quote(f"p07.loss_{key}_4px", 100 * (table[name][1][0] - table[name][1][4]), "{:.1f}")
figures.quote("p07.loss_mlp_4px", 100 * (table["MLP"][1][0] - table["MLP"][1][4]), "{:.1f}")
figures.quote("p07.acc_mlp_4px", table["MLP"][1][4], "{:.1%}")

# %%
# The picture
# -----------
fig, (ax, ax_p) = plt.subplots(1, 2, figsize=(9.6, 3.6), layout="constrained",
                               width_ratios=[1.5, 1])
colors = {"LeNet-5": figures.COLORS["conv"], "LeNet-5, conv head + GAP": figures.COLORS["pool"],
          "LeNet-5 without pooling": figures.COLORS["orange"], "MLP": figures.COLORS["dense"]}
for name, (_params, accs) in table.items():
    ax.plot(moves, 100 * np.array(accs), "o-", color=colors[name], label=name)
ax.set_xticks(moves)
ax.set_ylim(0, 100)
ax.set_xlabel("move (pixels)")
ax.set_ylabel("test accuracy (%)")
ax.set_title("accuracy on moved digits (none moved in training)")
ax.legend(frameon=False, loc="lower left")
ax_p.barh(range(len(table)), [p for p, _ in table.values()],
          color=[colors[n] for n in table])
ax_p.set_yticks(range(len(table)), list(table))
ax_p.invert_yaxis()
ax_p.set_xlabel("parameters")
ax_p.set_title("size")
for i, (params, _) in enumerate(table.values()):
    ax_p.text(params, i, f" {params:,}", va="center", fontsize=8)
ax_p.set_xlim(0, 80_000)
figures.save(fig, "13_smarter_head.png")
figures.show()
