"""The emulated ESP bootloader (cupctl.sim.esprom) behind a pseudo-terminal, for esptool and ``cupctl flash``.

What a pty can and cannot carry, found out on Linux:

- **DTR and RTS do not exist on a pty**: pyserial's and esptool's modem-control
  ioctls (TIOCMSET, TIOCMBIS) fail with ENOTTY. esptool catches that, warns once
  ("Chip was NOT reset...") and goes on with SYNC, so its reset-into-bootloader
  sequence cannot reach the chip. The emulated chip is therefore in download mode
  by construction: it comes up in the ROM loader, and each time the host opens
  the port anew (the master side sees the slave's hang-up end) it is reset into
  the ROM loader again, as esptool's reset would have done. Tests that need a
  fresh ROM call ``reset()`` themselves instead of relying on timing. Where the
  lines exist, over RFC 2217, cupctl.sim.romnet models the reset itself.
- **The baud rate does**: the slave's termios speed reads back on the master.
  The ROM locks onto the host's rate at SYNC, CHANGE_BAUDRATE moves it, and
  bytes the host sends at any other rate are lost as line garbage, so a host
  that forgets to follow a baud change gets no answer, as from a real chip.
- **A pulled cable**: ``pull_cable(command, n)`` closes the master when the n-th
  such command arrives, before it is answered: the device node disappears and
  the host's next read or write fails, as when a USB bridge is unplugged.

The pty is unpaced: bytes move as fast as the two processes go. ``bytes_from_host``,
``bytes_to_host`` and ``bytes_by_baud`` count what went over the wire, for benchmarks.
"""

from __future__ import annotations

import errno
import os
import pty
import select
import signal
import termios
import threading
import tty
from pathlib import Path

from cupctl.sim import slip
from cupctl.sim.espchips import chip
from cupctl.sim.espflash import NorFlash
from cupctl.sim.esprom import OPS, EspRom

_SPEEDS = {getattr(termios, name): int(name[1:]) for name in dir(termios)
           if name[0] == "B" and name[1:].isdigit()}


class BootloaderLink:
    """The chip's UART as the host sees it, whatever carries it: SLIP, the baud rate, a pulled cable,
    the byte counts. Subclasses carry the bytes (``_send``) and unplug (``_unplug``)."""

    def __init__(self, rom: EspRom):
        self.rom = rom
        self._decoder = slip.Decoder()
        self._lock = threading.Lock()  # the chip's state, between the serving thread and tests
        self._pull: tuple[str, int] | None = None
        self._pull_seen = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cable_pulled = threading.Event()
        self.garbled = 0  # bytes lost to a baud-rate mismatch
        self.bytes_from_host = 0
        self.bytes_to_host = 0
        self.bytes_by_baud: dict[int, list[int]] = {}  # host port rate: [bytes from host, bytes to host]
        self._baud = 0  # the host's rate when the request being answered came in

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="esprom", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._unplug()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self, download: bool = True) -> None:
        """Reset the chip: into the ROM loader (GPIO0 held low), or to run its app."""
        with self._lock:
            self.rom.reset(download)
            self._decoder = slip.Decoder()

    def pull_cable(self, command: str, nth: int = 1) -> None:
        """Unplug when the ``nth`` ``command`` (e.g. "FLASH_DEFL_DATA") of the session arrives."""
        self._pull = (command, nth)
        self._pull_seen = 0

    def _loop(self) -> None:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _unplug(self) -> None:
        raise NotImplementedError

    def _receive(self, data: bytes, host_baud: int) -> None:
        """Bytes from the host at ``host_baud``: to the chip, and its answers back. Call with the lock held."""
        self._baud = host_baud
        self.bytes_from_host += len(data)
        self.bytes_by_baud.setdefault(host_baud, [0, 0])[0] += len(data)
        if self.rom.uart_baud is not None and host_baud != self.rom.uart_baud:
            self.garbled += len(data)  # framing errors: the chip sees nothing it could decode
            return
        for packet in self._decoder.feed(data):
            if self._pulls_at(packet):
                self._unplug()
                self.cable_pulled.set()
                return
            for reply in self.rom.handle(packet, host_baud or None):
                self._transmit(slip.encode(reply))

    def _transmit(self, data: bytes) -> None:
        self._send(data)
        self.bytes_to_host += len(data)
        self.bytes_by_baud.setdefault(self._baud, [0, 0])[1] += len(data)

    def _pulls_at(self, packet: bytes) -> bool:
        if self._pull is None or len(packet) < 2 or OPS.get(packet[1]) != self._pull[0]:
            return False
        self._pull_seen += 1
        return self._pull_seen == self._pull[1]


class BootloaderPort(BootloaderLink):
    """On a pseudo-terminal: ``port`` is its device, for the host to open."""

    def __init__(self, rom: EspRom):
        super().__init__(rom)
        self._master, slave = pty.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        os.close(slave)  # the host's open and close are then visible as the hang-up ending and starting
        self._poll = select.poll()
        self._poll.register(self._master, select.POLLIN | select.POLLHUP)
        self._connected = False
        self._idle = threading.Event()  # set while nobody has the port open (once the loop has seen it)
        self.opens = 0  # times the host opened the port and spoke

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """Wait until the emulator has seen the host close the port (so the next open resets the chip)."""
        return self._idle.wait(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set() and not self.cable_pulled.is_set():
            events = self._poll.poll(50)
            if not events:
                continue
            if events[0][1] & select.POLLHUP and not events[0][1] & select.POLLIN:
                self._connected = False  # nobody has the port open
                self._idle.set()
                self._stop.wait(0.005)
                continue
            if not self._connected:
                self._connected = True
                self._idle.clear()
                self.opens += 1
                if self.opens > 1:  # a new connection: what esptool's DTR/RTS reset would have done
                    self.reset()
            try:
                data = os.read(self._master, 65536)
            except OSError as e:  # the host closed the port between poll and read
                if e.errno != errno.EIO:
                    raise
                continue
            with self._lock:
                self._receive(data, _SPEEDS.get(termios.tcgetattr(self._master)[4], 0))

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except OSError as e:  # the host went away mid-answer: the rest is lost, as on a wire
                if e.errno in (errno.EIO, errno.EBADF):
                    return
                raise
            view = view[written:]

    def _unplug(self) -> None:
        master, self._master = self._master, -1  # never close a number the process may have reused
        if master >= 0:
            os.close(master)

def serve(chip_name: str, flash_dir: str | None = None) -> int:
    """``cupctl sim --serve --bootloader CHIP``: print ``port: <path>``, then serve until interrupted.

    With ``flash_dir`` the flash persists in ``<flash_dir>/<chip>.bin``: read at start, written at exit.
    """
    spec = chip(chip_name)
    flash = NorFlash(spec.flash_size)
    image = Path(flash_dir) / ("%s.bin" % spec.name) if flash_dir else None
    if image is not None and image.is_file():
        saved = image.read_bytes()
        if len(saved) != flash.size:
            raise ValueError("%s holds %d bytes, not a %d-byte %s flash" % (image, len(saved), flash.size,
                                                                           spec.title))
        flash.data[:] = saved
    with BootloaderPort(EspRom(spec, flash)) as board:
        print("port: %s" % board.port, flush=True)
        print("chip: %s in download mode (ROM loader), %d MB flash%s (Ctrl-C to stop)" % (
            spec.title, flash.size >> 20, ", kept in %s" % image if image else ""), flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        with board._lock:
            if image is not None:
                image.write_bytes(flash.data)
            commands = len(board.rom.log)
    print("bootloader stopped after %d commands" % commands)
    return 0
