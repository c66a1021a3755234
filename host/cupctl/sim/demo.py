"""``make sim`` / ``cupctl sim --demo``: a short session on a virtual board, recorded and plotted.

A ramp to 30 kPa, a static hold, one leak burst, then stop: about 20 s of wall
time. Everything goes through the same serial path as a real board.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cupctl import boards, live
from cupctl.link import Link, LinkError
from cupctl.plot import plot
from cupctl.sim.vboard import VirtualBoard, populate_flash
from cupctl.telemetry import Record
from cupctl.trace import read

PROGRAM = "start ramp target=30 rate=3 minutes=1 cup=M"
LEAK = {"kind": "leak_burst", "at_ms": 15000, "duration_ms": 1000, "value": 1500}
SESSION_S = 19.0


def run(out: Path) -> int:
    board_data, board = boards.load(boards.DEFAULT)
    flash = out / "vboard-flash"
    shutil.rmtree(flash, ignore_errors=True)
    populate_flash(flash, board_data)
    trace_path, plot_path = out / "demo.csv", out / "demo.png"
    with VirtualBoard(flash, {"faults": [LEAK]}) as board_sim:
        print("virtual board running on %s (firmware on the MicroPython unix port)" % board_sim.port)
        print("session: %s (leak burst at 15 s)" % PROGRAM)
        view = live.View(every_s=0.1 if sys.stdout.isatty() else 1.0)
        rows = record_session(board_sim.port, trace_path, PROGRAM, SESSION_S, view.show)
    print("\ntrace: %s (%d rows)" % (trace_path, rows))
    print("plot:  %s" % plot(read(trace_path), plot_path, board.cup("M").hard_limit_pa))
    return 0


def record_session(port: str, trace_path: Path, program: str, seconds: float,
                   show: Callable[[Record], None] | None = None) -> int:
    """Record one tick per row while ``program`` runs for ``seconds``, then stop and vent."""
    with Link(port) as link:
        wait_idle(link)
        info = live.parse_info(link.command("info"))
        rate = "rate %s" % info.get("loop_hz", "100")
        link.command(rate)
        recorder = live.Recorder(trace_path, live.trace_metadata(link, info), lambda: link.write_line(rate))

        def on_record(record):
            recorder.add(record)
            if show is not None:
                show(record)

        try:
            live.follow(link, on_record, duration_s=0.3)  # idle rows first: replay starts from them
            link.command(program, on_record=on_record)
            live.follow(link, on_record, duration_s=seconds)
            link.command("stop", on_record=on_record)
            live.follow(link, on_record, duration_s=1.5)  # the vent, on record
        finally:
            recorder.close()
        return recorder.count


def wait_idle(link: Link, timeout_s: float = 10.0) -> None:
    """Wait until the board is idle, acknowledging a fault latched at boot (watchdog reset)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = link.command("status", timeout=1.0)
            if status.startswith("state=idle"):
                return
            if status.startswith("state=fault"):
                link.command("ack", timeout=1.0)
        except LinkError:
            pass
        time.sleep(0.2)
    raise LinkError("the board did not reach idle in %g s" % timeout_s)
