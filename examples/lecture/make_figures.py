"""Run every lecture script and write its pictures: ``python make_figures.py DIR``.

``make figures`` calls this with ``build/figures`` (``make docs-pictures`` with
``docs/lecture/img``, the pictures the documentation shows). The scripts run one after
another in this one process, as sphinx-gallery runs them, so the LeNet-5 that pages 6 to 10
share is trained once (``claims.trained`` is cached). Each script's printed measurements go
to the terminal; they are the numbers quoted in the pages.
"""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python examples/lecture/make_figures.py OUTPUT_DIR", file=sys.stderr)
        return 2
    out = str(Path(argv[0]).resolve())
    sys.path.insert(0, str(HERE))
    sys.argv = ["plot", "--save", out]  # read by figures.py: save, with the Agg backend
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = time.perf_counter()
    for script in sorted(HERE.glob("plot_*.py")):
        start = time.perf_counter()
        print(f"== {script.name}", flush=True)
        runpy.run_path(str(script), run_name="__main__")
        plt.close("all")
        print(f"== {script.name}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"all figures in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
