"""Serial output that never makes the control loop wait: a ring buffer and a writer thread.

On native USB (the S3's USB-CDC, the C3's USB-Serial/JTAG) a write blocks for up
to 500 or 200 ms when the host keeps the port open but stops reading; behind a
UART bridge a write waits whenever the loop outruns the baud rate. The loop puts each line
into a fixed ring (``write``, allocation-free) and a thread of its own drains
it into the port, blocking there instead (MicroPython's ESP32 port releases the
GIL while stdout waits). A line that does not fit is dropped whole and counted:
the host sees a gap in the telemetry's sequence numbers, never a late tick.

    out = Outbox(sys.stdout.buffer, 4096)
    out.start()               # the writer thread
    out.write(b"T1,...\\n")  # from the loop
    out.stop(200)             # before anything else writes to the port
"""

import _thread
import time

_IDLE_MS = 2  # the writer's nap when the ring is empty


class Outbox:
    def __init__(self, port, size):
        self._port = port
        self._ring = bytearray(size)
        self._view = memoryview(self._ring)
        self._size = size
        self._head = 0  # next byte to write into the ring (the loop's)
        self._tail = 0  # next byte to send to the port (the writer's)
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
        while self._running:
            head = self._head
            tail = self._tail
            if head == tail:
                time.sleep_ms(_IDLE_MS)
                continue
            end = head if head > tail else self._size  # up to the ring's end, then from its start
            sent = self._port.write(self._view[tail:end])
            self._tail = (tail + (sent or 0)) % self._size
