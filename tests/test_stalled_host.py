"""A host that keeps the port open but stops reading: the loop keeps its period, telemetry loss is counted.

On native USB a write waits up to 0.5 s for such a host (the virtual board's ``usb`` link does the
same, then drops, as MicroPython's USB-CDC write does); the firmware writes through its outbox, so
only the writer thread waits.
"""

import time

from cupctl import boards
from cupctl.link import Link
from cupctl.sim.vboard import VirtualBoard, populate_flash
from tests.test_vboard import is_event, wait_for


def status(link):
    return dict(word.split("=", 1) for word in link.command("status").split() if "=" in word)


def test_a_host_that_stops_reading_never_delays_the_loop(tmp_path, micropython):
    board_data, board = boards.load(boards.DEFAULT)
    populate_flash(tmp_path, board_data)
    with VirtualBoard(tmp_path, {}, link="usb") as vb, Link(vb.port) as link:
        wait_for(link, is_event("state,idle"))
        link.command("start static target=30 minutes=1 cup=M")
        wait_for(link, is_event("state,running"), timeout=15)
        time.sleep(3)
        before = status(link)
        vb.stall_host(4.0)
        time.sleep(4.5)
        after = status(link)
        peak = vb.true_vacuum_peak_pa()
    assert after["state"] == "running" and after["fault"] == "none"
    assert int(after["dropped"]) > 0 and vb.bytes_dropped > 0, "the stalled host must have cost telemetry"
    # 4 s is 400 periods: a loop that waited on its writes would miss most of them
    assert int(after["missed"]) - int(before["missed"]) <= 20
    assert peak <= board.cup("M").hard_limit_pa
