"""The pump's dead-man switch: it cuts the pump and vents unless the tick keeps re-arming it.

A hardware timer calls ``expire()`` every loop period (on the ESP32 a
``machine.Timer`` callback is scheduled between bytecodes and during waits, so it
still runs while the Python loop hangs). ``rearm()`` from each tick restores the
budget; when the budget runs out the pump is cut at once, and the supervisor
latches ``loop_overrun`` at its next tick. The pump runs blind for at most
``deadman_ms``; hangs that stop the scheduler too are left to the hardware
watchdog.
"""


class Deadman:
    def __init__(self, pump, valve, budget_ms, period_ms):
        self._pump = pump
        self._valve = valve
        self._budget = budget_ms // period_ms  # timer periods; the board file asks for at least 2
        self._left = self._budget
        self._armed = False  # from the first tick on: boot may take longer than the budget
        self.tripped = False

    def rearm(self):
        self._left = self._budget
        self._armed = True

    def expire(self, _timer=None):
        """One timer period went by: the timer callback."""
        if not self._armed:
            return
        self._left -= 1
        if self._left <= 0:
            self._pump.set(0)
            self._valve.vent()
            self.tripped = True

    def clear(self):
        """After the fault it caused is acknowledged."""
        self.tripped = False
        self._left = self._budget
