"""The virtual board's REPL executor (MicroPython unix port).

Reads ``<length>\\n<code>`` blocks on stdin and runs each in one persistent
namespace, answering as MicroPython's raw REPL does: the output, ``\\x04``,
the error text (empty on success), ``\\x04``.
"""

import io
import os as _os
import sys

import vfs as _vfs

from cupctl.sim import chips, machine

# What MicroPython v1.24's ports/esp32 reports: os.uname().machine (chips.MACHINE), and the VFS partition of
# a 4 MB module (ESP32_GENERIC: 2 MB of littlefs in 4 KB blocks).
_MACHINE = chips.MACHINE
_BLOCK = 4096
_FS_BLOCKS = 512
_DIR = 0x4000


class _Uname:
    def __init__(self, chip):
        version = "%d.%d.%d" % sys.implementation.version[:3]
        self.sysname = self.nodename = chip
        self.release = version
        self.version = "v%s on 2024-11-29" % version
        self.machine = _MACHINE[chip]

    def __repr__(self):
        return "(sysname='%s', nodename='%s', release='%s', version='%s', machine='%s')" % (
            self.sysname, self.nodename, self.release, self.version, self.machine)

    def __getitem__(self, i):
        return (self.sysname, self.nodename, self.release, self.version, self.machine)[i]


class _BoardOs:
    """The unix port's ``os`` where a board's differs: ``stat('')`` is the current folder (mpremote
    stats it for ``cp FILE :``), ``ilistdir`` gives sizes, ``statvfs`` the flash partition's figures
    and ``uname`` the chip's names."""

    def __getattr__(self, name):
        call = getattr(_os, name)
        if name in ("listdir", "remove", "mkdir", "rmdir"):
            return lambda path="", *args: call(_flash(path), *args)
        return call

    def stat(self, path):
        return _os.stat(_flash(path))

    def rename(self, old, new):
        _os.rename(_flash(old), _flash(new))

    def ilistdir(self, path=""):
        folder = _flash(path)
        for entry in _os.ilistdir(folder):
            name, kind = entry[0], entry[1]
            yield (name, kind, 0, 0 if kind == _DIR else _os.stat(folder + "/" + name)[6])

    def statvfs(self, path=""):
        free = _FS_BLOCKS - 2 - _blocks_under(".")  # littlefs keeps a superblock pair
        return (_BLOCK, _BLOCK, _FS_BLOCKS, free, free, 0, 0, 0, 0, 255)

    def uname(self):
        return _Uname(machine._world.chip())


class _Lfs2:
    def __repr__(self):
        return "<VfsLfs2>"


class _BoardVfs:
    """``vfs.mount()`` lists the board's one littlefs mount at ``/``."""

    def __getattr__(self, name):
        return getattr(_vfs, name)

    def mount(self, *args):
        return [(_Lfs2(), "/")] if not args else _vfs.mount(*args)


def _flash(path):
    """A board path in the flash folder (the working directory): ``/`` is its root, as on the board."""
    path = path.lstrip("/") if isinstance(path, str) else path
    return path or "."


def _board_open(path, *args, **kwargs):
    return open(_flash(path), *args, **kwargs)


def _blocks_under(folder):
    blocks = 0
    for name, kind, *_ in _os.ilistdir(folder):
        path = folder + "/" + name
        blocks += _blocks_under(path) + 1 if kind == _DIR else (_os.stat(path)[6] + _BLOCK - 1) // _BLOCK
    return blocks


_HERE = __file__
sys.modules["machine"] = machine
sys.modules["os"] = _BoardOs()
sys.modules["vfs"] = _BoardVfs()
sys.path[:0] = ["", "lib"]  # the flash folder, then its /lib, as on the board

_namespace = {"__name__": "__main__", "open": _board_open}
_stdin = sys.stdin.buffer
_out = sys.stdout


def _serve():
    while True:
        header = _stdin.readline()
        if not header:
            return
        code = _stdin.read(int(header))
        try:
            exec(compile(code, "<stdin>", "exec"), _namespace)
            _out.write("\x04\x04")
        except BaseException as e:  # noqa: B036  (the REPL reports everything, SystemExit too)
            _out.write("\x04")
            _out.write(_board_traceback(e))
            _out.write("\x04")


def _board_traceback(e):
    """The traceback a board prints: the user's frames only, no host paths of this executor."""
    text = io.StringIO()
    sys.print_exception(e, text)
    lines = text.getvalue().split("\n")
    return "\n".join(line for line in lines if _HERE not in line)


_serve()
