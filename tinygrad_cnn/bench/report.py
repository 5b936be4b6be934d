"""The text of ``tinygrad-cnn bench``: the quiet table, and the busy one beside it.

Kept apart from :mod:`.harness` (which measures) so that what is measured and how it is
shown change independently; ``--json`` prints the report dict itself.
"""

from __future__ import annotations

import statistics

from .stats import format_ratio
from .worker import LIBRARIES

__all__ = ["case_name", "format_report", "format_sittings", "library_name", "sitting_ratios"]

def case_name(task: str, batch_size: int) -> str:
    return f"{'training step' if task == 'train' else 'inference'}, batch {batch_size}"


def library_name(lib: str) -> str:
    return "tinygrad_cnn" if lib == "ours" else "PyTorch"


def _rate(stats: dict) -> str:
    r = stats["images_per_s"]
    return f"{r['median']:,.0f} ({r['min']:,.0f}-{r['max']:,.0f})"


def format_report(report: dict) -> str:
    """The report as Markdown: a few lines of context, the quiet table and, with
    ``--busy``, the table measured beside the busy processes."""
    results = report["results"]
    torch_version = next((e["torch"]["version"] for e in results if "torch" in e), None)
    lines = [
        f"LeNet-5 on {report['device']}, {report['threads']} threads per library "
        f"({report['cores']} cores available; ours choose their BLAS threads by measuring, "
        f"up to that), NumPy {report['numpy']}"
        + (f", PyTorch {torch_version}" if torch_version else ""),
        f"each library in its own processes: {report['rounds']} alternating rounds of "
        f"{report['blocks_per_round']} timed blocks (~{report['block_seconds']:g} s each) "
        f"after {report['warmup_seconds']:g} s of warm-up; images/s median (min-max)",
        "",
    ]
    tables = [("quiet", results, report["max_other_cpu"])]
    busy = report.get("busy")
    if busy:
        tables.append((f"beside {busy['processes']} busy process"
                       f"{'es' if busy['processes'] > 1 else ''}", busy["results"],
                       busy["max_other_cpu"]))
    warnings = []
    for title, entries, allowed in tables:
        if busy:
            lines += [f"{title}:", ""]
        lines += _table(entries, bool(torch_version), allowed, warnings)
        lines.append("")
    return "\n".join(lines[:-1] + warnings + report["notes"])


def _table(entries: list, with_torch: bool, max_other_cpu: float, warnings: list) -> list:
    """One Markdown table of ``entries``, its left-out blocks line; warnings appended to
    ``warnings``."""
    if with_torch:
        lines = ["| LeNet-5 | tinygrad_cnn | PyTorch | ratio (range over rounds) "
                 "| peak RSS MB, ours / PyTorch | our BLAS threads |",
                 "| --- | --- | --- | --- | --- | --- |"]
    else:
        lines = ["| LeNet-5 | tinygrad_cnn | peak RSS MB | our BLAS threads |",
                 "| --- | --- | --- | --- |"]
    left = []
    for e in entries:
        name, ours = case_name(e["task"], e["batch_size"]), e["ours"]
        chosen = _chosen(ours.get("blas", []))
        if "torch" in e:
            lines.append(f"| {name} | {_rate(ours)} | {_rate(e['torch'])} | "
                         f"{format_ratio(e['ratio'])} | {ours['peak_rss_mb']:,.0f} / "
                         f"{e['torch']['peak_rss_mb']:,.0f} | {chosen} |")
        else:
            lines.append(f"| {name} | {_rate(ours)} | {ours['peak_rss_mb']:,.0f} | {chosen} |")
        counts = [f"{library_name(lib)} {e[lib]['blocks_left_out']} of "
                  f"{e[lib]['blocks'] + e[lib]['blocks_left_out']}"
                  for lib in LIBRARIES if lib in e and e[lib]["blocks_left_out"]]
        if counts:
            left.append(f"{name}: {', '.join(counts)}")
        warnings += [f"WARNING: {name}: every {library_name(lib)} block was disturbed by other "
                     "processes; these figures are not reliable"
                     for lib in LIBRARIES if lib in e and e[lib]["disturbed"]]
        if e.get("same_result") is False:
            warnings.append(f"WARNING: {name}: the libraries disagree ({e['ours']['check']:.6g} "
                            f"against {e['torch']['check']:.6g}): they did not compute the "
                            "same thing")
    lines.append("")
    lines.append(f"blocks left out (other processes took over "
                 f"{100 * max_other_cpu:g}% of the CPU time): "
                 + ("; ".join(left) if left else "none"))
    return lines


