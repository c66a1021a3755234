"""The control tick: read, supervise, set point, regulate, actuate, feed the watchdog.

``Controller.tick(now_ms)`` is a pure function of its injected collaborators
(sensor, pump, valve, LED, button, watchdog, dead-man switch, boot memory) and
the time it is given. It uses integers only and allocates nothing in steady
state, so a replay of recorded sensor counts is bit-identical on CPython, the
unix port and the board. Session commands (``start``, ``stop``,
``acknowledge``) run between ticks.
"""

from time import ticks_diff

from micropython import const

from . import faults
from .ambient import Ambient
from .bootmemory import BootMemory
from .mprls import ERR_BUSY
from .programs import lift_ceiling_pa
from .regulator import Regulator
from .supervisor import Reading, Supervisor

IDLE = const(0)
PREPARE = const(1)  # cup vented, waiting for it to come to rest at ambient pressure
RUNNING = const(2)
FAULT = const(3)
STATE_NAMES = ("idle", "prepare", "running", "fault")

_SETTLE_MS = const(200)  # readings from the first moments after the valve opens say nothing about rest


class Controller:
    def __init__(self, board, sensor, pump, valve, led, button, watchdog=None, deadman=None, memory=None):
        self.board = board
        self.period_ms = board.period_ms
        self.sensor = sensor
        self.led = led
        self.button = button
        self.watchdog = watchdog
        self.deadman = deadman
        self.memory = memory if memory is not None else BootMemory()
        self.supervisor = Supervisor(board, pump, valve, deadman)
        self.regulator = Regulator(board, self.period_ms)
        self.ambient = Ambient(board, self.period_ms, self.memory.ambient_pa)
        self.pump = pump
        self.valve = valve
        self.reading = Reading()
        self.program = None
        self.cup = None
        self.heartbeat_ms = 0
        self.ambient_pa = 0  # the zero of the vacuum readings
        self._rise_per_tick = board.per_tick(board.soft_ramp_pa_s)  # >= 10 Pa: the registry's lowest rates
        # Telemetry fields, updated every tick.
        self.t_ms = 0
        self.target_pa = 0
        self.state = PREPARE  # ambient is measured at start-up too
        self._start_code = ERR_BUSY  # result of the last start(): 0 once a conversion runs
        self._phase_start = 0
        self._ticked = False
        self._t0 = 0

    @property
    def fault(self):
        return self.supervisor.fault

    @property
    def sensor_code(self):
        """This tick's sensor result: counts >= 0, or a negative mprls.ERR_*."""
        return self.reading.code

    @property
    def vacuum_pa(self):
        return self.reading.vacuum_pa

    @property
    def duty(self):
        """What the pump runs at (0..1000)."""
        return self.pump.duty

    @property
    def vented(self):
        return self.valve.vented

    # --- commands, between ticks ---

    def start(self, program, cup, heartbeat_ms=0):
        """Begin a session: wait for the vented cup to rest at ambient, then run ``program``.

        Accepted when idle, or during the start-up ambient measurement (it then
        runs as soon as that measurement is done).
        """
        booting = self.state == PREPARE and self.program is None
        if self.state != IDLE and not booting:
            if self.state == FAULT:
                raise ValueError("cannot start: fault %s is latched (ack it first)" % faults.NAMES[self.fault])
            raise ValueError("cannot start: a session is already %s" % (
                "starting" if self.state == PREPARE else "running"))
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
        self._leave_session(IDLE)

    def acknowledge(self):
        """Clear a latched fault (the pump stays off). Returns True when cleared."""
        if self.state != FAULT or not self.supervisor.acknowledge(self.reading.button):
            return False
        self._enter(IDLE)
        return True

    def latch(self, code):
        """Latch a fault found outside the tick (a reset, a crash)."""
        self.supervisor.trip(code)
        self._leave_session(FAULT)

    def latch_boot_faults(self, watchdog_reset):
        """At boot: a watchdog reset, or any other reset that cut a session short, stays latched."""
        if watchdog_reset:
            self.latch(faults.WATCHDOG_RESET)
        elif self.memory.in_session:
            self.latch(faults.UNEXPECTED_RESET)

    def resume(self, now, ambient_pa):
        """Before the first tick: continue from a known idle state and ambient (replaying a
        recording begun after boot). The first tick starts the clocks, as after a boot."""
        self.ambient_pa = ambient_pa
        self.ambient.trusted_pa = ambient_pa
        self._start_code = 0
        self._enter(IDLE)

    def heartbeat(self):
        """The host is alive (the session's heartbeat rule counts from the last tick's time)."""
        self.supervisor.heartbeat(self.t_ms)

    def elapsed_ms(self, now):
        """Time into the running session's program."""
        return ticks_diff(now, self._t0)

    # --- the tick ---

    def tick(self, now):
        sup = self.supervisor
        reading = self.reading
        if not self._ticked:  # first tick: nothing converted yet, and the phase starts now
            self._ticked = True
            self._phase_start = now
            sup.arm(now)
        self.t_ms = now
        # 1. read: collect the conversion started last tick, then start the next one.
        self._read(reading)
        # 2. supervise
        if sup.check(now, reading) and self.state != FAULT:
            self._leave_session(FAULT)
        # 3. set point and 4. regulate
        duty = 0
        hold = False
        target = 0
        if self.state == RUNNING:
            elapsed = self.elapsed_ms(now)
            if elapsed >= self.program.duration_ms:
                self.stop()
            else:
                target = self._slew(self.program.target_pa(elapsed))
                if reading.fresh:  # a stale tick leaves the pump at 0 and the integral as it was
                    duty = self.regulator.update(target, reading.vacuum_pa, sup.duty_cap(reading.vacuum_pa),
                                                 sup.pump_rise_pa())
                hold = not self.regulator.bleed
        elif reading.fresh:
            self._zero(now, reading)
        if self.state == PREPARE and ticks_diff(now, self._phase_start) > self.board.vent_timeout_ms:
            self.latch(faults.VENT_TIMEOUT)
        self.target_pa = target
        # 5. actuate: the supervisor disposes.
        sup.actuate(reading, target, duty, hold)
        self.led.set(self.state == RUNNING or (self.state == FAULT and (now >> 8) & 1))
        # 6. feed the dead-man switch and the watchdog: only here, after the supervisor ran.
        if self.deadman is not None:
            self.deadman.rearm()
        if self.watchdog is not None:
            self.watchdog.feed()

    def _read(self, reading):
        sensor = self.sensor
        code = sensor.collect() if self._start_code == 0 else self._start_code
        self._start_code = sensor.start()
        reading.code = code
        reading.fresh = code >= 0
        if code >= 0:
            reading.counts = code
            reading.pressure_pa = sensor.counts_to_pa(code)
            if self.ambient_pa:
                reading.vacuum_pa = self.ambient_pa - reading.pressure_pa
        reading.button = self.button.pressed()

    def _slew(self, goal):
        """Every rise of the target follows the board's soft ramp: vessels get used to the vacuum."""
        ceiling = self.target_pa + self._rise_per_tick
        return ceiling if goal > ceiling else goal

    def _zero(self, now, reading):
        """With the cup vented (no session), find ambient; in PREPARE, start once it is found."""
        if ticks_diff(now, self._phase_start) < _SETTLE_MS:
            return  # the valve is still opening (and, after a boot, the host still setting the rate)
        ambient = self.ambient.sample(reading.pressure_pa)
        if not ambient:
            if self.ambient.holding and self.state == IDLE:  # vented, at rest, yet below ambient
                self.latch(faults.NOT_VENTED)
            return
        board = self.board
        if ambient < board.ambient_min_pa or ambient > board.ambient_max_pa:
            if self.state == PREPARE:
                self.latch(faults.AMBIENT)
            return
        self.ambient_pa = ambient
        reading.vacuum_pa = self.ambient_pa - reading.pressure_pa
        if self.state != PREPARE:
            self.memory.save(ambient, False)
            return
        if self.program is None:
            self.memory.save(ambient, False)
            self._enter(IDLE)
            return
        self.memory.save(ambient, True)
        lift_limit = lift_ceiling_pa(board, self.cup, self.program.values["tissue"])
        self.supervisor.begin_session(now, self.cup.hard_limit_pa, self.heartbeat_ms, reading, lift_limit)
        self.regulator.reset()
        self._t0 = now
        self._enter(RUNNING)

    def _leave_session(self, state):
        self.program = None
        self.memory.save(self.ambient.trusted_pa, False)
        self._enter(state)

    def _enter(self, state):
        self.state = state
        self._phase_start = self.t_ms
        self.ambient.restart()
