"""Where the time of a `tinygrad-cnn train` epoch goes: ``tinygrad-cnn bench --epoch``.

    python examples/benchmark_epoch.py [DATASET] [--rounds 2] [--threads N] [--images N]
                                       [--max-other-cpu 0.1] [--no-torch] [--json]

DATASET is fashion-mnist (the default), mnist or sample. Kept so that the command in the
README's table still runs; the measurement itself (bare training steps, data loader,
bookkeeping, progress bar, evaluation and the CLI, each in processes of its own, PyTorch's
bare steps beside them) lives in :mod:`tinygrad_cnn.bench.epoch`, and the options are
those of ``tinygrad-cnn bench --epoch``.
"""

import sys

from tinygrad_cnn.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--epoch", *sys.argv[1:]]))