def _chosen(descriptions: list) -> str:
    """``["1 thread (1: 95 us, ...)", "2 threads (...)", ...]`` -> ``"1 (4 rounds), 2 (1)"``:
    how many rounds' workers settled on each count."""
    counts: dict = {}
    for text in descriptions:
        head = text.split(" ", 1)[0]
        counts[head] = counts.get(head, 0) + 1
    if not counts:
        return "-"
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    first, rest = ordered[0], ordered[1:]
    return ", ".join([f"{first[0]} ({first[1]} rounds)" if len(descriptions) > 1
                      else first[0]] + [f"{k} ({n})" for k, n in rest])


def _per_process_ratio(entries: list):
    """Median of ours' per-process (per-round) medians over PyTorch's, over ``entries``
    (one case of one or more sittings); None without PyTorch or a quiet round."""
    ours = [m for e in entries for m in e["ours"]["round_medians"] if m is not None]
    theirs = [m for e in entries if "torch" in e
              for m in e["torch"]["round_medians"] if m is not None]
    if not ours or not theirs:
        return None
    return statistics.median(ours) / statistics.median(theirs)


def sitting_ratios(reports: list) -> dict:
    """The quiet ratio of each case in each sitting (one ``--json`` report each), and of
    all the sittings' rounds together, as ``{"cases": [(task, batch)], "sittings":
    [(rounds, [ratio per case])], "together": (rounds, [ratio per case])}``.

    Why: on a machine whose speed moves from one sitting to the next, one sitting's ratio
    is one draw; a claim about the median is better read over many. Each ratio is the
    median of one library's per-process medians over the other's (each round is a fresh
    process per library), so that each process counts once, however many blocks it timed.
    """
    cases: list = []
    for report in reports:
        for e in report["results"]:
            if (e["task"], e["batch_size"]) not in cases:
                cases.append((e["task"], e["batch_size"]))

    def of(report_list, case):
        entries = [e for r in report_list for e in r["results"]
                   if (e["task"], e["batch_size"]) == case]
        return _per_process_ratio(entries) if entries else None

    return {"cases": cases,
            "sittings": [(r["rounds"], [of([r], c) for c in cases]) for r in reports],
            "together": (sum(r["rounds"] for r in reports), [of(reports, c) for c in cases])}


def format_sittings(reports: list) -> str:
    """:func:`sitting_ratios` as a Markdown table, a row per sitting and one for all."""
    summary = sitting_ratios(reports)
    cases = summary["cases"]

    def cell(ratio):
        return "-" if ratio is None else f"{ratio:.2f}"

    lines = ["| sitting | rounds | " + " | ".join(case_name(*c) for c in cases) + " |",
             "| --- | --- | " + " | ".join("---" for _ in cases) + " |"]
    for number, (rounds, ratios) in enumerate(summary["sittings"], start=1):
        lines.append(f"| {number} | {rounds} | " + " | ".join(cell(r) for r in ratios) + " |")
    rounds, ratios = summary["together"]
    lines.append(f"| all {len(reports)} together | {rounds} | "
                 + " | ".join(f"**{cell(r)}**" for r in ratios) + " |")
    return "\n".join(lines)
