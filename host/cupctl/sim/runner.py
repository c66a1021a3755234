"""Run the firmware core against the plant in virtual time (MicroPython-compatible).

``run(spec, board, emit)`` ticks the real Controller and Service with simulated
hardware and calls ``emit(row)`` once per tick with the trace columns. ``spec``
is a plain dict (see cupctl.sim.scenario): plant parameters in integer units,
the program, fault injections and timed command lines, all times in ms.
"""

from cupfw.actuators import Button, Led, Pump, Valve
from cupfw.bootmemory import BootMemory
from cupfw.controller import IDLE, Controller
from cupfw.deadman import Deadman
from cupfw.mprls import MPRLS
from cupfw.service import Service
from cupfw.version import VERSION

from cupctl.sim.hardware import SimHardware
from cupctl.sim.injection import Injector
from cupctl.sim.plant import Plant

COLUMNS = ("t_ms", "raw_counts", "vacuum_pa", "target_pa", "pump_duty", "valve_open", "state",
           "fault", "plant_vacuum_pa", "lift_um")


class _Events:
    """Keeps the event lines the firmware writes (telemetry is taken from the controller)."""

    def __init__(self):
        self.lines = []

    def write(self, data):
        if data[:1] == b"E":
            self.lines.append(bytes(data).decode())

    def take(self):
        lines = self.lines
        self.lines = []
        return lines


class Simulation:
    def __init__(self, spec, board):
        self.spec = spec
        self.board = board
        self.t = 0
        self.plant = Plant(**spec.get("plant", {}))
        self.hw = SimHardware(board, self.plant, self._now)
        self.stalled = False
        self.resets = 0
        self.output = _Events()
        self._injectors = [Injector(f) for f in spec.get("faults", [])]
        # MicroPython's sort is not stable: order by time, then by position in the file.
        commands = spec.get("commands", [])
        order = sorted(range(len(commands)), key=lambda i: (commands[i]["at_ms"], i))
        self._commands = [commands[i] for i in order]
        self._started = False
        self.boot(False)

    def _now(self):
        return self.t

    def boot(self, after_watchdog):
        """Power-up or a reset: fresh firmware objects on the same hardware and cup."""
        board = self.board
        hw = self.hw
        sensor = MPRLS(hw.bus, board.sensor_address, board.sensor_psi_min, board.sensor_psi_max)
        pump = Pump(hw.pump_pwm, board.pump_max_duty)
        valve = Valve(hw.valve_pin, board.valve_active_high, board.valve_normally_open)
        led = Led(hw.led_pin, board.led_active_high)
        button = Button(hw.button_pin, board.button_active_low)
        self.wdt = hw.watchdog()
        deadman = Deadman(pump, valve, board.deadman_ms, board.period_ms)
        hw.timer.callback = deadman.expire
        self.ctl = Controller(board, sensor, pump, valve, led, button, self.wdt, deadman, BootMemory(hw.rtc))
        self.service = Service(self.ctl, self.output, VERSION)
        self.service.announce_boot()
        self.ctl.latch_boot_faults(after_watchdog)
        if after_watchdog:
            self.resets += 1

    def reset(self, power):
        """A reset that is not the watchdog's (panic, brownout): RTC memory survives unless ``power``."""
        if power:
            self.hw.rtc.memory(b"")
        self.boot(False)

    def send(self, line):
        for byte in line.encode() + b"\n":
            self.service.feed(byte)

    def step(self):
        """One loop period: inject, tick (unless stalled), move the plant. Returns the row.

        The event lines written during the step wait in ``output.take()``.
        """
        t = self.t
        for injector in self._injectors:
            injector.apply(self, injector.active(t, not self.plant.valve_open))
        while self._commands and self._commands[0]["at_ms"] <= t:
            self.send(self._commands.pop(0)["line"])
        ctl = self.ctl
        if not self._started and ctl.state == IDLE and "program" in self.spec:
            self._started = True
            self.send(self.spec["program"])
        self.hw.timer.fire()  # the dead-man timer runs whether or not the loop does
        if self.stalled:
            if t - self.wdt.last_feed > self.board.watchdog_ms:
                self.boot(True)
                ctl = self.ctl
        else:
            ctl.tick(t)
            self.service.after_tick()
        self.hw.sync()
        row = (t, ctl.sensor_code, ctl.vacuum_pa, ctl.target_pa, ctl.pump.duty,
               1 if ctl.valve.vented else 0, ctl.state, ctl.fault, self.plant.vacuum_pa,
               self.plant.lift_um())
        self.plant.step(ctl.period_ms)
        self.t = t + ctl.period_ms
        return row


def run(spec, board, emit, on_events=None):
    """Simulate ``spec['duration_ms']`` of virtual time, emitting one row per tick.

    ``on_events(lines)`` gets the firmware's event lines of each step, before its row.
    """
    sim = Simulation(spec, board)
    while sim.t <= spec["duration_ms"]:
        row = sim.step()
        events = sim.output.take()
        if events and on_events is not None:
            on_events(events)
        emit(row)
    return sim
