"""Supervisor unit behaviour: latching, acknowledgement, the duty cap, who owns the actuators."""

import faults
import pytest
from supervisor import Supervisor


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


@pytest.fixture
def sup(board):
    s = Supervisor(board, Pump(), Valve())
    s.sensor_code = 7000000
    s.pressure_pa = 80000
    s.begin_session(0, board.cups[0].hard_limit_pa, 0)
    return s


def test_actuate_only_during_a_session_without_fault(sup):
    sup.actuate(500, True)
    assert sup._pump.duty == 500 and not sup._valve.vented
    sup.end_session()
    assert sup._pump.duty == 0 and sup._valve.vented
    sup.actuate(500, True)
    assert sup._pump.duty == 0 and sup._valve.vented


def test_pump_never_runs_against_an_open_valve(sup):
    sup.actuate(700, False)
    assert sup._pump.duty == 0 and sup._valve.vented


@pytest.mark.parametrize("headroom_pa,expected", [(10000, 1000), (4000, 1000), (2000, 500), (1, 0), (0, 0),
                                                   (-500, 0)])
def test_duty_is_capped_linearly_near_the_hard_limit(sup, board, headroom_pa, expected):
    assert board.cap_band_pa == 4000
    sup.vacuum_pa = sup.hard_limit_pa - headroom_pa
    assert sup.duty_cap() == expected
    sup.actuate(1000, True)
    assert sup._pump.duty == expected


def test_trip_latches_until_acknowledged_and_ack_never_restarts(sup):
    sup.actuate(600, True)
    sup.vacuum_pa = sup.hard_limit_pa + 1
    assert sup.check(10) == faults.HARD_LIMIT
    assert sup._pump.duty == 0 and sup._valve.vented
    sup.vacuum_pa = 0
    assert sup.check(20) == faults.HARD_LIMIT  # still latched with the cause gone
    assert sup.acknowledge()
    assert sup.fault == faults.NONE and not sup.session
    sup.actuate(600, True)
    assert sup._pump.duty == 0  # no session: acknowledging restarted nothing


def test_first_fault_wins(sup):
    sup.trip(faults.LEAK)
    assert sup.trip(faults.HARD_LIMIT) == faults.LEAK


def test_emergency_ack_refused_while_the_button_is_held(sup):
    sup.button = True
    assert sup.check(10) == faults.EMERGENCY
    assert not sup.acknowledge()
    sup.button = False
    assert sup.acknowledge()


def test_short_sensor_gap_tolerated_long_gap_trips(sup, board):
    sup.arm(0)
    sup.check(0)
    sup.sensor_code = -1  # busy
    assert sup.check(board.sensor_timeout_ms) == faults.NONE
    assert sup.check(board.sensor_timeout_ms + 10) == faults.SENSOR_TIMEOUT
