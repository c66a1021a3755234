"""Therapy programs: setpoint curves in integer Pa over elapsed ms.

Each program's curve runs until ``duration_ms``; the controller makes every
rise of it (the start included) follow the board's soft ramp ("the vessels must
get used to the vacuum"). ``build()`` validates parameters against the program
table and the board's limits, so no combination can exceed the maximum target,
the tissue lift or the session length.

Parameters (kPa accept one to three decimals); every program also takes
``tissue=firm|normal|soft`` (normal): how far the skin rises per kPa of vacuum
(``LIFT_UM_PER_KPA``), which bounds the target so the lift stays within the
board's ``max_lift_mm``.

=========  ===========================================================
static     target 8..60 kPa (30), minutes 1..30 (20)
massage    target 8..30 kPa (20), minutes 1..20 (15), site back|neck;
           a neck session is at most 10 minutes
interval   high 8..60 kPa (30), low 0..50 kPa (10, below high),
           high_s 2..600 (20), low_s 2..600 (10), minutes 1..40 (20)
ramp       target 8..60 kPa (30), rate 0.05..5 kPa/s (0.5), minutes 1..40 (20)
=========  ===========================================================
"""

from .fixedpoint import parse_milli

_KPA = 0  # value is kPa with decimals; stored as Pa
_COUNT = 1  # whole number, stored as is
_WORD = 2  # one of a list of words

_TISSUE = ("tissue", _WORD, ("firm", "normal", "soft"), None, "normal")  # every program's
# program: ((param, kind, low, high, default), ...); kPa bounds are in Pa.
TABLE = {
    "static": (("target", _KPA, 8000, 60000, 30000), ("minutes", _COUNT, 1, 30, 20), _TISSUE),
    "massage": (
        ("target", _KPA, 8000, 30000, 20000),
        ("minutes", _COUNT, 1, 20, 15),
        ("site", _WORD, ("back", "neck"), None, "back"),
        _TISSUE,
    ),
    "interval": (
        ("high", _KPA, 8000, 60000, 30000),
        ("low", _KPA, 0, 50000, 10000),
        ("high_s", _COUNT, 2, 600, 20),
        ("low_s", _COUNT, 2, 600, 10),
        ("minutes", _COUNT, 1, 40, 20),
        _TISSUE,
    ),
    "ramp": (
        ("target", _KPA, 8000, 60000, 30000),
        ("rate", _KPA, 50, 5000, 500),
        ("minutes", _COUNT, 1, 40, 20),
        _TISSUE,
    ),
}
_NECK_MAX_MINUTES = 10
# Tissue lift per kPa of vacuum under a 40 mm cup, in µm; a wider cup draws more in proportion.
LIFT_UM_PER_KPA = {"firm": 150, "normal": 250, "soft": 500}
_LIFT_REF_DIAMETER_MM = 40


class Program:
    """A setpoint curve. ``target_pa(elapsed_ms)`` allocates nothing."""

    def __init__(self, name, values, duration_ms):
        self.name = name
        self.values = values
        self.duration_ms = duration_ms
        self._peak = values.get("target") or values.get("high")
        high = values.get("high_s", 0) * 1000
        self._high_ms = high
        self._period_ms = high + values.get("low_s", 0) * 1000
        self._low = values.get("low", 0)
        rate = values.get("rate", 0)
        self._rate_pa_s = rate
        self._ramp_end_ms = self._peak * 1000 // rate if rate else 0

    def target_pa(self, elapsed_ms):
        if elapsed_ms >= self.duration_ms:
            return 0
        if self._period_ms:
            return self._peak if elapsed_ms % self._period_ms < self._high_ms else self._low
        if self._rate_pa_s and elapsed_ms < self._ramp_end_ms:
            return self._rate_pa_s * elapsed_ms // 1000
        return self._peak

    def describe(self):
        return self.name + " " + " ".join(
            "%s=%s" % (key, _show(key, self.values[key])) for key, *_ in TABLE[self.name])


def build(name, params, board, cup):
    """Make a Program from text parameters ({'target': '30'}); ValueError if any is bad."""
    if name not in TABLE:
        raise ValueError("unknown program %r (have: %s)" % (name, ", ".join(sorted(TABLE))))
    spec = TABLE[name]
    known = [p[0] for p in spec]
    for key in params:
        if key not in known:
            raise ValueError("%s: unknown parameter %r (have: %s)" % (name, key, ", ".join(known)))
    values = {}
    for key, kind, low, high, default in spec:
        values[key] = _parse(name, key, kind, low, high, params.get(key), default)
    _check_against_board(name, values, board, cup)
    return Program(name, values, values["minutes"] * 60000)


