"""The controller's own duties: the zero, boot faults, the ramp, session ends, acknowledgement, the LED.

A small integer cup stands in for the plant (tests of the physics use cupctl.sim); the clock starts
at random offsets, including just before ``ticks_ms`` wraps at 2^30.
"""

import random

import pytest

from cupctl.sim.hardware import SimPin, SimPWM, SimRTC
from cupfw import faults, programs
from cupfw.actuators import Button, Led, Pump, Valve
from cupfw.bootmemory import BootMemory
from cupfw.controller import FAULT, IDLE, PREPARE, RUNNING, Controller
from cupfw.mprls import COUNTS_MAX, COUNTS_MIN, MPRLS

TICKS_PERIOD = 1 << 30
AMBIENT_PA = 101325
FULL_SCALE_PA = 172369


class Cup:
    """An integer cup behind an MPRLS: the pump raises the vacuum, the open valve vents it."""

    def __init__(self, ambient_pa=AMBIENT_PA, vacuum_pa=0, valve_pa_per_tick_per_kpa=60, pump_pa_per_tick=250):
        self.ambient_pa = ambient_pa
        self.pump_rate = pump_pa_per_tick  # at full duty: 25 kPa/s by default
        self.vacuum_pa = vacuum_pa
        self.valve_rate = valve_pa_per_tick_per_kpa
        self.stuck_closed = False
        self.stuck_duty = 0  # a shorted MOSFET: the pump runs at this duty whatever it is told
        self.rng = random.Random(5)

    def step(self, duty, vented):
        self.vacuum_pa += (duty + self.stuck_duty) * self.pump_rate // 1000
        if vented and not self.stuck_closed:
            self.vacuum_pa -= self.vacuum_pa * self.valve_rate // 1000
        self.vacuum_pa -= self.vacuum_pa // 2000  # the rim's leak

    def counts(self):
        pa = self.ambient_pa - self.vacuum_pa + self.rng.randint(-15, 15)
        return COUNTS_MIN + pa * (COUNTS_MAX - COUNTS_MIN) // FULL_SCALE_PA


class Sensor(MPRLS):
    def __init__(self, cup):
        MPRLS.__init__(self, None)
        self.cup = cup

    def start(self):
        return 0

    def collect(self):
        return self.cup.counts()


