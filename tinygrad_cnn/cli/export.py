"""``tinygrad-cnn export``: a training checkpoint's LeNet-5 written as an ONNX file, for
ONNX Runtime, Netron or another framework (see docs/interop.md)."""

from __future__ import annotations

from .arguments import DEFAULT_CHECKPOINT, add_force, checkpoint_model


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("export", help="write a checkpoint's model as an ONNX file")
    p.add_argument("checkpoint", nargs="?", default=DEFAULT_CHECKPOINT,
                   help=f"a training checkpoint (default {DEFAULT_CHECKPOINT})")
    p.add_argument("-o", "--output", default="lenet5.onnx",
                   help="ONNX file to write (default lenet5.onnx)")
    add_force(p, "the ONNX file")
    p.set_defaults(run_command=run, parser=p)


def run(args) -> int:
    import numpy as np

    from ..interop.onnx_export import OPSET, export

    model, state = checkpoint_model(args.checkpoint)
    example = np.zeros((1, 1, 28, 28), dtype=np.float32)  # what LeNet5 takes; batch is free
    proto = export(model, example, args.output, force=args.force)
    count = sum(p.size for p in model.parameters())
    print(f"wrote {args.output}: {type(model).__name__} of epoch {state['epoch']}, "
          f"{len(proto.graph.node)} ONNX nodes, {count:,} parameters, opset {OPSET}, "
          f"input (N, 1, 28, 28) with the batch N free")
    return 0
