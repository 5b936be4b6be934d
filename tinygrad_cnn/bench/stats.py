"""The statistics both benchmarks report, written once: which measurements count, their
median and range, the ratio of two medians with its range over rounds, and whether two
libraries computed the same thing.

A measurement (a worker's timed block, or one run of an epoch part) carries ``other_cpu``,
the share of the CPU that other processes took meanwhile; one above ``max_other_cpu``
measured the neighbours as much as the code and is left out, unless every one was
disturbed: then all are kept and the summary says so, rather than reporting nothing.
"""

from __future__ import annotations

import statistics

from .worker import is_quiet

__all__ = ["SAME_RESULT_TOLERANCE", "format_ratio", "quiet_or_all", "ratio_summary",
           "same_result", "spread"]

#: Two libraries' checks (a first loss, a logit) agree within this share of their size:
#: float32 arithmetic in another order, never a different computation.
SAME_RESULT_TOLERANCE = 1e-3


def quiet_or_all(records: list, max_other_cpu: float) -> tuple[list, bool]:
    """``(kept, disturbed)``: the records during which other processes took at most
    ``max_other_cpu`` of the CPU, or all of them (and ``disturbed`` True) when none did."""
    quiet = [r for r in records if is_quiet(r, max_other_cpu)]
    return quiet or records, not quiet


def spread(values) -> dict:
    """Median, min and max of ``values`` (at least one)."""
    values = sorted(values)
    return {"median": statistics.median(values), "min": values[0], "max": values[-1]}


def ratio_summary(numerator: float, denominator: float, per_round: list) -> dict:
    """The ratio of two medians, with the range of ``per_round`` (each round's own ratio,
    from the rounds in which both sides were quiet; None where there is none)."""
    return {"median": numerator / denominator,
            "per_round_min": min(per_round, default=None),
            "per_round_max": max(per_round, default=None)}


def same_result(a: float, b: float) -> bool:
    """Whether two libraries' checks agree within :data:`SAME_RESULT_TOLERANCE`."""
    return abs(a - b) <= SAME_RESULT_TOLERANCE * max(1.0, abs(a), abs(b))


def format_ratio(ratio: dict) -> str:
    """``median (min-max)`` of a ratio from :func:`ratio_summary`, the range where known."""
    text = f"{ratio['median']:.2f}"
    if ratio["per_round_min"] is not None:
        text += f" ({ratio['per_round_min']:.2f}-{ratio['per_round_max']:.2f})"
    return text
