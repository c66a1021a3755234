"""Board file loading: pins, sensor, actuators, loop rate and limits, validated.

A board file is JSON (MicroPython reads it natively). ``load(data)`` returns a
``Board`` whose numbers are integers in Pa, ms and duty units, ready for the
tick; any mistake raises ``BoardError`` naming the field. Used by the firmware
at boot and by the host CLI, so both refuse the same files.
"""

from . import limits

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


def chip_of(machine_name):
    """The chip as board files name it ("esp32", "esp32s3", "esp32c3") from MicroPython's machine name
    (``sys.implementation._machine``, ``os.uname().machine``: "Generic ESP32S3 module with ESP32S3"),
    or None for anything else."""
    machine_name = machine_name.upper()
    for name in ("ESP32S3", "ESP32C3", "ESP32"):
        if name in machine_name:
            return name.lower()
    return None
_TOP_KEYS = ("name", "title", "chip", "cups")
_MIN_TARGET_PA = 5000
# A tick's bus traffic: the measure command (address and 3 bytes) and the read (address and 4 bytes), 9 bit
# times a byte, plus starts and stops. SoftI2C bit-bangs it with the interpreter held.
I2C_BITS_PER_TICK = 85


class BoardError(ValueError):
    """A board file that cannot be used. The message names the field."""


class Cup:
    def __init__(self, name, diameter_mm, hard_limit_pa):
        self.name = name
        self.diameter_mm = diameter_mm
        self.hard_limit_pa = hard_limit_pa


class Board:
    """Validated board settings; numbers are ints in Pa, ms, Hz and duty 0..1000.

    Every attribute is written out here, so a name like ``max_session_ms`` is found where it is
    made; ``source`` gives each registry value (validated) and each pin or flag.
    """

    def __init__(self, data, source):
        self.name = data["name"]
        self.chip = data["chip"]
        self.warnings = []  # type: list[str]
        number = source.number
        pin = source.pin
        flag = source.flag
        # wiring
        self.i2c_scl = pin("i2c.scl")
        self.i2c_sda = pin("i2c.sda")
        self.i2c_freq_hz = number("i2c.freq_hz")
        self.sensor_address = number("sensor.address")
        self.sensor_psi_min = number("sensor.psi_min")
        self.sensor_psi_max = number("sensor.psi_max")
        self.pump_pin = pin("pump.pin")
        self.pump_freq_hz = number("pump.freq_hz")
        self.pump_max_duty = number("pump.max_duty")
        self.valve_pin = pin("valve.pin")
        self.valve_active_high = flag("valve.active_high")
        self.valve_normally_open = flag("valve.normally_open")
        self.led_pin = pin("led.pin")
        self.led_active_high = flag("led.active_high")
        self.button_pin = pin("button.pin")
        self.button_active_low = flag("button.active_low")
        # loop
        self.loop_hz = number("loop_hz")
        self.period_ms = 1000 // self.loop_hz  # the tick's true period: rates per tick use it, not loop_hz
        self.watchdog_ms = number("watchdog_ms")
        self.telemetry_hz = number("telemetry_hz")
        # limits, in the tick's units
        self.max_target_pa = _pa(number("limits.max_target_kpa"))
        self.max_session_ms = number("limits.max_session_min") * 60000
        self.soft_ramp_pa_s = _pa(number("limits.soft_ramp_kpa_s"))
        self.cap_band_pa = _pa(number("limits.cap_band_kpa"))
        self.leak_duty = number("limits.leak_duty")
        self.leak_timeout_ms = number("limits.leak_timeout_ms")
        self.leak_min_rise_pa = _pa(number("limits.leak_min_rise_kpa"))
        self.frozen_ms = number("limits.frozen_ms")
        self.disagree_pa = _pa(number("limits.disagree_kpa"))
        self.pump_rise_pa_s = _pa(number("limits.pump_rise_kpa_s"))
        self.runaway_rise_pa = _pa(number("limits.runaway_rise_kpa"))
        self.deadman_ms = number("limits.deadman_ms")
        self.rest_pa_s = _pa(number("limits.rest_kpa_s"))
        self.ambient_agree_pa = _pa(number("limits.ambient_agree_kpa"))
        self.vent_timeout_ms = number("limits.vent_timeout_ms")
        self.max_lift_mm = number("limits.max_lift_mm")
        self.sensor_timeout_ms = number("limits.sensor_timeout_ms")
        self.plausible_min_pa = _pa(number("limits.plausible_min_kpa"))
        self.plausible_max_pa = _pa(number("limits.plausible_max_kpa"))
        self.ambient_min_pa = _pa(number("limits.ambient_min_kpa"))
        self.ambient_max_pa = _pa(number("limits.ambient_max_kpa"))
        # regulator
        self.regulator_kp = number("regulator.kp")
        self.regulator_ki = number("regulator.ki")
        self.regulator_ff = number("regulator.ff")
        self.regulator_bleed_band_pa = _pa(number("regulator.bleed_band_kpa"))
        self.regulator_rise_pa_s = _pa(number("regulator.rise_kpa_s"))
        self.cups = _cups(data, self.warnings)

    def per_tick(self, per_s):
        """A rate per second as the change in one tick."""
        return per_s * self.period_ms // 1000

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
    if data["chip"] not in _GPIOS:
        raise BoardError("chip: %r is not one of %s" % (data["chip"], ", ".join(CHIPS)))
    _refuse_unknown_keys(data)
    source = _Source(data)
    board = Board(data, source)
    board.warnings.extend(source.warnings)
    _check_consistency(board)
    return board


