"""Soak: a long session on the virtual board in accelerated time.

Checks the three things a long run exposes: memory growth (``mem_free`` after a
collection, from ``status``), missed ticks (the loop's own count) and lost
telemetry (gaps in ``seq``, at one line per tick).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cupctl import boards, live
from cupctl.link import Link
from cupctl.sim.demo import wait_idle
from cupctl.sim.vboard import VirtualBoard, populate_flash
from cupctl.telemetry import FIELDS


@dataclass
class SoakReport:
    virtual_s: float = 0.0
    wall_s: float = 0.0
    lines: int = 0
    gaps: int = 0
    samples: list[dict] = field(default_factory=list)  # parsed status replies

    @property
    def missed(self) -> int:
        return int(self.samples[-1]["missed"]) if self.samples else -1

    @property
    def mem_free(self) -> list[int]:
        return [int(s["mem_free"]) for s in self.samples]


def run(minutes: float, scale: int = 20, status_every_s: float = 60.0) -> SoakReport:
    """Run a ramp session (up to 40 min) for ``minutes`` of board time; sample status every ``status_every_s``."""
    report = SoakReport()
    flash = Path(tempfile.mkdtemp(prefix="cupctl-soak-"))
    try:
        populate_flash(flash, boards.load(boards.DEFAULT)[0])
        with VirtualBoard(flash, time_scale=scale) as vb, Link(vb.port) as link:
            wait_idle(link)
            link.command("rate 100")
            last_seq = None
            t_index = FIELDS.index("t_ms")
            first_t = None

            def count(record):
                nonlocal last_seq, first_t
                if record.kind != "T":
                    return
                seq, t = record.values[0], record.values[t_index]
                if last_seq is not None and seq != last_seq + 1:
                    report.gaps += 1
                last_seq = seq
                first_t = t if first_t is None else first_t
                report.virtual_s = (t - first_t) / 1000
                report.lines += 1

            link.command("start ramp target=30 rate=0.5 minutes=%d cup=M" % max(1, round(minutes)), on_record=count)
            started = time.monotonic()
            next_status = status_every_s
            for record in link.records(timeout=5):
                count(record)
                if report.virtual_s >= next_status:
                    report.samples.append(live.parse_info(link.command("status", on_record=count)))
                    next_status += status_every_s
                if report.virtual_s >= minutes * 60:
                    break
            report.wall_s = time.monotonic() - started
            link.command("stop", on_record=count)
    finally:
        shutil.rmtree(flash, ignore_errors=True)
    return report
