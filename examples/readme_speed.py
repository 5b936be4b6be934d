"""Rewrite the measured tables of the README's speed section from the JSON the benchmarks
printed, so the README quotes what the code measured and nothing typed by hand.

    tinygrad-cnn bench --busy 1 --json > build/bench.json
    python examples/benchmark_busy_epoch.py --json > build/busy_epoch.json
    python examples/readme_speed.py build/bench.json build/busy_epoch.json \
        [build/sitting2.json ...]

Further ``tinygrad-cnn bench --json`` reports of the same code (other sittings: ``--busy`` not
needed) add a table of the quiet ratio in each sitting and in all of them together, the
first sitting being ``build/bench.json``.

The README holds the generated text between ``<!-- speed:begin -->`` and
``<!-- speed:end -->``; the rest of the section is prose. The README is rewritten through a
temporary file renamed into place (an interrupted run leaves it as it was).
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_busy_epoch import format_table  # noqa: E402

from tinygrad_cnn.bench.report import format_report, format_sittings  # noqa: E402
from tinygrad_cnn.fileio import atomic_write  # noqa: E402

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "README.md")
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"


def render(bench: dict, epoch: dict, sittings: list = ()) -> str:
    """The generated part of the speed section: the commands, as the JSON says they ran,
    and their tables; with ``sittings`` (more reports of ``tinygrad-cnn bench``), the quiet
    ratio of each sitting, ``bench`` first, and of all together."""
    command = "tinygrad-cnn bench" + (f" --rounds {bench['rounds']}" if bench["rounds"] != 5
                                      else "")
    if bench.get("busy"):
        command += f" --busy {bench['busy']['processes']}"
    epoch_command = "python examples/benchmark_busy_epoch.py" + (
        f" --rounds {epoch['rounds']}" if epoch["rounds"] != 3 else "") + (
        f" --busy {epoch['busy']}" if epoch["busy"] != 1 else "")
    parts = [f"Training steps and inference (`{command}`):", "", format_report(bench), ""]
    if sittings:
        rounds = ", ".join(str(s["rounds"]) for s in sittings)
        parts += [f"The quiet ratio in this sitting and in {len(sittings)} more of the same "
                  f"code (`tinygrad-cnn bench`, {rounds} rounds), each the median of our "
                  "per-process medians over PyTorch's (the tables above take medians over "
                  "the timed blocks, so the first sitting reads a little differently "
                  "there):", "",
                  format_sittings([bench, *sittings]), ""]
    return "\n".join(parts + [
        f"A whole epoch, quiet and beside a busy process (`{epoch_command}`):", "",
        format_table(epoch), ""])


def _load(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        sys.exit(f"readme_speed: cannot read {path}: {exc}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    bench, epoch, *sittings = [_load(path) for path in argv]
    with open(README) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{README}: the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with atomic_write(README, what="README") as f:
        text = head + BEGIN + "\n" + render(bench, epoch, sittings) + "\n" + END + tail
        f.write(text.encode())
    print(f"rewrote the speed tables of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
