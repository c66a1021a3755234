"""The zero reference: the vented cup's absolute pressure, accepted only once the cup is at rest.

A fixed settling time cannot tell a vented cup from one still venting (a slow
valve, a big cup, a reset mid-session), and a zero taken with vacuum left in the
cup offsets every later reading, the hard limit and the duty cap with it. So
readings are averaged over consecutive windows, and a window's mean is accepted
only when it differs from the one before by no more than ``rest_kpa_s`` allows
(the cup has stopped venting) and is not below the last trusted ambient by more
than ``ambient_agree_kpa`` (a cup at rest but still holding vacuum: a valve that
does not open). The trusted ambient comes from ``BootMemory`` across resets and
follows the weather while the device idles vented.
"""

_WINDOW_MS = 640  # long enough to average the MPRLS noise, short enough for a quick start


class Ambient:
    def __init__(self, board, period_ms, trusted_pa):
        self._samples = _WINDOW_MS // period_ms
        self._band_pa = board.rest_pa_s * _WINDOW_MS // 1000
        self._agree_pa = board.ambient_agree_pa
        self.trusted_pa = trusted_pa
        self.restart()

    def restart(self):
        """The valve has just opened: earlier windows say nothing about rest."""
        self._sum = 0
        self._count = 0
        self._previous = 0
        self.holding = False  # the last window was at rest, but below the trusted ambient

    def sample(self, pressure_pa):
        """Take one fresh vented reading. Returns the ambient once at rest and trusted, else 0."""
        self._sum += pressure_pa
        self._count += 1
        if self._count < self._samples:
            return 0
        mean = self._sum // self._samples
        previous = self._previous
        self._previous = mean
        self._sum = 0
        self._count = 0
        if not previous or mean - previous > self._band_pa or previous - mean > self._band_pa:
            return 0
        self.holding = bool(self.trusted_pa) and mean < self.trusted_pa - self._agree_pa
        if self.holding:
            return 0  # at rest, but below ambient: vacuum is still in the cup
        self.trusted_pa = mean
        return mean
