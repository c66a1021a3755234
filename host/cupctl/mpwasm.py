"""Run jobs on the MicroPython WebAssembly port: a 32-bit build, with the ESP32's 31-bit small ints.

The unix port's small ints are 62-bit, so an intermediate that outgrows 2**30
(and allocates a long int on the board) passes unnoticed there; here it
allocates, and under ``micropython.heap_lock()`` it raises MemoryError. The port
is the npm package pinned in tools/wasm/package.json (``make wasm`` installs
it), run by node through tools/wasm/micropython.mjs, a command line like the
unix port's.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from cupctl.mpunix import ENTRY, HOST_DIR, RuntimeUnavailable, env, run_on

WASM_DIR = HOST_DIR.parent / "tools" / "wasm"
RUNNER = WASM_DIR / "micropython.mjs"
PACKAGE = WASM_DIR / "node_modules" / "@micropython" / "micropython-webassembly-pyscript" / "micropython.mjs"
NODE_MIN = 16  # the package's Emscripten code refuses older versions


@functools.lru_cache(maxsize=1)
def _node() -> str:
    node = shutil.which("node")
    if not node:
        raise RuntimeUnavailable("the MicroPython WebAssembly port needs node (Node.js %d or later): "
                                 "apt-get install nodejs npm" % NODE_MIN)
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < NODE_MIN:
        raise RuntimeUnavailable("the MicroPython WebAssembly port needs Node.js %d or later, found %s"
                                 % (NODE_MIN, version))
    return node


def command(heap: str = "64M") -> list[str]:
    """The argv prefix that runs a script on the port (append the script and its arguments)."""
    node = _node()
    if not RUNNER.exists():
        raise RuntimeUnavailable("the MicroPython WebAssembly port runs from a source checkout: %s is missing"
                                 % RUNNER)
    if not PACKAGE.exists():
        raise RuntimeUnavailable("the MicroPython WebAssembly port is not installed: run `make wasm` "
                                 "(npm ci in %s)" % WASM_DIR)
    return [node, str(RUNNER), "-X", "heapsize=" + heap]


def wasm_env(*extra: Path | str) -> dict:
    """MicroPython's path for the port. Without '.frozen': the port freezes a pathlib whose
    ``Path.resolve()`` returns a str, which would fool cupctl.fw's CPython-only import."""
    return env(*extra, frozen=False)


def run_job(job: dict, heap: str = "64M"):
    """Yield (kind, text) for each output line of an mpentry job; raise on a crash."""
    return run_on(command(heap) + [str(ENTRY)], job, wasm_env(), "micropython (wasm)")
