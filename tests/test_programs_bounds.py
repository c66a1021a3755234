"""Edges: every program parameter's range, the neck limit, the board's ceilings and each curve's turns."""

import copy
import math

import pytest

from cupfw import boardcfg, programs

# The documented ranges (programs.py's docstring), written out here so that a changed bound fails.
# (program, parameter, lowest, highest, one step in the parameter's resolution)
RANGES = [
    ("static", "target", "8", "60", "0.001"),
    ("static", "minutes", "1", "30", "1"),
    ("massage", "target", "8", "30", "0.001"),
    ("massage", "minutes", "1", "20", "1"),
    ("interval", "high", "8", "60", "0.001"),
    ("interval", "low", "0", "50", "0.001"),
    ("interval", "high_s", "2", "600", "1"),
    ("interval", "low_s", "2", "600", "1"),
    ("interval", "minutes", "1", "40", "1"),
    ("ramp", "target", "8", "60", "0.001"),
    ("ramp", "rate", "0.05", "5", "0.001"),
    ("ramp", "minutes", "1", "40", "1"),
]
# Partners that keep a value at an edge valid in every other respect.
PARTNERS = {("interval", "high"): {"low": "0"}, ("interval", "low"): {"high": "60"}}


def _milli(text):
    whole, _, frac = text.partition(".")
    return int(whole) * 1000 + int((frac + "000")[:3])