class _Source:
    """The board file's values, each validated as it is read."""

    def __init__(self, data):
        self._data = data
        self.warnings = []
        self.read = []  # type: list[str]  # registry keys in the order Board read them

    def number(self, key):
        value = _lookup(self._data, key)
        if value is None:
            value = limits.default(key)
        try:
            warning = limits.check(key, value)
        except limits.LimitError as e:
            raise BoardError(str(e))
        if warning:
            self.warnings.append(warning)
        self.read.append(key)
        return value

    def pin(self, key):
        return _pin(self._data["chip"], key, _lookup(self._data, key))

    def flag(self, key):
        value = _lookup(self._data, key)
        if type(value) is not bool:
            raise BoardError("%s: missing, expected true or false" % key)
        return value


def _pa(kpa):
    """kPa from the board file (a float on the device: single precision) to whole Pa."""
    return int(kpa * 1000 + 0.5)


def _lookup(data, key):
    node = data
    for part in key.split("."):
        if not isinstance(node, dict):
            raise BoardError("%s: expected an object" % key.rsplit(".", 1)[0])
        node = node.get(part)
        if node is None:
            return None
    return node


def _pin(chip, key, value):
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
    result = []  # type: list[Cup]
    for i, cup in enumerate(cups):
        where = "cups[%d]" % i
        if not isinstance(cup, dict) or not isinstance(cup.get("name"), str) or not cup["name"]:
            raise BoardError(where + ".name: missing or not a string")
        diameter_mm = _cup_number(cup, where, "diameter_mm", warnings)
        hard_limit_kpa = _cup_number(cup, where, "hard_limit_kpa", warnings)
        if any(c.name == cup["name"] for c in result):
            raise BoardError(where + ".name: %r is listed twice" % cup["name"])
        result.append(Cup(cup["name"], diameter_mm, _pa(hard_limit_kpa)))
    return result


def _cup_number(cup, where, key, warnings):
    value = cup.get(key)
    try:
        warning = limits.check("cup." + key, value, where + "." + key)
    except limits.LimitError as e:
        raise BoardError(str(e))
    if warning:
        warnings.append(warning)
    return value


def _check_consistency(board):
    pins = {}  # type: dict[int, str]
    for key, pin in (("i2c.scl", board.i2c_scl), ("i2c.sda", board.i2c_sda), ("pump.pin", board.pump_pin),
                     ("valve.pin", board.valve_pin), ("led.pin", board.led_pin), ("button.pin", board.button_pin)):
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
    if board.i2c_freq_hz * board.period_ms < I2C_BITS_PER_TICK * 4000:
        raise BoardError("i2c.freq_hz: the sensor's two transfers a tick (about %d bits, bit-banged with the "
                         "interpreter held) need more than a quarter of the %d ms loop period at %d Hz; use at "
                         "least %d Hz, or a lower loop_hz" % (I2C_BITS_PER_TICK, board.period_ms, board.i2c_freq_hz,
                                                              -(-I2C_BITS_PER_TICK * 4000 // board.period_ms)))
    if board.watchdog_ms < 5000 // board.loop_hz:
        raise BoardError("watchdog_ms: must cover at least 5 loop periods")
    if board.deadman_ms < 2000 // board.loop_hz or board.deadman_ms >= board.watchdog_ms:
        raise BoardError("limits.deadman_ms: must cover at least 2 loop periods and be shorter than watchdog_ms")
