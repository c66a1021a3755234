"""What the pump can have done to the cup since the sensor last showed something new.

``PumpObserver`` learns, on the running cup, how far one tick at full duty raises
the vacuum (windows of 1 kPa of measured rise, divided by the duty spent on them).
Twice the largest estimate is kept: pump flow only falls as the vacuum grows and a
leak only hides flow, so the kept gain is an upper bound on what the pump can do.
Until the first estimate, the board's ``pump_rise_kpa_s`` stands in.

Two safety uses, both in ``Supervisor``:

- ``duty_cap()``: the duty at which one tick can raise the vacuum by at most
  ``disagree_kpa`` by that bound (half of it in truth), so that a reading one tick
  old, or the tick before a frozen sensor is caught, hides little;
- ``disagrees()``: while the raw counts stay identical (a live MPRLS never repeats
  its 24-bit reading), the rise the pump may have caused since they last changed
  is summed; past ``disagree_kpa`` the sensor no longer vouches for the vacuum.

One use that is not about safety: ``rise_pa``, the largest estimate without the margin,
scales the regulator's gains to this pump and cup (regulator.py). It only reads what the
safety bound learns; nothing there depends on it.
"""

_LEARN_RISE_PA = 1000  # a window closes after this much measured rise: well above the sensor noise
_LEARN_MAX_DUTY_SUM = 200000  # give up on a window that holds instead of rising (200 full-duty ticks)
_MAX_GAIN_PA = 50000  # Pa per tick at full duty (a 5x pump on a 5 ml cup learns ~40000)
_MAX_DUTY_SUM = 20000  # 20 full-duty ticks between readings: sensor_timeout_ms trips long before
# so that gain * duty sum stays below 2^30
_MARGIN = 2
_REPEATS = 2


class PumpObserver:
    def __init__(self, board):
        default = board.per_tick(board.pump_rise_pa_s)
        self._default_gain = default if default < _MAX_GAIN_PA else _MAX_GAIN_PA
        self._disagree_pa = board.disagree_pa
        self.reset(0)

    def reset(self, vacuum_pa):
        """Forget the cup: a new session may have another cup on other tissue."""
        self.gain = self._default_gain  # Pa per tick at full duty (1000), an upper bound
        self.rise_pa = 0  # the largest rise per full-duty tick measured (gain without the margin); 0: none yet
        self._learned = False
        self._window_start_pa = vacuum_pa
        self._window_duty = 0
        self._counts = -1
        self._unseen_pa = 0
        self._repeats = 0

    def duty_cap(self):
        """The duty whose one-tick rise, by the kept gain, is at most the disagreement bound."""
        return self._disagree_pa * 1000 // self.gain

    def observe(self, counts, vacuum_pa, duty_sum):
        """A fresh reading, with the sum of the duties that acted since the previous one."""
        if duty_sum > _MAX_DUTY_SUM:
            duty_sum = _MAX_DUTY_SUM
        rise = self.gain * duty_sum // 1000
        if counts == self._counts:
            self._unseen_pa += rise
            self._repeats += 1
        else:
            self._counts = counts
            self._unseen_pa = 0
            self._repeats = 0
        self._learn(vacuum_pa, duty_sum)

    def disagrees(self):
        """True once the pump may have moved the vacuum past the bound unseen. One repeat can be
        chance (a quiet sensor, a steady cup); a second in a row is a sensor that stopped."""
        return self._repeats >= _REPEATS and self._unseen_pa > self._disagree_pa

    def _learn(self, vacuum_pa, duty_sum):
        self._window_duty += duty_sum
        risen = vacuum_pa - self._window_start_pa
        if risen < 0 or self._window_duty > _LEARN_MAX_DUTY_SUM:
            self._window_start_pa = vacuum_pa
            self._window_duty = 0
        elif risen >= _LEARN_RISE_PA and self._window_duty:
            gain = _MARGIN * risen * 1000 // self._window_duty
            if gain > self.gain or not self._learned:
                self.gain = gain if gain < _MAX_GAIN_PA else _MAX_GAIN_PA
                self.rise_pa = self.gain // _MARGIN
                self._learned = True
            self._window_start_pa = vacuum_pa
            self._window_duty = 0
