"""Program set-point curves and parameter validation against the board's limits."""

import pytest

from cupfw import programs


def build(board, name, **params):
    return programs.build(name, {k: str(v) for k, v in params.items()}, board, board.cups[0])


def test_curves_are_raw_the_controller_ramps_every_rise(board):
    """The soft ramp is the controller's (tests/test_hazards.py); a program's curve jumps."""
    assert build(board, "static", target=30).target_pa(0) == 30000
    assert build(board, "interval", high=30, low=10).target_pa(0) == 30000


@pytest.mark.parametrize("tissue,cup,ceiling_pa", [("normal", "M", 60000), ("soft", "M", 30000),
                                                   ("soft", "L", 21818), ("firm", "L", 72727)])
def test_lift_ceiling_per_tissue_and_cup(board, tissue, cup, ceiling_pa):
    """15 mm of lift: 0.25/0.5/0.15 mm per kPa under a 40 mm cup, in proportion to the diameter."""
    assert board.max_lift_mm == 15
    assert abs(programs.lift_ceiling_pa(board, board.cup(cup), tissue) - ceiling_pa) <= 1


def test_start_refused_when_the_tissue_would_rise_too_far(board):
    cup = board.cup("L")  # 55 mm
    with pytest.raises(ValueError, match="soft tissue 16.5 mm into cup L.*limit of 15 mm is reached at 21.818 kPa, "
                                         "so targets stop 4 kPa below it, at 17.818 kPa"):
        programs.build("static", {"target": "24", "tissue": "soft"}, board, cup)
    with pytest.raises(ValueError, match="at 17.818 kPa"):
        programs.build("static", {"target": "17.819", "tissue": "soft"}, board, cup)
    assert programs.build("static", {"target": "17.818", "tissue": "soft"}, board, cup).values["tissue"] == "soft"


def test_static_holds_then_ends(board):
    program = build(board, "static", target=30, minutes=10)
    assert program.target_pa(30000) == 30000
    assert program.target_pa(599990) == 30000
    assert program.target_pa(600000) == 0


def test_interval_alternates(board):
    program = build(board, "interval", high=30, low=10, high_s=20, low_s=10)
    assert program.target_pa(15000) == 30000
    assert program.target_pa(25000) == 10000
    assert program.target_pa(35000) == 30000


def test_ramp_rises_at_its_rate(board):
    program = build(board, "ramp", target=30, rate=0.5)
    assert program.target_pa(20000) == 10000
    assert program.target_pa(60000) == 30000
    assert program.target_pa(90000) == 30000


@pytest.mark.parametrize("name,params,message", [
    ("static", {"target": 41}, "above this board's limit"),
    ("static", {"target": "abc"}, "not a number"),
    ("static", {"minutes": 31}, "outside"),
    ("massage", {"site": "neck", "minutes": 15}, "neck session is at most 10"),
    ("massage", {"site": "leg"}, "not one of"),
    ("interval", {"high": 20, "low": 25}, "low: must be below high"),
    ("ramp", {"rate": 9}, "outside"),
    ("static", {"speed": 3}, "unknown parameter"),
    ("cupping", {}, "unknown program"),
])
def test_bad_parameters_refused(board, name, params, message):
    with pytest.raises(ValueError, match=message):
        build(board, name, **params)


def test_small_cup_lowers_the_ceiling(board):
    large = board.cup("L")
    with pytest.raises(ValueError, match="cup L"):
        programs.build("static", {"target": "38"}, board, large)


def test_session_limit_caps_minutes(board_data):
    from cupfw import boardcfg

    board_data["limits"]["max_session_min"] = 15
    board = boardcfg.load(board_data)
    with pytest.raises(ValueError, match="session limit"):
        build(board, "static", minutes=20)