def _step(text, step, sign):
    """``text`` moved by one ``step``, written the way a user would."""
    if step == "1":
        return str(int(text) + sign)
    value = _milli(text) + sign
    return "%d.%03d" % (value // 1000, value % 1000)


@pytest.fixture
def roomy(board_data):
    """A board whose own limits sit above every program range, so only the program table refuses."""
    board_data["limits"]["max_target_kpa"] = 80
    board_data["limits"]["max_session_min"] = 60
    board_data["cups"] = [{"name": "W", "diameter_mm": 30, "hard_limit_kpa": 85}]
    return boardcfg.load(board_data)


def build(board, name, cup=None, **params):
    return programs.build(name, params, board, cup or board.cups[0])


@pytest.mark.parametrize("name,key,low,high,step", RANGES)
def test_both_edges_accepted(roomy, name, key, low, high, step):
    for text in (low, high):
        program = build(roomy, name, **{key: text}, **PARTNERS.get((name, key), {}))
        assert program.values[key] == (_milli(text) if step != "1" else int(text))


@pytest.mark.parametrize("name,key,low,high,step", RANGES)
def test_one_step_outside_refused(roomy, name, key, low, high, step):
    outside = [_step(high, step, +1)] + ([_step(low, step, -1)] if _milli(low) else [])
    unit = {"minutes": " min", "high_s": " s", "low_s": " s", "rate": " kPa/s"}.get(key, " kPa")
    for text in outside:
        with pytest.raises(ValueError, match=r"^%s %s: %s is outside %s\.\.%s%s$" % (name, key, text, low, high, unit)):
            build(roomy, name, **{key: text}, **PARTNERS.get((name, key), {}))


def test_defaults(board):
    expected = {
        "static": {"target": 30000, "minutes": 20, "tissue": "normal"},
        "massage": {"target": 20000, "minutes": 15, "site": "back", "tissue": "normal"},
        "interval": {"high": 30000, "low": 10000, "high_s": 20, "low_s": 10, "minutes": 20, "tissue": "normal"},
        "ramp": {"target": 30000, "rate": 500, "minutes": 20, "tissue": "normal"},
    }
    for name, values in expected.items():
        program = build(board, name)
        assert program.values == values
        assert program.duration_ms == values["minutes"] * 60000


def test_neck_session_is_at_most_ten_minutes(board):
    assert build(board, "massage", site="neck", minutes="10").duration_ms == 600000
    with pytest.raises(ValueError, match="^massage minutes: a neck session is at most 10 minutes$"):
        build(board, "massage", site="neck", minutes="11")
    assert build(board, "massage", site="back", minutes="11").duration_ms == 660000


def test_neck_default_minutes_are_refused_not_silently_cut(board):
    # The massage default (15 min) is over the neck limit: asking for a neck session must say so.
    with pytest.raises(ValueError, match="neck session is at most 10"):
        build(board, "massage", site="neck")


def test_target_at_the_board_ceiling_accepted_one_pascal_more_refused(board):
    cup = board.cup("M")
    ceiling = board.max_target_pa_for(cup)
    at = "%d.%03d" % (ceiling // 1000, ceiling % 1000)
    above = "%d.%03d" % ((ceiling + 1) // 1000, (ceiling + 1) % 1000)
    for name, key in (("static", "target"), ("interval", "high"), ("ramp", "target")):
        assert build(board, name, cup, **{key: at}).values[key] == ceiling
        with pytest.raises(ValueError, match="%s %s: %s kPa is above this board's limit for cup M" % (
                name, key, above.rstrip("0").rstrip("."))):
            build(board, name, cup, **{key: above})


def test_session_limit_at_its_edge(board_data):
    board_data["limits"]["max_session_min"] = 15
    board = boardcfg.load(board_data)
    assert build(board, "static", minutes="15").duration_ms == 15 * 60000
    with pytest.raises(ValueError, match=r"^static minutes: 16 is above this board's session limit \(15 min\)$"):
        build(board, "static", minutes="16")


def test_interval_low_must_be_strictly_below_high(board):
    assert build(board, "interval", high="20", low="19.999").values["low"] == 19999
    with pytest.raises(ValueError, match="low: must be below high"):
        build(board, "interval", high="20", low="20")


def test_whole_numbers_only_up_to_six_digits(board):
    assert programs.parse_count("x", "600") == 600
    assert programs.parse_count("x", "000600") == 600
    assert programs.parse_count("x", "-1") == -1  # a whole number: the range check names what is wrong
    for text in ("1000000", "6.5", "-", "--1", "", "1e3"):
        with pytest.raises(ValueError, match="x: %r is not a whole number" % text):
            programs.parse_count("x", text)


def test_static_is_its_target_from_the_first_ms_the_controller_ramps_it(board):
    program = build(board, "static", target="30.001")
    assert [program.target_pa(t) for t in (0, 1, 7500, 1199999)] == [30001] * 4


def test_interval_switches_exactly_at_its_period_edges(board):
    program = build(board, "interval", high="30", low="10", high_s="20", low_s="10")
    assert [program.target_pa(t) for t in (19999, 20000, 29999, 30000, 49999, 50000)] == [
        30000, 10000, 10000, 30000, 30000, 10000]


def test_ramp_rises_at_its_rate_until_it_reaches_the_target(board):
    program = build(board, "ramp", target="30", rate="0.5")  # 60 s to the target
    assert [program.target_pa(t) for t in (20000, 59999, 60000, 60050)] == [10000, 29999, 30000, 30000]
    program = build(board, "ramp", target="30.001", rate="3")  # 10,000.33 ms to the target
    assert [program.target_pa(t) for t in (9999, 10000, 10001)] == [29997, 30001, 30001]


def test_every_program_ends_at_its_duration(board):
    for name in programs.TABLE:
        program = build(board, name, minutes="2")
        assert program.target_pa(119999) > 0
        assert program.target_pa(120000) == 0


@pytest.mark.parametrize("name,params,text", [
    ("static", {}, "static target=30 minutes=20 tissue=normal"),
    ("massage", {"target": "12.5", "site": "neck", "minutes": "10", "tissue": "soft"},
     "massage target=12.5 minutes=10 site=neck tissue=soft"),
    ("interval", {"low": "0.999"}, "interval high=30 low=0.999 high_s=20 low_s=10 minutes=20 tissue=normal"),
    ("ramp", {"target": "30.999", "rate": "0.05", "tissue": "firm"},
     "ramp target=30.999 rate=0.05 minutes=20 tissue=firm"),
])
def test_describe_names_every_parameter_in_the_units_it_was_given(board, name, params, text):
    assert build(board, name, **params).describe() == text


def test_the_lift_ceiling_is_exact_across_the_registrys_ranges():
    """The vacuum where the tissue reaches max_lift_mm, floored to a pascal, for every lift limit, tissue
    and cup diameter a board file may hold: lift_mm * 1000 µm / (µm per kPa at 40 mm * d / 40 mm)."""
    from fractions import Fraction
    from types import SimpleNamespace

    for lift_mm in range(5, 21):
        board = SimpleNamespace(max_lift_mm=lift_mm)
        for tissue, um_per_kpa in programs.LIFT_UM_PER_KPA.items():
            for diameter_mm in range(10, 121):
                cup = SimpleNamespace(diameter_mm=diameter_mm)
                exact = Fraction(lift_mm * 1000 * 1000 * 40, um_per_kpa * diameter_mm)
                assert programs.lift_ceiling_pa(board, cup, tissue) == math.floor(exact), (lift_mm, tissue, diameter_mm)


def test_a_cup_too_wide_for_any_target_on_soft_tissue_says_targets_stop_at_0(board_data):
    """5 mm of lift in a 120 mm cup on soft tissue comes at 3.333 kPa, inside a 10 kPa cap band."""
    data = copy.deepcopy(board_data)
    data["limits"].update(max_lift_mm=5, cap_band_kpa=10)
    data["cups"] = [{"name": "XL", "diameter_mm": 120, "hard_limit_kpa": 50}]
    board = boardcfg.load(data)
    with pytest.raises(ValueError, match=r"reached at 3\.333 kPa, so targets stop 10 kPa below it, at 0 kPa$"):
        programs.build("static", {"target": "8", "tissue": "soft"}, board, board.cups[0])
