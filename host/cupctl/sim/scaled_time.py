"""An accelerated ``time`` module for the virtual board (MicroPython unix port).

Virtual milliseconds run ``scale`` times faster than real ones; sleeps are
shortened to match. The firmware sees an ordinary ``time``: its ticks wrap as
on the board, so ``ticks_diff``/``ticks_add`` are the real ones.
"""

import time as _time

_PERIOD = 1 << 30  # ESP32 ticks wrap


class ScaledTime:
    def __init__(self, scale):
        self.scale = scale
        self._start_ns = _time.time_ns()
        self.ticks_diff = _time.ticks_diff
        self.ticks_add = _time.ticks_add
        self.time = _time.time
        self.time_ns = _time.time_ns

    def _virtual_us(self):
        return (_time.time_ns() - self._start_ns) * self.scale // 1000

    def ticks_ms(self):
        return (self._virtual_us() // 1000) % _PERIOD

    def ticks_us(self):
        return self._virtual_us() % _PERIOD

    def sleep_ms(self, ms):
        """Runs pending ``Timer`` callbacks meanwhile, as ``mp_hal_delay_ms`` does (its sleep_us does not)."""
        us = ms * 1000 // self.scale
        _time.sleep_ms(us // 1000)
        _time.sleep_us(us % 1000)

    def sleep_us(self, us):
        _time.sleep_us(us // self.scale)

    def sleep(self, seconds):
        _time.sleep(seconds / self.scale)
