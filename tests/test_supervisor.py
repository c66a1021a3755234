"""Supervisor unit behaviour: latching, acknowledgement, the duty cap, who owns the actuators."""

import json

import pytest

from cupfw import boardcfg, faults
from cupfw.supervisor import Reading, Supervisor
from tests.conftest import DEFAULT_BOARD


class Pump:
    def __init__(self):
        self.duty = 0

    def set(self, duty):
        self.duty = duty


class Valve:
    def __init__(self):
        self.vented = True

    def vent(self):
        self.vented = True

    def hold(self):
        self.vented = False


def good_reading(vacuum_pa=20000, counts=7000000):
    reading = Reading()
    reading.code = reading.counts = counts
    reading.fresh = True
    reading.pressure_pa = 100000 - vacuum_pa
    reading.vacuum_pa = vacuum_pa
    return reading


def slow_pump_board():
    """The default board with a declared pump so slow that the observer's cap never binds."""
    data = json.loads(DEFAULT_BOARD.read_text())
    data["limits"]["pump_rise_kpa_s"] = 10
    return boardcfg.load(data)


@pytest.fixture
def reading():
    return good_reading()


@pytest.fixture
def sup(board, reading):
    s = Supervisor(board, Pump(), Valve())
    s.begin_session(0, board.cups[0].hard_limit_pa, 0, reading)
    return s


def test_actuate_only_during_a_session_without_fault(sup, reading):
    sup.actuate(reading, 20000, 200, True)
    assert sup._pump.duty == 200 and not sup._valve.vented
    sup.end_session()
    assert sup._pump.duty == 0 and sup._valve.vented
    sup.actuate(reading, 20000, 200, True)
    assert sup._pump.duty == 0 and sup._valve.vented


def test_outside_a_session_every_tick_vents(sup, reading):
    sup.end_session()
    sup._valve.vented = False  # something closed it behind the supervisor's back
    sup.actuate(reading, 0, 0, True)
    assert sup._valve.vented


def test_pump_never_runs_against_an_open_valve(sup, reading):
    sup.actuate(reading, 20000, 200, False)
    assert sup._pump.duty == 0 and sup._valve.vented


def test_pump_never_runs_on_a_stale_reading(sup, reading):
    reading.fresh = False
    reading.code = -1
    sup.actuate(reading, 20000, 200, True)
    assert sup._pump.duty == 0 and not sup._valve.vented  # the valve may keep holding


@pytest.mark.parametrize("headroom_pa,expected", [(10000, 1000), (4000, 1000), (3999, 999), (2000, 500),
                                                   (1, 0), (0, 0), (-500, 0)])
def test_duty_is_capped_linearly_near_the_hard_limit(headroom_pa, expected):
    board = slow_pump_board()
    s = Supervisor(board, Pump(), Valve())
    r = good_reading()
    s.begin_session(0, board.cups[0].hard_limit_pa, 0, r)
    assert board.cap_band_pa == 4000
    r.vacuum_pa = s.hard_limit_pa - headroom_pa
    assert s.duty_cap(r.vacuum_pa) == expected
    s.actuate(r, 20000, 1000, True)
    assert s._pump.duty == expected


def test_trip_latches_until_acknowledged_and_ack_never_restarts(sup, reading):
    sup.actuate(reading, 20000, 200, True)
    reading.vacuum_pa = sup.hard_limit_pa + 1
    assert sup.check(10, reading) == faults.HARD_LIMIT
    assert sup._pump.duty == 0 and sup._valve.vented
    reading.vacuum_pa = 0
    assert sup.check(20, reading) == faults.HARD_LIMIT  # still latched with the cause gone
    assert sup.acknowledge(False)
    assert sup.fault == faults.NONE and not sup.session
    sup.actuate(reading, 20000, 200, True)
    assert sup._pump.duty == 0  # no session: acknowledging restarted nothing


def test_hard_limit_boundary(sup, reading):
    reading.vacuum_pa = sup.hard_limit_pa
    assert sup.check(10, reading) == faults.NONE
    reading.vacuum_pa += 1
    assert sup.check(20, reading) == faults.HARD_LIMIT


def test_first_fault_wins(sup):
    sup.trip(faults.LEAK)
    assert sup.trip(faults.HARD_LIMIT) == faults.LEAK


def test_emergency_ack_refused_while_the_button_is_held(sup, reading):
    reading.button = True
    assert sup.check(10, reading) == faults.EMERGENCY
    assert not sup.acknowledge(True)
    assert sup.acknowledge(False)


def test_short_sensor_gap_tolerated_long_gap_trips(sup, board, reading):
    sup.arm(0)
    sup.check(0, reading)
    reading.code = -1  # busy
    reading.fresh = False
    assert sup.check(board.sensor_timeout_ms, reading) == faults.NONE
    assert sup.check(board.sensor_timeout_ms + 10, reading) == faults.SENSOR_TIMEOUT


@pytest.mark.parametrize("pressure_pa,fault", [(19999, faults.SENSOR_IMPLAUSIBLE), (20000, faults.NONE),
                                               (120000, faults.NONE), (120001, faults.SENSOR_IMPLAUSIBLE)])
def test_plausible_pressure_boundaries(sup, reading, pressure_pa, fault):
    reading.pressure_pa = pressure_pa
    reading.vacuum_pa = 0
    assert sup.check(10, reading) == fault


@pytest.mark.parametrize("session", [False, True])
def test_always_rules_run_outside_a_session_too(board, session):
    """Hard limit, sensor, plausibility and button rules never depend on a session."""
    for field, value, fault in (("vacuum_pa", 70000, faults.HARD_LIMIT), ("code", -3, faults.SENSOR_STATUS),
                                ("pressure_pa", 10000, faults.SENSOR_IMPLAUSIBLE), ("button", True, faults.EMERGENCY)):
        s = Supervisor(board, Pump(), Valve())
        r = good_reading()
        if session:
            s.begin_session(0, board.cups[0].hard_limit_pa, 0, r)
        setattr(r, field, value)
        if field == "code":
            r.fresh = False
        assert s.check(10, r) == fault, field


def test_session_end_keeps_the_cups_limit_until_vented(board):
    """A normal end on a cup whose limit is above the idle limit never latches hard_limit."""
    big = max(board.cups, key=lambda c: c.hard_limit_pa)
    s = Supervisor(board, Pump(), Valve())
    r = good_reading(vacuum_pa=big.hard_limit_pa - 1000)
    s.begin_session(0, big.hard_limit_pa, 0, r)
    s.end_session()
    assert s.check(10, r) == faults.NONE  # still far above the smallest cup's limit, but venting
    r.vacuum_pa = 0
    assert s.check(20, r) == faults.NONE
    r.vacuum_pa = min(c.hard_limit_pa for c in board.cups) + 1
    assert s.check(30, r) == faults.HARD_LIMIT  # vented once: the idle limit is back
