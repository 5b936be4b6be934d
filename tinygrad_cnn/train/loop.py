"""The training loop behind ``tinygrad-cnn train`` and the examples.

Epochs of SGD-momentum or Adam with loss, accuracy and images/s; evaluation under
``no_grad`` in ``eval()`` mode; a checkpoint after every epoch (and on Ctrl-C) holding
model, optimizer, position and RNG state, so that a resumed run ends with exactly the
weights of an uninterrupted one.

The loop never waits on the device inside a step: the loss sum, the count of correct
predictions and the first batch whose loss was not finite accumulate as device arrays,
read in one transfer when the progress display is refreshed (every
:data:`READ_INTERVAL` seconds) and at the end of the epoch. A loss that stopped being
finite ends training with :class:`TrainingDiverged`, and weights that are not finite are
never written over a checkpoint.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import json
import math
import os
import signal
import sys
import time

import numpy as np

from .. import backend, optim
from ..autograd import no_grad
from .checkpoint import (
    CHECKPOINT_FORMAT,
    describe_checkpoint,
    inspect_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from ..checks import is_int
from .. import data
from ..data import DataLoader, DatasetError, RandomShift, RegistryView, get_dataset
from ..fileio import check_writable
from .metrics import DeviceTally, evaluate, read_to_host
from ..models import LeNet5
from ..nn import functional as F
from .progress import progress_bar
from ..serialization import CheckpointError

__all__ = ["CHECKPOINT_FORMAT", "ConfigError", "READ_INTERVAL", "RECIPES", "TrainConfig",
           "TrainingDiverged", "TrainingInterrupted", "evaluate", "fit", "inspect_checkpoint",
           "load_datasets", "make_optimizer", "read_checkpoint", "write_checkpoint"]

#: Seconds between reads of the running loss and accuracy from the device during an epoch
#: (each read is one host transfer; between reads the device runs ahead undisturbed).
READ_INTERVAL = 0.5

#: dataset name -> its training defaults as a dict (optimizer, lr, epochs, schedule, augment);
#: read-only, from each dataset's record (``data.get_dataset(name).recipe``).
RECIPES = RegistryView(lambda info: dataclasses.asdict(info.recipe))


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run; stored in checkpoints so ``resume`` can check it.

    ``force`` allows replacing an existing checkpoint without resuming it; ``download``
    fetches MNIST / Fashion-MNIST when they are not found.
    """

    dataset: str = "auto"
    data_dir: str | None = None
    epochs: int | None = None
    batch_size: int = 64
    lr: float | None = None
    optimizer: str | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str | None = None
    augment: int | None = None
    seed: int = 0
    device: str | None = None
    normalize: bool = True
    checkpoint: str | None = None
    resume: bool = False
    log: str | None = None
    force: bool = False
    download: bool = False

    def resolved(self, dataset: str) -> TrainConfig:
        """A copy with ``dataset`` fixed and the recipe's defaults filled in, validated."""
        try:
            info = get_dataset(dataset)
        except DatasetError as exc:
            raise ConfigError(str(exc)) from None
        recipe = info.recipe
        pick = {k: getattr(self, k) if getattr(self, k) is not None else getattr(recipe, k)
                for k in ("epochs", "lr", "schedule", "augment")}
        if pick["schedule"] not in ("cosine", "constant"):
            raise ConfigError(f"unknown schedule {pick['schedule']!r}; choose cosine or constant")
        config = dataclasses.replace(
            self, dataset=info.name, **pick,
            optimizer=(self.optimizer or recipe.optimizer).lower(),
            device=backend.parse_device(self.device) if self.device else backend.default_device(),
        )
        _check_settings(config)
        return config


