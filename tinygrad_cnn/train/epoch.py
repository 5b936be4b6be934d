"""One training epoch: the entry point that :func:`~tinygrad_cnn.train.fit` and
``tinygrad-cnn bench --epoch`` both call.

An epoch is a pass of forward, cross-entropy loss, backward and optimizer step (and the
learning-rate schedule's step) over the batches it is given. The loop never waits on the
device inside a step: the loss sum, the count of correct predictions, the first batch
whose loss was not finite (:class:`~.metrics.DeviceTally`) and whether the inputs were
finite accumulate as device arrays, read in one transfer when the progress display is
refreshed (every :data:`READ_INTERVAL` seconds) and at the end of the epoch, which is also
when the epoch's seconds are true.

Where an epoch stands (batches done, running sums, seconds) is an :class:`EpochState`, so a
checkpoint taken mid-epoch can hand it back and the epoch continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable

from .. import backend
from ..backend import threads
from ..nn import functional as F
from .metrics import DeviceTally, read_to_host
from .progress import progress_bar

__all__ = ["READ_INTERVAL", "EpochState", "LossNotFinite", "train_epoch"]

#: Seconds between reads of the running loss and accuracy from the device during an epoch
#: (each read is one host transfer; between reads the device runs ahead undisturbed).
READ_INTERVAL = 0.5
_NO_BATCH = 2**52  # "no such batch yet": exact in float64, larger than any batch count


@dataclasses.dataclass(frozen=True)
class EpochState:
    """Where an epoch stands: ``batch`` batches done, over ``seen`` images, with loss sum
    ``loss`` (per image, summed), ``correct`` predictions and ``seconds`` of training.

    A fresh epoch starts from ``EpochState()``; a checkpoint stores ``batch`` and
    :meth:`running_sums` and gives them back to continue.
    """

    batch: int = 0
    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0

    def running_sums(self) -> dict:
        """The sums as a checkpoint's ``running`` field holds them."""
        return {"loss": self.loss, "correct": self.correct, "seen": self.seen,
                "seconds": self.seconds}


class LossNotFinite(Exception):
    """The loss of batch ``batch`` (counted from 1 in the epoch) was NaN or infinite; the
    caller decides what that means for the run (``fit`` ends it as diverged).

    ``images``: the first batch whose images already held NaN or infinite values, if one
    did up to ``batch``; ``weights_finite``: whether the weights were finite when the
    epoch began. Either one means the learning rate is not to blame (:meth:`advice`).
    """

    def __init__(self, batch: int, images: int | None = None, weights_finite: bool = True):
        super().__init__(batch)
        self.batch, self.images, self.weights_finite = batch, images, weights_finite

    def advice(self, data: str = "the data") -> str | None:
        """What to check when the inputs, not the learning rate, made the loss non-finite
        (``data`` names the dataset), else None."""
        if not self.weights_finite:
            return ("not the learning rate: the weights were already NaN or infinite when the "
                    "epoch began; check the model or checkpoint they came from")
        if self.images is not None:
            return (f"not the learning rate: the images of batch {self.images} already held "
                    f"NaN or infinite values; check {data}")
        return None


class _InputWatch:
    """Whether the inputs of the loss were finite, as device arrays that are read only
    when the loss was not: the weights when the epoch began, and the first batch whose
    images were not (a few small kernels per batch, never waited for)."""

    def __init__(self, xp, params):
        self.xp = xp
        self.weights_finite = xp.stack([xp.isfinite(p.data).all() for p in params]).all()
        self.first_bad_images = xp.asarray(_NO_BATCH, dtype=xp.int64)

    def add(self, images, batch: int) -> None:
        finite = self.xp.isfinite(getattr(images, "data", images)).all()
        self.first_bad_images = self.xp.minimum(self.first_bad_images,
                                                self.xp.where(finite, _NO_BATCH, batch))

    def diagnose(self, batch: int) -> LossNotFinite:
        """The error for a non-finite loss at ``batch``: one host transfer."""
        weights_finite, first_bad = read_to_host(self.xp, self.weights_finite,
                                                 self.first_bad_images)
        images = int(first_bad) if first_bad <= batch else None
        return LossNotFinite(batch, images, bool(weights_finite))


def train_epoch(model, optimizer, batches: Iterable, *, scheduler=None,
                state: EpochState | None = None, total: int | None = None, label: str = "",
                progress: bool | None = None,
                should_stop: Callable[[], bool] | None = None) -> EpochState:
    """Train ``model`` on each ``(images, labels)`` batch of ``batches``; return where the
    epoch then stands.

    Parameters
    ----------
    model, optimizer
        The model (its parameters say which device the sums live on) and its optimizer.
    batches : iterable of (Tensor, Tensor)
        The batches still to train on (a resumed epoch passes only the remaining ones).
    scheduler : optional
        A learning-rate schedule stepped after every optimizer step.
    state : EpochState, optional
        Where the epoch stood before these batches (default: a fresh epoch).
    total : int, optional
        Batches in the whole epoch, for the progress bar (default: ``len(batches)``).
    label : str
        Shown before the progress bar (``"epoch 3/10"``).
    progress : bool, optional
        Force the progress bar on or off; default: on where the output is a terminal.
    should_stop : callable, optional
        Asked after every batch; the epoch ends early when it returns True (a signal was
        caught), and the returned state says how far it got.

    Raises
    ------
    LossNotFinite
        At the first read of the sums that finds a non-finite loss; it says whether the
        images or the starting weights were already not finite.
    """
    state = state or EpochState()
    total = len(batches) if total is None else total
    model.train()
    first = next(model.parameters()).data
    xp = backend.xp_of(first)
    # on the CPU the BLAS thread count is chosen by timing these steps (a GPU run leaves it)
    tuner = None if backend.on_accelerator(first) else threads.tuner("training")
    tally = DeviceTally(xp, state.loss, state.correct)
    inputs = _InputWatch(xp, model.parameters())
    done, seen = state.batch, int(state.seen)
    bar = progress_bar(total, label, enabled=progress, initial=done)
    start = last_read = time.perf_counter()

    def read():
        loss_sum, correct, first_bad = tally.read()
        if first_bad is not None:
            raise inputs.diagnose(first_bad)
        return loss_sum, correct

    try:
        for images, labels in batches:
            if tuner is not None:
                tuner.begin()
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            n = labels.shape[0]
            if tuner is not None:
                tuner.end(n)
            done += 1
            seen += n
            tally.add(loss.data, logits.data, labels.data, done, n)
            inputs.add(images, done)
            bar.update(1)
            now = time.perf_counter()
            if now - last_read >= READ_INTERVAL:
                last_read = now
                loss_sum, correct = read()
                seconds = state.seconds + now - start
                bar.set_postfix_str(f"loss {loss_sum / seen:.4f}  acc {100 * correct / seen:.1f}%"
                                    f"  {seen / max(seconds, 1e-9):,.0f} img/s")
            if should_stop is not None and should_stop():
                break
        loss_sum, correct = read()  # waits for the device: the epoch's time is now true
    finally:
        bar.close()
    return EpochState(batch=done, loss=loss_sum, correct=correct, seen=seen,
                      seconds=state.seconds + time.perf_counter() - start)
