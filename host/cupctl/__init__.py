"""cupctl: host tools for the open vacuum-cupping controller."""

import sys

__version__ = "0.1.0"

if sys.implementation.name == "cpython":  # MicroPython (the unix and wasm ports) finds cupfw on its path
    from cupctl import fw

    fw.install()
