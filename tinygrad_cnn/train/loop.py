"""The training loop behind ``tinygrad-cnn train`` and the examples: :func:`fit`.

Epochs (:func:`~tinygrad_cnn.train.epoch.train_epoch`) of SGD-momentum or Adam with loss,
accuracy and images/s; evaluation under ``no_grad`` in ``eval()`` mode after each; a
checkpoint after every epoch (and on Ctrl-C) holding model, optimizer, position and RNG
state, so that a resumed run ends with exactly the weights of an uninterrupted one.

Nothing a run finished is lost to what reports on it. At the end of an epoch the checkpoint
is written first (by the one run holding it: :class:`~.lock.CheckpointLock`), then the
``--log`` line (:class:`~.runlog.MetricsLog`), then the printed summary; a log that cannot be
written is a warning, a closed stdout (``train | head -2``) is ignored (:func:`~.progress.say`).

A loss that stopped being finite ends training with :class:`TrainingDiverged`, and weights
that are not finite are never written over a checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import itertools
import os
import sys

import numpy as np

from .. import backend, data, optim
from ..autograd import no_grad
from ..backend import threads
from ..data import DataLoader, DatasetError, RandomShift, RegistryView, get_dataset
from ..fileio import check_writable
from ..models import LeNet5
from ..serialization import CheckpointError
from .checkpoint import (
    check_same_run,
    describe_checkpoint,
    read_checkpoint,
    saved_run_id,
    write_checkpoint,
)
from .config import ConfigError, TrainConfig
from .epoch import EpochState, LossNotFinite, train_epoch
from .lock import CheckpointLock
from .metrics import evaluate, read_to_host
from .progress import say
from .runlog import MetricsLog, check_log, new_run_id
from .signals import StopOnSignal

__all__ = ["RECIPES", "TrainingDiverged", "TrainingInterrupted", "check_destinations", "fit",
           "load_datasets", "make_optimizer"]

#: dataset name -> its training defaults as a dict (optimizer, lr, epochs, schedule, augment);
#: read-only, from each dataset's record (``data.get_dataset(name).recipe``).
RECIPES = RegistryView(lambda info: dataclasses.asdict(info.recipe))


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
    """The optimizer ``name`` (``"sgd"`` or ``"adam"``) over ``params``; Adam ignores
    ``momentum``."""
    name = name.lower()
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ConfigError(f"unknown optimizer {name!r}; choose sgd or adam")


def check_destinations(config: TrainConfig) -> None:
    """Fail now, not after an epoch, when the checkpoint or log cannot be written (or is a
    FIFO, a device, a directory), when the log is not a metrics log of ours, or when the
    checkpoint would replace another run's without ``resume`` or ``force``."""
    if config.resume and not config.checkpoint:
        raise ConfigError("resume needs a checkpoint file to continue from, but checkpoints "
                          "are disabled (--checkpoint '')")
    if config.checkpoint:
        check_writable(config.checkpoint, "checkpoint", example="lenet5.npz")
        if os.path.exists(config.checkpoint) and not (config.resume or config.force):
            raise FileExistsError(
                errno.EEXIST,
                f"refusing to overwrite {describe_checkpoint(config.checkpoint)}: continue "
                "it with --resume, replace it with --force, or choose another --checkpoint",
                config.checkpoint)
    if config.log:
        check_log(config.log, config.checkpoint)


@dataclasses.dataclass
class _Run:
    """What a run trains with: its resolved settings, the model, optimizer, schedule and
    loaders; ``about`` describes the data and ``untouched`` says what a failure before the
    run's first checkpoint leaves on disk; ``run_id`` names the run in its log lines and
    ``lock`` holds its checkpoint."""

    config: TrainConfig
    model: LeNet5
    optimizer: object
    scheduler: object
    train_loader: DataLoader
    test_loader: DataLoader
    about: str
    untouched: str = ""
    run_id: str = ""
    lock: CheckpointLock | None = None


@dataclasses.dataclass
class _Position:
    """Where a run stands: finished ``epoch``\\ s, how far the current one got (``state``),
    the finished epochs' metrics, the random state the current epoch started from (None:
    it starts now) and the (epoch, batch) of the last checkpoint this run wrote."""

    epoch: int = 0
    state: EpochState = EpochState()
    history: list = dataclasses.field(default_factory=list)
    rng_epoch_start: dict | None = None
    saved: tuple | None = None


