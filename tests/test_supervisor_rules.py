"""Supervisor rules at their edges: what runs outside a session, what a new session forgets, the boundaries.

Each test pins a behaviour that mutation testing (make mutate) found unpinned.
"""

import json

import pytest

from cupfw import boardcfg, faults, mprls
from cupfw.effort import EffortWatch
from cupfw.supervisor import Supervisor, _ActuationWindow
from tests.conftest import DEFAULT_BOARD
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


def test_the_idle_limit_returns_a_kpa_below_it(board):
    """After a session on a cup with a higher limit, readings on the idle limit (a stop at it, sampled
    before the valve opened, either side by the noise) keep the session's; the idle limit returns once
    the cup has vented 1 kPa below it."""
    big = max(board.cups, key=lambda c: c.hard_limit_pa)
    idle = min(c.hard_limit_pa for c in board.cups)
    sup = Supervisor(board, Pump(), Valve())
    reading = good_reading(vacuum_pa=big.hard_limit_pa - 100)
    sup.begin_session(0, big.hard_limit_pa, 0, reading)
    sup.end_session()
    for t, vacuum in ((10, idle), (20, idle - 999), (30, idle + 1)):
        reading.vacuum_pa = vacuum
        reading.counts += 1
        assert sup.check(t, reading) == faults.NONE, vacuum
    reading.vacuum_pa = idle - 1000  # vented 1 kPa below it: it applies again
    assert sup.check(40, reading) == faults.NONE
    reading.vacuum_pa = idle + 1
    assert sup.check(50, reading) == faults.HARD_LIMIT


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


def with_limits(**limits):
    data = json.loads(DEFAULT_BOARD.read_text())
    data["limits"]["pump_rise_kpa_s"] = 10  # a slow declared pump: the observer's cap never binds
    for key, value in limits.items():
        section, _, name = key.rpartition("__")
        data[section or "limits"][name] = value
    return boardcfg.load(data)


def test_the_actuation_window_books_each_duty_one_call_late():
    window = _ActuationWindow()
    for duty in (500, 0, 0):
        window.add(duty)
    # 500 and the first 0 are booked; the last 0 is pending, and the highest duty that acted is kept
    assert (window.duty_sum, window.duty_max, window.ticks, window.bound_duty()) == (500, 500, 3, 500)
    window.restart()
    assert (window.duty_sum, window.duty_max, window.ticks) == (0, 0, 0)
    window.add(300)  # books the pending 0; 300 may still act before the next reading
    assert (window.duty_sum, window.duty_max, window.bound_duty()) == (0, 0, 300)


def test_a_zero_count_reading_is_a_reading_and_implausible(board):
    """Counts of 0 are a broken sensor's data, not a bus error: the implausible rule names it."""
    sup, reading = session(board)
    reading.code = reading.counts = 0
    reading.pressure_pa = 0
    reading.vacuum_pa = 100000
    assert sup.check(10, reading) == faults.SENSOR_IMPLAUSIBLE


def test_any_lift_limit_below_the_hard_limit_tapers_even_one_pascal(board):
    sup = Supervisor(slow_pump_board(), Pump(), Valve())
    sup.begin_session(0, board.cups[0].hard_limit_pa, 0, good_reading(vacuum_pa=0), lift_limit_pa=1)
    assert sup.duty_cap(0) == 0


def test_one_pascal_of_headroom_keeps_the_tapers_duty():
    board = with_limits(cap_band_kpa=1)
    sup = Supervisor(board, Pump(), Valve())
    hard = board.cups[0].hard_limit_pa
    sup.begin_session(0, hard, 0, good_reading(vacuum_pa=0))
    assert sup.duty_cap(hard - 1) == board.pump_max_duty * 1 // board.cap_band_pa > 0
    assert sup.duty_cap(hard) == 0


def test_a_trip_reports_the_pump_off(board):
    sup, reading = session(slow_pump_board())
    sup.actuate(reading, 30000, 800, True)
    assert sup.duty == 800
    sup.trip(faults.LEAK)
    assert sup.duty == 0 and sup._pump.duty == 0 and sup._valve.vented


def _bleeds(board, bleed_at, until):
    """Hold a steady target; vent (bleed an overshoot) at the given iterations. The last fault."""
    sup, reading = session(board)
    fault = faults.NONE
    for i in range(1, until + 1):
        reading.counts += 1
        sup.actuate(reading, 30000, 0, i not in bleed_at)
        fault = sup.check(i * 10, reading)
    return fault


