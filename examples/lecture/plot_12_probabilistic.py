"""
12. The network as a probabilistic model
========================================

The talk: a feed-forward network is a probabilistic model, trained by maximising the
log-likelihood with stochastic gradient descent, its gradient from backpropagation. For a
classifier, the softmax of the last layer's outputs is a distribution over the classes, the
cross-entropy loss is the negative log-likelihood of the labels, and its gradient with
respect to the outputs is ``p - onehot(y)``. We measure all three on the trained LeNet-5,
and ask whether its probabilities mean what they say (calibration).
Page: :doc:`/lecture/12-probabilistic`.
"""

# %%
# A distribution, a likelihood, a gradient
# ----------------------------------------
import matplotlib.pyplot as plt
import numpy as np

import claims_more

import claims
import figures

lenet = claims.trained("LeNet-5")
images, labels = claims.digits()
check = claims_more.likelihood_check(lenet, images, labels)
print(f"largest |sum of p - 1| over 1,000 digits: "
      f"{figures.quote('p12.sum_to_one', check['sum_to_one'], '{:.0e}')}")
print(f"cross_entropy: {figures.quote('p12.cross_entropy', check['cross_entropy'], '{:.6f}')}"
      f"  -mean log p(label): {figures.quote('p12.nll', check['nll'], '{:.6f}')}")
print(f"gradient from backpropagation against (p - onehot) / N: largest difference "
      f"{figures.quote('p12.gradient_error', check['gradient_error'], '{:.0e}')} "
      f"(entries up to {check['gradient_scale']:.0e})")

# %%
# Calibration
# -----------
# The 1,000 test digits grouped by the probability the network gives its answer (its
# confidence), in ten bins; in each bin, how often the answer is right.
table = claims_more.reliability(claims_more.probabilities(lenet, images), labels)
print(f"expected calibration error: {figures.quote('p12.ece', table['ece'], '{:.3f}')}; "
      "mean confidence "
      f"{figures.quote('p12.mean_confidence', table['mean_confidence'], '{:.1%}')}, "
      f"accuracy {figures.quote('p12.accuracy', table['accuracy_all'], '{:.1%}')}")
top = table["count"][-1]
print(f"digits with confidence above 0.9: {figures.quote('p12.top_bin_count', int(top), '{:,}')}, "
      f"right {figures.quote('p12.top_bin_accuracy', table['accuracy'][-1], '{:.1%}')}")

# %%
# The picture
# -----------
fig, (ax_p, ax_r, ax_n) = plt.subplots(1, 3, figsize=(9.6, 3.4), layout="constrained",
                                       width_ratios=[1, 1.1, 0.9])
all_p = claims_more.probabilities(lenet, images)
pick = int(np.argmin(np.where(all_p.argmax(1) == labels, all_p.max(1), 2)))  # least sure, right
p = all_p[pick]
ax_p.bar(range(10), p, color=figures.COLORS["conv"])
ax_p.set_xticks(range(10))
ax_p.set_ylim(0, 1)
ax_p.set_xlabel("class")
ax_p.set_ylabel("softmax probability")
ax_p.set_title(f"the least sure right answer (label {labels[pick]}):\n"
               f"probabilities summing to {p.sum():.4f}")
inset = ax_p.inset_axes([0.62, 0.5, 0.36, 0.45])
figures.image(inset, images[pick, 0], vmax=1)
centres = (table["edges"][:-1] + table["edges"][1:]) / 2
seen = table["count"] > 0
ax_r.plot([0, 1], [0, 1], ":", color=figures.COLORS["grey"], label="calibrated")
ax_r.bar(centres[seen], table["accuracy"][seen], width=0.09, color=figures.COLORS["conv"],
         alpha=0.8, label="accuracy in the bin")
ax_r.plot(table["confidence"][seen], table["accuracy"][seen], "o", color=figures.COLORS["dense"],
          ms=4, label="(mean confidence, accuracy)")
ax_r.set_xlim(0, 1)
# accuracy runs from 0 to 1; the band above 1 holds the legend, so it never covers a bar
# whatever the bins hold (a bin right at accuracy 1 sat under it)
ax_r.set_ylim(0, 1.32)
ax_r.set_yticks(np.linspace(0, 1, 6))
ax_r.spines["left"].set_bounds(0, 1)
ax_r.set_xlabel("confidence (probability of the answer)")
ax_r.set_ylabel("accuracy")
ax_r.set_title(f"reliability diagram, ECE {table['ece']:.3f}")
ax_r.legend(frameon=False, loc="upper left", ncols=2, fontsize="small", borderaxespad=0.1,
            columnspacing=1.0, handlelength=1.5)
ax_n.bar(centres, table["count"], width=0.09, color=figures.COLORS["grey"])
ax_n.set_yscale("log")
ax_n.set_ylim(0.5, 2000)
ax_n.set_xlim(0, 1)
ax_n.set_xlabel("confidence")
ax_n.set_ylabel("test digits in the bin (log scale)")
ax_n.set_title("how many digits each bin holds")
figures.save(fig, "12_probabilistic.png")
figures.show()
