"""Where the firmware is, and how the host runs it: the package ``cupfw`` and the CPython shim.

``firmware/`` is the package ``cupfw`` (its modules import each other
relatively). On CPython, ``install()`` loads that folder under that name, without
touching ``sys.path``; MicroPython (the unix and wasm ports) finds it through
``package_path()``. MicroPython has ``micropython.const`` and
``time.ticks_*``/``sleep_ms`` built in; CPython gets equivalents here, and nothing
else in the firmware differs.
"""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# CUPCTL_FIRMWARE_DIR runs everything (CPython, the unix port, the virtual board) on another copy of the
# firmware: tools/mutate.py points it at each mutant.
FIRMWARE_DIR = Path(os.environ.get("CUPCTL_FIRMWARE_DIR") or ROOT / "firmware")
BOARDS_DIR = ROOT / "boards"
PACKAGE = "cupfw"
_TICKS_PERIOD = 1 << 30  # ESP32 ticks_ms wraps here
_TICKS_HALF = _TICKS_PERIOD // 2


def _ticks_diff(end, start):
    return ((end - start + _TICKS_HALF) & (_TICKS_PERIOD - 1)) - _TICKS_HALF


def _ticks_add(ticks, delta):
    return (ticks + delta) & (_TICKS_PERIOD - 1)


def install():
    """Make ``from cupfw import controller`` (and friends) work on CPython as on the board. Idempotent."""
    if "micropython" not in sys.modules:
        shim = types.ModuleType("micropython")
        shim.const = lambda value: value
        shim.kbd_intr = lambda char: None
        sys.modules["micropython"] = shim
    if not hasattr(time, "ticks_ms"):
        time.ticks_ms = lambda: int(time.monotonic() * 1000) & (_TICKS_PERIOD - 1)
        time.ticks_diff = _ticks_diff
        time.ticks_add = _ticks_add
        time.sleep_ms = lambda ms: time.sleep(ms / 1000)
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            PACKAGE, FIRMWARE_DIR / "__init__.py", submodule_search_locations=[str(FIRMWARE_DIR)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)


_package_path: list[Path] = []


def package_path() -> Path:
    """A folder that holds the firmware as ``cupfw``, for MicroPython's path (MICROPYPATH).

    MicroPython names a package after its folder, and the firmware's folder is ``firmware/``
    (or a mutant's copy): a link named ``cupfw`` in a temporary folder, removed at exit.
    """
    if not _package_path:
        folder = Path(tempfile.mkdtemp(prefix="cupctl-fw-"))
        (folder / PACKAGE).symlink_to(FIRMWARE_DIR.resolve(), target_is_directory=True)
        atexit.register(shutil.rmtree, folder, True)
        _package_path.append(folder)
    return _package_path[0]


# MicroPython runs these by name from the board's root; the rest is the package, in /lib (on sys.path).
ROOT_SCRIPTS = ("boot.py", "main.py")
PACKAGE_ON_BOARD = "lib/" + PACKAGE


def board_layout() -> dict[str, Path]:
    """Where each firmware source goes on the board (a path from its root) -> the source."""
    return {(source.name if source.name in ROOT_SCRIPTS else PACKAGE_ON_BOARD + "/" + source.name): source
            for source in sorted(FIRMWARE_DIR.glob("*.py"))}
