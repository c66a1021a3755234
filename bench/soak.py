"""40-minute session at 100 Hz on the virtual board, accelerated: memory, missed ticks, telemetry gaps.

Run: ``.venv/bin/python -m bench.soak [SCALE]`` (default 5x: about 8 minutes of wall time).
"""

import sys

from cupctl.sim import soak


def main(scale: int = 5) -> None:
    report = soak.run(40, scale=scale, status_every_s=120)
    free = report.mem_free
    print("soak: %.0f s of board time (%d x) in %.0f s wall; %d telemetry lines, %d sequence gaps; "
          "missed ticks %d of %d; mem_free after collect: first %d, last %d, min %d, max %d (%d samples)" % (
              report.virtual_s, scale, report.wall_s, report.lines, report.gaps, report.missed,
              int(report.virtual_s * 100), free[0], free[-1], min(free), max(free), len(free)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
