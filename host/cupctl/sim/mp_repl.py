"""The virtual board's REPL executor (MicroPython unix port).

Reads ``<length>\\n<code>`` blocks on stdin and runs each in one persistent
namespace, answering as MicroPython's raw REPL does: the output, ``\\x04``,
the error text (empty on success), ``\\x04``.
"""

import os as _os
import sys

from cupctl.sim import machine


class _BoardOs:
    """The unix port's ``os`` where a board's VFS differs: ``stat('')`` is the current folder.

    mpremote stats ``''`` for the destination ``:`` (``cp FILE :``), which the unix port refuses.
    """

    def __getattr__(self, name):
        return getattr(_os, name)

    def stat(self, path):
        return _os.stat(path or ".")


sys.modules["machine"] = machine
sys.modules["os"] = _BoardOs()
sys.path.insert(0, "")

_namespace = {"__name__": "__main__"}
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
            sys.print_exception(e, _out)
            _out.write("\x04")


_serve()