# ----------------------------------------------------------------------------- the loop

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
    CheckpointInUseError (an OSError)
        Another run holds ``config.checkpoint``.
    OSError
        The checkpoint could not be written (a full disk); the message names it and says
        which checkpoint was kept.
    """
    out = out or sys.stdout
    check_destinations(config)  # before taking the lock, which makes missing directories
    run_id = (config.resume and saved_run_id(config.checkpoint)) or new_run_id()
    with (CheckpointLock(config.checkpoint, run_id) if config.checkpoint
          else contextlib.nullcontext()) as lock:
        check_destinations(config)  # again, now that no other run can write meanwhile
        run = _prepare(config, datasets)
        run.run_id, run.lock = run_id, lock
        config = run.config
        position = _resume(run, out)
        if position.epoch >= config.epochs:
            _nothing_to_train(run, position, out)
            return run.model, position.history
        # --threads N fixes the BLAS threads for this run only; else they are measured
        with threads.fixed_for(config.threads):
            say(f"training LeNet-5 on {run.about} with {config.optimizer} lr {config.lr:g} "
                f"({config.schedule}), batch {config.batch_size}, {config.epochs} epochs"
                + (f", random shifts of up to {config.augment} px" if config.augment else "")
                + f", device {config.device}"
                + ("" if backend.is_accelerator(config.device)
                   else f", BLAS threads {threads.threads_setting()}"), out)
            run.untouched = (f"{config.checkpoint} was left as it was"
                             if config.checkpoint and os.path.exists(config.checkpoint)
                             else "no checkpoint was written")
            log = MetricsLog(config.log, run_id, bool(config.checkpoint)) if config.log else None
            try:
                # NumPy's overflow warnings would only precede our own clearer divergence message
                with StopOnSignal() as stopper, np.errstate(over="ignore", invalid="ignore",
                                                             divide="ignore"):
                    for epoch in range(position.epoch, config.epochs):
                        _run_epoch(run, position, epoch, stopper, progress, out, log)
            finally:
                if log:
                    log.close()
    return run.model, position.history


def _nothing_to_train(run: _Run, position: _Position, out) -> None:
    """Say that a resumed run had already finished, instead of a banner and no epochs."""
    config, last = run.config, (position.history or [{}])[-1]
    accuracy = last.get("test_accuracy")
    how = ("its cosine schedule ends there: train longer as a new run (another "
           "--checkpoint, or --force)" if config.schedule == "cosine"
           else "give a larger --epochs to train it further")
    say(f"nothing was trained: {config.checkpoint} has already finished {position.epoch} "
        f"of --epochs {config.epochs}"
        + (f" (test accuracy {100 * accuracy:.2f}%)"
           if isinstance(accuracy, (int, float)) else "")
        + f"; {how}", out)


def _prepare(config: TrainConfig, datasets) -> _Run:
    """Load the data, resolve the settings and build the model, optimizer and loaders."""
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
    return _Run(config, model, optimizer, scheduler, train_loader, test_loader,
                about=_describe(dataset, train_set, test_set))


def _resume(run: _Run, out) -> _Position:
    """Where the run starts: from ``config.checkpoint`` when resuming one, else afresh."""
    config = run.config
    if not (config.resume and os.path.exists(config.checkpoint)):
        if config.resume:
            say(f"--resume: no checkpoint at {config.checkpoint}, starting afresh", out)
        return _Position()
    state = read_checkpoint(config.checkpoint, model=run.model)
    check_same_run(state["config"], config)
    run.model.load_state_dict(state["model"])
    try:
        run.optimizer.load_state_dict(state["optimizer"])
        if run.scheduler is not None:
            run.scheduler.load_state_dict(state["scheduler"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{config.checkpoint}: its optimizer or schedule state "
                              f"does not fit this run ({exc})") from exc
    epoch, batch = state["epoch"], state["batch"]
    if epoch < config.epochs:
        say(f"resuming from {config.checkpoint}: epoch {epoch + 1}, batch {batch}", out)
    return _Position(epoch=epoch, state=EpochState(batch=batch, **state["running"]),
                     history=state["history"], rng_epoch_start=state["rng_epoch_start"],
                     saved=(epoch, batch))


def _run_epoch(run: _Run, position: _Position, epoch: int, stopper, progress, out,
               log) -> None:
    """Train epoch ``epoch`` (continuing it when ``position`` stands inside it), evaluate,
    then checkpoint, log and report, in that order; ``position`` then stands after it."""
    config = run.config
    if position.rng_epoch_start is not None:
        backend.set_state(position.rng_epoch_start)  # replay this epoch's shuffle
    position.rng_epoch_start = backend.get_state()
    batches = iter(run.train_loader)  # draws the epoch's permutation
    if position.state.batch:
        batches = itertools.islice(batches, position.state.batch, None)
    try:
        state = train_epoch(run.model, run.optimizer, batches, scheduler=run.scheduler,
                            state=position.state, total=len(run.train_loader),
                            label=f"epoch {epoch + 1}/{config.epochs}", progress=progress,
                            should_stop=lambda: stopper.stop)
    except LossNotFinite as exc:
        raise _diverged(run, position, epoch, exc.batch, "the loss became NaN or infinite",
                        exc.advice(f"the data, {run.about}")) from None
    if not _all_finite(run.model):
        raise _diverged(run, position, epoch, state.batch, "the weights became NaN or infinite")
    if stopper.stop:
        if config.checkpoint:
            _save(run, position, epoch, state.batch, position.rng_epoch_start,
                  state.running_sums())
        raise TrainingInterrupted(
            f"interrupted in epoch {epoch + 1} after batch {state.batch}"
            + (f"; checkpoint saved to {config.checkpoint}, continue with --resume"
               if config.checkpoint else "")
        )
    metrics = _epoch_metrics(run.model, run.test_loader, state, epoch, progress)
    if not backend.is_accelerator(config.device):
        # batches per BLAS thread count, as the tuner (or --threads) ran them
        usage = threads.tuner("training").take_usage()
        metrics["threads"] = {str(count): n for count, n in usage.items()}
    position.history.append(metrics)
    position.state, position.rng_epoch_start = EpochState(), None
    if config.checkpoint:
        _save(run, position, epoch + 1, 0, backend.get_state(), position.state.running_sums())
    if log:
        log.add(metrics)
    say(_summary(metrics, config.epochs), out)


def _save(run: _Run, position: _Position, epoch: int, batch: int, rng_epoch_start,
          running) -> None:
    """Write the checkpoint at (``epoch`` finished, ``batch`` of the next), if this run
    still holds it; a failure names the file and the checkpoint that was kept."""
    config, where = run.config, f"epoch {epoch}" + (f", batch {batch}" if batch else "")
    args = (run.model, run.optimizer, run.scheduler, config, epoch, batch, rng_epoch_start,
            running, position.history, run.run_id)
    run.lock.check(lambda path: write_checkpoint(path, *args), where)
    try:
        write_checkpoint(config.checkpoint, *args)
    except OSError as exc:
        saved = position.saved
        kept = (f"the last checkpoint (epoch {saved[0]}" + (f", batch {saved[1]}"
                                                            if saved[1] else "")
                + ") was kept" if saved else run.untouched)
        then = ("; free some space, then continue with --resume"
                if saved and exc.errno == errno.ENOSPC else "")
        raise OSError(exc.errno, f"cannot write the checkpoint of {where} "
                      f"({exc.strerror or exc}); {kept}{then}", config.checkpoint) from exc
    run.lock.wrote()
    position.saved = (epoch, batch)


def _diverged(run: _Run, position: _Position, epoch: int, batch: int,
              what: str, why: str | None = None) -> TrainingDiverged:
    saved = position.saved
    kept = (f"the last good checkpoint, {run.config.checkpoint} (epoch {saved[0]}"
            + (f", batch {saved[1]}" if saved[1] else "") + "), was kept"
            if saved else run.untouched)
    return TrainingDiverged(
        f"training diverged: {what} in epoch {epoch + 1} at batch {batch} of "
        f"{len(run.train_loader)} ({why or f'lr {run.config.lr:g} is probably too high'}); "
        f"{kept}")


@no_grad()
def _all_finite(model) -> bool:
    """Whether every parameter is finite: one reduction per parameter, one transfer."""
    params = list(model.parameters())
    if not params:
        return True
    xp = backend.array_module(params[0].device)
    flags = xp.stack([xp.isfinite(p.data).all() for p in params])
    return bool(read_to_host(xp, flags)[0].all())


def _epoch_metrics(model, test_loader, state: EpochState, epoch: int, progress) -> dict:
    test = evaluate(model, test_loader, progress=progress)
    seen = max(state.seen, 1)
    return {
        "epoch": epoch + 1,
        "train_loss": state.loss / seen,
        "train_accuracy": state.correct / seen,
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "images_per_second": state.seen / max(state.seconds, 1e-9),
        "seconds": state.seconds,
    }


def _summary(m: dict, epochs: int) -> str:
    line = (f"epoch {m['epoch']:>2}/{epochs}  train loss {m['train_loss']:.4f} "
            f"acc {100 * m['train_accuracy']:5.2f}%  test loss {m['test_loss']:.4f} "
            f"acc {100 * m['test_accuracy']:5.2f}%  {m['images_per_second']:,.0f} img/s "
            f"({m['seconds']:.1f} s)")
    if m.get("threads"):
        line += f"  {_threads_used(m['threads'])}"
    return line


def _threads_used(usage: dict) -> str:
    """``{"1": 930, "2": 8}`` -> ``"threads 1"`` (the count most batches ran with; the
    others were the tuner's probes)."""
    count = max(usage, key=usage.get)
    return f"threads {count}"


def _describe(dataset, train_set, test_set) -> str:
    return (f"{get_dataset(dataset).title} ({len(train_set):,} train / {len(test_set):,} "
            "test images)")
