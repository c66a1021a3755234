"""Simulation: the plant model, simulated hardware, scenarios and the virtual board.

plant, hardware and runner also run on the MicroPython unix port.
"""

try:  # CPython: make the firmware importable; MicroPython gets it on its path
    from cupctl import fw  # noqa: F401
except ImportError:
    pass
