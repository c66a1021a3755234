"""The one serial connection to a board: find it, read records, send commands.

Works the same on a real board (/dev/ttyUSB0) and on the virtual board's
pseudo-terminal. Opening does not toggle DTR/RTS, which on ESP32 boards
would reset the chip (esptool uses them on purpose; we must not).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterator

import serial
import serial.tools.list_ports

from cupctl.telemetry import Record, parse_line

# USB VID/PID of the bridges and native USB found on ESP32 boards.
KNOWN_USB = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x0403, 0x6001): "FTDI FT232",
    (0x0403, 0x6015): "FTDI FT231X",
    (0x303A, 0x1001): "Espressif USB-Serial/JTAG",
    (0x303A, 0x4001): "Espressif native USB (MicroPython)",
    (0x239A, 0x8143): "Adafruit QT Py ESP32-S3",
}
BAUD = 115200
# TinyUSB CDC (the S2/S3's native USB): MicroPython v1.22-v1.23 sends nothing until the host asserts DTR.
# DTR does not reset these (no auto-reset circuit); on UART bridges and USB-Serial/JTAG it would.
NATIVE_CDC = {(0x303A, 0x4001), (0x239A, 0x8143)}


class LinkError(RuntimeError):
    """A serial problem, phrased for the user."""


def parse_info(text: str) -> dict[str, str]:
    """``key=value`` words of an ``info`` or ``status`` answer as a dict."""
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def expand_port(name: str) -> str:
    """mpremote's port shortcuts: u0 is /dev/ttyUSB0, a0 /dev/ttyACM0, c3 COM3; anything else as given."""
    match = re.fullmatch(r"([uac])(\d+)", name)
    if not match:
        return name
    return {"u": "/dev/ttyUSB", "a": "/dev/ttyACM", "c": "COM"}[match[1]] + match[2]


def ports() -> list[tuple[str, str | None]]:
    """Every serial port seen, with the name of its ESP32 USB bridge (None if not a known one)."""
    return [(p.device, KNOWN_USB.get((p.vid, p.pid))) for p in serial.tools.list_ports.comports()]


def find_port() -> str:
    """The single ESP32-looking USB serial port, by VID/PID."""
    found = [p for p in serial.tools.list_ports.comports() if (p.vid, p.pid) in KNOWN_USB]
    if not found:
        raise LinkError("no board found by USB VID/PID; plug it in or pass --port (e.g. --port /dev/ttyUSB0)")
    if len(found) > 1:
        raise LinkError("several boards found (%s); pass --port to choose one" % ", ".join(
            p.device for p in found))
    return found[0].device


def _is_native_cdc(port: str) -> bool:
    return any(p.device == port and (p.vid, p.pid) in NATIVE_CDC for p in serial.tools.list_ports.comports())


class Link:
    def __init__(self, port: str | None, baud: int = BAUD):
        self.port = port or find_port()
        try:
            self.serial = serial.Serial()
            self.serial.port = self.port
            self.serial.baudrate = baud
            self.serial.timeout = 0.1
            self.serial.dtr = _is_native_cdc(self.port)  # set before open: no reset into the bootloader
            self.serial.rts = False
            self.serial.exclusive = True  # one process owns the port
            self.serial.open()
        except serial.SerialException as e:
            raise LinkError(_explain(self.port, e))
        self._buffer = b""
        self._lines: deque[bytes] = deque()  # complete lines read from the port, not yet handed out
        self._info: str | None = None  # the device's `info` answer, from the first command's resync

    def close(self) -> None:
        self.serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write_line(self, text: str) -> None:
        try:
            self.serial.write(text.encode() + b"\n")
            self.serial.flush()
        except (serial.SerialException, OSError) as e:
            raise LinkError("lost %s while sending: %s" % (self.port, e))

    def records(self, timeout: float | None = None) -> Iterator[Record]:
        """Parsed records as they arrive; stops after ``timeout`` s of silence (None: never)."""
        quiet_since = time.monotonic()
        while True:
            # One chunk often holds several lines: each leaves the queue as it is handed out, so a caller
            # that stops after one (follow's duration, a command's reply) leaves the rest to the next.
            while self._lines:
                record = parse_line(self._lines.popleft())
                if record is not None:
                    yield record
            try:
                chunk = self.serial.read(max(1, self.serial.in_waiting))
            except (serial.SerialException, OSError, TypeError) as e:
                raise LinkError("lost %s (cable pulled or board reset?): %s" % (self.port, e))
            if chunk:
                quiet_since = time.monotonic()
                self._buffer += chunk
                *lines, self._buffer = self._buffer.split(b"\n")
                if len(self._buffer) > 4096:  # garbage without newlines: drop it
                    self._buffer = b""
                self._lines.extend(lines)
            elif timeout is not None and time.monotonic() - quiet_since > timeout:
                return

    def info(self, timeout: float = 3.0) -> dict[str, str]:
        """The device's ``info`` answer as a dict (version, board, chip, loop_hz, limits)."""
        if self._info is None:
            self._resync(timeout, "info")
        return parse_info(self._info or "")

    def _resync(self, timeout: float, verb: str) -> None:
        """End whatever partial line the device holds, then wait for ``info`` by its text.

        An interrupted deploy, ``mpremote soft-reset`` or esptool's probe can leave bytes in the
        device's line buffer that would glue onto our first command. The line break ends them; their
        reply, if any, arrives before the answer to ``info`` and is skipped.
        """
        self.write_line("\ninfo")  # \n: end a stray partial line; info: a reply we can recognise
        deadline = time.monotonic() + timeout
        for record in self.records(timeout=timeout):
            if record.kind == "R" and record.text.startswith("ok,version="):
                self._info = record.text[3:]
                return
            if time.monotonic() > deadline:
                break
        raise _silent(self.port, verb, timeout)

    def command(self, text: str, timeout: float = 3.0,
                on_record: Callable[[Record], None] | None = None) -> str:
        """Send one command and return its result text; LinkError if refused or silent.

        The first command on a connection resynchronises first (see ``_resync``).
        """
        if self._info is None:
            self._resync(timeout, text.split()[0])
        self.write_line(text)
        deadline = time.monotonic() + timeout
        for record in self.records(timeout=timeout):
            if record.kind == "R":
                status, _, message = record.text.partition(",")
                if status != "ok":
                    raise LinkError("device refused %r: %s" % (text.split()[0], message))
                return message
            if on_record is not None:
                on_record(record)
            if time.monotonic() > deadline:
                break
        raise _silent(self.port, text.split()[0], timeout)


def _silent(port: str, verb: str, timeout: float) -> LinkError:
    return LinkError("no answer from %s to %r within %g s: is the cupctl firmware running?" % (port, verb, timeout))


def _explain(port: str, error: Exception) -> str:
    text = str(error)
    if "No such file" in text or "could not open" in text and "2]" in text:
        return "no serial port %s: is the board plugged in? (cupctl boards lists ports)" % port
    if "busy" in text.lower() or "lock" in text.lower() or "Resource temporarily" in text:
        return "%s is busy: another program (monitor, mpremote, a terminal) holds it" % port
    if "Permission" in text:
        return "no permission for %s: add yourself to the dialout group" % port
    return "cannot open %s: %s" % (port, text)
