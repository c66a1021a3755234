"""What every benchmark shares: the machine it ran on, timing by interleaved repeats, the ratio line."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """nproc, CPU model, Python and the date: the facts a re-run is compared against."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "%d x %s, %s %s, %s, %s" % (
        os.cpu_count() or 0, model, platform.python_implementation(), platform.python_version(),
        platform.platform(terse=True), datetime.date.today().isoformat())


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def compare(ours: Callable[[], object], baseline: Callable[[], object], repeats: int = 5) -> tuple[float, float]:
    """Median seconds of each, run alternately so that a noisy neighbour hits both alike."""
    mine, theirs = [], []
    for _ in range(repeats):
        theirs.append(timed(baseline))
        mine.append(timed(ours))
    return statistics.median(mine), statistics.median(theirs)


def ratio(name: str, ours: float, baseline: float, goal: str, unit: str = "s", detail: str = "") -> None:
    """One result line: ours / baseline, and the goal it is held against."""
    print("%-34s ours %s, baseline %s, ratio %.3f (goal %s)%s" % (
        name + ":", _fmt(ours, unit), _fmt(baseline, unit), ours / baseline, goal,
        "; " + detail if detail else ""), flush=True)


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return "%.4f s" % value
    return "{:,.0f} {}".format(value, unit)