def _check_settings(config: TrainConfig) -> None:
    """Refuse settings that cannot train (each message names the setting)."""
    for name in ("epochs", "batch_size"):
        value = getattr(config, name)
        if not is_int(value) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(config.lr, (int, float)) and math.isfinite(config.lr)
            and config.lr > 0):
        raise ConfigError(f"lr must be a positive finite number, got {config.lr!r}")
    for name in ("momentum", "weight_decay"):
        value = getattr(config, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a non-negative finite number, got {value!r}")
    if isinstance(config.augment, bool) or not isinstance(config.augment, int) \
            or config.augment < 0:
        raise ConfigError(f"augment must be a non-negative integer, got {config.augment!r}")


class ConfigError(ValueError):
    """Settings that cannot train (a non-positive batch size, an infinite learning rate, an
    unknown dataset); the message names the setting."""


class TrainingInterrupted(Exception):
    """Ctrl-C (or SIGTERM) stopped training after the current batch was checkpointed."""


class TrainingDiverged(RuntimeError):
    """The loss (or the weights) stopped being finite; the message names the epoch and
    batch, and the last good checkpoint was kept."""


# ----------------------------------------------------------------------------- set-up

def load_datasets(name: str = "auto", data_dir=None, normalize: bool = True,
                  download: bool = False, train: bool = True):
    """:func:`tinygrad_cnn.data.load_datasets`, its refusals (an unknown dataset, a data
    directory for the bundled one) raised as :class:`ConfigError`, a setting that cannot
    train."""
    try:
        return data.load_datasets(name, data_dir, normalize, download, train)
    except DatasetError as exc:
        raise ConfigError(str(exc)) from None


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0):
    name = name.lower()
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r}; choose sgd or adam")


# ----------------------------------------------------------------------------- signals

class _StopOnSignal:
    """Turn SIGINT/SIGTERM into a flag checked between batches, so a checkpoint being
    written is finished rather than cut, and training stops at a clean point."""

    def __init__(self):
        self.stop = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.stop:  # a second Ctrl-C means "now"
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


# ----------------------------------------------------------------------------- the loop

def check_destinations(config: TrainConfig) -> None:
    """Fail now, not after an epoch, when the checkpoint or log cannot be written, or when
    the checkpoint would replace another run's without ``resume`` or ``force``."""
    if config.resume and not config.checkpoint:
        raise ConfigError("resume needs a checkpoint file to continue from, but checkpoints "
                          "are disabled (--checkpoint '')")
    if config.checkpoint:
        check_writable(config.checkpoint, "checkpoint")
        if os.path.exists(config.checkpoint) and not (config.resume or config.force):
            raise FileExistsError(
                errno.EEXIST,
                f"refusing to overwrite {describe_checkpoint(config.checkpoint)}: continue "
                "it with --resume, replace it with --force, or choose another --checkpoint",
                config.checkpoint)
    if config.log:
        check_writable(config.log, "--log file")


