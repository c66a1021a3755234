"""``make sim`` / ``cupctl sim --demo``: a short session on a virtual board, recorded and plotted.

A ramp to 30 kPa, a static hold, one leak burst, then stop: about 20 s of wall
time. Everything goes through the same serial path as a real board.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from cupctl import boards, live
from cupctl.link import Link, LinkError
from cupctl.plot import plot
from cupctl.sim.vboard import VirtualBoard, populate_flash
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
        with Link(board_sim.port) as link:
            _wait_idle(link)
            info = live.parse_info(link.command("info"))
            rate = "rate %s" % info.get("loop_hz", "100")
            link.command(rate)
            recorder = live.Recorder(trace_path, live.trace_metadata(link, info), lambda: link.write_line(rate))
            view = live.View(every_s=0.1 if sys.stdout.isatty() else 1.0)

            def on_record(record):
                recorder.add(record)
                view.show(record)

            try:
                print("session: %s (leak burst at 15 s)" % PROGRAM)
                link.command(PROGRAM, on_record=on_record)
                live.follow(link, on_record, duration_s=SESSION_S)
                link.command("stop", on_record=on_record)
                live.follow(link, on_record, duration_s=1.5)  # the vent, on record
            finally:
                recorder.close()
    print("\ntrace: %s (%d rows)" % (trace_path, recorder.count))
    print("plot:  %s" % plot(read(trace_path), plot_path, board.cup("M").hard_limit_pa))
    return 0


def _wait_idle(link: Link, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if link.command("status", timeout=1.0).startswith("state=idle"):
                return
        except LinkError:
            pass
        time.sleep(0.2)
    raise LinkError("the virtual board did not reach idle in %g s" % timeout_s)
