"""cupfw: the cupctl firmware, a MicroPython package (as micropython-lib's packages are).

On the board it lives in ``/lib/cupfw/``; ``boot.py`` and ``main.py`` go to the
board's root, where MicroPython runs them by name, and ``board.json`` beside
them. Modules import each other relatively, so no firmware name can shadow
another package, on the board or on the host (where ``cupctl.fw`` loads this
folder as ``cupfw``). ``mprls.py``, the sensor driver, imports nothing else of
the firmware and works as a module on its own.
"""