@pytest.mark.parametrize("late,fault", [(0, faults.PUMP_RUNAWAY), (1, faults.NONE)])
def test_three_bleeds_within_the_leak_timeout_at_the_edge(board, late, fault):
    window = board.leak_timeout_ms // board.period_ms  # ticks
    last = window + 1 + late  # from the tick before the first bleed to the check after the third
    assert _bleeds(board, (2, 4, last), last) == fault


@pytest.mark.parametrize("session_first", [True, False], ids=["session", "idle"])
def test_runaway_boundary_from_boot(board, session_first):
    """The very first comparison, in a session or idle (the vent books no duty): at the bound, no trip."""
    drift = board.per_tick(500)
    for extra, fault in ((0, faults.NONE), (1, faults.PUMP_RUNAWAY)):
        sup = Supervisor(board, Pump(), Valve())
        reading = good_reading()
        if session_first:
            sup.begin_session(0, board.cups[0].hard_limit_pa, 0, reading)
        sup.arm(0)
        sup.check(0, reading)
        sup.actuate(reading, 0, 0, True)
        reading.counts += 1
        reading.pressure_pa -= board.runaway_rise_pa + drift + extra
        reading.vacuum_pa += board.runaway_rise_pa + drift + extra
        assert sup.check(10, reading) == fault, extra


def test_unexplained_rises_add_up_to_the_pascal(board):
    """A rise of 1 Pa beyond the drift, then one of exactly the bound: together, past it."""
    sup, reading = session(board)
    drift = board.per_tick(500)
    for t, rise in ((10, 0), (20, 1 + drift), (30, board.runaway_rise_pa + drift)):
        reading.counts += 1
        reading.pressure_pa -= rise
        fault = sup.check(t, reading)
        sup.actuate(reading, 30000, 0, True)
    assert fault == faults.PUMP_RUNAWAY


def test_ticks_without_a_reading_neither_add_nor_explain(board):
    """Readings every other tick: each rise is judged once, against the drift of the two ticks."""
    sup, reading = session(board)
    drift = board.per_tick(500)
    per_reading = 91  # excess over the two ticks' drift
    expected = board.runaway_rise_pa // per_reading + 1  # the first reading that takes the sum past the bound
    stale = good_reading()
    stale.code, stale.fresh = mprls.ERR_BUSY, False
    fresh_seen = 0
    t = 0
    while True:
        t += 10
        if t % 20:
            stale.counts, stale.pressure_pa, stale.vacuum_pa = reading.counts, reading.pressure_pa, reading.vacuum_pa
            fault = sup.check(t, stale)
            sup.actuate(stale, 30000, 0, True)
            continue
        if fresh_seen:
            reading.pressure_pa -= per_reading + 2 * drift
        fresh_seen += 1
        reading.counts += 1
        fault = sup.check(t, reading)
        sup.actuate(reading, 30000, 0, True)
        if fault:
            break
    assert fault == faults.PUMP_RUNAWAY and fresh_seen - 1 == expected


@pytest.mark.parametrize("rise_beyond_20_ticks,fault", [(-4, faults.NONE), (0, faults.NONE), (1, faults.PUMP_RUNAWAY)])
def test_a_long_sensor_gap_explains_at_most_twenty_ticks_of_drift(rise_beyond_20_ticks, fault):
    """A board that tolerates 300 ms without a reading: 25 busy ticks, then one reading."""
    board = with_limits(sensor_timeout_ms=300)
    sup = Supervisor(board, Pump(), Valve())
    reading = good_reading()
    sup.arm(0)
    sup.check(0, reading)
    sup.actuate(reading, 0, 0, True)
    busy = good_reading()
    busy.code, busy.fresh = mprls.ERR_BUSY, False
    for t in range(10, 260, 10):
        assert sup.check(t, busy) == faults.NONE
        sup.actuate(busy, 0, 0, True)
    drift = board.per_tick(500)
    reading.counts += 1
    reading.pressure_pa -= board.runaway_rise_pa + 20 * drift + rise_beyond_20_ticks
    assert sup.check(260, reading) == fault


