"""Integer PI vacuum regulator with feed-forward, anti-windup, valve bleed and gains that adapt to the cup.

Gains come from the board file: ``kp`` in duty per kPa of error, ``ki`` in duty
per kPa*s, ``ff`` in duty per kPa of target (the duty that holds that vacuum
against the cup's usual leak). They are tuned on a pump and cup whose vacuum
rises ``rise_kpa_s`` at full duty early in the soft ramp. Each session measures
its own rise while the soft ramp runs (the supervisor's pump observer), and all
three gains are scaled by tuned rise / measured rise, within 1/4..4: a pump half
as strong, or a cup twice as big, needs twice the duty for the same change, so
the loop answers as it did on the tuning plant. Until the first measurement
(about the first kPa of the ramp) the board's gains apply as they are.

The integral waits for a steady target and counts each tick's error only up to
the error the P term answers with 90 duty: it removes the steady offset (the
leak the feed-forward did not foresee), while the ramp's lag and a leak burst,
which P answers, do not wind it up into an overshoot.

The pump can only raise the vacuum, so when the pump is already off and the
vacuum is still above target by more than the bleed band, the regulator asks
the valve to vent for a tick.
"""

from micropython import const

from .fixedpoint import clamp

_INTEGRAL_MIN = -1000000  # milli-duty
_ONE = const(256)  # gain scale 1.0, in 1/256ths
_SCALE_MIN = const(64)  # 1/4: a window that overstated the rise (the largest is kept) cuts the gains no further
_SCALE_MAX = const(1024)  # 4: bounds the loop gain if the ramp measured less than the pump can do
# The integral counts an error only up to where the board's P term answers it with this much duty (300 Pa at
# kp 300): integrated in full, a transient winds the integral up to overshoot once the error closes.
_P_DUTY_INTEGRATED = const(90)
_ALL_ERRORS = const(1 << 29)  # kp 0: the integral alone regulates, and counts every error


class Regulator:
    def __init__(self, board, period_ms):
        self._kp = board.regulator_kp
        self._ff = board.regulator_ff
        self._bleed_band = board.regulator_bleed_band_pa
        # ki * period_ms <= 800 * 50, x4 scaled: the integral step is split so no product reaches 2^30.
        self._ki_period = board.regulator_ki * period_ms
        self._integrated_max_pa = _P_DUTY_INTEGRATED * 1000 // self._kp if self._kp else _ALL_ERRORS
        self._tuned_rise_pa = board.regulator_rise_pa_s * period_ms // 1000  # per full-duty tick
        self._integral = 0  # milli-duty
        self._last_target_pa = 0
        self.bleed = False

    def reset(self):
        self._integral = 0
        self._last_target_pa = 0
        self.bleed = False

    def update(self, target_pa, vacuum_pa, cap, rise_pa=0):
        """Duty 0..cap for this tick; sets ``bleed`` when the valve should vent.

        ``rise_pa``: the vacuum one full-duty tick raises on this cup, as measured this session
        (``Supervisor.pump_rise_pa()``); 0 while unknown.
        """
        scale = self.scale(rise_pa)
        error = target_pa - vacuum_pa
        base = (self._ff * target_pa // 1000 + self._kp * error // 1000) * scale // _ONE
        out = base + self._integral // 1000
        # Conditional integration: only on a steady target (feed-forward and P follow a ramp;
        # an integral wound up while ramping overshoots at its end), and never further into a
        # saturated output, though a positive integral may always unwind.
        steady = target_pa == self._last_target_pa
        self._last_target_pa = target_pa
        if steady and not ((out >= cap and error > 0) or (out <= 0 and error < 0 and self._integral <= 0)):
            held = clamp(error, -self._integrated_max_pa, self._integrated_max_pa)
            step = self._integral_step(held, self._ki_period * scale // _ONE)
            self._integral = clamp(self._integral + step, _INTEGRAL_MIN, cap * 1000)
            out = base + self._integral // 1000
        out = clamp(out, 0, cap)
        # Vent only once the pump is already off: bleeding against the pump would cycle.
        self.bleed = target_pa <= 0 or (out == 0 and error < -self._bleed_band)
        return out

    def scale(self, rise_pa):
        """The gains' factor for a cup whose full-duty tick raises ``rise_pa``, in 1/256ths."""
        if rise_pa <= 0:
            return _ONE
        return clamp(self._tuned_rise_pa * _ONE // rise_pa, _SCALE_MIN, _SCALE_MAX)

    @staticmethod
    def _integral_step(error, ki_period):
        """ki * error * period_ms // 1000 in milli-duty, exactly, without the wide product.

        With error = 1000 * q + r (0 <= r < 1000), the product over 1000 is
        q * ki_period + r * ki_period // 1000 with the same floor, and neither
        term comes near 2^30 (ki * error * period_ms alone reaches 3.4e9).
        """
        return error // 1000 * ki_period + error % 1000 * ki_period // 1000
