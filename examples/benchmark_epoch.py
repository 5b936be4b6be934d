"""Where the time of a `tinygrad-cnn train` epoch goes: bare training steps, the data
loader, the bookkeeping for the progress line, evaluation, and the CLI itself, with
PyTorch's bare steps over the same batches beside them.

    python examples/benchmark_epoch.py [--dataset fashion-mnist] [--rounds 2] [--threads N]
                                       [--images N] [--no-torch] [--no-cli] [--json]

Every part runs in worker processes of its own, PyTorch and ours alternating over the
rounds, with the same thread count, on the same training images (batch 64, SGD with
momentum 0.9, lr 0.01, the same initial weights for the two libraries' bare steps):

* steps: the epoch's batches cut from the dataset in a shuffled order and wrapped as
  tensors before the clock starts; only forward, loss, backward and the SGD step are timed.
* loader: a pass of ``DataLoader(train_set, 64, shuffle=True)`` doing nothing else.
* loader + steps, then + bookkeeping: the steps fed by the loader, then also reading the
  loss as a Python float and counting correct predictions, as the CLI's loop does.
* evaluation: ``tinygrad_cnn.train.evaluate`` over the test set in batches of 1,000.
* CLI: ``tinygrad-cnn train --dataset DATASET --epochs 1 --checkpoint ''`` as a user runs
  it: the training seconds it logs (``--log``, key ``seconds``) and the process's wall time.

Each measurement notes the share of the CPU other processes took meanwhile; with
``--max-other-cpu`` (default 0.1) those above it are left out of the medians (all are kept
and flagged when none is quiet). ``--images N`` times the parts on the first N shuffled
images only, scaled to the whole epoch (the CLI part always runs a whole epoch).

This script uses only public names, plus ``tinygrad_cnn.train.evaluate`` and the CLI's
``--epochs``, ``--checkpoint ''`` and ``--log`` options: if the training loop moves, these are
the lines to update.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from tinygrad_cnn import benchmark_worker as bw
from tinygrad_cnn.benchmark import default_threads, thread_env

BATCH = 64
OURS_PARTS = ["steps", "loader", "loader + steps", "loader + steps + bookkeeping",
              "evaluation"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["fashion-mnist", "mnist"], default="fashion-mnist")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=default_threads())
    p.add_argument("--images", type=int, default=None,
                   help="time the parts on this many training images (default: all)")
    p.add_argument("--max-other-cpu", type=float, default=0.1)
    p.add_argument("--no-torch", dest="torch", action="store_false")
    p.add_argument("--no-cli", dest="cli", action="store_false")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- workers

def _datasets(name):
    from tinygrad_cnn.data import MNIST, FashionMNIST

    cls = FashionMNIST if name == "fashion-mnist" else MNIST
    return cls(train=True, normalize=True), cls(train=False, normalize=True)


def _epoch_batches(train_set, images):
    order = np.random.default_rng(0).permutation(len(train_set))[:images]
    return [(train_set.images[order[i:i + BATCH]], train_set.labels[order[i:i + BATCH]])
            for i in range(0, len(order), BATCH)]


def _timed(fn):
    with bw.CpuWatch() as watch:
        fn()
    return watch.record


def ours_worker(args, weights):
    import tinygrad_cnn as tg
    from tinygrad_cnn.data import ArrayDataset, DataLoader
    from tinygrad_cnn.nn import functional as F
    from tinygrad_cnn.train import evaluate

    train_set, test_set = _datasets(args.dataset)
    images = args.images or len(train_set)
    subset = ArrayDataset(train_set.images[:images], train_set.labels[:images])
    batches = [(tg.Tensor(x), tg.Tensor(y)) for x, y in _epoch_batches(train_set, images)]
    model, opt = bw.build_ours(weights)
    tg.manual_seed(0)
    stats = {}

    def step(x, y):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return logits, loss

    def steps():
        for x, y in batches:
            step(x, y)

    def loader():
        for _ in DataLoader(subset, BATCH, shuffle=True):
            pass

    def loader_steps():
        for x, y in DataLoader(subset, BATCH, shuffle=True):
            step(x, y)

    def bookkeeping():
        loss_sum, correct, seen = 0.0, 0, 0
        for x, y in DataLoader(subset, BATCH, shuffle=True):
            logits, loss = step(x, y)
            n = y.shape[0]
            loss_sum += float(loss.item()) * n
            correct += int((logits.data.argmax(axis=1) == y.data).sum())
            seen += n

    def evaluation():
        evaluate(model, DataLoader(test_set, 1000), progress=False)

    for x, y in batches[:5]:  # warm-up
        step(x, y)
    for name, fn in zip(OURS_PARTS, (steps, loader, loader_steps, bookkeeping, evaluation)):
        stats[name] = _timed(fn)
        if name != "evaluation":
            stats[name]["seconds"] *= len(train_set) / images  # scaled to a whole epoch
    return stats


def torch_worker(args, weights):
    import torch

    torch.set_num_threads(args.threads)
    train_set, _ = _datasets(args.dataset)
    images = args.images or len(train_set)
    batches = [(torch.from_numpy(x), torch.from_numpy(y))
               for x, y in _epoch_batches(train_set, images)]
    model, opt = bw.build_torch(weights)

    def steps():
        for x, y in batches:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    for x, y in batches[:5]:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    record = _timed(steps)
    record["seconds"] *= len(train_set) / images
    return {"steps": record}


def cli_run(args, scratch):
    """One ``tinygrad-cnn train`` epoch as a user runs it, with its CPU share."""
    log = os.path.join(scratch, "cli-log.jsonl")
    if os.path.exists(log):
        os.remove(log)
    command = [sys.executable, "-m", "tinygrad_cnn", "train", "--dataset", args.dataset,
               "--epochs", "1", "--checkpoint", "", "--log", log]
    cpus = sorted(os.sched_getaffinity(0))
    children = _children_cpu()
    busy0, start = bw.machine_busy_seconds(cpus), time.perf_counter()
    done = subprocess.run(command, env=thread_env(args.threads), capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    busy1 = bw.machine_busy_seconds(cpus)
    if done.returncode != 0:
        sys.exit(f"tinygrad-cnn train failed:\n{done.stderr}")
    with open(log) as f:
        logged = json.loads(f.readline())
    other = bw.other_cpu_share(wall, busy1 - busy0, _children_cpu() - children, len(cpus))
    resolution = bw.tick_resolution(wall, len(cpus))
    return {"CLI: training seconds it logs": {"seconds": logged["seconds"], "other_cpu": other,
                                              "resolution": resolution},
            "CLI: process wall time": {"seconds": wall, "other_cpu": other,
                                       "resolution": resolution},
            "test_accuracy": logged["test_accuracy"]}


def _children_cpu():
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------- the parent

def run_worker(library, args, inputs):
    result = os.path.join(inputs, f"{library}.json")
    command = [sys.executable, os.path.abspath(__file__), "worker", library, inputs, result,
               *sys.argv[1:]]
    done = subprocess.run(command, env=thread_env(args.threads), capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"the {library} worker failed:\n{done.stderr}")
    with open(result) as f:
        return json.load(f)


def median_of(records, max_other_cpu):
    quiet = [r for r in records if bw.is_quiet(r, max_other_cpu)]
    kept = quiet or records
    values = sorted(r["seconds"] for r in kept)
    return {"median": statistics.median(values), "min": values[0], "max": values[-1],
            "runs": len(kept), "left_out": len(records) - len(kept), "disturbed": not quiet,
            "other_cpu": [r["other_cpu"] for r in records]}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        library, inputs, result = argv[1:4]
        args = parse_args(argv[4:])
        weights, _ = bw.read_inputs(inputs, "train", BATCH)
        out = (ours_worker if library == "ours" else torch_worker)(args, weights)
        with open(result, "w") as f:
            json.dump(out, f)
        return 0
    args = parse_args(argv)
    if args.torch:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            print("PyTorch is not installed: ours only", file=sys.stderr)
            args.torch = False
    records, accuracy = {}, []
    with tempfile.TemporaryDirectory(prefix="tinygrad-cnn-epoch-") as inputs:
        bw.write_inputs(inputs, [("train", BATCH)])
        for r in range(args.rounds):
            parts = {}
            if args.torch:
                parts.update({f"PyTorch {k}": v for k, v in
                              run_worker("torch", args, inputs).items()})
            parts.update(run_worker("ours", args, inputs))
            if args.cli:
                cli = cli_run(args, inputs)
                accuracy.append(cli.pop("test_accuracy"))
                parts.update(cli)
            for name, record in parts.items():
                records.setdefault(name, []).append(record)
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{k} {v['seconds']:.1f} s" for k, v in parts.items()), file=sys.stderr,
                flush=True)
    summary = {name: median_of(recs, args.max_other_cpu) for name, recs in records.items()}
    if args.json:
        print(json.dumps({"dataset": args.dataset, "threads": args.threads,
                          "images": args.images, "parts": summary}, indent=1))
        return 0
    bare = summary["steps"]["median"]
    print(f"{args.dataset}, one epoch of training images at batch {BATCH}, {args.threads} "
          f"threads, {args.rounds} rounds; seconds per epoch, median (min-max) over runs "
          f"with other processes under {100 * args.max_other_cpu:g}% of the CPU")
    print()
    print("| part | seconds | relative to our bare steps |")
    print("| --- | --- | --- |")
    for name, s in summary.items():
        flag = " (disturbed)" if s["disturbed"] else ""
        print(f"| {name} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}){flag} | "
              f"{s['median'] / bare:.2f} |")
    if accuracy:
        print(f"\nCLI test accuracy after the epoch: "
              f"{', '.join(f'{100 * a:.2f}%' for a in accuracy)}")
    left = sum(s["left_out"] for s in summary.values())
    print(f"runs left out (other processes above the threshold): {left}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
