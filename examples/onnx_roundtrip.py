"""A trained LeNet-5 through ONNX and back: ONNX Runtime's outputs against the engine's.

Trains LeNet-5 for a few epochs on the bundled MNIST sample (or takes a checkpoint you
name), exports it with ``tinygrad_cnn.onnx.export``, checks the file with
``onnx.checker``, runs the 1,000 test images through ONNX Runtime one at a time and as one
batch of 1,000, and prints the largest difference from the engine's logits and how often
the two agree on the predicted class. Then it reads the file back with
``tinygrad_cnn.onnx.load`` and compares that model too.

    python examples/onnx_roundtrip.py [CHECKPOINT] [-o lenet5.onnx]

Needs ``pip install "tinygrad-cnn[onnx]"``.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn import onnx as tg_onnx
from tinygrad_cnn.data import MNISTSample
from tinygrad_cnn.models import LeNet5


def trained_lenet(checkpoint: str | None, folder: str) -> tuple[LeNet5, bool]:
    """The checkpoint's LeNet-5 and whether it was trained on normalised pixels; without
    a checkpoint, one trained here for 3 epochs on the bundled sample."""
    if checkpoint is None:
        from tinygrad_cnn.train import TrainConfig, fit

        checkpoint = os.path.join(folder, "lenet5.npz")
        fit(TrainConfig(dataset="sample", epochs=3, checkpoint=checkpoint, seed=0))
    from tinygrad_cnn.train.checkpoint import read_checkpoint

    state = read_checkpoint(checkpoint)  # validated, its config parsed
    model = LeNet5(num_classes=state["model"]["fc3.bias"].shape[0])
    model.load_state_dict(state["model"])
    return model.eval(), bool(state["config"]["normalize"])


def compare(name: str, theirs: np.ndarray, ours: np.ndarray) -> None:
    agree = np.mean(theirs.argmax(axis=1) == ours.argmax(axis=1))
    print(f"{name:<44} largest |difference| {np.abs(theirs - ours).max():.3g}   "
          f"argmax agreement {100 * agree:.1f}%")


def main(argv=None) -> None:
    import onnx
    import onnxruntime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default=None)
    parser.add_argument("-o", "--output", default=None, help="keep the ONNX file here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        model, normalize = trained_lenet(args.checkpoint, folder)
        path = args.output or os.path.join(folder, "lenet5.onnx")
        test = MNISTSample(train=False, normalize=normalize)
        images = np.ascontiguousarray(test.images, dtype=np.float32)
        tg_onnx.export(model, images[:1], path, force=args.output is None)
        onnx.checker.check_model(onnx.load(path), full_check=True)
        print(f"{path}: onnx.checker passes (full check, opset {tg_onnx.OPSET}); "
              f"{len(images):,} test images")
        with tg.no_grad():
            ours = model(tg.Tensor(images)).numpy()
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        one_by_one = np.concatenate([session.run(None, {"input": images[i:i + 1]})[0]
                                     for i in range(len(images))])
        compare("ONNX Runtime, batch 1 (1,000 runs)", one_by_one, ours)
        compare("ONNX Runtime, batch 1,000 (one run)",
                session.run(None, {"input": images})[0], ours)
        back = tg_onnx.load(path)
        with tg.no_grad():
            compare("tinygrad_cnn.onnx.load, batch 1,000", back(tg.Tensor(images)).numpy(), ours)
        accuracy = np.mean(ours.argmax(axis=1) == test.labels)
        print(f"engine test accuracy {100 * accuracy:.1f}%; logits up to "
              f"{np.abs(ours).max():.3g} in size (float32 keeps about 7 digits)")


if __name__ == "__main__":
    main()
