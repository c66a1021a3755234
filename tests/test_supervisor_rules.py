"""Supervisor rules at their edges: what runs outside a session, what a new session forgets, the boundaries.

Each test pins a behaviour that mutation testing (make mutate) found unpinned.
"""

import faults
import pytest
from supervisor import Supervisor

from tests.test_supervisor import Pump, Valve, good_reading, slow_pump_board


class Deadman:
    def __init__(self):
        self.tripped = False
        self.cleared = 0

    def clear(self):
        self.tripped = False
        self.cleared += 1


def session(board, reading=None, heartbeat_ms=0, deadman=None, start=0):
    sup = Supervisor(board, Pump(), Valve(), deadman)
    reading = reading or good_reading()
    sup.begin_session(start, board.cups[0].hard_limit_pa, heartbeat_ms, reading)
    return sup, reading


def test_session_rules_sleep_outside_a_session(board):
    """A heartbeat armed in the last session, never beaten, must not trip once the session ended."""
    sup, reading = session(board, heartbeat_ms=500)
    sup.end_session()
    for t in range(10, 5000, 10):
        reading.counts += 1
        assert sup.check(t, reading) == faults.NONE


def test_a_new_session_forgets_the_last_ones_clocks(board):
    sup, reading = session(board, heartbeat_ms=500)
    sup.end_session()
    reading.counts += 1
    sup.check(60000, reading)
    sup.begin_session(60000, board.cups[0].hard_limit_pa, 500, reading)
    reading.counts += 1
    assert sup.check(60400, reading) == faults.NONE  # heartbeat counted from the new start
    assert sup.check(60510, reading) == faults.HEARTBEAT


def test_heartbeat_boundary(board):
    sup, reading = session(board, heartbeat_ms=500)
    reading.counts += 1
    assert sup.check(500, reading) == faults.NONE
    reading.counts += 1
    assert sup.check(501, reading) == faults.HEARTBEAT


def test_acknowledging_a_loop_overrun_clears_the_dead_man_switch(board):
    deadman = Deadman()
    sup, reading = session(board, deadman=deadman)
    deadman.tripped = True
    assert sup.check(10, reading) == faults.LOOP_OVERRUN
    assert sup.acknowledge(False) and deadman.cleared == 1 and not deadman.tripped
    reading.counts += 1
    assert sup.check(20, reading) == faults.NONE


@pytest.mark.parametrize("vacuum_pa,fault", [(-5000, faults.NONE), (-5001, faults.SENSOR_IMPLAUSIBLE)])
def test_cup_pressure_above_ambient_boundary(board, vacuum_pa, fault):
    sup, reading = session(board)
    reading.vacuum_pa = vacuum_pa
    reading.pressure_pa = 90000
    assert sup.check(10, reading) == fault


def test_the_idle_limit_returns_exactly_at_it(board):
    big = max(board.cups, key=lambda c: c.hard_limit_pa)
    idle = min(c.hard_limit_pa for c in board.cups)
    sup = Supervisor(board, Pump(), Valve())
    reading = good_reading(vacuum_pa=big.hard_limit_pa - 100)
    sup.begin_session(0, big.hard_limit_pa, 0, reading)
    sup.end_session()
    reading.vacuum_pa = idle  # vented down to the idle limit exactly: it applies again
    assert sup.check(10, reading) == faults.NONE
    reading.vacuum_pa = idle + 1
    assert sup.check(20, reading) == faults.HARD_LIMIT


def test_the_duty_tapers_at_the_lift_limit_when_it_is_below_the_hard_limit():
    board = slow_pump_board()
    sup = Supervisor(board, Pump(), Valve())
    reading = good_reading()
    hard = board.cups[0].hard_limit_pa
    sup.begin_session(0, hard, 0, reading, lift_limit_pa=hard - 10000)
    assert sup.duty_cap(hard - 10000 - 2000) == 500  # half-way through the band below the lift limit
    assert sup.duty_cap(hard - 10000) == 0
    sup.begin_session(0, hard, 0, reading, lift_limit_pa=hard + 10000)  # above the hard limit: ignored
    assert sup.duty_cap(hard - 2000) == 500


def test_a_new_session_starts_from_the_boards_pump_bound(board):
    """The observer's gain is per cup: a session starts again from pump_rise_kpa_s, not the last cup's."""
    sup, reading = session(board)
    first_cap = sup.duty_cap(0)
    for t in range(10, 2000, 10):  # a strong pump on this cup: 2 kPa per tick at any duty
        reading.counts += 1
        reading.vacuum_pa += 2000 if reading.vacuum_pa < 30000 else 0
        sup.actuate(reading, 40000, 100, True)
        sup.check(t, reading)
    assert sup.duty_cap(0) < first_cap  # learnt: this pump needs a lower cap
    sup.end_session()
    reading.vacuum_pa = 0
    sup.begin_session(3000, board.cups[0].hard_limit_pa, 0, reading)
    assert sup.duty_cap(0) == first_cap


def test_bleeding_three_times_on_a_steady_target_is_a_runaway_twice_is_not(board):
    sup, reading = session(board)
    t = 0
    for bleeds in range(1, 4):
        for hold in (True, True, False):  # hold, hold, vent: one overshoot bled
            t += 10
            reading.counts += 1
            sup.actuate(reading, 30000, 0, hold)
            fault = sup.check(t, reading)
        assert fault == (faults.PUMP_RUNAWAY if bleeds == 3 else faults.NONE), bleeds


def test_a_bleed_while_the_target_falls_is_not_counted(board):
    sup, reading = session(board)
    t = 0
    for target in (30000, 25000, 20000, 15000):
        for hold in (False, True):  # the valve opens in the tick the target falls, then holds
            t += 10
            reading.counts += 1
            sup.actuate(reading, target, 0, hold)
            sup.check(t, reading)
    assert sup.fault == faults.NONE


def test_runaway_boundary_on_a_pump_that_is_off(board):
    """With the pump off, a rise past runaway_rise_kpa (plus the allowed drift) trips; up to it does not."""
    sup, reading = session(board)
    reading.pressure_pa = 80000
    for t in (10, 20, 30, 40):  # settle with the pump off
        reading.counts += 1
        sup.actuate(reading, 30000, 0, True)
        sup.check(t, reading)
    drift = 500 * 10 // 1000
    reading.pressure_pa -= board.runaway_rise_pa + drift  # exactly at the bound
    reading.counts += 1
    sup.actuate(reading, 30000, 0, True)
    assert sup.check(50, reading) == faults.NONE
    reading.pressure_pa -= 1 + drift
    reading.counts += 1
    sup.actuate(reading, 30000, 0, True)
    assert sup.check(60, reading) == faults.PUMP_RUNAWAY


def test_bleeds_spread_wider_than_the_window_are_not_a_runaway(board):
    sup, reading = session(board)
    t = 0
    spacing = board.leak_timeout_ms // 2 // 10 + 1  # ticks: three bleeds span more than leak_timeout_ms
    for _ in range(4):
        for tick in range(spacing):
            t += 10
            reading.counts += 1
            sup.actuate(reading, 30000, 0, tick != spacing - 1)  # one overshoot bled per spacing
            assert sup.check(t, reading) == faults.NONE
