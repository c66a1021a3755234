"""Whole simulated sessions with every control tick under micropython.heap_lock().

Runs on MicroPython only (the unix port, or the 32-bit WebAssembly port whose
small ints are the ESP32's 31 bits). stdin: a JSON list of cases
``{"name", "board", "spec"}`` (board file data and a cupctl.sim.runner spec);
optional ``full_scale_pa``, the simulated sensor's range when the board's is not
the plant's 25 psi part); stdout: one JSON line per case with what the session went through and the
first allocation, if any. Every ``Controller.tick`` is locked; the telemetry
report after it is locked too, except on ticks whose state or fault changed
(those send an event line, which formats text). The simulated sensor bus (the
plant's physics, in big ints) and the serial sink run unlocked: on the board
they are machine.I2C and the UART, C code that allocates nothing.
"""

import io
import json
import sys

import micropython

from cupctl.sim import plant, runner
from cupfw import boardcfg
from cupfw.controller import RUNNING, Controller
from cupfw.mprls import MPRLS
from cupfw.service import Service

_held = False  # the heap is locked by this harness


def _lock():
    global _held
    micropython.heap_lock()
    _held = True


def _unlock():
    global _held
    _held = False
    micropython.heap_unlock()


class LockedController(Controller):
    def tick(self, now):
        _lock()
        try:
            Controller.tick(self, now)
        finally:
            _unlock()


class LockedService(Service):
    seen = -1  # state * 256 + fault at the last report

    def after_tick(self):
        ctl = self.ctl
        key = ctl.state * 256 + ctl.fault
        if key != self.seen:
            self.seen = key
            Service.after_tick(self)
            return
        _lock()
        try:
            Service.after_tick(self)
        finally:
            _unlock()


# The simulated hardware stands for C code on the board (machine.I2C, the UART), so it runs unlocked.


class HostBus:
    def __init__(self, bus):
        self._bus = bus

    def writeto(self, address, buf, stop=True):
        if not _held:
            return self._bus.writeto(address, buf, stop)
        _unlock()
        try:
            return self._bus.writeto(address, buf, stop)
        finally:
            _lock()

    def readfrom_into(self, address, buf, stop=True):
        if not _held:
            return self._bus.readfrom_into(address, buf, stop)
        _unlock()
        try:
            return self._bus.readfrom_into(address, buf, stop)
        finally:
            _lock()


class HostBusMPRLS(MPRLS):
    def __init__(self, i2c, *args):
        MPRLS.__init__(self, HostBus(i2c), *args)


_Events = runner._Events


class HostOutput(_Events):
    def write(self, data):
        if not _held:
            return _Events.write(self, data)
        _unlock()
        try:
            return _Events.write(self, data)
        finally:
            _lock()


runner.Controller = LockedController
runner.Service = LockedService
runner.MPRLS = HostBusMPRLS
runner._Events = HostOutput


class Stats:
    """What the session went through, from the firmware's own outputs each tick."""

    def __init__(self):
        self.ticks = 0
        self.running = 0
        self.states = 0  # bit per state seen
        self.peak_target = 0
        self.ramp = 0  # running ticks on the way up (target rising, below its peak)
        self.band = 0  # running ticks inside the cap band (duty cap below the pump's maximum)
        self.max_error = 0  # largest |target - vacuum| while running
        self.max_vacuum = 0
        self.max_duty = 0
        self.faults = 0  # bit per fault code seen
        self._last_target = 0

    def add(self, ctl):
        self.ticks += 1
        self.states |= 1 << ctl.state
        self.faults |= 1 << ctl.fault
        self.max_vacuum = max(self.max_vacuum, ctl.vacuum_pa)
        self.max_duty = max(self.max_duty, ctl.pump.duty)
        if ctl.state == RUNNING:
            target = ctl.target_pa
            self.running += 1
            if 0 < target and self._last_target < target:
                self.ramp += 1
            self._last_target = target
            self.peak_target = max(self.peak_target, target)
            self.max_error = max(self.max_error, abs(target - ctl.vacuum_pa))
            if ctl.supervisor.duty_cap(ctl.vacuum_pa) < ctl.board.pump_max_duty:
                self.band += 1

    def result(self, name, error):
        return {"name": name, "ticks": self.ticks, "running": self.running, "states": self.states,
                "peak_target": self.peak_target, "ramp": self.ramp, "band": self.band,
                "max_error": self.max_error, "max_vacuum": self.max_vacuum, "max_duty": self.max_duty,
                "faults": self.faults, "error": error}


_FULL_SCALE_PA = plant.FULL_SCALE_PA


def run_case(case):
    board = boardcfg.load(case["board"])
    plant.FULL_SCALE_PA = case.get("full_scale_pa", _FULL_SCALE_PA)
    spec = case["spec"]
    stats = Stats()
    sim = runner.Simulation(spec, board)
    try:
        while sim.t <= spec["duration_ms"]:
            sim.step()
            sim.output.take()
            stats.add(sim.ctl)
    except MemoryError as e:  # an allocation under the lock: say where
        text = io.StringIO()
        sys.print_exception(e, text)
        return stats.result(case["name"], "t=%d ms: %s" % (sim.t, text.getvalue()))
    return stats.result(case["name"], None)


def main():
    for case in json.loads(sys.stdin.read()):
        print(json.dumps(run_case(case)))


main()
