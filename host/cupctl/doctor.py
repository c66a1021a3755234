"""``cupctl doctor``: what stands between this machine and a working board, one check per line."""

from __future__ import annotations

import grp
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

from cupctl import __version__, config
from cupctl.link import BAUD, Link, LinkError, find_port, ports
from cupctl.mpunix import RuntimeUnavailable, executable
from cupfw.version import VERSION

OK, WARN, FAIL = "ok", "warn", "FAIL"
_SERIAL_GROUPS = ("dialout", "uucp", "plugdev")  # Debian/Ubuntu, Arch/Fedora, some udev rules


def checks(port: str | None = None, baud: int | None = None) -> Iterator[tuple[str, str]]:
    yield OK, "cupctl %s on Python %s (%s); deploys firmware %s" % (
        __version__, platform.python_version(), sys.platform, VERSION)
    yield from _config()
    seen = ports()
    yield from _ports(seen)
    yield from _permissions([device for device, _ in seen])
    yield from _unix_port()
    yield from _board(port, baud)


def _config() -> Iterator[tuple[str, str]]:
    file = config.path()
    try:
        values = config.from_file()
        yield OK, "config %s: %s" % (file, _describe(values) if values else "none (optional)")
        env = config.from_env()
        if env:
            yield OK, "environment: %s" % ", ".join(
                "%s=%s" % (config.env_name(key), value) for key, value in env.items())
    except config.ConfigError as e:
        yield FAIL, str(e)


def _describe(values: dict) -> str:
    return ", ".join("%s=%s" % item for item in values.items())


def _ports(seen: list[tuple[str, str | None]]) -> Iterator[tuple[str, str]]:
    if not seen:
        yield WARN, "no serial ports seen: plug the board in with a data (not charge-only) USB cable"
    for device, kind in seen:
        yield (OK, "port %s: %s" % (device, kind)) if kind else (
            WARN, "port %s: not a known ESP32 USB bridge" % device)


def _permissions(devices: list[str]) -> Iterator[tuple[str, str]]:
    if sys.platform != "linux":
        return
    if os.geteuid() == 0:
        yield OK, "running as root: every serial port is accessible"
        return
    blocked = [device for device in devices if not os.access(device, os.R_OK | os.W_OK)]
    if blocked:
        group = grp.getgrgid(os.stat(blocked[0]).st_gid).gr_name
        yield FAIL, "no read/write access to %s (group %s): sudo usermod -aG %s $USER, then log in again" % (
            blocked[0], group, group)
        return
    if devices:
        yield OK, "serial permissions: every port seen is readable and writable"
        return
    mine = {grp.getgrgid(gid).gr_name for gid in os.getgroups()}
    missing = [name for name in _SERIAL_GROUPS if _group_exists(name) and name not in mine]
    if missing and not mine.intersection(_SERIAL_GROUPS):
        yield WARN, "not in group %s, which serial ports usually belong to: sudo usermod -aG %s $USER, then " \
            "log in again" % (missing[0], missing[0])


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _unix_port() -> Iterator[tuple[str, str]]:
    try:
        yield OK, "MicroPython unix port: %s (virtual board, replay --runtime micropython)" % executable()
    except RuntimeUnavailable as e:
        yield WARN, "%s; the simulator still runs on CPython" % e


def _board(port: str | None, baud: int | None) -> Iterator[tuple[str, str]]:
    try:
        port = port or find_port()
    except LinkError as e:
        yield WARN, "board not checked: %s" % e
        return
    if "/" in port and not Path(port).exists():
        yield FAIL, "no serial port %s" % port
        return
    try:
        with Link(port, baud or BAUD) as link:
            info = link.info()
    except LinkError as e:
        yield FAIL, "board on %s: %s" % (port, e)
        return
    where = "board on %s: %s on %s, firmware %s" % (port, info.get("board", "?"), info.get("chip", "?"),
                                                     info.get("version", "?"))
    if info.get("version") == VERSION:
        yield OK, where + ", as this host deploys"
    else:
        yield FAIL, where + ", but this host deploys %s: run cupctl deploy" % VERSION
