"""Run every lecture script and write its pictures: ``python make_figures.py DIR``.

``make figures`` calls this with ``build/figures`` (``make docs-pictures`` with
``docs/lecture/img``, the pictures the documentation shows). The scripts run one after
another in this one process, as sphinx-gallery runs them, so the LeNet-5 that pages 6 to 10
share is trained once (``claims.trained`` is cached). Each script's printed measurements go
to the terminal.

The numbers the scripts record (``figures.quote``) are written into
``docs/lecture/numbers.json``, and the numbers the pages quote are rewritten from it
(``numbers_file.py`` says how): so the pages say what this run measured. ``--only PATTERN``
runs the scripts whose name contains PATTERN and merges their numbers into the file.
"""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    only = None
    if len(argv) == 3 and argv[0] == "--only":
        only, argv = argv[1], argv[2:]
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python examples/lecture/make_figures.py [--only PATTERN] OUTPUT_DIR",
              file=sys.stderr)
        return 2
    out = str(Path(argv[0]).resolve())
    sys.path.insert(0, str(HERE))
    import numbers_file
    sys.argv = ["plot", "--save", out]  # read by figures.py: save, with the Agg backend
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = time.perf_counter()
    scripts = [s for s in sorted(HERE.glob("plot_*.py")) if only is None or only in s.name]
    if not scripts:
        print(f"no lecture script matches {only!r}", file=sys.stderr)
        return 2
    for script in scripts:
        start = time.perf_counter()
        print(f"== {script.name}", flush=True)
        runpy.run_path(str(script), run_name="__main__")
        plt.close("all")
        print(f"== {script.name}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"all figures in {time.perf_counter() - total:.1f} s")
    return write_numbers(numbers_file, merge=only is not None)


def write_numbers(numbers_file, merge: bool) -> int:
    """Write the data file and requote the pages from it; 1 when a page quotes a number the
    file does not have."""
    data = numbers_file.dump(numbers_file.load() if merge else None)
    path = numbers_file.DATA
    state = "written" if numbers_file.write(data, path) else "unchanged"
    print(f"{len(numbers_file.flat(data))} numbers: {path.relative_to(numbers_file.ROOT)} "
          f"{state}")
    for page in numbers_file.requote_pages(numbers_file.flat(data)):
        print(f"requoted {page.relative_to(numbers_file.ROOT)}")
    problems = numbers_file.check_pages(data)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