@pytest.mark.parametrize("edge", ["duty", "target", "rise"])
def test_leak_rule_edges(edge):
    """Working hard means at least leak_duty; near the target or rising by more than the minimum is fine.

    Each case holds one input exactly at its edge for longer than leak_timeout_ms."""
    board = slow_pump_board()
    sup, reading = session(board)
    rise = board.leak_min_rise_pa
    target = 30000
    duty = board.leak_duty
    reading.vacuum_pa = 10000
    expected = faults.LEAK
    if edge == "target":
        reading.vacuum_pa = target - rise  # close enough to the target: not a leak
        expected = faults.NONE
    fault = faults.NONE
    t = 0
    while t <= board.leak_timeout_ms + 50:
        t += 10
        reading.counts += 1
        if edge == "rise" and t == 500:
            reading.vacuum_pa += rise  # rising by exactly the minimum is not rising
        fault = sup.check(t, reading)
        sup.actuate(reading, target, duty, True)
        if fault:
            break
    assert fault == expected


def test_a_pump_capped_below_leak_duty_still_counts_as_working_hard():
    """The leak rule must not go blind where the observer's rate cap keeps the pump below leak_duty."""
    board = with_limits(pump_rise_kpa_s=2000)
    sup, reading = session(board)
    reading.vacuum_pa = 10000
    cap = min(board.pump_max_duty, sup.duty_cap(reading.vacuum_pa))
    assert cap < board.leak_duty
    fault = faults.NONE
    for t in range(10, board.leak_timeout_ms + 200, 10):
        reading.counts += 1
        fault = sup.check(t, reading)
        sup.actuate(reading, 30000, 1000, True)
        if fault:
            break
    assert fault == faults.LEAK


def test_a_pump_at_the_smallest_duty_still_freezes_the_sensor_clock(board):
    sup, reading = session(slow_pump_board())
    for t in range(10, 1000, 10):
        fault = sup.check(t, reading)  # the counts never change
        sup.actuate(reading, 30000, 1, True)
        if fault:
            break
    assert fault == faults.SENSOR_FROZEN


@pytest.mark.parametrize("duty", [300, 0])
@pytest.mark.parametrize("late,fault", [(0, faults.NONE), (1, faults.SENSOR_FROZEN)])
def test_frozen_boundary_whatever_the_duty(board, late, fault, duty):
    """The frozen clock starts with the session and runs at duty 0 too: a sensor frozen on a cup held at
    rest would hide a pump that starts on its own."""
    sup, reading = session(slow_pump_board(), start=10)
    sup.actuate(reading, 30000, duty, True)
    assert sup.check(20, reading) == faults.NONE
    sup.actuate(reading, 30000, duty, True)
    assert sup.check(10 + board.frozen_ms + late, reading) == fault


def test_new_counts_restart_the_frozen_clock(board):
    sup, reading = session(slow_pump_board())
    sup.actuate(reading, 30000, 0, True)
    reading.counts += 1
    assert sup.check(board.frozen_ms, reading) == faults.NONE  # restarted here
    sup.actuate(reading, 30000, 0, True)
    assert sup.check(2 * board.frozen_ms, reading) == faults.NONE
    sup.actuate(reading, 30000, 0, True)
    assert sup.check(2 * board.frozen_ms + 1, reading) == faults.SENSOR_FROZEN


def test_overshoots_count_within_one_session(board):
    """Two bleeds at the end of one session and one at the start of the next are not three."""
    sup, reading = session(board)
    t = 0
    for hold in (True, False, True, False):  # two overshoots bled
        t += 10
        reading.counts += 1
        sup.actuate(reading, 30000, 0, hold)
        assert sup.check(t, reading) == faults.NONE
    sup.end_session()
    sup.begin_session(t, board.cups[0].hard_limit_pa, 0, reading)
    for hold in (True, False, True):
        t += 10
        reading.counts += 1
        sup.actuate(reading, 30000, 0, hold)
        assert sup.check(t, reading) == faults.NONE


@pytest.mark.parametrize("pump_rise_kpa_s,duty", [(10, 10), (11.1, 9)], ids=["gain-x-duty-1000", "999"])
def test_the_pumps_explained_rise_is_the_bound_exactly(pump_rise_kpa_s, duty):
    """explained = gain * duty // 1000 (+ drift): one pascal more than that and the bound, and it trips."""
    for extra, fault in ((0, faults.NONE), (1, faults.PUMP_RUNAWAY)):
        board = with_limits(pump_rise_kpa_s=pump_rise_kpa_s, runaway_rise_kpa=0.3)
        sup, reading = session(board)
        gain = board.per_tick(board.pump_rise_pa_s)
        sup.check(10, reading)
        sup.actuate(reading, 30000, duty, True)
        reading.counts += 1
        reading.pressure_pa -= gain * duty // 1000 + board.per_tick(500) + board.runaway_rise_pa + extra
        assert sup.check(20, reading) == fault, extra


