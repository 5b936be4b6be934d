"""The lecture's numbers from one source: ``docs/lecture/numbers.json``.

Why: the pages used to quote measurements typed by hand, and they went stale when the code
changed the trained weights. Now a lecture script *records* each number it measures
(:func:`quote`), ``make figures`` writes them all into one data file, and rewrites the
quoted text in the pages from that file. ``tests/test_lecture_numbers.py`` fails when a page
says anything else than the file.

How a page quotes a number: the text, then an HTML comment naming its key, e.g.
``96.0%<!--p06.acc_all-->``. GitHub and the built site hide the comment, so the page stays
readable as it is (a MyST substitution ``{{ ... }}`` would show raw on GitHub). The quoted
text is the run of characters just before the comment up to a space or one of ``|()[]*`$<>``;
the formatted text of a number never contains those (:func:`quote` refuses it).

Timings are machine-dependent: they go into their own section of the file with the machine
they were measured on, and a rerun on that machine keeps the recorded series while the new
one is within a tolerance (:func:`timings`), so ``make figures`` leaves the tree clean. A page
quoting one must say "machine-dependent".

Nothing here needs matplotlib: the test and the rewriting run without it.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "lecture" / "numbers.json"
#: What quotes the file: the lecture pages (the index too) and the home page.
QUOTING = ("docs/lecture/*.md", "docs/index.md")
#: A quoted number: its text, then ``<!--key-->``.
MARK = re.compile(r"(?P<text>[^\s|()\[\]*`$<>]*)<!--(?P<key>[a-z][a-z0-9_.]*)-->")
KEY = re.compile(r"p\d\d\.[a-z0-9_.]+\Z")
FORBIDDEN = re.compile(r"[\s|()\[\]*`$<>]")
MACHINE_WORD = "machine-dependent"

#: What the scripts recorded in this process: key -> entry; series of timings: key -> list.
RECORDED: dict[str, dict] = {}
SERIES: dict[str, list] = {}


def quote(key: str, value, fmt: str = "{}", machine: bool = False) -> str:
    """Record a measured number under ``key`` (``pNN.name``: the page that owns it) and
    return its text, ``fmt.format(value)``, the text the pages quote.

    ``machine=True`` marks a number that depends on the machine (a time, or a number
    derived from times): it is kept apart in the file, and pages quoting it say so.
    """
    if not KEY.match(key):
        raise ValueError(f"number key {key!r}: use 'pNN.name' (lowercase, digits, _ and .)")
    text = fmt.format(value)
    if not text or FORBIDDEN.search(text):
        raise ValueError(f"number {key}: its text {text!r} is empty or has a space or one of "
                         "|()[]*`$<> (quote the parts separately)")
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        value = float(f"{value:.6g}")
    RECORDED[key] = {"text": text, "value": value, "machine": bool(machine)}
    return text


def machine_name() -> str:
    """The CPU model and core count: timings of record are kept only on the same machine."""
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def timings(key: str, values, tolerance: float = 0.35) -> list:
    """The series of times of record for ``key``: the recorded one from the data file when
    it was measured on this machine and every new value is within ``tolerance`` (relative) of
    it, else the new ``values`` (rounded to 3 digits). ``None`` marks a point not measured.

    Why: times jitter from run to run; keeping the series of record while the new run agrees
    with it makes reruns leave the file and the pictures unchanged, and the page, the file
    and the picture show the same numbers.
    """
    new = [None if v is None else float(f"{float(v):.3g}") for v in values]
    section = load().get("machine_dependent", {})
    old = section.get("series", {}).get(key)
    kept = new
    if old is not None and section.get("machine") == machine_name() and len(old) == len(new):
        if all((a is None) == (b is None) and (a is None or abs(b - a) <= tolerance * abs(a))
               for a, b in zip(old, new)):
            kept = old
    SERIES[key] = kept
    return list(kept)


def load(path: Path = DATA) -> dict:
    """The data file, or an empty one when it is not there yet."""
    path = Path(path)
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def flat(data: dict) -> dict[str, dict]:
    """Every number of the file, key -> entry (``machine`` set for machine-dependent ones)."""
    out = {k: dict(v, machine=False) for k, v in data.get("numbers", {}).items()}
    for k, v in data.get("machine_dependent", {}).get("numbers", {}).items():
        out[k] = dict(v, machine=True)
    return out


def dump(merge_into: dict | None = None) -> dict:
    """The data file's content from what was recorded (merged into ``merge_into``, the
    existing file, when only some scripts ran)."""
    base = merge_into or {}
    numbers = dict(base.get("numbers", {}))
    machine = dict(base.get("machine_dependent", {}).get("numbers", {}))
    series = dict(base.get("machine_dependent", {}).get("series", {}))
    if merge_into is None:
        numbers, machine, series = {}, {}, {}
    for key, entry in RECORDED.items():
        numbers.pop(key, None)
        machine.pop(key, None)
        target = machine if entry["machine"] else numbers
        target[key] = {"text": entry["text"], "value": entry["value"]}
    series.update(SERIES)
    return {
        "about": "Written by `make figures` (examples/lecture/make_figures.py): every number "
                 "the lecture pages quote. Do not edit by hand; tests/test_lecture_numbers.py "
                 "checks the pages against it.",
        "numbers": dict(sorted(numbers.items())),
        "machine_dependent": {
            "about": "Timings and numbers derived from them: they depend on the machine.",
            "machine": machine_name() if SERIES or merge_into is None
            else base.get("machine_dependent", {}).get("machine", machine_name()),
            "numbers": dict(sorted(machine.items())),
            "series": dict(sorted(series.items())),
        },
    }


def write(data: dict, path: Path = DATA) -> bool:
    """Write ``data`` (sorted, one entry a line) if it changed; True when written."""
    from tinygrad_cnn.fileio import atomic_write

    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))
    return True


def pages(root: Path = ROOT) -> list[Path]:
    """The files that quote numbers from the data file."""
    return sorted(p for pattern in QUOTING for p in Path(root).glob(pattern))


def problems(text: str, numbers: dict[str, dict], name: str = "page") -> list[str]:
    """What in ``text`` disagrees with ``numbers``: a quoted text that is not the file's, a
    key the file lacks, a machine-dependent number on a page that does not say so, a marker
    starting a line (Markdown would take the whole paragraph for raw HTML)."""
    found = []
    machine_quoted = False
    for line_no, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("<!--") and MARK.search(line):
            found.append(f"{name}:{line_no}: a quoted number cannot start a line")
        for match in MARK.finditer(line):
            key, quoted = match["key"], match["text"]
            entry = numbers.get(key)
            if entry is None:
                found.append(f"{name}:{line_no}: {key} is not in {DATA.name}")
            elif quoted != entry["text"]:
                found.append(f"{name}:{line_no}: {key} quoted as {quoted!r}, "
                             f"{DATA.name} says {entry['text']!r}")
            elif entry.get("machine"):
                machine_quoted = True
    if machine_quoted and MACHINE_WORD not in text:
        found.append(f"{name}: quotes a timing but never says '{MACHINE_WORD}'")
    return found


def requote(text: str, numbers: dict[str, dict]) -> str:
    """``text`` with every quoted number replaced by the file's text (unknown keys kept)."""
    def replace(match):
        entry = numbers.get(match["key"])
        quoted = entry["text"] if entry else match["text"]
        return f"{quoted}<!--{match['key']}-->"
    return MARK.sub(replace, text)


def requote_pages(numbers: dict[str, dict], root: Path = ROOT) -> list[Path]:
    """Rewrite the quoted numbers of every quoting file; the files that changed."""
    from tinygrad_cnn.fileio import atomic_write

    changed = []
    for path in pages(root):
        text = path.read_text(encoding="utf-8")
        new = requote(text, numbers)
        if new != text:
            with atomic_write(path) as f:
                f.write(new.encode("utf-8"))
            changed.append(path)
    return changed


def check_pages(data: dict | None = None, root: Path = ROOT) -> list[str]:
    """Every disagreement between the quoting files and the data file."""
    numbers = flat(load() if data is None else data)
    return [problem for path in pages(root)
            for problem in problems(path.read_text(encoding="utf-8"), numbers,
                                    str(path.relative_to(root)))]
