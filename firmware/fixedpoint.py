"""Integer helpers that keep every intermediate value inside ESP32 small ints (< 2^30)."""


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


def clamp(value, low, high):
    if value < low:
        return low
    if value > high:
        return high
    return value


def parse_milli(text):
    """'30' -> 30000, '0.5' -> 500: a non-negative decimal times 1000, without floats."""
    whole, _, frac = text.partition(".")
    if whole.isdigit() and frac.isdigit() and len(frac) > 3:
        raise ValueError("%r has more than three decimals" % text)
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(whole) > 6:
        raise ValueError("%r is not a number like 30 or 0.5" % text)
    return int(whole) * 1000 + (int(frac + "00"[: 3 - len(frac)]) if frac else 0)
