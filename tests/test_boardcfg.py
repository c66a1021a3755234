"""Board files: every shipped file loads; every kind of mistake is refused, naming the field."""

import copy
import json
import struct

import pytest

from cupfw import boardcfg, limits
from tests.conftest import ROOT


@pytest.mark.parametrize("path", sorted((ROOT / "boards").glob("*.json")), ids=lambda p: p.stem)
def test_shipped_boards_are_valid_and_safe(path):
    board = boardcfg.load(json.loads(path.read_text()))
    assert board.warnings == []
    assert board.name == path.stem
    for cup in board.cups:
        assert board.max_target_pa_for(cup) < cup.hard_limit_pa


def _set(data, dotted, value):
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value


_DELETE = object()
BAD = [
    ("chip", "esp8266", "chip"),
    ("name", _DELETE, "name"),
    ("pump.pin", 0, "pump.pin: GPIO0 is a strapping pin"),
    ("pump.pin", 12, "strapping"),
    ("valve.pin", 6, "flash pin"),
    ("led.pin", 34, "input-only"),
    ("pump.pin", 1, "UART0"),
    ("pump.pin", 40, "does not exist"),
    ("pump.pin", "25", "pump.pin"),
    ("valve.pin", _DELETE, "valve.pin"),
    ("valve.normally_open", "yes", "valve.normally_open"),
    ("button.pin", 25, "already used"),
    ("limits.max_target_kpa", 95, "limits.max_target_kpa"),
    ("limits.max_target_kpa", "40", "expected a number"),
    ("limits.max_session_min", 0, "limits.max_session_min"),
    ("loop_hz", 1000, "loop_hz"),
    ("watchdog_ms", 50, "watchdog_ms"),
    ("pump.max_duty", 5000, "pump.max_duty"),
    ("limits", [], "expected an object"),
    ("cups", [], "cups"),
    ("cups", [{"name": "M", "diameter_mm": 40, "hard_limit_kpa": 120}], "cups[0].hard_limit_kpa"),
    ("cups", [{"name": "M", "diameter_mm": 40}], "cups[0].hard_limit_kpa"),
    ("cups", [{"name": "M", "diameter_mm": 40, "hard_limit_kpa": 6}], "cups[0].hard_limit_kpa"),
    ("cups", [{"name": "M", "diameter_mm": 40, "hard_limit_kpa": 50}] * 2, "listed twice"),
    ("limits.plausible_min_kpa", 60, "plausible_min_kpa"),
    ("regulator.kp", 300.5, "regulator.kp: expected a whole number"),  # the tick multiplies by it: no floats
    ("regulator.ki", 20.5, "regulator.ki: expected a whole number"),
    ("regulator.ff", 2.5, "regulator.ff: expected a whole number"),
]


@pytest.mark.parametrize("key,value,message", BAD, ids=[b[0] + "=" + repr(b[1])[:12] for b in BAD])
def test_bad_board_refused_naming_the_field(board_data, key, value, message):
    data = copy.deepcopy(board_data)
    _set(data, key, value)
    with pytest.raises(boardcfg.BoardError, match=message.replace("[", r"\[").replace("]", r"\]")):
        boardcfg.load(data)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_refused(board_data, value):
    board_data["limits"]["max_target_kpa"] = value
    with pytest.raises(boardcfg.BoardError, match="limits.max_target_kpa"):
        boardcfg.load(board_data)


def test_not_an_object_refused():
    with pytest.raises(boardcfg.BoardError, match="JSON object"):
        boardcfg.load([1, 2])


SAFE_PINS = {"esp32": (21, 22, 25, 26, 27, 33), "esp32s3": (4, 5, 6, 7, 8, 9), "esp32c3": (3, 4, 5, 6, 7, 10)}
ROLES = ("i2c.scl", "i2c.sda", "pump.pin", "valve.pin", "led.pin", "button.pin")


def on_chip(board_data, chip):
    data = copy.deepcopy(board_data)
    data["chip"] = chip
    for role, pin in zip(ROLES, SAFE_PINS[chip]):
        _set(data, role, pin)
    return data


@pytest.mark.parametrize("chip", sorted(SAFE_PINS))
def test_safe_pins_accepted_on_every_chip(board_data, chip):
    assert boardcfg.load(on_chip(board_data, chip)).chip == chip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("chip,pin,reason", [
    ("esp32", 0, "strapping"), ("esp32", 12, "strapping"), ("esp32", 6, "flash"), ("esp32", 16, "PSRAM"),
    ("esp32", 1, "UART0"), ("esp32", 20, "does not exist"), ("esp32", 24, "does not exist"),
    ("esp32", 40, "does not exist"), ("esp32s3", 46, "strapping"), ("esp32s3", 30, "flash/PSRAM"),
    ("esp32s3", 19, "USB"), ("esp32s3", 23, "does not exist"), ("esp32c3", 9, "strapping"),
    ("esp32c3", 18, "USB"), ("esp32c3", 20, "UART0"), ("esp32c3", 22, "does not exist")])
