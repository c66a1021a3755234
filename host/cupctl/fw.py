"""Run the firmware's modules on CPython: the compatibility shim and the import path.

MicroPython has ``micropython.const`` and ``time.ticks_*``/``sleep_ms`` built
in; CPython gets equivalents here, and nothing else in the firmware differs.
"""

import os
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# CUPCTL_FIRMWARE_DIR runs everything (CPython, the unix port, the virtual board) on another copy of the
# firmware: tools/mutate.py points it at each mutant.
FIRMWARE_DIR = Path(os.environ.get("CUPCTL_FIRMWARE_DIR") or ROOT / "firmware")
BOARDS_DIR = ROOT / "boards"
_TICKS_PERIOD = 1 << 30  # ESP32 ticks_ms wraps here
_TICKS_HALF = _TICKS_PERIOD // 2


def _ticks_diff(end, start):
    return ((end - start + _TICKS_HALF) & (_TICKS_PERIOD - 1)) - _TICKS_HALF


def _ticks_add(ticks, delta):
    return (ticks + delta) & (_TICKS_PERIOD - 1)


def install():
    """Make ``import controller`` (and friends) work as on the board. Idempotent."""
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
    if str(FIRMWARE_DIR) not in sys.path:
        sys.path.insert(0, str(FIRMWARE_DIR))


install()
