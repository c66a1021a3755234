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

from cupctl.sim import machine  # noqa: E402

sys.modules["machine"] = machine
sys.path[:0] = ["", "lib"]  # the flash folder, then its /lib, as on the board


def _run(name):
    try:
        with open(name) as f:
            source = f.read()
    except OSError:
        return
    exec(compile(source, name, "exec"), {"__name__": "__main__", "__file__": name})


_run("boot.py")
_run("main.py")
