"""Power-up of the virtual board (MicroPython unix port): boot.py, then main.py, from its flash.

Run with the flash folder as the working directory; the simulated ``machine``
stands in for the real one, and nothing else about the firmware changes.
"""

import sys

from cupctl.sim import machine

sys.modules["machine"] = machine
sys.path.insert(0, "")  # the flash folder first, as on the board


def _run(name):
    try:
        with open(name) as f:
            source = f.read()
    except OSError:
        return
    exec(compile(source, name, "exec"), {"__name__": "__main__", "__file__": name})


_run("boot.py")
_run("main.py")
