"""The virtual board's link: paced like a 115200-baud UART or native USB, and mpremote's `cp FILE :`.

Timing checks assert only that the paced link is never FASTER than its rate:
a slow or loaded machine can only make it slower, so they hold anywhere.
"""

import os
import select
import subprocess
import sys
import time

import pytest

from cupctl import boards
from cupctl.sim.paced_link import LINKS, Wire, model
from cupctl.sim.vboard import VirtualBoard, populate_flash

UART = LINKS["uart115200"]


def test_a_wire_carries_bytes_no_faster_than_its_rate_and_in_order():
    wire = Wire(UART)
    data = bytes(range(256)) * 45  # 11,520 bytes: one second of wire time
    wire.put(data, now=10.0)
    assert wire.take(10.0) == b""
    got = wire.take(10.5)
    assert 0 < len(got) <= len(data) // 2
    got += wire.take(10.999)
    assert len(got) < len(data)  # the last packet is still on the wire
    got += wire.take(11.0 + UART.latency_s + 1e-9)
    assert got == data and wire.backlog == 0


def test_a_wire_that_is_busy_queues_what_comes_next():
    wire = Wire(UART)
    wire.put(b"x" * 1152, now=0.0)  # 0.1 s of wire
    wire.put(b"y", now=0.0)
    arrival = wire.next_arrival()
    assert arrival is not None and arrival >= 0.1 / 1152 * 64  # the first packet needs its 64 bytes of time
    assert b"y" not in wire.take(0.1)  # the y waits for the x's
    assert wire.take(0.2).endswith(b"y")


def test_native_usb_keeps_what_the_host_has_not_read_yet():
    usb = LINKS["usb"]
    wire = Wire(usb)
    wire.put(b"a" * 100 + b"b" * 100, now=0.0)
    arrived = wire.take(1.0)
    assert arrived == b"a" * 100 + b"b" * 100 and wire.backlog == 0
    wire.give_back(arrived[150:], now=1.0)  # the host took only 150 bytes
    wire.put(b"c", now=1.0)
    assert wire.backlog == 51
    assert wire.take(2.0) == b"b" * 50 + b"c"  # nothing lost, nothing reordered


def test_an_unknown_link_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="uart115200"):
        model("rs485")


@pytest.fixture
def board_at_repl(tmp_path, micropython):
    """A virtual board (paced like a UART) whose firmware has been stopped: it sits at the REPL."""
    flash = tmp_path / "flash"
    populate_flash(flash, boards.load(boards.DEFAULT)[0])
    (flash / "main.py").write_text("")  # no firmware loop: straight to the REPL
    with VirtualBoard(flash, link="uart115200") as vb:
        fd = os.open(vb.port, os.O_RDWR | os.O_NOCTTY)
        try:
            read_until(fd, b">>> ")  # main.py has ended
            os.write(fd, b"\r\x01")  # ctrl-A: raw REPL
            read_until(fd, b"raw REPL; CTRL-B to exit\r\n>")
            yield vb, fd
        finally:
            os.close(fd)


def read_until(fd, marker, timeout=30.0):
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, "no %r within %gs; got %r" % (marker, timeout, seen[-200:])
        if select.select([fd], [], [], left)[0]:
            seen += os.read(fd, 65536)
    return seen


def test_output_to_the_host_is_paced_like_a_115200_baud_uart(board_at_repl):
    vb, fd = board_at_repl
    size = 5760  # half a second of 115200 baud
    os.write(fd, b"print('z' * %d)\x04" % size)
    read_until(fd, b"OK")
    started = time.monotonic()
    out = read_until(fd, b"\x04>")
    elapsed = time.monotonic() - started
    assert out.count(b"z") == size
    assert elapsed >= (size - 2 * UART.packet) / UART.bytes_per_s  # never faster than the wire


def test_input_from_the_host_is_paced_like_a_115200_baud_uart(board_at_repl):
    vb, fd = board_at_repl
    code = b"x = 1  # " + b"p" * 4000 + b"\n"
    started = time.monotonic()
    os.write(fd, code + b"\x04")
    read_until(fd, b"OK")  # the board answers once it has received the whole block
    elapsed = time.monotonic() - started
    assert elapsed >= (len(code) - UART.packet) / UART.bytes_per_s


def test_mpremote_copies_into_the_root_as_on_a_board(tmp_path, micropython):
    """`mpremote cp FILE :` stats '' first, which the unix port refused: the board's REPL answers as a VFS."""
    flash = tmp_path / "flash"
    populate_flash(flash, boards.load(boards.DEFAULT)[0])
    (flash / "main.py").write_text("")
    source = tmp_path / "hello.py"
    source.write_text("print('hello')\n")
    with VirtualBoard(flash) as vb:
        proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, "cp", str(source), ":"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (flash / "hello.py").read_text() == "print('hello')\n"