def _parse(program, key, kind, low, high, text, default):
    if text is None:
        return default
    where = "%s %s" % (program, key)
    if kind == _WORD:
        if text not in low:
            raise ValueError("%s: %r is not one of %s" % (where, text, "|".join(low)))
        return text
    if kind == _KPA:
        try:
            value = parse_milli(text)
        except ValueError as e:
            raise ValueError("%s: %s" % (where, e))
    else:
        value = parse_count(where, text)
    if value < low or value > high:
        unit = _UNITS.get(key, " kPa" if kind == _KPA else "")
        raise ValueError("%s: %s is outside %s..%s%s" % (where, text, _show(key, low), _show(key, high), unit))
    return value


def parse_count(where, text):
    """A whole number from text (a sign allowed, for the range check to name), or ValueError naming ``where``."""
    digits = text[1:] if text[:1] == "-" else text
    if not digits.isdigit() or len(digits) > 6:
        raise ValueError("%s: %r is not a whole number" % (where, text))
    return int(text)


def lift_ceiling_pa(board, cup, tissue):
    """The vacuum at which ``tissue`` under ``cup`` rises the board's ``max_lift_mm``."""
    return board.max_lift_mm * 1000000 * _LIFT_REF_DIAMETER_MM // (LIFT_UM_PER_KPA[tissue] * cup.diameter_mm)


def max_target_pa(board, cup, tissue):
    """The highest target a session may ask for: below the duty taper of the hard limit and of the lift."""
    return min(board.max_target_pa_for(cup), lift_ceiling_pa(board, cup, tissue) - board.cap_band_pa)


def lift_um(vacuum_pa, cup, tissue):
    """Modelled tissue lift under ``cup`` at ``vacuum_pa``, in µm."""
    return LIFT_UM_PER_KPA[tissue] * cup.diameter_mm * (vacuum_pa // 100) // (_LIFT_REF_DIAMETER_MM * 10)


def _check_against_board(name, values, board, cup):
    ceiling = board.max_target_pa_for(cup)
    # The duty tapers to 0 at the lift ceiling as it does at the hard limit: targets stop a band below.
    lift_ceiling = lift_ceiling_pa(board, cup, values["tissue"])
    for key in ("target", "high"):
        if key in values and values[key] > ceiling:
            raise ValueError("%s %s: %s kPa is above this board's limit for cup %s (%s kPa)" % (
                name, key, _kpa(values[key]), cup.name, _kpa(ceiling)))
        if key in values and values[key] > max_target_pa(board, cup, values["tissue"]):
            raise ValueError(
                "%s %s: %s kPa would draw %s tissue %s mm into cup %s (%d mm wide); the lift limit of %d mm"
                " is reached at %s kPa, so targets stop %s kPa below it, at %s kPa" % (
                    name, key, _kpa(values[key]), values["tissue"],
                    _kpa(lift_um(values[key], cup, values["tissue"])), cup.name, cup.diameter_mm,
                    board.max_lift_mm, _kpa(lift_ceiling), _kpa(board.cap_band_pa),
                    _kpa(max(0, lift_ceiling - board.cap_band_pa))))
    if "low" in values and values["low"] >= values["high"]:
        raise ValueError("interval low: must be below high")
    if values.get("site") == "neck" and values["minutes"] > _NECK_MAX_MINUTES:
        raise ValueError("massage minutes: a neck session is at most %d minutes" % _NECK_MAX_MINUTES)
    if values["minutes"] * 60000 > board.max_session_ms:
        raise ValueError("%s minutes: %d is above this board's session limit (%d min)" % (
            name, values["minutes"], board.max_session_ms // 60000))


_UNITS = {"rate": " kPa/s", "minutes": " min", "high_s": " s", "low_s": " s"}  # other kPa values: " kPa"


def _show(key, value):
    return _kpa(value) if key in ("target", "high", "low", "rate") else str(value)


def _kpa(pa):
    text = "%d.%03d" % (pa // 1000, pa % 1000)
    return text.rstrip("0").rstrip(".")
