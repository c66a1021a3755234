"""Integer helpers for the program parameters and the regulator, without floats."""


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
