"""Board file loading: pins, sensor, actuators, loop rate and limits, validated.

A board file is JSON (MicroPython reads it natively). ``load(data)`` returns a
``Board`` whose numbers are integers in Pa, ms and duty units, ready for the
tick; any mistake raises ``BoardError`` naming the field. Used by the firmware
at boot and by the host CLI, so both refuse the same files.
"""

import limits

# The GPIOs each chip has (ESP32: no 20, 24, 28-31; ESP32-S3: no 22-25).
_GPIOS = {
    "esp32": tuple(range(0, 20)) + (21, 22, 23, 25, 26, 27) + tuple(range(32, 40)),
    "esp32s3": tuple(range(0, 22)) + tuple(range(26, 49)),
    "esp32c3": tuple(range(0, 22)),
}
# Pins no role may use, per chip, with the reason (datasheets: strapping pins change the boot mode
# when a pull-up, a button or a MOSFET gate holds them; the others belong to flash, PSRAM, USB or the REPL).
_RESERVED = {
    "esp32": (
        ((0, 2, 5, 12, 15), "a strapping pin"),
        ((6, 7, 8, 9, 10, 11), "a flash pin"),
        ((16, 17), "a PSRAM pin on WROVER modules"),
        ((1, 3), "a UART0 (REPL) pin"),
    ),
    "esp32s3": (
        ((0, 3, 45, 46), "a strapping pin"),
        (tuple(range(26, 38)), "a flash/PSRAM pin"),
        ((19, 20), "a USB pin"),
        ((43, 44), "a UART0 (REPL) pin"),
    ),
    "esp32c3": (
        ((2, 8, 9), "a strapping pin"),
        ((12, 13, 14, 15, 16, 17), "a flash pin"),
        ((18, 19), "a USB pin"),
        ((20, 21), "a UART0 (REPL) pin"),
    ),
}
# Input-only pins: they cannot drive anything (I2C included) and have no internal pull resistors.
_INPUT_ONLY = {"esp32": (34, 35, 36, 37, 38, 39), "esp32s3": (), "esp32c3": ()}
_OUTPUTS = ("pump.pin", "valve.pin", "led.pin", "i2c.scl", "i2c.sda")  # I2C is open-drain: it drives too
_INPUTS = ("button.pin",)
_FLAGS = ("valve.active_high", "valve.normally_open", "led.active_high", "button.active_low")
CHIPS = tuple(sorted(_GPIOS))
_TOP_KEYS = ("name", "title", "chip", "cups")
_CONVERSIONS = (("_kpa_s", "_pa_s", 1000), ("_kpa", "_pa", 1000), ("session_min", "session_ms", 60000))
_MIN_TARGET_PA = 5000


class BoardError(ValueError):
    """A board file that cannot be used. The message names the field."""


class Cup:
    def __init__(self, name, diameter_mm, hard_limit_pa):
        self.name = name
        self.diameter_mm = diameter_mm
        self.hard_limit_pa = hard_limit_pa


class Board:
    """Validated board settings; numbers are ints in Pa, ms, Hz and duty 0..1000."""

    def __init__(self, data, get):
        self.name = data["name"]
        self.chip = data["chip"]
        self.warnings = []
        for key in limits.REGISTRY:
            if not key.startswith("cup."):
                self._set(key, get(key, self.warnings))
        for key in _OUTPUTS + _INPUTS:
            setattr(self, key.replace(".", "_"), get(key, None))
        for key in _FLAGS:
            setattr(self, key.replace(".", "_"), get(key, None))
        self.cups = _cups(data, self.warnings)

    def _set(self, key, value):
        name = key.replace(".", "_")
        if name.startswith("limits_"):
            name = name[7:]
        for suffix, unit, scale in _CONVERSIONS:  # the tick wants Pa and ms
            if name.endswith(suffix):
                name, value = name[: -len(suffix)] + unit, value * scale + 0.5
                break
        setattr(self, name, int(value))

    def max_target_pa_for(self, cup):
        """Highest target a session on ``cup`` may ask for: below the duty-cap band."""
        return min(self.max_target_pa, cup.hard_limit_pa - self.cap_band_pa)

    def cup(self, name):
        for cup in self.cups:
            if cup.name == name:
                return cup
        raise BoardError("cup %r is not configured on board %s (have: %s)" % (
            name, self.name, ", ".join(c.name for c in self.cups)))

    def summary(self):
        """The board's identity and limits as one line of key=value pairs."""
        cups = ";".join("%s:%dmm:%d" % (c.name, c.diameter_mm, c.hard_limit_pa) for c in self.cups)
        return "board=%s chip=%s loop_hz=%d max_target_pa=%d max_session_ms=%d cups=%s" % (
            self.name, self.chip, self.loop_hz, self.max_target_pa, self.max_session_ms, cups)


