"""Effort without an answer: the pump works harder and harder and the sensor does not see it.

A kinked sensor tube traps a pressure a little short of target: the regulator's
integral winds up on an error the pump cannot close, so the average duty climbs
window after window while the measured vacuum stays flat. A real cup answers
extra duty by rising; a leak that grows shows as a fall, and one that creeps
raises the duty slower than ``_CLIMB`` a window. ``EffortWatch`` counts windows
of ``_WINDOW_MS`` in a row whose average duty rose by ``_CLIMB`` or more while
their average vacuum, below target, moved less than ``_FLAT_PA``; at ``_CLIMBS``
(``unanswered()``) the supervisor trips ``sensor_disagrees``. Allocation-free,
and every sum stays a small int.
"""

from time import ticks_diff

_WINDOW_MS = 1000
_CLIMB = 3  # per-mille of duty per window
_CLIMBS = 2  # in a row: one climb may be a leak's step
_FLAT_PA = 10  # a window's average vacuum answers by moving this much (noise averages out)


class EffortWatch:
    def __init__(self):
        self.restart(0, 0)

    def restart(self, now, target_pa):
        """From scratch: a session starts, the target moves, or the valve bled (the regulator has other work)."""
        self.target_pa = target_pa
        self.climbs = 0
        self._duty = -1  # the last window's average duty; -1: none averaged yet
        self._vacuum = 0  # and its average vacuum
        self._open(now)

    def _open(self, now):
        self._since = now
        self._duty_sum = 0
        self._ticks = 0
        self._vacuum_sum = 0
        self._readings = 0

    def add(self, now, vacuum_pa, duty_sum, ticks):
        """A fresh reading, with the duty spent over the ``ticks`` since the previous one. The pump runs only
        on fresh readings, so ``duty_sum`` is at most one tick's duty: a window's sums stay small ints (150
        readings of 200 kPa at most)."""
        self._duty_sum += duty_sum
        self._ticks += ticks
        self._vacuum_sum += vacuum_pa
        self._readings += 1
        if ticks_diff(now, self._since) < _WINDOW_MS or not self._ticks:
            return
        duty = self._duty_sum // self._ticks
        vacuum = self._vacuum_sum // self._readings
        flat = -_FLAT_PA < vacuum - self._vacuum < _FLAT_PA
        climbed = self._duty >= 0 and duty >= self._duty + _CLIMB and flat and vacuum < self.target_pa
        self.climbs = self.climbs + 1 if climbed else 0
        self._duty = duty
        self._vacuum = vacuum
        self._open(now)

    def unanswered(self):
        return self.climbs >= _CLIMBS