class Rig:
    def __init__(self, board, cup=None, memory=None, start_ms=0):
        self.board = board
        self.cup = cup or Cup()
        self.button_pin = SimPin(1)
        self.led_pin = SimPin()
        self.pump = Pump(SimPWM(), board.pump_max_duty)
        self.ctl = Controller(board, Sensor(self.cup), self.pump,
                              Valve(SimPin(), board.valve_active_high, board.valve_normally_open),
                              Led(self.led_pin, board.led_active_high), Button(self.button_pin, True),
                              memory=memory)
        self.t = start_ms
        self.states = []

    def run(self, ms):
        for _ in range(ms // 10):
            self.ctl.tick(self.t & (TICKS_PERIOD - 1))
            self.states.append(self.ctl.state)
            self.cup.step(self.ctl.pump.duty, self.ctl.valve.vented)
            self.t += 10

    def start(self, name="static", **params):
        params.setdefault("minutes", "1")
        cup = self.board.cups[0]
        self.ctl.start(programs.build(name, {k: str(v) for k, v in params.items()}, self.board, cup), cup)


@pytest.fixture(params=[0, 123456789, TICKS_PERIOD - 5000], ids=["zero", "offset", "near-wrap"])
def start_ms(request):
    return request.param


def test_boot_finds_ambient_and_goes_idle(board, start_ms):
    rig = Rig(board, start_ms=start_ms)
    rig.run(3000)
    assert rig.ctl.state == IDLE and rig.ctl.fault == faults.NONE
    assert abs(rig.ctl.ambient_pa - AMBIENT_PA) <= 20
    assert rig.ctl.memory.ambient_pa == rig.ctl.ambient_pa and not rig.ctl.memory.in_session


def test_static_session_runs_to_its_set_end_then_vents(board, start_ms):
    rig = Rig(board, start_ms=start_ms)
    rig.run(3000)
    rig.start(target=30)
    rig.run(65000)
    running = rig.states.count(RUNNING)
    assert running * 10 == 60000  # the program's own end, not the over-duration backstop
    assert rig.ctl.state == IDLE and rig.ctl.fault == faults.NONE
    assert rig.ctl.pump.duty == 0 and rig.ctl.valve.vented and rig.ctl.program is None
    assert not rig.ctl.memory.in_session


def test_every_rise_of_the_target_follows_the_soft_ramp(board):
    rig = Rig(board)
    rig.run(3000)
    rig.start("interval", high=30, low=5, high_s=10, low_s=5)
    targets = []
    for _ in range(3000):
        rig.run(10)
        targets.append(rig.ctl.target_pa)
    rises = [b - a for a, b in zip(targets, targets[1:])]
    assert max(rises) == board.soft_ramp_pa_s * 10 // 1000
    assert min(rises) == 5000 - 30000  # falls are immediate
    assert max(targets) == 30000


def test_the_zero_waits_while_the_cup_still_vents(board):
    """After a stop, a new start waits until the vented cup is at rest; the zero is then true."""
    rig = Rig(board, Cup(valve_pa_per_tick_per_kpa=3))  # a slow valve
    rig.run(3000)
    rig.start(target=36)
    rig.run(20000)
    assert rig.ctl.state == RUNNING and rig.cup.vacuum_pa > 30000
    rig.ctl.stop()
    rig.start(target=36)
    rig.run(200)
    assert rig.ctl.state == PREPARE
    while rig.ctl.state == PREPARE:
        rig.run(10)
    assert rig.ctl.state == RUNNING
    assert rig.cup.vacuum_pa <= 500  # what the session starts from, in truth
    assert abs(rig.ctl.ambient_pa - AMBIENT_PA) <= 500


def test_a_cup_that_will_not_vent_never_starts(board):
    rig = Rig(board)
    rig.run(3000)
    rig.start(target=30)
    rig.run(15000)
    rig.ctl.stop()
    rig.cup.stuck_closed = True  # the valve fails closed: the cup rests at 30 kPa of vacuum
    rig.start(target=30)
    rig.run(board.vent_timeout_ms - 500)
    assert rig.ctl.state == PREPARE and rig.ctl.pump.duty == 0
    rig.run(1000)
    assert rig.ctl.fault == faults.VENT_TIMEOUT and rig.ctl.state == FAULT
    assert RUNNING not in rig.states[-(board.vent_timeout_ms // 10):]


def test_a_reset_mid_session_latches_and_the_zero_needs_the_kept_ambient(board):
    rtc = SimRTC()
    rig = Rig(board, memory=BootMemory(rtc))
    rig.run(3000)
    rig.start(target=36)
    rig.run(15000)
    assert BootMemory(rtc).in_session
    cup = rig.cup  # the same cup, still holding its vacuum, with the valve now stuck closed
    cup.stuck_closed = True
    reboot = Rig(board, cup, BootMemory(rtc))
    reboot.ctl.latch_boot_faults(watchdog_reset=False)
    assert reboot.ctl.fault == faults.UNEXPECTED_RESET
    assert reboot.ctl.acknowledge()
    reboot.start(target=36)
    reboot.run(10000)
    assert reboot.ctl.state == PREPARE, "a cup at rest below the kept ambient is not a zero"


@pytest.mark.parametrize("watchdog,in_session,expected", [
    (True, False, faults.WATCHDOG_RESET), (True, True, faults.WATCHDOG_RESET),
    (False, True, faults.UNEXPECTED_RESET), (False, False, faults.NONE)])
def test_boot_faults(board, watchdog, in_session, expected):
    memory = BootMemory()
    memory.save(AMBIENT_PA, in_session)
    rig = Rig(board, memory=memory)
    rig.ctl.latch_boot_faults(watchdog)
    assert rig.ctl.fault == expected
    assert not rig.ctl.memory.in_session  # latched once, not again at the next reset


def test_boot_memory_round_trip_and_corruption():
    rtc = SimRTC()
    BootMemory(rtc).save(98765, True)
    kept = BootMemory(rtc)
    assert (kept.ambient_pa, kept.in_session) == (98765, True)
    data = bytearray(rtc.memory())
    data[3] ^= 1
    rtc.memory(bytes(data))
    assert (BootMemory(rtc).ambient_pa, BootMemory(rtc).in_session) == (0, False)
    rtc.memory(b"")
    assert BootMemory(rtc).ambient_pa == 0


@pytest.mark.parametrize("offset_pa,fault", [(0, faults.NONE), (-1, faults.AMBIENT)])
def test_ambient_range_boundaries(board, offset_pa, fault):
    for edge in (board.ambient_min_pa, board.ambient_max_pa):
        beyond = offset_pa if edge == board.ambient_max_pa else -offset_pa
        rig = Rig(board, Cup(ambient_pa=edge - beyond))
        rig.cup.rng = random.Random(0)
        rig.cup.counts = lambda c=rig.cup: COUNTS_MIN + (c.ambient_pa - c.vacuum_pa) * (
            COUNTS_MAX - COUNTS_MIN) // FULL_SCALE_PA + c.rng.randint(0, 1)
        rig.run(3000)
        got = rig.ctl.fault
        assert (got == faults.AMBIENT) == (fault == faults.AMBIENT), (edge, got)


def test_acknowledge_through_the_controller_waits_for_the_button(board):
    rig = Rig(board)
    rig.run(3000)
    rig.start(target=30)
    rig.run(5000)
    rig.button_pin.level = 0  # pressed (active low)
    rig.run(20)
    assert rig.ctl.fault == faults.EMERGENCY
    assert not rig.ctl.acknowledge() and rig.ctl.state == FAULT
    rig.button_pin.level = 1
    rig.run(20)
    assert rig.ctl.acknowledge() and rig.ctl.state == IDLE and rig.ctl.fault == faults.NONE
    rig.run(500)
    assert rig.ctl.pump.duty == 0 and rig.ctl.state == IDLE  # nothing restarted
    assert not rig.ctl.acknowledge()  # nothing left to acknowledge


def test_stop_during_a_fault_keeps_the_fault_and_the_vent(board):
    rig = Rig(board)
    rig.run(3000)
    rig.start(target=30)
    rig.run(5000)
    rig.ctl.latch(faults.HEARTBEAT)
    rig.ctl.stop()
    assert rig.ctl.state == FAULT and rig.ctl.fault == faults.HEARTBEAT
    assert rig.ctl.pump.duty == 0 and rig.ctl.valve.vented


def test_led_lit_while_running_blinking_in_a_fault_dark_when_idle(board):
    rig = Rig(board)
    rig.run(3000)
    assert rig.led_pin.level == (0 if board.led_active_high else 1)
    rig.start(target=30)
    rig.run(3000)
    assert rig.led_pin.level == (1 if board.led_active_high else 0)
    rig.ctl.latch(faults.HEARTBEAT)
    levels = set()
    for _ in range(100):
        rig.run(10)
        levels.add(rig.led_pin.level)
    assert levels == {0, 1}


def test_a_second_start_names_what_is_going_on(board):
    rig = Rig(board)
    rig.run(3000)
    rig.start(target=30)
    with pytest.raises(ValueError, match="already starting"):
        rig.start(target=30)
    rig.run(3000)
    with pytest.raises(ValueError, match="already running"):
        rig.start(target=30)
    rig.ctl.latch(faults.LEAK)
    with pytest.raises(ValueError, match="fault leak is latched"):
        rig.start(target=30)


def test_stop_vents_before_the_next_tick(board):
    rig = Rig(board)
    rig.run(3000)
    rig.start(target=30)
    rig.run(10000)
    assert rig.ctl.pump.duty > 0 and not rig.ctl.valve.vented
    rig.ctl.stop()
    assert rig.ctl.pump.duty == 0 and rig.ctl.valve.vented and rig.ctl.state == IDLE


def test_each_session_starts_with_a_fresh_regulator(board):
    """The integral of the last session must not carry into the next (a different cup, another level)."""
    def first_duties(rig):
        rig.start(target=30)
        duties = []
        while len(duties) < 300:
            rig.run(10)
            if rig.ctl.state == RUNNING:
                duties.append(rig.ctl.pump.duty)
        return duties

    fresh = Rig(board)
    fresh.run(3000)
    used = Rig(board)
    used.run(3000)
    used.start(target=36)
    used.run(30000)  # holding 36 kPa against the rim's leak: the integral is far from 0
    assert used.ctl.regulator._integral != 0
    used.ctl.stop()
    used.run(5000)
    used.cup.vacuum_pa = 0
    used.cup.rng = random.Random(5)
    fresh.cup.rng = random.Random(5)
    assert first_duties(used)[:50] == first_duties(fresh)[:50]


def test_each_session_measures_the_pump_afresh(board):
    """The rise learned on one cup must not set the gains on the next: another cup, maybe another pump."""
    rig = Rig(board, Cup(pump_pa_per_tick=40))  # a weak pump: its ramp raises the gains to the bound
    rig.run(3000)
    rig.start(target=30)
    rig.run(5000)
    assert rig.ctl.regulator.scale(rig.ctl.supervisor.pump_rise_pa()) == 1024
    rig.ctl.stop()
    rig.run(10000)
    rig.start(target=30)
    while rig.ctl.state != RUNNING:
        rig.run(10)
    assert rig.ctl.supervisor.pump_rise_pa() == 0
    assert rig.ctl.regulator.scale(0) == 256  # the board's gains until this cup's ramp has measured it


def test_a_weak_pump_running_on_its_own_is_caught_while_idle(board):
    """Against a slow open valve it brings the cup to ~2.3 kPa, too slowly for pump_runaway."""
    rig = Rig(board, Cup(valve_pa_per_tick_per_kpa=3))
    rig.run(3000)
    rig.cup.stuck_duty = 30
    rig.run(25000)
    assert rig.ctl.fault == faults.NOT_VENTED and rig.ctl.state == FAULT
    assert 1500 < rig.cup.vacuum_pa < 5000


def test_stop_during_a_fault_vents_at_once_whatever_the_outputs_show(board):
    """A stop is the operator's vent button: it acts now, not at the next tick."""
    rig = Rig(board)
    rig.run(3000)
    rig.ctl.latch(faults.HEARTBEAT)
    rig.ctl.valve.hold()  # say a maker's REPL closed the valve and ran the pump meanwhile
    rig.ctl.pump.set(400)
    rig.ctl.stop()
    assert rig.ctl.valve.vented and rig.ctl.pump.duty == 0 and rig.ctl.state == FAULT


def test_resume_trusts_the_given_ambient(board):
    """Replaying from mid-recording: a cup at rest below the resumed ambient has not vented."""
    rig = Rig(board, Cup(vacuum_pa=1999))  # below 2 kPa the rim no longer leaks in this cup
    rig.cup.stuck_closed = True
    rig.ctl.resume(0, AMBIENT_PA)
    rig.run(5000)
    assert rig.ctl.fault == faults.NOT_VENTED


def test_vent_timeout_boundary(board):
    rig = Rig(board)
    rig.run(3000)
    rig.start(target=30)
    rig.run(15000)
    rig.ctl.stop()
    rig.cup.stuck_closed = True  # the cup never vents
    rig.start(target=30)
    phase_start = rig.t - 10  # start() runs after the last tick
    while rig.ctl.state == PREPARE:
        rig.run(10)
    assert rig.ctl.fault == faults.VENT_TIMEOUT
    assert rig.t - 10 - phase_start == board.vent_timeout_ms + 10  # the first tick past the timeout


def test_the_fault_led_blinks_256_ms_on_256_ms_off(board):
    rig = Rig(board)
    rig.run(3000)
    rig.ctl.latch(faults.HEARTBEAT)
    lit = 1 if board.led_active_high else 0
    seen = {}
    for _ in range(103):
        now = rig.t
        rig.run(10)
        seen[now % 1024] = rig.led_pin.level == lit
    assert [t for t in sorted(seen) if seen[t]] == [t for t in sorted(seen) if 256 <= t % 512]


def test_boot_stores_the_ambient_it_found_as_idle(board):
    rtc = SimRTC()
    rig = Rig(board, memory=BootMemory(rtc))
    while rig.ctl.state == PREPARE:
        rig.run(10)
    assert rig.ctl.state == IDLE
    kept = BootMemory(rtc)  # what the next boot would read
    assert kept.ambient_pa == rig.ctl.ambient_pa and not kept.in_session


def test_a_zero_count_reading_trips_implausible_in_one_tick(board):
    rig = Rig(board)
    rig.run(3000)
    rig.cup.counts = lambda: 0
    rig.run(10)
    assert rig.ctl.fault == faults.SENSOR_IMPLAUSIBLE


def test_an_ambient_out_of_range_while_idle_is_not_taken_as_the_zero(board):
    high = board.ambient_max_pa - 2000
    rig = Rig(board, Cup(ambient_pa=high))
    rig.run(3000)
    zero = rig.ctl.ambient_pa
    assert rig.ctl.state == IDLE and abs(zero - high) <= 20
    rig.cup.ambient_pa = board.ambient_max_pa + 1000  # the sensor drifts past the plausible ambient
    rig.run(5000)
    assert rig.ctl.ambient_pa == zero and rig.ctl.fault == faults.NONE


def test_the_controller_reports_its_pumps_duty_and_its_valve(board):
    """What Service sends as telemetry: the controller's own view of its outputs."""
    rig = Rig(board)
    rig.run(3000)
    assert (rig.ctl.duty, rig.ctl.vented) == (0, True)
    rig.start(target=30)
    rig.run(3000)
    assert rig.ctl.duty == rig.pump.duty > 0 and rig.ctl.vented is False
    rig.ctl.stop()
    assert (rig.ctl.duty, rig.ctl.vented) == (0, True)
