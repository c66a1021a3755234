"""An accelerated ``time`` module for the virtual board (MicroPython unix port).

Virtual milliseconds run ``scale`` times faster than real ones; sleeps are
shortened to match. The firmware sees an ordinary ``time``: its ticks wrap at
2**30 as on the board, and so do ``ticks_diff``/``ticks_add`` (extmod/modtime.c,
with the ESP32's ``MICROPY_PY_TIME_TICKS_PERIOD``; the unix port's own wrap at 2**62).
"""

import time as _time

_PERIOD = 1 << 30  # ESP32 ticks wrap


class ScaledTime:
    def __init__(self, scale):
        self.scale = scale
        self._start_ns = _time.time_ns()
        self.time = _time.time
        self.time_ns = _time.time_ns

    def _virtual_us(self):
        return (_time.time_ns() - self._start_ns) * self.scale // 1000

    @staticmethod
    def ticks_diff(end, start):
        """extmod/modtime.c time_ticks_diff(), at the ESP32's period."""
        return ((end - start + _PERIOD // 2) & (_PERIOD - 1)) - _PERIOD // 2

    @staticmethod
    def ticks_add(ticks, delta):
        """extmod/modtime.c time_ticks_add(): OverflowError for a delta ticks_diff could not give back."""
        if not -_PERIOD // 2 < delta < _PERIOD // 2:
            raise OverflowError("ticks interval overflow")
        return (ticks + delta) & (_PERIOD - 1)

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
