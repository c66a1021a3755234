"""Power-up of the virtual board (MicroPython unix port): boot.py, then main.py, from its flash.

Run with the flash folder as the working directory; the simulated ``machine``
stands in for the real one, and nothing else about the firmware changes.
"""

import os
import sys

_scale = int(os.getenv("CUPCTL_TIME_SCALE") or 1)
if _scale > 1:  # accelerated time for soak runs: installed before anything reads the clock
    from cupctl.sim.scaled_time import ScaledTime

    sys.modules["time"] = ScaledTime(_scale)

from cupctl.sim import chips, machine  # noqa: E402

sys.modules["machine"] = machine
sys.path[:0] = ["", "lib"]  # the flash folder, then its /lib, as on the board


class _Implementation:
    """sys.implementation as the chip's image has it: ``_machine`` names the board and chip."""

    def __init__(self, real, chip):
        self.name = real.name
        self.version = real.version
        self._mpy = getattr(real, "_mpy", 0)
        self._machine = chips.MACHINE[chip]


class _ChipSys:
    """The ``sys`` the firmware imports: the unix port's, but with the chip's implementation and platform."""

    def __init__(self, real, chip):
        self._real = real
        self.implementation = _Implementation(real.implementation, chip)
        self.platform = chips.PLATFORM

    def __getattr__(self, name):
        return getattr(self._real, name)


sys.modules["sys"] = _ChipSys(sys, machine._world.chip())


def _run(name):
    try:
        with open(name) as f:
            source = f.read()
    except OSError:
        return
    exec(compile(source, name, "exec"), {"__name__": "__main__", "__file__": name})


_run("boot.py")
_run("main.py")