def test_an_acknowledged_fault_keeps_the_runaway_evidence(board):
    """A rise the pump cannot explain is not forgiven by another fault and its acknowledgement;
    the reading that tripped is not a reference (it may be the fault)."""
    sup, reading = session(board)
    drift = board.per_tick(500)
    sup.check(10, reading)
    sup.actuate(reading, 30000, 0, True)
    reading.counts += 1
    reading.pressure_pa -= board.runaway_rise_pa - 100 + drift  # 100 Pa short of a runaway
    assert sup.check(20, reading) == faults.NONE
    sup.actuate(reading, 30000, 0, True)
    reading.counts += 1
    reading.button = True
    assert sup.check(30, reading) == faults.EMERGENCY
    sup.actuate(reading, 0, 0, False)
    reading.button = False
    assert sup.acknowledge(False)
    for t in (40, 50):
        reading.counts += 1
        reading.pressure_pa -= 110 + drift  # the first rise sets the new reference; the second is judged
        fault = sup.check(t, reading)
        sup.actuate(reading, 0, 0, False)
    assert fault == faults.PUMP_RUNAWAY


# --- vacuum_lost: a fall faster than any leak on skin, with the valve held ---------------------------------

def held_session(board, vacuum_pa=30000, ticks=5):
    """A session whose valve has held for ``ticks`` ticks, a trusted reading each period."""
    sup, reading = session(board, good_reading(vacuum_pa=vacuum_pa))
    t = 0
    for _ in range(ticks):
        t += board.period_ms
        reading.counts += 1
        assert sup.check(t, reading) == faults.NONE
        sup.actuate(reading, vacuum_pa, 0, True)
    return sup, reading, t


def fall(sup, reading, t, by_pa):
    reading.counts += 1
    reading.pressure_pa += by_pa
    reading.vacuum_pa -= by_pa
    return sup.check(t, reading)


@pytest.mark.parametrize("by_pa,fault", [(5000, faults.NONE), (5001, faults.VACUUM_LOST)])
def test_vacuum_lost_boundary_is_5_kpa_a_period(board, by_pa, fault):
    sup, reading, t = held_session(board)
    assert fall(sup, reading, t + board.period_ms, by_pa) == fault


def test_vacuum_lost_scales_with_the_time_between_readings(board):
    sup, reading, t = held_session(board)
    assert fall(sup, reading, t + 3 * board.period_ms, 15000) == faults.NONE  # three periods: 5 kPa each
    sup, reading, t = held_session(board)
    assert fall(sup, reading, t + 3 * board.period_ms, 15001) == faults.VACUUM_LOST


def test_vacuum_lost_counts_at_most_200_ms_between_readings():
    data = json.loads(DEFAULT_BOARD.read_text())
    data["loop_hz"] = 20  # 50 ms ticks: 200 ms allow 20 kPa, within what a plausible reading can fall
    data["limits"]["sensor_timeout_ms"] = 500
    data["limits"]["deadman_ms"] = 200
    board = boardcfg.load(data)
    for gap_ms, by_pa, fault in ((200, 20000, faults.NONE), (200, 20001, faults.VACUUM_LOST),
                                 (400, 20001, faults.VACUUM_LOST)):
        sup, reading, t = held_session(board, vacuum_pa=40000)
        assert fall(sup, reading, t + gap_ms, by_pa) == fault, (gap_ms, by_pa)


def test_a_fall_while_the_valve_bled_is_no_lost_vacuum(board):
    sup, reading, t = held_session(board)
    sup.actuate(reading, 20000, 0, False)  # the target fell: the regulator bleeds
    assert fall(sup, reading, t + board.period_ms, 10000) == faults.NONE


def test_the_valve_must_have_held_since_before_the_last_reading(board):
    """A reading samples the cup a tick before it arrives, so the interval between two samples began
    under the actuation before the earlier one: that one must have held too."""
    sup, reading, t = held_session(board, ticks=2)
    assert fall(sup, reading, t + board.period_ms, 10000) == faults.NONE  # began with the valve still open
    sup, reading, t = held_session(board, ticks=3)
    assert fall(sup, reading, t + board.period_ms, 10000) == faults.VACUUM_LOST


