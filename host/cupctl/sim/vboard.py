"""The virtual board: the firmware on the MicroPython unix port behind a pseudo-terminal.

Host tools open ``board.port`` exactly as they would ``/dev/ttyUSB0``. Behind
it this process plays the chip:

- at power-up and on every reset it runs ``boot.py`` and ``main.py`` from the
  flash folder in a unix-port process with the simulated ``machine``;
- the cup, pump, valve, sensor, button and fault injections (cupctl.sim.boardworld)
  live here, not in that process: a reset leaves the cup's vacuum and the
  fault-injection clock as they are (a soft reset stops the PWM and keeps the
  other pins driven; any other reset floats every pin until the firmware
  drives it again);
- Ctrl-C interrupts that process (a real KeyboardInterrupt); when it ends,
  the board sits at a REPL that speaks MicroPython's raw REPL and raw-paste
  protocols, so the unmodified ``mpremote`` can copy files, run and reset;
- ``machine.WDT`` is a real watchdog: once armed it resets the board when
  not fed in time, and the next boot sees ``reset_cause() == WDT_RESET``;
- ``link`` paces the pty like a 115200-baud UART bridge or native USB
  (cupctl.sim.paced_link), so deploy and streaming take the time they would
  on a board; ``CUPCTL_VBOARD_LINK`` chooses it for ``serve``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from cupctl import mpunix
from cupctl.fw import board_layout
from cupctl.sim.boardworld import BoardWorld
from cupctl.sim.paced_link import Wire, model
from cupfw.files import BOARD_FILE

SIM_DIR = Path(__file__).resolve().parent
BANNER = b"MicroPython (cupctl virtual board, unix port); type help() for more\r\n>>> "
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
PASTE_WINDOW = 256
_RESET_CAUSE = {"power": 1, "hard": 2, "wdt": 3, "soft": 5}
_USB_BACKLOG = 4096  # bytes queued for the host before a native-USB board waits for it
_USB_PACKET = 64
_USB_TX_TIMEOUT_S = 0.5  # MicroPython's USB-CDC write gives up (and drops) after waiting this long
# The firmware's heap: an ESP32 without SPIRAM gives MicroPython about 110-160 KB, where objects take half the
# room they take on the 64-bit unix port and the .mpy files skip the compiler (here the sources compile at
# boot); 160K does not boot here.
_HEAP = "256K"
_F_SETPIPE_SZ = 1031  # Linux fcntl: a pipe as small as a USB endpoint's FIFO, so the board's writes wait


def populate_flash(flash: Path, board_data: dict) -> None:
    """Give an empty flash what a fresh deploy would: the firmware sources and board.json."""
    flash.mkdir(parents=True, exist_ok=True)
    if any(flash.iterdir()):
        return
    for on_board, source in board_layout().items():
        (flash / on_board).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, flash / on_board)
    (flash / BOARD_FILE).write_text(json.dumps(board_data, indent=1))


def _board_file_chip(flash: Path) -> str:
    """The chip the flash's board file is written for, or the DevKitC's ESP32."""
    try:
        chip = json.loads((flash / BOARD_FILE).read_text()).get("chip")
    except (OSError, ValueError, AttributeError):
        chip = None
    return chip if isinstance(chip, str) and chip else "esp32"


class VirtualBoard:
    def __init__(self, flash: Path, spec: dict | None = None, time_scale: int = 1, link: str = "unpaced",
                 chip: str | None = None):
        """``time_scale`` > 1 runs the board's clock that many times faster (soak runs);
        ``link`` is one of cupctl.sim.paced_link.LINKS; ``chip`` is the chip the board is (its
        ``sys.implementation._machine``), by default the one its flash's board file names."""
        self.flash = Path(flash)
        self.chip = chip or _board_file_chip(self.flash)
        paced = model(link)
        self.link = link
        self._to_host = Wire(paced) if paced else None
        self._from_host = Wire(paced) if paced else None
        self._time_scale = time_scale
        self.flash.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix="cupctl-vboard-"))
        self._spec = dict(spec or {})
        self._t0 = time.monotonic()  # power-on, again at start()
        self._pending_reset: str | None = None  # an injected reset, carried out by the loop
        self._world = BoardWorld(self._spec, self._board_ms, self._injected_reset, str(self.flash / BOARD_FILE))
        self._hw_in: int | None = None  # the firmware process's requests (cupctl.sim.machine)
        self._hw_out: int | None = None  # and the replies
        self._hw_buf = b""
        self._fifo = self._tmp / "control"
        os.mkfifo(self._fifo)
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        fcntl.fcntl(self._master, fcntl.F_SETFL, os.O_NONBLOCK)
        # The port is a link to the pty, as /dev/serial/by-id/... links to a tty: mpremote reads a
        # /dev/pts/N device as QEMU's, with no timeout, so a board that went quiet (a watchdog reset
        # in the middle of its exchange) would hang it, where a real serial port times out.
        self.port = str(self._tmp / "ttyVB0")
        os.symlink(os.ttyname(self._slave), self.port)
        self._control = os.open(self._fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._control_keep = os.open(self._fifo, os.O_WRONLY | os.O_NONBLOCK)  # no EOF between writers
        self._child: subprocess.Popen | None = None
        self._mode = "off"
        self._pending = b""
        self._raw = b""
        self._paste_left = 0
        self._exec_markers = 0
        self._executing = False  # the REPL runs code: like a board, it reads no more input until done
        self._line = b""
        self._wdt_timeout: int | None = None  # ms; None: not armed (0 is a timeout, never 'off')
        self._wdt_fed = 0.0
        self.bytes_from_host = 0  # link traffic, for benchmarks
        self.bytes_to_host = 0
        self._host_stalled_until = 0.0  # stall_host(): the host keeps the port open and reads nothing
        self._behind_since: float | None = None
        self.bytes_dropped = 0  # native USB: what the board's writes gave up on
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.resets: list[str] = []

    # --- life cycle ---

    def start(self) -> VirtualBoard:
        self._t0 = time.monotonic()
        self._boot("power")
        self._thread = threading.Thread(target=self._loop, name="vboard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stop.is_set():
            return  # stopped already: its descriptors' numbers may belong to another board by now
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._kill()
        for fd in (self._master, self._slave, self._control, self._control_keep):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def hold_button(self, held: bool) -> None:
        """Hold (or release) the emergency button, as a maker's finger would (through resets too)."""
        self._world.press_button(held)

    def true_vacuum_peak_pa(self) -> int:
        """The highest true vacuum in the simulated cup since the board last booted (tests)."""
        return self._world.peak_vacuum_pa

    def true_vacuum_pa(self) -> int:
        """The true vacuum in the simulated cup now (tests)."""
        return self._world.plant.vacuum_pa

    def _board_ms(self) -> int:
        """Milliseconds since power-on, in the board's (possibly accelerated) time."""
        return int((time.monotonic() - self._t0) * 1000 * self._time_scale)

    def _injected_reset(self, power: bool) -> None:
        self._pending_reset = "power" if power else "hard"

    def stall_host(self, seconds: float) -> None:
        """The host keeps the port open but reads nothing for ``seconds`` (a hung monitor, a full buffer)."""
        self._host_stalled_until = time.monotonic() + seconds

    def press_reset(self) -> None:
        """The board's reset button, from any thread: the board's own loop carries it out."""
        os.write(self._control_keep, b"R\n")

    def line_noise(self, data: bytes) -> None:
        """Put raw bytes on the line, as a noisy cable or a glitching bridge would."""
        self._send(data)

    # --- processes ---

    def _spawn(self, script: str, cause: str) -> subprocess.Popen:
        env = mpunix.env()
        env["MICROPYPATH"] = os.pathsep.join([str(mpunix.HOST_DIR), ".frozen"])  # the flash is cwd
        request_in, request_out = os.pipe()
        reply_in, reply_out = os.pipe()
        env.update(CUPCTL_VBOARD_CONTROL=str(self._fifo), CUPCTL_RESET_CAUSE=str(_RESET_CAUSE[cause]),
                   CUPCTL_TIME_SCALE=str(self._time_scale), CUPCTL_VBOARD_CHIP=self.chip,
                   CUPCTL_VBOARD_HW="%d,%d" % (request_out, reply_in))
        try:
            child = subprocess.Popen([mpunix.executable(), "-X", "heapsize=" + _HEAP, str(SIM_DIR / script)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     cwd=self.flash, env=env, bufsize=0, pass_fds=(request_out, reply_in))
        finally:
            os.close(request_out)
            os.close(reply_in)
        os.set_blocking(request_in, False)
        self._hw_in, self._hw_out, self._hw_buf = request_in, reply_out, b""
        if self._to_host is not None and not self._to_host.link.drops_unread:
            try:
                fcntl.fcntl(child.stdout.fileno(), _F_SETPIPE_SZ, 4096)
            except OSError:  # not Linux: the pipe's own size, so writes wait later
                pass
        return child

    def _kill(self) -> None:
        child, self._child = self._child, None
        if child is not None and child.poll() is None:
            child.kill()
        for fd in (self._hw_in, self._hw_out):
            if fd is not None:
                os.close(fd)
        self._hw_in = self._hw_out = None
        if child is not None:
            child.wait()
            for stream in (child.stdin, child.stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def _boot(self, cause: str) -> None:
        """A reset: everything stops, boot.py and main.py run. The watchdog disarms, except at a soft
        reset (Ctrl-D), which leaves the ESP32's task watchdog armed (ports/esp32/main.c tears it not down)."""
        self._kill()
        self._world.boot(cause)
        self._pending_reset = None
        if cause != "soft":
            self._wdt_timeout = None
        self._executing = False
        self._raw = b""
        self._line = b""
        self.resets.append(cause)
        self._child = self._spawn("mp_board.py", cause)
        self._mode = "firmware"

    def _repl_process(self) -> None:
        if self._child is None or self._child.poll() is not None:
            self._kill()
            self._child = self._spawn("mp_repl.py", "soft")

    # --- the loop ---

    def _loop(self) -> None:
        while not self._stop.is_set():
            fds = [self._master, self._control]
            if self._hw_in is not None:
                fds.append(self._hw_in)
            child = self._child
            behind = self._host_is_behind()
            if child is not None and not behind:
                fds.append(child.stdout)
            self._time_out_writes(child, behind)
            readable, _, _ = select.select(fds, [], [], self._wait_s())
            if self._hw_in is not None and self._hw_in in readable:
                self._on_hw_request()
            if self._control in readable:
                self._on_control()
            if child is not None and child is self._child and child.stdout in readable:
                data = os.read(child.stdout.fileno(), 4096)
                if data:
                    self._on_child_output(data)
                else:
                    self._on_child_exit()
            if self._master in readable:
                try:
                    received = os.read(self._master, 4096)
                except OSError:
                    received = b""
                self.bytes_from_host += len(received)
                if self._from_host is None:
                    self._pending += received
                else:
                    self._from_host.put(received, time.monotonic())
            if self._from_host is not None:
                self._pending += self._from_host.take(time.monotonic())
                self._deliver()
            self._process_input()
            self._world.advance()
            if self._pending_reset is not None:
                self._boot(self._pending_reset)
            elif self._watchdog_expired():
                self._boot("wdt")

    def _watchdog_expired(self) -> bool:
        """Armed and not fed within its timeout (any timeout: machine.WDT refuses one <= 0, and 0 is never 'off')."""
        return self._wdt_timeout is not None and (time.monotonic() - self._wdt_fed) * 1000 > self._wdt_timeout

    def _wait_s(self) -> float:
        """How long the loop may sleep: until the next paced packet arrives, at most 50 ms."""
        due = [w.next_arrival() for w in (self._to_host, self._from_host) if w is not None]
        due = [d for d in due if d is not None]
        return min([0.05] + [max(0.0, d - time.monotonic()) for d in due])

    def _host_is_behind(self) -> bool:
        """Native USB: the board stops writing while the host leaves its output unread."""
        wire = self._to_host
        return wire is not None and not wire.link.drops_unread and wire.backlog > _USB_BACKLOG

    def _time_out_writes(self, child, behind: bool) -> None:
        """Native USB: a write the host leaves waiting gives up after 0.5 s, its bytes lost."""
        now = time.monotonic()
        if child is None or not behind:
            self._behind_since = None
            return
        if self._behind_since is None:
            self._behind_since = now
        elif now - self._behind_since >= _USB_TX_TIMEOUT_S:
            self._behind_since = now
            if select.select([child.stdout], [], [], 0)[0]:  # the write that timed out: one packet lost
                self.bytes_dropped += len(os.read(child.stdout.fileno(), _USB_PACKET))

    def _send(self, data: bytes) -> None:
        if self._to_host is None:
            self._write_host(data)
        else:
            self._to_host.put(data, time.monotonic())
            self._deliver()

    def _deliver(self) -> None:
        """Hand the host what the paced wire has carried so far."""
        wire = self._to_host
        if wire is None:
            return
        now = time.monotonic()
        data = wire.take(now)
        left = data[self._write_host(data) :] if data else b""
        if not wire.link.drops_unread:
            wire.give_back(left, now)

    def _write_host(self, data: bytes) -> int:
        if time.monotonic() < self._host_stalled_until:
            return 0  # as a full pty would take nothing
        try:
            written = os.write(self._master, data)
        except OSError as e:  # nobody reading: a UART drops bytes rather than stalling the chip
            if e.errno not in (errno.EAGAIN, errno.EIO):
                raise
            return 0
        self.bytes_to_host += written
        return written

    def _on_hw_request(self) -> None:
        """Answer the simulated machine's requests (cupctl.sim.machine._Remote), one line each."""
        try:
            data = os.read(self._hw_in, 4096)
        except BlockingIOError:
            return
        if not data:  # the process went away: its exit is seen on its stdout
            os.close(self._hw_in)
            self._hw_in = None
            return
        *lines, self._hw_buf = (self._hw_buf + data).split(b"\n")
        for line in lines:
            reply = self._hw_answer(line.split())
            if reply is not None and self._hw_out is not None:
                try:
                    os.write(self._hw_out, reply + b"\n")
                except OSError:  # BrokenPipeError: it was killed meanwhile
                    pass

    def _hw_answer(self, words: list[bytes]) -> bytes | None:
        world = self._world
        op = words[0]
        if op == b"W":
            acked = world.i2c_write(int(words[1]), b"" if words[2] == b"-" else bytes.fromhex(words[2].decode()))
            return b"%d %s" % (acked, self._hw_flags())
        args = [int(w) for w in words[1:]]
        if op == b"P":
            world.drive(args[0], args[1])
        elif op == b"O":
            world.output(args[0], args[1])
        elif op == b"M":
            world.pwm(args[0], args[1])
        elif op == b"V":
            return b"%d" % world.level(args[0])
        elif op == b"R":
            data = world.i2c_read(args[0], args[1])
            return b"%s %s" % (b"%d" % data if isinstance(data, int) else b"=" + data.hex().encode(),
                               self._hw_flags())
        elif op == b"S":
            return b" ".join([self._hw_flags()] + [b"%d" % a for a in world.i2c_scan()])
        elif op == b"T":
            return self._hw_flags()
        return None

    def _hw_flags(self) -> bytes:
        hung, sda_low, stalled = self._world.flags()
        return b"%d%d%d" % (hung, sda_low, stalled)

    def _on_control(self) -> None:
        try:
            data = os.read(self._control, 4096)
        except BlockingIOError:
            return
        for message in data.split(b"\n"):
            if message.startswith(b"A"):
                self._wdt_timeout = int(message[1:])
                self._wdt_fed = time.monotonic()
            elif message == b"F":
                self._wdt_fed = time.monotonic()
            elif message == b"R":
                self._boot("hard")
                return
            elif message == b"P":  # a brownout: the port reports a power-on reset
                self._boot("power")
                return

    def _on_child_output(self, data: bytes) -> None:
        if self._mode == "firmware":
            self._send(data)
            return
        # REPL executor: count the two \x04 markers that end each execution.
        self._exec_markers += data.count(b"\x04")
        if self._mode == "friendly":
            data = data.replace(b"\x04", b"").replace(b"\n", b"\r\n")
        self._send(data)
        if self._exec_markers >= 2:
            self._exec_markers = 0
            self._executing = False
            self._send(b">" if self._mode == "raw" else b">>> ")

    def _on_child_exit(self) -> None:
        was_firmware = self._mode in ("firmware", "interrupting")
        self._executing = False
        self._kill()
        if was_firmware:  # main.py ended (Ctrl-C, or it returned): the board sits at its REPL
            self._mode = "friendly"
            self._send(b"\r\n" + BANNER)

    def _process_input(self) -> None:
        if self._executing:
            self._interrupt_execution()
            return
        while self._pending and self._mode not in ("interrupting",) and not self._executing:
            data, self._pending = self._pending, b""
            handler = {"firmware": self._input_firmware, "friendly": self._input_friendly,
                       "raw": self._input_raw}[self._mode]
            handler(data)

    def _input_firmware(self, data: bytes) -> None:
        if b"\x03" in data:
            before, _, after = data.partition(b"\x03")
            self._write_child(before)
            self._pending = after + self._pending
            if self._child is not None and self._child.poll() is None:
                self._mode = "interrupting"
                self._child.send_signal(signal.SIGINT)
            return
        self._write_child(data)

    def _write_child(self, data: bytes) -> None:
        if data and self._child is not None and self._child.poll() is None:
            try:
                self._child.stdin.write(data)
            except (BrokenPipeError, OSError):
                pass

    def _input_friendly(self, data: bytes) -> None:
        for i, byte in enumerate(data):
            if byte == 0x01:  # ctrl-A: raw REPL
                self._mode = "raw"
                self._raw = b""
                self._repl_process()
                self._send(b"\r\n" + RAW_PROMPT)
                self._pending = data[i + 1 :] + self._pending
                return
            if byte == 0x04:  # ctrl-D: soft reset runs main.py again
                self._send(b"\r\nMPY: soft reboot\r\n")
                self._boot("soft")
                self._pending = data[i + 1 :] + self._pending
                return
            if byte == 0x03:
                self._line = b""
                self._send(b"\r\n>>> ")
            elif byte in (0x0D, 0x0A):
                self._send(b"\r\n")
                if self._line.strip():
                    self._execute(self._line)
                else:
                    self._send(b">>> ")
                self._line = b""
                if self._executing:  # what follows waits for the code to finish
                    self._pending = data[i + 1 :] + self._pending
                    return
            elif byte in (0x08, 0x7F):
                if self._line:
                    self._line = self._line[:-1]
                    self._send(b"\x08 \x08")
            else:
                self._line += bytes([byte])
                self._send(bytes([byte]))

    def _input_raw(self, data: bytes) -> None:
        while data:
            if self._executing:  # what follows waits for the code to finish
                self._pending = data + self._pending
                return
            if self._paste_left > 0:
                data = self._input_paste(data)
                continue
            if self._raw == b"" and data[:1] == b"\x05":  # ctrl-E A ctrl-A: raw-paste request
                if len(data) < 3:
                    self._pending = data + self._pending  # wait for the rest of the request
                    return
                if data[1:3] == b"A\x01":
                    data = data[3:]
                    self._send(b"R\x01" + struct.pack("<H", PASTE_WINDOW))
                    self._paste_left = PASTE_WINDOW
                    continue
            byte, data = data[0], data[1:]
            if byte == 0x04:
                if not self._raw:  # ctrl-D on an empty line: soft reset, stay in raw REPL
                    self._send(b"\r\nMPY: soft reboot\r\n")
                    self._kill()
                    self._world.boot("soft")
                    self._repl_process()
                    self._send(RAW_PROMPT)
                else:
                    self._send(b"OK")
                    self._execute(self._raw)
                    self._raw = b""
            elif byte == 0x02:  # ctrl-B: friendly REPL
                self._mode = "friendly"
                self._raw = b""
                self._send(b"\r\n" + BANNER)
            elif byte == 0x03:
                self._raw = b""
            elif byte == 0x01:
                self._raw = b""
                self._send(b"\r\n" + RAW_PROMPT)
            else:
                self._raw += bytes([byte])

    def _input_paste(self, data: bytes) -> bytes:
        """Raw-paste: take up to the window, ack each window with \\x01, run on \\x04."""
        end = data.find(b"\x04")
        chunk = data if end < 0 else data[:end]
        take = min(len(chunk), self._paste_left)
        self._raw += chunk[:take]
        self._paste_left -= take
        rest = data[take:]
        if end >= 0 and end <= take:
            self._send(b"\x04")  # end of data acknowledged
            self._paste_left = 0
            code, self._raw = self._raw, b""
            self._execute(code)
            return data[end + 1 :]
        if self._paste_left == 0:
            self._paste_left = PASTE_WINDOW
            self._send(b"\x01")
        return rest

    def _interrupt_execution(self) -> None:
        """Ctrl-C while the REPL runs code raises KeyboardInterrupt in it; other input waits."""
        if b"\x03" in self._pending and self._child is not None and self._child.poll() is None:
            self._pending = self._pending.replace(b"\x03", b"", 1)
            self._child.send_signal(signal.SIGINT)

    def _execute(self, code: bytes) -> None:
        self._repl_process()
        self._executing = True
        self._exec_markers = 0
        self._write_child(b"%d\n" % len(code) + code)


def serve(board_name: str | None, flash_dir: str | None, scenario_path: str | None = None,
          link: str | None = None) -> int:
    """``cupctl sim --serve``: print ``port: <path>``, then serve until interrupted.

    ``link`` (default: $CUPCTL_VBOARD_LINK, else unpaced) paces the port, see cupctl.sim.paced_link.
    """
    from cupctl import boards

    link = link or os.environ.get("CUPCTL_VBOARD_LINK") or "unpaced"
    model(link)  # an unknown name is a one-line error before anything starts

    spec = {}
    if scenario_path:
        from cupctl.sim import scenario

        loaded = scenario.load(scenario_path)
        spec = {"plant": loaded.spec["plant"], "faults": loaded.spec["faults"]}  # its program is for you to start
        board_name = board_name or loaded.board_name
    board_data, board = boards.load(board_name or boards.DEFAULT)
    flash = Path(flash_dir) if flash_dir else Path.home() / ".cache" / "cupctl" / "vboard" / board.name
    populate_flash(flash, board_data)
    with VirtualBoard(flash, spec, link=link) as vb:
        print("port: %s" % vb.port, flush=True)
        print("link: %s" % link, flush=True)
        print("flash: %s (Ctrl-C to stop)" % flash, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    print("virtual board stopped")
    return 0
