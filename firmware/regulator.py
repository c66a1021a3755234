"""Integer PI vacuum regulator with feed-forward, anti-windup and valve bleed.

Gains come from the board file: ``kp`` in duty per kPa of error, ``ki`` in duty
per kPa*s, ``ff`` in duty per kPa of target (the duty that holds that vacuum
against the cup's usual leak). The pump can only raise the vacuum, so when the
pump is already off and the vacuum is still above target by more than the
bleed band, the regulator asks the valve to vent for a tick.
"""

from fixedpoint import clamp

_INTEGRAL_MIN = -1000000  # milli-duty


class Regulator:
    def __init__(self, board, period_ms):
        self._kp = board.regulator_kp
        self._ff = board.regulator_ff
        self._bleed_band = board.regulator_bleed_band_pa
        # ki * period_ms <= 800 * 50: the integral step is split so no product reaches 2^30.
        self._ki_period = board.regulator_ki * period_ms
        self._integral = 0  # milli-duty
        self._last_target_pa = 0
        self.bleed = False

    def reset(self):
        self._integral = 0
        self._last_target_pa = 0
        self.bleed = False

    def update(self, target_pa, vacuum_pa, cap):
        """Duty 0..cap for this tick; sets ``bleed`` when the valve should vent."""
        error = target_pa - vacuum_pa
        base = self._ff * target_pa // 1000 + self._kp * error // 1000
        out = base + self._integral // 1000
        # Conditional integration: only on a steady target (feed-forward and P follow a ramp;
        # an integral wound up while ramping overshoots at its end), and never further into a
        # saturated output, though a positive integral may always unwind.
        steady = target_pa == self._last_target_pa
        self._last_target_pa = target_pa
        if steady and not ((out >= cap and error > 0) or (out <= 0 and error < 0 and self._integral <= 0)):
            self._integral = clamp(self._integral + self._integral_step(error), _INTEGRAL_MIN, cap * 1000)
            out = base + self._integral // 1000
        out = clamp(out, 0, cap)
        # Vent only once the pump is already off: bleeding against the pump would cycle.
        self.bleed = target_pa <= 0 or (out == 0 and error < -self._bleed_band)
        return out

    def _integral_step(self, error):
        """ki * error * period_ms // 1000 in milli-duty, exactly, without the wide product.

        With error = 1000 * q + r (0 <= r < 1000), the product over 1000 is
        q * ki_period + r * ki_period // 1000 with the same floor, and neither
        term comes near 2^30 (ki * error * period_ms alone reaches 3.4e9).
        """
        ki_period = self._ki_period
        return error // 1000 * ki_period + error % 1000 * ki_period // 1000