def test_vacuum_lost_needs_a_trusted_reading_before_and_a_fresh_one_now(board):
    sup, reading, t = held_session(board)
    reading.fresh = False
    assert fall(sup, reading, t + board.period_ms, 10000) == faults.NONE
    sup = Supervisor(board, Pump(), Valve())  # no session: the rule sleeps
    reading = good_reading(vacuum_pa=30000)
    sup.check(10, reading)
    assert fall(sup, reading, 20, 10000) == faults.NONE


# --- sensor_disagrees, effort without answer: the duty climbs, the vacuum stays put below target ----------

def windows(sup, reading, duties, vacuum_pa=29900, target_pa=30000, start=0, step_pa=0):
    """One second per duty, readings every 10 ms, the vacuum ``step_pa`` higher each second; returns
    (the first fault or NONE, when)."""
    t = start
    for duty in duties:
        for _ in range(100):
            t += 10
            reading.counts += 1
            reading.vacuum_pa = vacuum_pa
            reading.pressure_pa = 100000 - vacuum_pa
            code = sup.check(t, reading)
            if code:
                return code, t
            sup.actuate(reading, target_pa, duty, True)
        vacuum_pa += step_pa
    return faults.NONE, t


def kink_session(vacuum_pa=29900):
    board = slow_pump_board()  # the observer's rate cap never binds: the duty is what the test asks
    return session(board, good_reading(vacuum_pa=vacuum_pa))


@pytest.mark.parametrize("climb,fault", [(2, faults.NONE), (3, faults.SENSOR_DISAGREES)])
def test_a_duty_climbing_with_no_answer_trips_on_the_second_climb(climb, fault):
    """A window to average from, then two that climbed: a leak's step climbs once."""
    sup, reading = kink_session()
    code, t = windows(sup, reading, [100 + climb * i for i in range(6)])
    assert code == fault
    if fault:
        assert 3000 < t <= 3100


def test_one_climb_is_a_leaks_step_not_a_kink():
    sup, reading = kink_session()
    assert windows(sup, reading, [100, 200, 200, 200, 200, 200]) == (faults.NONE, 6000)


@pytest.mark.parametrize("step_pa,fault", [(10, faults.NONE), (9, faults.SENSOR_DISAGREES), (-10, faults.NONE),
                                           (-9, faults.SENSOR_DISAGREES)])
def test_a_vacuum_that_moves_10_pa_a_window_answers(step_pa, fault):
    """Rising, it answers the duty; falling, it is a leak showing."""
    sup, reading = kink_session(29000)
    assert windows(sup, reading, [100, 120, 140, 160, 180], vacuum_pa=29000, step_pa=step_pa)[0] == fault


def test_a_vacuum_on_or_above_target_is_no_kink():
    sup, reading = kink_session(30000)
    assert windows(sup, reading, [100, 120, 140, 160, 180], vacuum_pa=30000)[0] == faults.NONE
    sup, reading = kink_session(29999)
    assert windows(sup, reading, [100, 120, 140, 160, 180], vacuum_pa=29999)[0] == faults.SENSOR_DISAGREES


def test_a_new_target_or_a_bleed_starts_the_windows_again():
    sup, reading = kink_session()
    code, t = windows(sup, reading, [100, 120])
    code, t = windows(sup, reading, [140, 160, 180], target_pa=30001, start=t)  # a new target: from scratch
    assert (code, t) == (faults.NONE, 5000)
    sup, reading = kink_session()
    code, t = windows(sup, reading, [100, 120])
    sup.actuate(reading, 30000, 0, False)  # a bleed
    code, t = windows(sup, reading, [140, 160, 180], start=t)
    assert (code, t) == (faults.NONE, 5000)
    code, t = windows(sup, reading, [200], start=t)
    assert code == faults.SENSOR_DISAGREES


def test_the_effort_windows_close_each_second_to_the_tick():
    """Readings every 10 ms from t=10; the valve closed at the session's start, so the windows open at the
    third reading (30 ms) and close at the first reading a whole second later: 1030, 2030, 3030."""
    sup, reading = kink_session()
    assert windows(sup, reading, [100, 103, 106, 109]) == (faults.SENSOR_DISAGREES, 3030)