def load(data):
    """Validate a parsed board file and return a Board, or raise BoardError."""
    if not isinstance(data, dict):
        raise BoardError("board file: expected a JSON object at the top level")
    for field in ("name", "chip"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise BoardError("%s: missing or not a string" % field)
    chip = data["chip"]
    if chip not in _GPIOS:
        raise BoardError("chip: %r is not one of %s" % (chip, ", ".join(CHIPS)))
    _refuse_unknown_keys(data)

    def get(key, warnings):
        value = _lookup(data, key)
        if warnings is None:
            return _pin_or_flag(chip, key, value)
        if value is None:
            value = limits.default(key)
        try:
            warning = limits.check(key, value)
        except limits.LimitError as e:
            raise BoardError(str(e))
        if warning:
            warnings.append(warning)
        return value

    board = Board(data, get)
    _check_consistency(board)
    return board


def _lookup(data, key):
    node = data
    for part in key.split("."):
        if not isinstance(node, dict):
            raise BoardError("%s: expected an object" % key.rsplit(".", 1)[0])
        node = node.get(part)
        if node is None:
            return None
    return node


def _pin_or_flag(chip, key, value):
    if key in _FLAGS:
        if type(value) is not bool:
            raise BoardError("%s: missing, expected true or false" % key)
        return value
    if type(value) is not int:
        raise BoardError("%s: missing, expected a GPIO number" % key)
    if value not in _GPIOS[chip]:
        raise BoardError("%s: GPIO%d does not exist on %s" % (key, value, chip))
    for pins, reason in _RESERVED[chip]:
        if value in pins:
            raise BoardError("%s: GPIO%d is %s on %s; use another pin" % (key, value, reason, chip))
    if value in _INPUT_ONLY[chip]:
        if key in _OUTPUTS:
            raise BoardError("%s: GPIO%d is an input-only pin on %s; it cannot drive an output" % (key, value, chip))
        raise BoardError("%s: GPIO%d on %s has no internal pull-up for the button; use another pin" % (
            key, value, chip))
    return value


def _refuse_unknown_keys(data):
    """A misspelt key (``pumpp``) would silently fall back to a default: refuse it, naming it."""
    known = set(_TOP_KEYS)
    for key in tuple(limits.REGISTRY) + _OUTPUTS + _INPUTS + _FLAGS:
        if not key.startswith("cup."):
            parts = key.split(".")
            for end in range(1, len(parts) + 1):  # "limits" too: a wrong type there is reported later
                known.add(".".join(parts[:end]))
    for key in _paths(data, ""):
        if key not in known and key.split(".")[0] != "cups":
            raise BoardError("%s: unknown key (a typo?)" % key)


def _paths(node, prefix):
    for key in node:
        path = prefix + key
        if isinstance(node[key], dict):
            yield from _paths(node[key], path + ".")
        else:
            yield path


def _cups(data, warnings):
    cups = data.get("cups")
    if not isinstance(cups, list) or not cups:
        raise BoardError("cups: missing, expected a list of {name, diameter_mm, hard_limit_kpa}")
    result = []
    for i, cup in enumerate(cups):
        where = "cups[%d]" % i
        if not isinstance(cup, dict) or not isinstance(cup.get("name"), str) or not cup["name"]:
            raise BoardError(where + ".name: missing or not a string")
        values = []
        for key in ("cup.diameter_mm", "cup.hard_limit_kpa"):
            field = where + "." + key[4:]
            value = cup.get(key[4:])
            try:
                warning = limits.check(key, value, field)
            except limits.LimitError as e:
                raise BoardError(str(e))
            if warning:
                warnings.append(warning)
            values.append(value)
        if any(c.name == cup["name"] for c in result):
            raise BoardError(where + ".name: %r is listed twice" % cup["name"])
        result.append(Cup(cup["name"], int(values[0]), int(values[1] * 1000 + 0.5)))
    return result


def _check_consistency(board):
    pins = {}
    for key in _OUTPUTS + _INPUTS:
        pin = getattr(board, key.replace(".", "_"))
        if pin in pins:
            raise BoardError("%s: GPIO%d is already used by %s" % (key, pin, pins[pin]))
        pins[pin] = key
    for i, cup in enumerate(board.cups):
        if board.max_target_pa_for(cup) < _MIN_TARGET_PA:
            raise BoardError(
                "cups[%d].hard_limit_kpa: leaves no room for a 5 kPa target below the %d Pa cap band"
                % (i, board.cap_band_pa))
    if board.plausible_min_pa >= board.ambient_min_pa:
        raise BoardError("limits.plausible_min_kpa: must be below limits.ambient_min_kpa")
    if board.leak_duty > board.pump_max_duty:
        raise BoardError("limits.leak_duty: %d is above pump.max_duty (%d), so the leak rule could never fire" % (
            board.leak_duty, board.pump_max_duty))
    if board.sensor_timeout_ms < 2000 // board.loop_hz:
        raise BoardError("limits.sensor_timeout_ms: must cover at least 2 loop periods (%d ms)" % (
            2000 // board.loop_hz))
    if board.watchdog_ms < 5000 // board.loop_hz:
        raise BoardError("watchdog_ms: must cover at least 5 loop periods")
    if board.deadman_ms < 2000 // board.loop_hz or board.deadman_ms >= board.watchdog_ms:
        raise BoardError("limits.deadman_ms: must cover at least 2 loop periods and be shorter than watchdog_ms")
