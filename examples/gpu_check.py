"""Check the GPU path on a machine with a GPU: one command, one summary line per part.

    make gpu-check                      # installs the checkout (--no-deps), then runs this
    python examples/gpu_check.py        # the same, in an environment that has the package
    python examples/gpu_check.py --parts gradcheck,parity

Parts, each printed as ``PASS``/``FAIL``/``SKIP`` with its figures:

1. ``suite``: the whole test suite on device ``cuda`` with real CuPy, to the end (every
   failure is collected, then listed by file in the summary);
2. ``gradcheck``: float64 gradients of conv2d, max_pool2d, avg_pool2d, linear and
   cross_entropy on the GPU against finite differences;
3. ``parity``: LeNet-5 on the CPU and on the GPU, same weights and batch: the loss and every
   gradient agree within float32 rounding;
4. ``train``: ``tinygrad-cnn train --device cuda`` on the bundled sample, one epoch with a
   checkpoint and a resumed second one, against two epochs in one go: the weights, the
   optimizer state and the metrics must be equal bit for bit; then the resumed checkpoint
   is evaluated on the CPU;
5. ``bench``: ``tinygrad-cnn bench --device cuda`` (against PyTorch on the same GPU when a
   CUDA PyTorch is installed, never against the CPU).

Works offline; needs CuPy and a GPU, and for ``suite`` pytest and hypothesis.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ("suite", "gradcheck", "parity", "train", "bench")


class Skip(Exception):
    """The part cannot run here (the message says why)."""


def _run(args, timeout, env=None, stdout_only=False):
    """Run a command from the repository root; (exit code, output, seconds). The output is
    stdout and stderr together, or stdout alone where a command prints JSON there."""
    start = time.perf_counter()
    try:
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env=env)
        output, code = done.stdout + ("" if stdout_only else done.stderr), done.returncode
        if code != 0 and stdout_only:
            output += done.stderr
    except subprocess.TimeoutExpired as exc:
        # both streams: a command that prints JSON at the end says how far it got on stderr
        output = "".join(part.decode(errors="replace") if isinstance(part, bytes) else part
                         for part in (exc.stdout or "", exc.stderr or ""))
        output, code = output + f"\n(timed out after {timeout} s)", 124
    return code, output, time.perf_counter() - start


def _cli(*args, timeout=300):
    return _run([sys.executable, "-m", "tinygrad_cnn", *args], timeout)


def part_suite(args):
    try:
        import pytest  # noqa: F401
    except ImportError:
        raise Skip("pytest is not installed") from None
    env = dict(os.environ, TINYGRAD_CNN_DEVICE="cuda", HYPOTHESIS_PROFILE="ci")
    env.pop("TINYGRAD_CNN_TEST_CUPY", None)  # real CuPy, not the double
    # no -x: one failure (say, a CuPy version the double does not model) must not hide the
    # rest of the suite on a real GPU
    code, output, seconds = _run([sys.executable, "-m", "pytest", "-q", "-p",
                                  "no:cacheprovider", "-ra"], args.suite_timeout, env)
    summary, failures = summarise_pytest(output)
    if args.suite_log:  # the whole output: the tail printed below may not reach the first failure
        with open(args.suite_log, "w", encoding="utf-8") as log:
            log.write(output)
    if code != 0:
        print(output[-6000:])
        for where, tests in failures.items():
            print(f"failed in {where}: {', '.join(tests)}")
    by_file = "; ".join(f"{where}: {len(tests)}" for where, tests in failures.items())
    return code == 0, f"{summary} ({seconds:.0f} s)" + (f"; failures by file: {by_file}"
                                                         if by_file else "")


def summarise_pytest(output: str):
    """``(the final count line, {file: [test, ...]})`` of a pytest run's output, from its
    short summary (``FAILED`` and ``ERROR`` lines)."""
    counts = [line for line in output.splitlines()
              if re.search(r"\d+ (passed|failed|error)", line) and line.startswith("=")
              or re.match(r"^\d+ (passed|failed|error)", line)]
    summary = counts[-1].strip("= ") if counts else (output.strip().splitlines() or ["?"])[-1]
    failures: dict = {}
    for line in output.splitlines():
        found = re.match(r"^(FAILED|ERROR) (\S+?)(::(\S+))?( - .*)?$", line)
        if found:
            failures.setdefault(found.group(2), []).append(found.group(4) or found.group(1))
    return summary, failures


def part_gradcheck(args):
    import tinygrad_cnn as tg
    from tinygrad_cnn import Tensor
    from tinygrad_cnn.nn import functional as F
    from tinygrad_cnn.testing import gradcheck

    rng = np.random.default_rng(0)

    def t(*shape, integers=None):
        if integers is not None:
            return Tensor(rng.integers(0, integers, shape), device="cuda")
        return Tensor(rng.standard_normal(shape), dtype=np.float64, requires_grad=True,
                      device="cuda")

    # distinct values keep every pooling window's maximum unique under the perturbations
    pool_x = Tensor(rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) * 0.1,
                    dtype=np.float64, requires_grad=True, device="cuda")
    checks = {
        "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                   t(2, 3, 7, 7), t(4, 3, 3, 3), t(4)),
        "conv2d_stride1": (lambda x, w: F.conv2d(x, w, padding=2), t(2, 1, 6, 6), t(3, 1, 5, 5)),
        "max_pool2d": (lambda x: F.max_pool2d(x, 2), pool_x),
        "max_pool2d_overlap": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1), pool_x),
        "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), t(2, 3, 6, 6)),
        "linear": (F.linear, t(5, 7), t(4, 7), t(4)),
        "cross_entropy": (lambda x, y: F.cross_entropy(x, y), t(6, 5), t(6, integers=5)),
    }
    passed = []
    for name, (fn, *inputs) in checks.items():
        assert all(x.device == "cuda" for x in inputs)
        gradcheck(fn, *inputs, max_elements=300)
        passed.append(name)
    assert tg.default_device() in ("cpu", "cuda")
    return True, f"{len(passed)} ops on cuda in float64: " + ", ".join(passed)


def part_parity(args):
    import tinygrad_cnn as tg
    from tinygrad_cnn import Tensor
    from tinygrad_cnn.models import LeNet5
    from tinygrad_cnn.nn import functional as F

    rng = np.random.default_rng(1)
    images = rng.random((64, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 64)
    results = {}
    for device in ("cpu", "cuda"):
        tg.manual_seed(0)  # the same weights: drawn on the host, then moved
        model = LeNet5().to(device)
        loss = F.cross_entropy(model(Tensor(images, device=device)),
                               Tensor(labels, device=device))
        loss.backward()
        results[device] = (loss.item(), {n: p.grad.numpy() for n, p in model.named_parameters()})
    (loss_cpu, grads_cpu), (loss_gpu, grads_gpu) = results["cpu"], results["cuda"]
    worst = max(float(np.abs(grads_cpu[n] - grads_gpu[n]).max() /
                      (np.abs(grads_cpu[n]).max() + 1e-12)) for n in grads_cpu)
    ok = abs(loss_cpu - loss_gpu) <= 1e-5 * max(1.0, abs(loss_cpu)) and worst < 1e-4
    return ok, (f"loss cpu {loss_cpu:.7f} gpu {loss_gpu:.7f}; largest gradient difference "
                f"{worst:.1e} of the gradient's scale over {len(grads_cpu)} parameters")


def part_train(args, cli=None, device="cuda"):
    cli = cli or _cli
    with tempfile.TemporaryDirectory() as tmp:
        resumed, whole = os.path.join(tmp, "resumed.npz"), os.path.join(tmp, "whole.npz")
        common = ["--dataset", "sample", "--schedule", "constant", "--device", device]
        runs = (("train 1 epoch", ["train", *common, "--epochs", "1", "--checkpoint", resumed]),
                ("resume to 2 epochs", ["train", *common, "--epochs", "2", "--resume",
                                        "--checkpoint", resumed]),
                ("train 2 epochs in one go", ["train", *common, "--epochs", "2",
                                              "--checkpoint", whole]),
                ("evaluate on the cpu", ["evaluate", "--device", "cpu", "--checkpoint",
                                         resumed]))
        outputs, seconds = [], []
        for what, command in runs:
            code, output, took = cli(*command)
            if code != 0:
                return False, f"{what} ({' '.join(command[:3])}...) failed:\n" + output[-3000:]
            outputs.append(output)
            seconds.append(took)
        differences = compare_checkpoints(resumed, whole)
    if differences:
        return False, (f"a run resumed on {device} differs from an uninterrupted one: "
                       + "; ".join(differences[:8])
                       + (f" (and {len(differences) - 8} more)" if len(differences) > 8 else ""))
    accuracy = [line for line in outputs[-1].splitlines() if line.startswith("accuracy")]
    return True, (f"1 epoch {seconds[0]:.0f} s, resumed 2nd epoch {seconds[1]:.0f} s on "
                  f"{device}, bit for bit equal to 2 epochs in one go (weights, optimizer, "
                  f"metrics); checkpoint evaluated on the cpu: "
                  f"{accuracy[0] if accuracy else outputs[-1].strip()[-80:]}")


# what an epoch measured about the model; its time and speed differ from run to run
COMPARED_METRICS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")


def compare_checkpoints(path_a, path_b) -> list:
    """How two training checkpoints differ, bit for bit, in their weights, optimizer and
    schedule state, position and metrics (each a short phrase; empty when they agree)."""
    from tinygrad_cnn.train import read_checkpoint

    a, b = read_checkpoint(path_a), read_checkpoint(path_b)
    differences = []

    def compare(x, y, where):
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y), key=str):
                if key not in x or key not in y:
                    differences.append(f"{where}/{key}: in one checkpoint only")
                else:
                    compare(x[key], y[key], f"{where}/{key}")
        elif isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)) \
                and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y)):
                compare(u, v, f"{where}[{i}]")
        elif isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            if (x.dtype, x.shape) != (y.dtype, y.shape):
                differences.append(f"{where}: {x.dtype}{x.shape} != {y.dtype}{y.shape}")
            elif x.tobytes() != y.tobytes():
                differences.append(f"{where}: {int(np.sum(x != y))} of {x.size} values differ")
        elif (type(x), repr(x)) != (type(y), repr(y)):  # repr: every bit of a float
            differences.append(f"{where}: {x!r:.40} != {y!r:.40}")

    for field in ("model", "optimizer", "scheduler", "epoch", "batch"):
        compare(a[field], b[field], field)
    compare([{k: m[k] for k in COMPARED_METRICS} for m in a["history"]],
            [{k: m[k] for k in COMPARED_METRICS} for m in b["history"]], "history")
    return differences


def part_bench(args):
    batches = [b for b in args.bench_batches.split(",") if b]
    code, output, seconds = _run([sys.executable, "-m", "tinygrad_cnn", "bench", "--device",
                                  "cuda", "--json", "--rounds", "3", "--batch-size", *batches,
                                  "--inference-batch-size", "1000"], args.bench_timeout,
                                 stdout_only=True)
    if code != 0:
        return False, "bench --device cuda failed:\n" + output[-3000:]
    report = json.loads(output)
    lines = []
    for entry in report["results"]:
        ours = entry["ours"]["images_per_s"]["median"]
        text = f"{entry['task']} {entry['batch_size']}: ours {ours:,.0f}"
        if "torch" in entry:
            text += (f", PyTorch {entry['torch']['images_per_s']['median']:,.0f} images/s "
                     f"(ratio {entry['ratio']['median']:.2f})")
        lines.append(text)
    print("\n".join(lines))
    torch_note = "" if any("torch" in e for e in report["results"]) else \
        " (no CUDA PyTorch: ours only)"
    return True, f"{'; '.join(lines)}{torch_note}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--suite-timeout", type=int, default=240)
    parser.add_argument("--suite-log", help="write the suite's whole output to this file")
    parser.add_argument("--bench-timeout", type=int, default=300)
    parser.add_argument("--bench-batches", default="64,1024")
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")

    from tinygrad_cnn import backend

    usable, reason = backend.cuda_status()
    print(f"gpu-check: {reason}", flush=True)
    if usable:
        props = backend.gpu_properties(backend.require_cuda())
        print(f"gpu-check: {props['name']}, {props['memory'] / 2**30:.0f} GiB", flush=True)
    lines, failed = [], False
    for part in parts:
        start = time.perf_counter()
        try:
            if not usable:
                raise Skip(f"no usable GPU: {reason}")
            ok, detail = globals()[f"part_{part}"](args)
            status = "PASS" if ok else "FAIL"
        except Skip as exc:
            status, detail = "SKIP", str(exc)
        except Exception as exc:  # a check that crashes is a failed check, with its reason
            status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
        failed |= status == "FAIL"
        line = f"{part:9s} {status}  {detail}  [{time.perf_counter() - start:.0f} s]"
        lines.append(line)
        print(line, flush=True)
    print("\nsummary\n" + "\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