def test_the_first_window_only_sets_the_baseline_even_from_duty_0():
    sup, reading = kink_session()
    assert windows(sup, reading, [0, 3, 6, 9]) == (faults.SENSOR_DISAGREES, 3030)  # a climb from 0 counts
    sup, reading = kink_session()
    assert windows(sup, reading, [50, 50, 53, 56, 59]) == (faults.SENSOR_DISAGREES, 4030)  # 50 is no climb


def test_a_bleed_forgets_the_climbs_before_it():
    sup, reading = kink_session()
    code, t = windows(sup, reading, [100, 110, 110])  # one climb, at 2030
    sup.actuate(reading, 30000, 0, False)  # a bleed
    code, t = windows(sup, reading, [120, 130, 130], start=t)  # one more climb: not two in a row
    assert (code, t) == (faults.NONE, 6000)


def test_a_vent_restarts_the_valve_held_count(board):
    sup, reading, t = held_session(board, ticks=5)
    sup.actuate(reading, 30000, 0, False)  # vented
    for _ in range(2):
        t += board.period_ms
        reading.counts += 1
        assert sup.check(t, reading) == faults.NONE
        sup.actuate(reading, 30000, 0, True)
    assert fall(sup, reading, t + board.period_ms, 10000) == faults.NONE  # held 2 ticks since: not enough
    sup.actuate(reading, 30000, 0, True)
    assert fall(sup, reading, t + 2 * board.period_ms, 10000) == faults.VACUUM_LOST  # held 3


# --- effort.EffortWatch on its own: windows and averages to the millisecond and the unit ------------------

def feed(watch, first_ms, last_ms, duty_at, vacuum_at=lambda t: 29900):
    """One reading per millisecond, each with one tick's duty."""
    for t in range(first_ms, last_ms + 1):
        watch.add(t, vacuum_at(t), duty_at(t), 1)


def test_an_effort_window_is_a_whole_second():
    watch = EffortWatch()
    watch.restart(0, 30000)
    feed(watch, 1, 3000, lambda t: 100 + 3 * ((t - 1) // 1000))  # 100, 103, 106 a second each
    assert watch.unanswered()  # windows [1, 1000], [1001, 2000], [2001, 3000]: two climbs of 3


def test_an_effort_windows_average_duty_is_floored_exactly():
    watch = EffortWatch()
    watch.restart(0, 30000)
    feed(watch, 1, 1000, lambda t: 100)
    feed(watch, 1001, 2000, lambda t: 102 if t == 2000 else 103)  # 102.999: floors to 102, no climb
    feed(watch, 2001, 3000, lambda t: 106)
    assert watch.climbs == 1 and not watch.unanswered()


def test_an_effort_windows_average_vacuum_is_floored_exactly():
    """Moving 10 Pa answers; 9.999 Pa floors to 9 and does not."""
    watch = EffortWatch()
    watch.restart(0, 30000)
    feed(watch, 1, 1000, lambda t: 100, lambda t: 29000)
    feed(watch, 1001, 2000, lambda t: 103, lambda t: 29009 if t == 2000 else 29010)
    assert watch.climbs == 1


def test_the_first_effort_window_is_a_baseline_even_at_no_vacuum():
    """A session that starts with the tube already off reads 0 Pa while the duty climbs."""
    watch = EffortWatch()
    watch.restart(0, 30000)
    feed(watch, 1, 2000, lambda t: 100 + 3 * ((t - 1) // 1000), lambda t: 0)
    assert watch.climbs == 1 and not watch.unanswered()


def test_stale_ticks_add_nothing_to_the_effort_windows():
    """A tick without a fresh reading repeats the last vacuum and pumps nothing: counted, its ticks would
    dilute the duty spent (a kink seen through a glitchy bus would read as a falling duty)."""
    sup, reading = kink_session()
    t, code = 0, faults.NONE
    for second, duty in enumerate((50, 106, 112, 112)):  # every other tick stale from the second second on
        for tick in range(100):
            t += 10
            reading.fresh = second == 0 or tick % 2 == 0
            if reading.fresh:
                reading.counts += 1
            code = sup.check(t, reading)
            if code:
                break
            sup.actuate(reading, 30000, duty, True)
    # per tick: 50, then 53 and 56 (the stale ticks pump nothing): two climbs
    assert (code, t) == (faults.SENSOR_DISAGREES, 3030)
