"""Serial output that never makes the control loop wait: a ring buffer and a writer thread.

On native USB (the S3's USB-CDC, the C3's USB-Serial/JTAG) a write blocks for up
to 500 or 200 ms when the host keeps the port open but stops reading; behind a
UART bridge a write waits whenever the loop outruns the baud rate. The loop puts each line
into a fixed ring (``write``, allocation-free) and a thread of its own drains
it into the port, blocking there instead. MicroPython's ESP32 port releases the
GIL while stdout waits only for writes longer than 20 bytes
(``MICROPY_PY_STRING_TX_GIL_THRESHOLD``, ports/esp32/mphalport.c): a shorter one
keeps it, and on the C3 it can busy-wait 200 ms with the loop stopped. So the
writer never sends 20 bytes or fewer while more is queued: at the ring's end it
joins the pieces on either side in a small buffer, and a lone short line waits
up to ``_SHORT_WAIT_MS`` for company (the next telemetry line). A line that does
not fit is dropped whole and counted: the host sees a gap in the telemetry's
sequence numbers, never a late tick.

    out = Outbox(sys.stdout.buffer, 4096)
    out.start()               # the writer thread
    out.write(b"T1,...\\n")  # from the loop
    out.stop(200)             # before anything else writes to the port
"""

import _thread
import time

_IDLE_MS = 2  # the writer's nap when the ring is empty
GIL_THRESHOLD = 20  # bytes: a stdout write of this many or fewer keeps the GIL on the ESP32
_SHORT_WAIT_MS = 40  # a lone short line waits this long for more before it goes alone


class Outbox:
    def __init__(self, port, size):
        self._port = port
        self._ring = bytearray(size)
        self._view = memoryview(self._ring)
        self._size = size
        self._head = 0  # next byte to write into the ring (the loop's)
        self._tail = 0  # next byte to send to the port (the writer's)
        self._joint = bytearray(2 * (GIL_THRESHOLD + 1))  # the ring's end and start, sent as one write
        self._joint_view = memoryview(self._joint)
        self.dropped = 0  # lines that did not fit
        self._running = False

    def write(self, data):
        """Queue one whole line, or drop it (counted) if the ring is too full. Allocation-free."""
        n = len(data)
        head = self._head
        free = (self._tail - head - 1) % self._size
        if n > free:
            self.dropped += 1
            return 0
        ring = self._ring
        size = self._size
        for i in range(n):
            ring[(head + i) % size] = data[i]
        self._head = (head + n) % size  # published last: the writer never sees a half-copied line
        return n

    def pending(self):
        return (self._head - self._tail) % self._size

    def start(self):
        self._running = True
        _thread.start_new_thread(self._drain, ())

    def stop(self, timeout_ms):
        """Let the writer send what is queued, for at most ``timeout_ms``, then end it."""
        self.flush(timeout_ms)
        self._running = False

    def flush(self, timeout_ms):
        """Wait, at most ``timeout_ms``, until the writer has sent everything queued."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while self.pending() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            time.sleep_ms(1)

    def _drain(self):
        short_since = None
        while self._running:
            head = self._head
            tail = self._tail
            pending = (head - tail) % self._size
            if not pending:
                time.sleep_ms(_IDLE_MS)
                continue
            if pending <= GIL_THRESHOLD:  # a write this short would hold the GIL: wait for more
                if short_since is None:
                    short_since = time.ticks_ms()
                if time.ticks_diff(time.ticks_ms(), short_since) < _SHORT_WAIT_MS:
                    time.sleep_ms(_IDLE_MS)
                    continue
            short_since = None
            self._send(tail, head, pending)

    def _send(self, tail, head, pending):
        """One write from ``tail``: up to the ring's end, or across it through the joint buffer when the
        piece before the end is short."""
        size = self._size
        end = head if head > tail else size
        if end - tail <= GIL_THRESHOLD < pending:
            n = pending if pending < len(self._joint) else len(self._joint)
            for i in range(n):
                self._joint[i] = self._ring[(tail + i) % size]
            sent = self._port.write(self._joint_view[:n])
        else:
            sent = self._port.write(self._view[tail:end])
        self._tail = (tail + (sent or 0)) % size