def test_reserved_pins_refused_for_every_role(board_data, role, chip, pin, reason):
    data = on_chip(board_data, chip)
    _set(data, role, pin)
    with pytest.raises(boardcfg.BoardError, match=r"%s: GPIO%d .*%s" % (role.replace(".", r"\."), pin, reason)):
        boardcfg.load(data)


@pytest.mark.parametrize("role,message", [("pump.pin", "input-only"), ("i2c.sda", "input-only"),
                                          ("button.pin", "no internal pull-up")])
def test_input_only_pins(board_data, role, message):
    _set(board_data, role, 35)
    with pytest.raises(boardcfg.BoardError, match=message):
        boardcfg.load(board_data)


@pytest.mark.parametrize("key", ["pumpp.pin", "limits.max_targt_kpa", "valve.normaly_open", "colour"])
def test_unknown_keys_refused(board_data, key):
    _set(board_data, key, 1)
    with pytest.raises(boardcfg.BoardError, match=r"%s: unknown key" % key.replace(".", r"\.")):
        boardcfg.load(board_data)


@pytest.mark.parametrize("key,value,message", [
    ("loop_hz", 99.9, "loop_hz: expected a whole number of Hz"), ("watchdog_ms", 1000.0, "whole number"),
    ("limits.leak_duty", 900, "above pump.max_duty"),
    ("limits.sensor_timeout_ms", 30, "at least 2 loop periods \\(40 ms\\)")])
def test_cross_checks(board_data, key, value, message):
    board_data["pump"]["max_duty"] = 800
    board_data["loop_hz"] = 50
    _set(board_data, key, value)
    with pytest.raises(boardcfg.BoardError, match=message):
        boardcfg.load(board_data)


def test_outside_safe_range_warns(board_data):
    board_data["limits"]["max_target_kpa"] = 45
    board_data["cups"] = [{"name": "M", "diameter_mm": 40, "hard_limit_kpa": 70}]
    board = boardcfg.load(board_data)
    assert any("cups[0].hard_limit_kpa" in w for w in board.warnings)


def test_defaults_fill_missing_limits(board_data):
    del board_data["limits"]
    board = boardcfg.load(board_data)
    assert board.max_target_pa == limits.default("limits.max_target_kpa") * 1000


def test_unknown_cup_named(board):
    with pytest.raises(boardcfg.BoardError, match="cup 'XL' is not configured"):
        board.cup("XL")


def _as_float32(node):
    """The board file as the ESP32's json.load sees it: single-precision floats."""
    if isinstance(node, dict):
        return {k: _as_float32(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_as_float32(v) for v in node]
    if isinstance(node, float):
        return struct.unpack("f", struct.pack("f", node))[0]
    return node


@pytest.mark.parametrize("path", sorted((ROOT / "boards").glob("*.json")), ids=lambda p: p.stem)
@pytest.mark.parametrize("decimal", [0.1, 0.3, 0.7, 2.675, 3.3])
def test_single_precision_floats_give_the_same_board(path, decimal):
    """Every kPa the board converts to Pa comes out the same from a float32 parse as from a double one."""
    data = json.loads(path.read_text())
    data["limits"]["leak_min_rise_kpa"] = decimal
    data["regulator"]["bleed_band_kpa"] = decimal
    data["limits"]["soft_ramp_kpa_s"] = decimal + 1
    double, single = boardcfg.load(data), boardcfg.load(_as_float32(data))
    assert vars(double) == vars(single) | {"cups": double.cups, "warnings": double.warnings}
    assert [vars(c) for c in double.cups] == [vars(c) for c in single.cups]


def test_board_reads_every_registry_key_once(board_data):
    """Each configurable number reaches the Board as a written-out attribute, none twice, none forgotten."""
    source = boardcfg._Source(board_data)
    boardcfg.Board(board_data, source)
    expected = [key for key in limits.REGISTRY if not key.startswith("cup.")]
    assert sorted(source.read) == sorted(expected)


@pytest.mark.parametrize("freq_hz,loop_hz,refused", [(10000, 100, True), (34000, 100, False), (33999, 100, True),
                                                    (10000, 29, False), (10000, 30, True)])
def test_the_i2c_traffic_of_a_tick_takes_at_most_a_quarter_of_its_period(board_data, freq_hz, loop_hz, refused):
    """SoftI2C bit-bangs about 85 bits a tick with the interpreter held: at 10 kHz that is 8.5 ms."""
    data = copy.deepcopy(board_data)
    data["i2c"]["freq_hz"] = freq_hz
    data["loop_hz"] = loop_hz
    data["limits"]["sensor_timeout_ms"] = data["limits"]["deadman_ms"] = 100
    if refused:
        with pytest.raises(boardcfg.BoardError, match=r"^i2c.freq_hz: .* at least \d+ Hz"):
            boardcfg.load(data)
    else:
        assert boardcfg.load(data).i2c_freq_hz == freq_hz