def fit(config: TrainConfig, out=None, progress: bool | None = None, datasets=None):
    """Train LeNet-5 as ``config`` says; return ``(model, history)``.

    ``history`` holds one dict per epoch: train loss/accuracy, test loss/accuracy, images/s
    and seconds. With ``config.checkpoint`` a checkpoint is written after every epoch; with
    ``config.resume`` training continues from it. ``datasets`` (train, test) replaces
    loading by name, e.g. for a subset; ``config.dataset`` then names the recipe.

    Raises
    ------
    TrainingInterrupted
        After checkpointing, when stopped by a signal.
    TrainingDiverged
        The loss or the weights stopped being finite; nothing was written over the last
        good checkpoint.
    FileExistsError
        ``config.checkpoint`` exists and neither ``resume`` nor ``force`` is set.
    """
    out = out or sys.stdout
    check_destinations(config)
    if datasets is None:
        train_set, test_set, dataset = load_datasets(config.dataset, config.data_dir,
                                                     config.normalize, config.download)
    else:
        (train_set, test_set), dataset = datasets, config.dataset
    config = config.resolved(dataset)
    for name, part in (("training", train_set), ("test", test_set)):
        if len(part) == 0:
            raise ConfigError(f"the {name} set is empty: nothing to {name[:5]} on "
                              f"({_describe(dataset, train_set, test_set)})")
    backend.manual_seed(config.seed)
    model = LeNet5(num_classes=len(train_set.classes)).to(config.device)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr,
                               config.momentum, config.weight_decay)
    train_loader = DataLoader(train_set, config.batch_size, shuffle=True, device=config.device,
                              transform=RandomShift(config.augment) if config.augment else None)
    scheduler = None
    if config.schedule == "cosine":
        scheduler = optim.CosineAnnealingLR(optimizer, T_max=config.epochs * len(train_loader))
    test_loader = DataLoader(test_set, 1000, device=config.device)

    start_epoch, skip, history = 0, 0, []
    running = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
    rng_epoch_start = None
    saved = None  # (epoch, batch) of the last checkpoint on disk from this run
    if config.resume and os.path.exists(config.checkpoint):
        state = read_checkpoint(config.checkpoint, model=model)
        _check_same_run(state["config"], config)
        model.load_state_dict(state["model"])
        try:
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{config.checkpoint}: its optimizer or schedule state "
                                  f"does not fit this run ({exc})") from exc
        start_epoch, skip, history = state["epoch"], state["batch"], state["history"]
        running = state["running"]
        rng_epoch_start = state["rng_epoch_start"]
        saved = (start_epoch, skip)
        print(f"resuming from {config.checkpoint}: epoch {start_epoch + 1}, batch {skip}",
              file=out)
    elif config.resume:
        print(f"--resume: no checkpoint at {config.checkpoint}, starting afresh", file=out)

    print(f"training LeNet-5 on {_describe(dataset, train_set, test_set)} with "
          f"{config.optimizer} lr {config.lr:g} ({config.schedule}), batch {config.batch_size}, "
          f"{config.epochs} epochs"
          + (f", random shifts of up to {config.augment} px" if config.augment else "")
          + f", device {config.device}", file=out)

    untouched = (f"{config.checkpoint} was left as it was"
                 if config.checkpoint and os.path.exists(config.checkpoint)
                 else "no checkpoint was written")

    def diverged(epoch, batch, what):
        kept = (f"the last good checkpoint, {config.checkpoint} (epoch {saved[0]}"
                + (f", batch {saved[1]}" if saved[1] else "") + "), was kept"
                if saved else untouched)
        return TrainingDiverged(
            f"training diverged: {what} in epoch {epoch + 1} at batch {batch} of "
            f"{len(train_loader)} (lr {config.lr:g} is probably too high); {kept}")

    log = open(config.log, "a") if config.log else None
    try:
        # NumPy's overflow warnings would only precede our own clearer divergence message
        with _StopOnSignal() as stopper, np.errstate(over="ignore", invalid="ignore",
                                                     divide="ignore"):
            for epoch in range(start_epoch, config.epochs):
                if rng_epoch_start is not None:
                    backend.set_state(rng_epoch_start)  # replay this epoch's shuffle
                rng_epoch_start = backend.get_state()
                batches = iter(train_loader)  # draws the epoch's permutation
                if skip:
                    batches = itertools.islice(batches, skip, None)
                try:
                    done = _train_epoch(model, optimizer, scheduler, batches, len(train_loader),
                                        skip, running, epoch, config, stopper, progress)
                except _LossNotFinite as exc:
                    raise diverged(epoch, exc.batch, "the loss became NaN or infinite") \
                        from None
                if not _all_finite(model):
                    raise diverged(epoch, done, "the weights became NaN or infinite")
                if stopper.stop:
                    if config.checkpoint:
                        write_checkpoint(config.checkpoint, model, optimizer, scheduler, config,
                                         epoch, done, rng_epoch_start, running, history)
                    raise TrainingInterrupted(
                        f"interrupted in epoch {epoch + 1} after batch {done}"
                        + (f"; checkpoint saved to {config.checkpoint}, continue with --resume"
                           if config.checkpoint else "")
                    )
                metrics = _epoch_metrics(model, test_loader, running, epoch, progress)
                history.append(metrics)
                print(_summary(metrics, config.epochs), file=out, flush=True)
                if log:
                    log.write(json.dumps(metrics) + "\n")
                    log.flush()
                skip, rng_epoch_start = 0, None
                running = {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
                if config.checkpoint:
                    write_checkpoint(config.checkpoint, model, optimizer, scheduler, config,
                                     epoch + 1, 0, backend.get_state(), running, history)
                    saved = (epoch + 1, 0)
    finally:
        if log:
            log.close()
    return model, history


class _LossNotFinite(Exception):
    def __init__(self, batch: int):
        super().__init__(batch)
        self.batch = batch


def _train_epoch(model, optimizer, scheduler, batches, total, done, running, epoch, config,
                 stopper, progress) -> int:
    """One pass over ``batches``; updates ``running`` in place; returns batches done.

    Raises _LossNotFinite at the first read that finds a non-finite loss.
    """
    model.train()
    tally = DeviceTally(backend.array_module(config.device), running["loss"],
                         running["correct"])
    seen = int(running["seen"])
    bar = progress_bar(total, f"epoch {epoch + 1}/{config.epochs}", enabled=progress,
                       initial=done)
    start = last_read = time.perf_counter()
    seconds_before = running["seconds"]

    def read():
        loss_sum, correct, first_bad = tally.read()
        if first_bad is not None:
            raise _LossNotFinite(first_bad)
        return loss_sum, correct

    try:
        for images, labels in batches:
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            n = labels.shape[0]
            done += 1
            seen += n
            tally.add(loss.data, logits.data, labels.data, done, n)
            bar.update(1)
            now = time.perf_counter()
            if now - last_read >= READ_INTERVAL:
                last_read = now
                loss_sum, correct = read()
                seconds = seconds_before + now - start
                bar.set_postfix_str(f"loss {loss_sum / seen:.4f}  acc {100 * correct / seen:.1f}%"
                                    f"  {seen / max(seconds, 1e-9):,.0f} img/s")
            if stopper.stop:
                break
        loss_sum, correct = read()  # waits for the device: the epoch's time is now true
    finally:
        bar.close()
    running.update(loss=loss_sum, correct=correct, seen=seen,
                   seconds=seconds_before + time.perf_counter() - start)
    return done


@no_grad()
def _all_finite(model) -> bool:
    """Whether every parameter is finite: one reduction per parameter, one transfer."""
    params = list(model.parameters())
    if not params:
        return True
    xp = backend.array_module(params[0].device)
    flags = xp.stack([xp.isfinite(p.data).all() for p in params])
    return bool(read_to_host(xp, flags)[0].all())


def _epoch_metrics(model, test_loader, running, epoch, progress) -> dict:
    test = evaluate(model, test_loader, progress=progress)
    seen = max(running["seen"], 1)
    return {
        "epoch": epoch + 1,
        "train_loss": running["loss"] / seen,
        "train_accuracy": running["correct"] / seen,
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "images_per_second": running["seen"] / max(running["seconds"], 1e-9),
        "seconds": running["seconds"],
    }


def _summary(m: dict, epochs: int) -> str:
    return (f"epoch {m['epoch']:>2}/{epochs}  train loss {m['train_loss']:.4f} "
            f"acc {100 * m['train_accuracy']:5.2f}%  test loss {m['test_loss']:.4f} "
            f"acc {100 * m['test_accuracy']:5.2f}%  {m['images_per_second']:,.0f} img/s "
            f"({m['seconds']:.1f} s)")


def _describe(dataset, train_set, test_set) -> str:
    return (f"{get_dataset(dataset).title} ({len(train_set):,} train / {len(test_set):,} "
            "test images)")


def _check_same_run(saved: dict, config: TrainConfig) -> None:
    """Refuse to resume a checkpoint made with another recipe (its result would be neither
    run's)."""
    keys = ("dataset", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "seed",
            "normalize", "schedule", "augment")
    if config.schedule == "cosine":
        keys += ("epochs",)  # the schedule's length is part of the recipe
    different = [f"{k}: checkpoint {saved.get(k)!r}, now {getattr(config, k)!r}"
                 for k in keys if saved.get(k) != getattr(config, k)]
    if different:
        raise CheckpointError(f"{config.checkpoint}: cannot resume: the checkpoint was made "
                              "with other settings (" + "; ".join(different) + ")")
