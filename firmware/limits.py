"""The one registry of configurable numbers: units, absolute range, safe range, default.

Board files, the host CLI and the firmware at boot all validate through this
table. A value outside the absolute range is refused; outside the safe range it
is accepted with a warning. Keys are the dotted paths of the board file.
"""

# key: (unit, absolute low, absolute high, safe low, safe high, default or None if required)
REGISTRY = {
    "i2c.freq_hz": ("Hz", 10000, 1000000, 100000, 400000, 400000),
    "sensor.address": ("", 0x08, 0x77, 0x18, 0x18, 0x18),
    "sensor.psi_min": ("psi", 0, 0, 0, 0, 0),
    "sensor.psi_max": ("psi", 1, 30, 15, 25, 25),
    "pump.freq_hz": ("Hz", 100, 40000, 1000, 25000, 20000),
    "pump.max_duty": ("duty", 100, 1000, 300, 1000, 1000),
    "loop_hz": ("Hz", 20, 150, 50, 100, 100),  # a tick must outlast the ~5 ms MPRLS conversion
    "watchdog_ms": ("ms", 100, 8000, 300, 2000, 1000),
    "telemetry_hz": ("Hz", 1, 100, 1, 50, 50),
    "limits.max_target_kpa": ("kPa", 5, 80, 5, 60, 40),
    "limits.max_session_min": ("min", 1, 60, 1, 40, 40),
    "limits.soft_ramp_kpa_s": ("kPa/s", 0.5, 20, 1, 10, 4),
    "limits.cap_band_kpa": ("kPa", 1, 20, 2, 10, 4),
    "limits.leak_duty": ("duty", 100, 1000, 300, 1000, 600),
    "limits.leak_timeout_ms": ("ms", 500, 30000, 1000, 10000, 3000),
    "limits.leak_min_rise_kpa": ("kPa", 0.1, 10, 0.2, 3, 0.5),
    "limits.frozen_ms": ("ms", 50, 10000, 100, 1000, 200),
    "limits.disagree_kpa": ("kPa", 0.2, 5, 0.5, 2, 1),
    "limits.pump_rise_kpa_s": ("kPa/s", 10, 5000, 50, 2000, 400),
    "limits.runaway_rise_kpa": ("kPa", 0.3, 10, 0.5, 3, 1),
    "limits.deadman_ms": ("ms", 20, 1000, 30, 200, 50),
    "limits.rest_kpa_s": ("kPa/s", 0.01, 0.5, 0.01, 0.1, 0.025),
    "limits.ambient_agree_kpa": ("kPa", 0.2, 10, 0.5, 3, 1.5),
    "limits.vent_timeout_ms": ("ms", 5000, 120000, 10000, 60000, 30000),
    "limits.max_lift_mm": ("mm", 5, 20, 10, 15, 15),
    "limits.sensor_timeout_ms": ("ms", 20, 1000, 20, 200, 50),
    "limits.plausible_min_kpa": ("kPa", 5, 60, 10, 40, 20),
    "limits.plausible_max_kpa": ("kPa", 100, 170, 105, 130, 120),
    "limits.ambient_min_kpa": ("kPa", 50, 100, 60, 80, 60),
    "limits.ambient_max_kpa": ("kPa", 80, 120, 100, 110, 110),
    "regulator.kp": ("duty/kPa", 0, 800, 5, 400, 300),
    "regulator.ki": ("duty/(kPa*s)", 0, 800, 0, 400, 200),
    "regulator.ff": ("duty/kPa", 0, 30, 0, 20, 3),
    "regulator.bleed_band_kpa": ("kPa", 0.1, 5, 0.2, 2, 0.4),
    "regulator.rise_kpa_s": ("kPa/s", 1, 1000, 5, 200, 25),
    "cup.diameter_mm": ("mm", 10, 120, 15, 80, None),
    "cup.hard_limit_kpa": ("kPa", 5, 85, 5, 60, None),
}


_WHOLE_UNITS = ("", "Hz", "ms", "duty", "duty/kPa", "duty/(kPa*s)", "min", "mm", "psi")  # the tick multiplies by these


class LimitError(ValueError):
    """A value that the registry refuses. The message names the field."""


def check(key, value, field=None):
    """Validate one value against the registry entry ``key``; return a warning or None.

    ``field`` is the name shown to the user (defaults to ``key``).
    """
    unit, abs_lo, abs_hi, safe_lo, safe_hi, _ = REGISTRY[key]
    name = field or key
    if type(value) is bool or not isinstance(value, (int, float)):
        raise LimitError("%s: expected a number%s, got %r" % (name, _unit(unit, "in "), value))
    if unit in _WHOLE_UNITS and type(value) is not int:  # 99.9 Hz is a mistake, not 99 Hz
        raise LimitError("%s: expected a whole number%s, got %r" % (name, _unit(unit, "of "), value))
    if not abs_lo <= value <= abs_hi:  # written so that NaN fails too
        raise LimitError(
            "%s: %s is outside the absolute range %s..%s%s"
            % (name, value, abs_lo, abs_hi, _unit(unit))
        )
    if not safe_lo <= value <= safe_hi:
        return "%s: %s is outside the safe range %s..%s%s" % (
            name, value, safe_lo, safe_hi, _unit(unit))
    return None


def default(key):
    return REGISTRY[key][5]


def _unit(unit, before=""):
    return " " + before + unit if unit else ""
