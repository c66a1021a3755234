"""The serial outbox: the loop never waits for the port; what does not fit is dropped whole and counted."""

import threading
import time

from cupfw import outbox
from cupfw.outbox import Outbox


class Port:
    """A port whose writes block while ``gate`` is closed, as native USB does for a host that stops reading."""

    def __init__(self):
        self.data = bytearray()
        self.gate = threading.Event()
        self.gate.set()

    def write(self, chunk):
        self.gate.wait()
        self.data += bytes(chunk)
        return len(chunk)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_lines_arrive_whole_and_in_order_across_the_ring_wrap():
    port = Port()
    out = Outbox(port, 64)
    out.start()
    lines = [b"line %02d\n" % i for i in range(40)]  # 320 bytes through a 64-byte ring
    for line in lines:
        room = 64 - len(line)
        wait_until(lambda room=room: out.pending() < room)
        assert out.write(line) == len(line)
    out.stop(1000)
    assert bytes(port.data) == b"".join(lines) and out.dropped == 0


def test_a_blocked_port_never_blocks_the_loop_and_drops_whole_lines():
    port = Port()
    port.gate.clear()  # the host stops reading
    out = Outbox(port, 100)
    out.start()
    started = time.monotonic()
    accepted = [out.write(b"%09d\n" % i) for i in range(50)]  # 500 bytes offered, 99 fit
    assert time.monotonic() - started < 0.5  # no write waited on the port
    assert accepted.count(10) == 9 and accepted.count(0) == 41 and out.dropped == 41
    port.gate.set()  # the host reads again
    out.stop(1000)
    assert bytes(port.data) == b"".join(b"%09d\n" % i for i in range(9))


def test_stop_lets_the_writer_finish_then_ends_it():
    port = Port()
    out = Outbox(port, 256)
    out.start()
    out.write(b"last words\n")
    out.stop(1000)
    assert bytes(port.data) == b"last words\n" and out.pending() == 0
    out.write(b"after\n")
    time.sleep(0.05)
    assert bytes(port.data) == b"last words\n"  # nobody drains any more


class CountingPort(Port):
    """Records each write's size: on the ESP32 one of 20 bytes or fewer keeps the GIL while it waits."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def write(self, chunk):
        self.sizes.append(len(chunk))
        return super().write(chunk)


def test_the_rings_end_goes_out_joined_to_its_start_never_as_a_short_write():
    port = CountingPort()
    out = Outbox(port, 64)
    out.start()
    out.write(b"%049d\n" % 0)  # 50 bytes: the next line starts 14 bytes before the ring's end
    wait_until(lambda: not out.pending())
    port.gate.clear()  # the host stops reading: what follows queues up
    port.sizes.clear()
    out.write(b"%029d\n" % 1)
    out.write(b"%029d\n" % 2)
    wait_until(lambda: port.sizes)  # the writer is waiting on the port with its first write
    assert port.sizes[0] > outbox.GIL_THRESHOLD, "14 bytes up to the ring's end, written alone"
    port.gate.set()
    out.stop(2000)
    assert bytes(port.data) == b"%049d\n" % 0 + b"%029d\n" % 1 + b"%029d\n" % 2


def test_a_lone_short_line_waits_for_the_next_one(monkeypatch):
    monkeypatch.setattr(outbox, "_SHORT_WAIT_MS", 5000)  # generous, so a loaded machine cannot split them
    port = CountingPort()
    out = Outbox(port, 256)
    out.start()
    out.write(b"R1,ok*00\n")
    time.sleep(0.2)
    assert port.sizes == []  # 9 bytes would have held the GIL: held back instead
    out.write(b"T1,%040d\n" % 7)
    out.stop(5000)
    assert port.sizes == [9 + 44] and bytes(port.data) == b"R1,ok*00\n" + b"T1,%040d\n" % 7


def test_a_lone_short_line_goes_out_alone_after_the_wait():
    port = CountingPort()
    out = Outbox(port, 256)
    out.start()
    out.write(b"R1,ok*00\n")
    wait_until(lambda: port.data)
    out.stop(1000)
    assert bytes(port.data) == b"R1,ok*00\n" and port.sizes == [9]
