"""A session on the virtual board with its clock accelerated: telemetry gaps, late loop periods, heap.

These depend on how fast and how busy the machine is, so they are measured here (``make bench``)
and not asserted by ``make test`` (tests/test_soak.py checks the heap in virtual time instead).
Run: ``.venv/bin/python -m bench.soak [MINUTES [SCALE]]`` (default 20 board minutes at 10x: 2 minutes of wall time).
"""

import sys

from cupctl.sim import soak


def main(minutes: int = 20, scale: int = 10) -> None:
    report = soak.run(minutes, scale=scale, status_every_s=120)
    free = report.mem_free
    ticks = int(report.virtual_s * 100)
    if not free or report.lines == 0:
        raise SystemExit("soak: no status samples or no telemetry: the run did not work")
    print("soak: %.0f s of board time at %dx in %.0f s wall; %d telemetry lines, %d sequence gaps "
          "(%.4f %% of lines); late loop periods %d of %d (%.3f %%); mem_free after collect: min %d, max %d "
          "over %d samples (spread %d bytes)" % (
              report.virtual_s, scale, report.wall_s, report.lines, report.gaps, 100 * report.gaps / report.lines,
              report.missed, ticks, 100 * report.missed / max(1, ticks), min(free), max(free), len(free),
              max(free) - min(free)))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
