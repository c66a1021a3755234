"""Board files: every shipped file loads; every kind of mistake is refused, naming the field."""

import copy
import json

import boardcfg
import limits
import pytest

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
        node = node[part]
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


@pytest.mark.parametrize("chip,pin", [("esp32s3", 46), ("esp32s3", 30), ("esp32s3", 19), ("esp32c3", 9),
                                      ("esp32c3", 18), ("esp32c3", 20)])
def test_reserved_pins_per_chip(board_data, chip, pin):
    data = copy.deepcopy(board_data)
    data.update(chip=chip, i2c={"scl": 1, "sda": 2}, led={"pin": 3, "active_high": True},
                button={"pin": 4, "active_low": True}, valve={"pin": 5, "active_high": True,
                                                               "normally_open": True})
    data["pump"]["pin"] = pin
    with pytest.raises(boardcfg.BoardError, match="pump.pin"):
        boardcfg.load(data)


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
