"""Honeywell MPRLS absolute pressure sensor driver, allocation-free and bounded.

Usage::

    from machine import I2C, Pin
    from cupfw import mprls       # or `import mprls`: the driver imports nothing else of the firmware
    sensor = mprls.MPRLS(I2C(0, scl=Pin(22), sda=Pin(21)))
    print(sensor.read_pa())      # blocking, bounded: absolute pressure in Pa

The control tick uses the non-blocking pair instead: ``start()`` begins a
conversion (~5 ms) and ``collect()`` fetches it on the next tick. Neither
raises; they return a negative ``ERR_*`` code so the hot path allocates nothing.
"""

import time

from micropython import const

_CMD_MEASURE = b"\xaa\x00\x00"  # output measurement command, then read 4 bytes
_STATUS_POWERED = const(0x40)
_STATUS_BUSY = const(0x20)
_STATUS_INTEGRITY = const(0x04)
_STATUS_SATURATION = const(0x01)
COUNTS_MIN = const(0x19999A)  # 10 % of 2^24: psi_min
COUNTS_MAX = const(0xE66666)  # 90 % of 2^24: psi_max
_DPA_PER_CENTIPSI = const(6894757)  # 1 psi = 68947.57 dPa; deci-Pa keeps the result within 1 Pa

ERR_BUSY = const(-1)
ERR_POWER = const(-2)
ERR_INTEGRITY = const(-3)
ERR_SATURATION = const(-4)
ERR_BUS = const(-5)
ERR_TIMEOUT = const(-6)

REASONS = {
    ERR_BUSY: "busy",
    ERR_POWER: "not powered",
    ERR_INTEGRITY: "memory integrity failure",
    ERR_SATURATION: "math saturation",
    ERR_BUS: "I2C bus error",
    ERR_TIMEOUT: "conversion timeout",
}


def muldiv_round(a, b, c):
    """round(a * b / c) without a wide product.

    Requires |a| < 2^24, 0 <= b < 2^25 and 0 < c <= 2^24. ``b`` is consumed five
    bits at a time, so each partial sum stays below 63 * 2^24 < 2^30.
    """
    negative = a < 0
    if negative:
        a = -a
    quotient = 0
    remainder = 0
    shift = 20
    while shift >= 0:
        partial = remainder * 32 + a * ((b >> shift) & 31)
        quotient = quotient * 32 + partial // c
        remainder = partial % c
        shift -= 5
    if 2 * remainder >= c:
        quotient += 1
    return -quotient if negative else quotient


class SensorError(Exception):
    """Any status fault, bus error or timeout. ``code`` is the ERR_* value."""

    def __init__(self, code):
        super().__init__("MPRLS: " + REASONS.get(code, "unknown error"))
        self.code = code


class MPRLS:
    def __init__(self, i2c, address=0x18, psi_min=0, psi_max=25):
        if psi_min >= psi_max:
            raise ValueError("psi_min must be below psi_max")
        self._i2c = i2c
        self._address = address
        self._buf = bytearray(4)
        self._dpa_min = psi_min * _DPA_PER_CENTIPSI // 100
        self._dpa_span = (psi_max - psi_min) * _DPA_PER_CENTIPSI // 100

    def start(self):
        """Begin a conversion. Returns 0, or ERR_BUS.

        A hardware ``I2C`` raises on any NACK; a ``SoftI2C`` raises only on the address's and returns
        how many bytes were acknowledged, so a command cut short counts as a bus error (else the next
        ``collect()`` would return the last conversion as if it were new)."""
        try:
            acked = self._i2c.writeto(self._address, _CMD_MEASURE)
        except OSError:
            return ERR_BUS
        return ERR_BUS if isinstance(acked, int) and acked < len(_CMD_MEASURE) else 0

    def collect(self):
        """Fetch the conversion: raw 24-bit counts (>= 0) or a negative ERR_* code."""
        buf = self._buf
        try:
            self._i2c.readfrom_into(self._address, buf)
        except OSError:
            return ERR_BUS
        status = buf[0]
        if status & _STATUS_BUSY:
            return ERR_BUSY
        if not status & _STATUS_POWERED:
            return ERR_POWER
        if status & _STATUS_INTEGRITY:
            return ERR_INTEGRITY
        if status & _STATUS_SATURATION:
            return ERR_SATURATION
        return (buf[1] << 16) | (buf[2] << 8) | buf[3]

    def counts_to_pa(self, counts):
        """Absolute pressure in Pa from raw counts, by the 10 %-90 % transfer function."""
        dpa = self._dpa_min + muldiv_round(
            counts - COUNTS_MIN, self._dpa_span, COUNTS_MAX - COUNTS_MIN
        )
        return (dpa + 5) // 10

    def read_pa(self, timeout_ms=20):
        """Blocking read with a bounded wait. Raises SensorError on any fault."""
        code = self.start()
        for _ in range(timeout_ms):
            if code < 0 and code != ERR_BUSY:
                raise SensorError(code)
            time.sleep_ms(1)
            code = self.collect()
            if code >= 0:
                return self.counts_to_pa(code)
        raise SensorError(ERR_TIMEOUT)
