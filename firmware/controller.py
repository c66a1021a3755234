"""The control tick: read, supervise, set point, regulate, actuate, feed the watchdog.

``Controller.tick(now_ms)`` is a pure function of its injected collaborators
(sensor, pump, valve, LED, button, watchdog) and the time it is given. It uses
integers only and allocates nothing in steady state, so a replay of recorded
sensor counts is bit-identical on CPython, the unix port and the board.
Session commands (``start``, ``stop``, ``acknowledge``) run between ticks.
"""

from time import ticks_diff

from micropython import const

import faults
from mprls import ERR_BUSY
from regulator import Regulator
from supervisor import Supervisor

IDLE = const(0)
PREPARE = const(1)  # cup vented, measuring ambient pressure
RUNNING = const(2)
FAULT = const(3)
STATE_NAMES = ("idle", "prepare", "running", "fault")

_SETTLE_MS = const(300)  # let a just-vented cup reach ambient before sampling
_AMBIENT_SAMPLES = const(16)


class Controller:
    def __init__(self, board, sensor, pump, valve, led, button, watchdog=None):
        self.board = board
        self.period_ms = 1000 // board.loop_hz
        self.sensor = sensor
        self.led = led
        self.button = button
        self.watchdog = watchdog
        self.supervisor = Supervisor(board, pump, valve)
        self.regulator = Regulator(board, self.period_ms)
        self.pump = pump
        self.valve = valve
        self.program = None
        self.cup = None
        self.heartbeat_ms = 0
        self.ambient_pa = 0
        # Telemetry fields, updated every tick.
        self.t_ms = 0
        self.sensor_code = 0  # this tick's read: counts >= 0, or a negative mprls.ERR_*
        self.counts = 0  # last good counts
        self.vacuum_pa = 0
        self.target_pa = 0
        self.state = PREPARE  # ambient is measured at start-up too
        self._start_code = ERR_BUSY  # result of the last start(): 0 once a conversion runs
        self._phase_start = None
        self._ambient_sum = 0
        self._ambient_n = 0
        self._t0 = 0

    @property
    def fault(self):
        return self.supervisor.fault

    # --- commands, between ticks ---

    def start(self, program, cup, heartbeat_ms=0):
        """Begin a session: measure ambient with the cup vented, then run ``program``.

        Accepted when idle, or during the start-up ambient measurement (it then
        runs as soon as that measurement is done).
        """
        booting = self.state == PREPARE and self.program is None
        if self.state != IDLE and not booting:
            raise ValueError("cannot start while %s" % STATE_NAMES[self.state])
        self.program = program
        self.cup = cup
        self.heartbeat_ms = heartbeat_ms
        if not booting:
            self._enter(PREPARE)

    def stop(self):
        """End any session now; the cup is vented before this returns."""
        if self.state == FAULT:
            self.supervisor.vent()
            return
        self.supervisor.end_session()
        self.program = None
        self._enter(IDLE)

    def acknowledge(self):
        """Clear a latched fault (the pump stays off). Returns True when cleared."""
        if self.state != FAULT or not self.supervisor.acknowledge():
            return False
        self.program = None
        self._enter(IDLE)
        return True

    def resume(self, now, ambient_pa):
        """Continue from a known idle state and ambient (replaying a recording begun after boot)."""
        self.ambient_pa = ambient_pa
        self.t_ms = now
        self._phase_start = now
        self.supervisor.arm(now)
        self._start_code = 0
        self._enter(IDLE)

    def elapsed_ms(self, now):
        """Time into the running session's program."""
        return ticks_diff(now, self._t0)

    def latch(self, code):
        """Latch a fault found outside the tick (watchdog reset, crash)."""
        self.supervisor.trip(code)
        self.program = None
        self._enter(FAULT)

    # --- the tick ---

    def tick(self, now):
        sup = self.supervisor
        sensor = self.sensor
        # 1. read: collect the conversion started last tick, then start the next one.
        if self._phase_start is None:  # first tick: nothing converted yet
            self._phase_start = now
            sup.arm(now)
        code = sensor.collect() if self._start_code == 0 else self._start_code
        self._start_code = sensor.start()
        self.t_ms = now
        self.sensor_code = code
        sup.sensor_code = code
        if code >= 0:
            pressure = sensor.counts_to_pa(code)
            self.counts = code
            sup.counts = code
            sup.pressure_pa = pressure
            if self.ambient_pa:
                self.vacuum_pa = self.ambient_pa - pressure
        sup.vacuum_pa = self.vacuum_pa
        sup.button = self.button.pressed()
        # 2. supervise
        if sup.check(now) and self.state != FAULT:
            self.program = None
            self._enter(FAULT)
        # 3. set point and 4. regulate
        duty = 0
        hold = False
        target = 0
        if self.state == RUNNING:
            elapsed = self.elapsed_ms(now)
            target = self.program.target_pa(elapsed)
            if elapsed >= self.program.duration_ms:
                self.stop()
            else:
                duty = self.regulator.update(target, self.vacuum_pa, sup.duty_cap())
                hold = not self.regulator.bleed
        elif self.state == PREPARE and code >= 0:
            self._sample_ambient(now, pressure)
        self.target_pa = target
        sup.target_pa = target
        # 5. actuate: the supervisor disposes.
        sup.actuate(duty, hold)
        self.led.set(self.state == RUNNING or (self.state == FAULT and (now >> 8) & 1))
        # 6. feed the watchdog: only here, after the supervisor ran.
        if self.watchdog is not None:
            self.watchdog.feed()

    def _sample_ambient(self, now, pressure):
        if ticks_diff(now, self._phase_start) < _SETTLE_MS:
            return
        self._ambient_sum += pressure
        self._ambient_n += 1
        if self._ambient_n < _AMBIENT_SAMPLES:
            return
        ambient = self._ambient_sum // _AMBIENT_SAMPLES
        board = self.board
        if ambient < board.ambient_min_pa or ambient > board.ambient_max_pa:
            self.latch(faults.AMBIENT)
            return
        self.ambient_pa = ambient
        self.vacuum_pa = 0
        if self.program is None:
            self._enter(IDLE)
            return
        self.supervisor.begin_session(now, self.cup.hard_limit_pa, self.heartbeat_ms)
        self.regulator.reset()
        self._t0 = now
        self._enter(RUNNING)

    def _enter(self, state):
        self.state = state
        self._phase_start = self.t_ms
        self._ambient_sum = 0
        self._ambient_n = 0
