"""Loss, accuracy and confusion counts summed on the device, read to the host in one
transfer.

On a GPU, every read of a device value makes Python wait for the device to finish all the
work queued so far. Summing per batch on the host (``loss.item()``, ``int(correct)``) does
that after every step, so Python never runs ahead. Here the sums stay device arrays (a few
small kernels per batch, never waited for) and are read together, once, when someone needs
the numbers: the progress display, the end of an epoch, the end of an evaluation.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..backend import threads
from ..nn import functional as F
from .progress import progress_bar

__all__ = ["DeviceTally", "evaluate", "read_to_host"]


def read_to_host(xp, *arrays) -> list[np.ndarray]:
    """Several device arrays in one host transfer (as float64, exact for counts < 2**53)."""
    flat = [xp.asarray(a).astype(xp.float64).ravel() for a in arrays]
    host = backend.to_host(xp.concatenate(flat))
    pieces, start = [], 0
    for a, f in zip(arrays, flat):
        pieces.append(host[start:start + f.size].reshape(xp.asarray(a).shape))
        start += f.size
    return pieces


_NEVER = 2**52  # "no bad batch yet"; exact in float64, larger than any batch count


class DeviceTally:
    """An epoch's running loss sum, correct count and first non-finite batch, as device
    arrays: adding a batch launches a few small kernels and never waits for them."""

    def __init__(self, xp, loss_sum: float, correct: int):
        self.xp = xp
        self.loss_sum = xp.asarray(loss_sum, dtype=xp.float64)
        self.correct = xp.asarray(int(correct), dtype=xp.int64)
        self.first_bad = xp.asarray(_NEVER, dtype=xp.int64)

    def add(self, loss, logits, labels, batch: int, n: int) -> None:
        xp = self.xp
        loss = loss.astype(xp.float64)
        self.loss_sum = self.loss_sum + loss * n
        self.correct = self.correct + (logits.argmax(axis=1) == labels).sum()
        self.first_bad = xp.minimum(self.first_bad, xp.where(xp.isfinite(loss), _NEVER, batch))

    def read(self) -> tuple[float, int, int | None]:
        """``(loss sum, correct, first bad batch or None)``: one host transfer."""
        loss_sum, correct, first_bad = read_to_host(self.xp, self.loss_sum, self.correct,
                                                     self.first_bad)
        first_bad = int(first_bad)
        return float(loss_sum), int(correct), (None if first_bad == _NEVER else first_bad)



@no_grad()
def evaluate(model, loader, num_classes: int | None = None, progress: bool | None = None,
             predictions: bool = False) -> dict:
    """Mean loss, accuracy and the confusion matrix (rows: true class, columns: predicted).

    Sums stay on the device and are read once, at the end. With ``predictions`` the result
    also holds ``predicted`` (class per sample, in the loader's order) and ``confidence``
    (the softmax probability of that class).

    Parameters
    ----------
    num_classes : int, optional
        Default: the model's number of outputs.
    """
    was_training = model.training
    model.eval()
    seen, sums, kept = 0, None, []
    bar = progress_bar(len(loader), "evaluate", enabled=progress)
    tuner = None
    try:
        for images, labels in loader:
            if tuner is None and not backend.on_accelerator(images.data):
                tuner = threads.tuner("evaluation")  # BLAS threads chosen by timing batches
            if tuner is not None:
                tuner.begin()
            logits = model(images)
            xp = backend.array_module(logits.device)
            if sums is None:
                n_classes = num_classes or logits.shape[1]
                classes = xp.arange(n_classes)
                sums = [xp.zeros((), xp.float64), xp.zeros((n_classes, n_classes), xp.int64)]
            loss = F.cross_entropy(logits, labels, reduction="sum").data
            predicted = logits.data.argmax(axis=1)
            # confusion counts as one-hot(true)^T @ one-hot(predicted): no bincount, whose
            # CuPy version reads the maximum back to the host
            truth_1h = (labels.data[:, None] == classes).astype(xp.float32)
            predicted_1h = (predicted[:, None] == classes).astype(xp.float32)
            sums[0] = sums[0] + loss.astype(xp.float64)
            sums[1] = sums[1] + (truth_1h.T @ predicted_1h).astype(xp.int64)
            if predictions:
                shifted = logits.data - logits.data.max(axis=1, keepdims=True)
                kept.append((predicted, 1.0 / xp.exp(shifted).sum(axis=1)))
            seen += labels.shape[0]
            if tuner is not None:
                tuner.end(labels.shape[0])
            bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    if seen == 0:
        raise ValueError("evaluate: the loader yielded no samples (an empty dataset?)")
    extra = ([xp.concatenate([p for p, _ in kept]), xp.concatenate([c for _, c in kept])]
             if predictions else [])
    loss_sum, confusion, *extra = read_to_host(xp, *sums, *extra)  # the one transfer
    confusion = confusion.astype(np.int64)
    counted = int(confusion.sum())
    if counted != seen:
        raise ValueError(f"evaluate: {seen - counted} of {seen} labels lie outside "
                         f"[0, {len(confusion) - 1}], the model's classes")
    result = {"loss": float(loss_sum) / seen, "accuracy": float(np.trace(confusion)) / seen,
              "confusion": confusion}
    if predictions:
        result["predicted"] = extra[0].astype(np.int64)
        result["confidence"] = extra[1].astype(np.float32)
    return result
