"""The emulated bootloader behind an RFC 2217 port, where DTR and RTS reach the board.

A pseudo-terminal has no modem lines (cupctl.sim.romport), so esptool's reset into the
bootloader cannot be seen there. RFC 2217 (serial port control over telnet) carries
them: esptool and pyserial take ``rfc2217://127.0.0.1:PORT`` as a port. The server is
esptool's own ``esp_rfc2217_server`` port manager, as when a board hangs off another
machine: DTR and RTS changes cannot cross a network with the timing a reset needs, so
it recognises the start of esptool's reset sequence (DTR asserted) and replays the
sequence on the bridge itself, and a lone RTS release as a hard reset. Here the bridge
is emulated, and so is what hangs off it, the auto-reset circuit of ESP32 boards:

- two transistors between the bridge's lines and the chip: EN (reset) is pulled low
  while RTS is asserted and DTR is not; GPIO0 is pulled low while DTR is asserted and
  RTS is not (both asserted, or neither, leave both high);
- EN has an RC delay: the chip leaves reset only once EN has stayed high for
  ``en_rise_s``, and then samples GPIO0: low starts the ROM's serial loader
  (download mode), high boots the flash (its app, which says nothing here);
- the ROM prints its boot log either way, which esptool reads to tell the two apart.

The board powers up running its app: only a reset with GPIO0 low gets SYNC answered.
One deviation from esp_rfc2217_server: on Linux it replays the reset with
``UnixTightReset``, whose ioctls need a real tty; the emulated bridge is a Python
object, so it gets ``ClassicReset``, esptool's portable sequence (its default on
Windows, and its third and fourth try on Linux).
"""

from __future__ import annotations

import socket
import threading

from esp_rfc2217_server.esp_port_manager import EspPortManager
from esptool.reset import DEFAULT_RESET_DELAY, ClassicReset

from cupctl.sim import slip
from cupctl.sim.esprom import EspRom
from cupctl.sim.romport import BootloaderLink

EN_RISE_S = 0.015  # EN through 10 kOhm and 1 uF reaches its threshold in about 1.4 RC: well inside the
# sequence's 50 ms between releasing EN and releasing GPIO0, and past a thread's scheduling hiccups


class _PortManager(EspPortManager):
    def __init__(self, lines, connection):
        super().__init__(lines, connection, esp32r0_delay=False)

    def _reset_thread(self) -> None:
        ClassicReset(self.serial, DEFAULT_RESET_DELAY)()


class _Lines:
    """What the port manager drives as "the serial port": the bridge's modem lines and settings."""

    def __init__(self, changed):
        self._changed = changed
        self._dtr = self._rts = False
        self.baudrate = 115200
        self.bytesize, self.parity, self.stopbits = 8, "N", 1
        self.xonxoff = self.rtscts = self.break_condition = False
        self.cts = self.dsr = self.ri = self.cd = False

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        self._dtr = value
        self._changed()

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, value: bool) -> None:
        self._rts = value
        self._changed()

    def setDTR(self, value: bool) -> None:  # noqa: N802 (pyserial's names, which esptool's resets call)
        self.dtr = value

    def setRTS(self, value: bool) -> None:  # noqa: N802
        self.rts = value

    def isOpen(self) -> bool:  # noqa: N802
        return True

    def reset_input_buffer(self) -> None:
        pass

    def reset_output_buffer(self) -> None:
        pass


class _Connection:
    def __init__(self, sock: socket.socket):
        self.sock = sock

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:  # the client went away: what it does not read is lost, as on a wire
            pass


class Rfc2217Bootloader(BootloaderLink):
    """``port`` is an ``rfc2217://`` URL on the loopback interface, one client at a time."""

    def __init__(self, rom: EspRom, en_rise_s: float = EN_RISE_S):
        super().__init__(rom)
        self._en_rise_s = en_rise_s
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        # ign_set_control: esp_rfc2217_server does not acknowledge DTR/RTS changes (its docs ask for it too)
        self.port = "rfc2217://127.0.0.1:%d?ign_set_control" % self._server.getsockname()[1]
        self.lines = _Lines(self._lines_changed)
        self._held = False  # EN low: the chip is in reset and hears nothing
        self._booting: threading.Timer | None = None
        self._circuit = threading.Lock()  # lines change from the connection and from the server's reset thread
        self._client: _Connection | None = None
        self.boots: list[str] = []  # "download" or "flash", one per reset, for tests
        rom.reset(download=False)  # powered up with GPIO0 high: the app runs

    # --- the auto-reset circuit ---

    def _lines_changed(self) -> None:
        with self._circuit:
            en_low = self.lines.rts and not self.lines.dtr
            if en_low and not self._held:
                self._held = True
                if self._booting is not None:
                    self._booting.cancel()
                    self._booting = None
            elif not en_low and self._held:
                self._held = False
                self._booting = threading.Timer(self._en_rise_s, self._boot)
                self._booting.start()

    def _boot(self) -> None:
        with self._lock, self._circuit:
            if self._held:
                return
            gpio0_low = self.lines.dtr and not self.lines.rts
            self.rom.reset(download=gpio0_low)
            self._decoder = slip.Decoder()
            self.boots.append("download" if gpio0_low else "flash")
            self._transmit(self.rom.chip.boot_log(gpio0_low))

    # --- the connection ---

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._server.accept()
            except TimeoutError:
                continue
            with sock:
                self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(0.05)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers go out at once, as on a wire
        with self._lock:
            self._client = _Connection(sock)
            manager = _PortManager(self.lines, self._client)
        while not self._stop.is_set() and not self.cable_pulled.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            with self._lock:
                payload = b"".join(manager.filter(data))  # modem lines and settings go to self.lines
                if payload and not self._held:
                    self._receive(payload, self.lines.baudrate)
        with self._lock:
            self._client = None

    def _send(self, data: bytes) -> None:
        if self._client is not None:
            self._client.write(data.replace(b"\xff", b"\xff\xff"))  # telnet's IAC, doubled in data

    def _unplug(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.sock.close()

    def stop(self) -> None:
        super().stop()
        if self._booting is not None:
            self._booting.cancel()
        self._server.close()
