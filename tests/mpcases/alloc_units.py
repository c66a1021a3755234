"""The tick's arithmetic at the registry's extremes, each call under micropython.heap_lock().

Sessions on a simulated plant never reach the worst cases a board file allows
(a raw reading of 0 or 2**24-1 with the widest sensor, the largest regulator
error, the longest loop period); this calls the tick's pieces with them
directly. stdin: ``{"boards": [board data...], "counts": [...], "targets":
[...], "vacuums": [...]}``; stdout: ``{"calls": n, "allocations": [what...]}``.
"""

import json
import sys

import micropython

from cupctl.sim.hardware import SimPWM
from cupfw import boardcfg, programs
from cupfw.actuators import Pump
from cupfw.mprls import MPRLS
from cupfw.regulator import Regulator
from cupfw.supervisor import Reading, Supervisor

calls = 0
allocations = []


def locked(what, function, a, b=None, c=None, d=None):
    """function(a[, b[, c[, d]]]) under the heap lock; an allocation is recorded as ``what``."""
    global calls
    calls += 1
    micropython.heap_lock()
    try:
        if d is not None:
            function(a, b, c, d)
        elif c is not None:
            function(a, b, c)
        elif b is not None:
            function(a, b)
        else:
            function(a)
    except MemoryError:
        micropython.heap_unlock()
        allocations.append("%s(%r, %r, %r, %r)" % (what, a, b, c, d))
        return
    micropython.heap_unlock()


def sensor(board, counts):
    mprls = MPRLS(None, board.sensor_address, board.sensor_psi_min, board.sensor_psi_max)
    for value in counts:
        locked("counts_to_pa", mprls.counts_to_pa, value)


def regulator(board, targets, vacuums):
    # The pump's measured rise: unknown, the smallest (gains x4) and beyond the observer's largest (x1/4).
    for rise in (0, 1, 1 << 20):
        for cap in (0, 1, board.pump_max_duty):
            for target in targets:
                for vacuum in vacuums:
                    reg = Regulator(board, board.period_ms)
                    for _ in range(3):  # the integral winds up to its clamp and back
                        locked("Regulator.update", reg.update, target, vacuum, cap, rise)


def supervisor(board, vacuums):
    sup = Supervisor(board, Pump(SimPWM(), board.pump_max_duty), _Valve())
    reading = Reading()
    reading.fresh = True
    reading.code = reading.counts = 7000000
    reading.pressure_pa = 80000
    for cup in board.cups:
        sup.begin_session(0, cup.hard_limit_pa, 0, reading)
        for vacuum in vacuums + [cup.hard_limit_pa - board.cap_band_pa + 1, cup.hard_limit_pa - 1]:
            reading.vacuum_pa = vacuum
            locked("Supervisor.duty_cap", sup.duty_cap, vacuum)
            locked("Supervisor.actuate", _actuate_full, sup, reading)
            locked("Supervisor.check", sup.check, 10, reading)
            reading.counts += 1


def _actuate_full(sup, reading):
    sup.actuate(reading, reading.vacuum_pa, sup._board.pump_max_duty, True)


def setpoints(board):
    """Every program at its highest target, its slowest ramp and its longest phases, over its minute."""
    cup = board.cups[0]
    ceiling = programs.max_target_pa(board, cup, "normal")
    if ceiling < 8000:  # no program starts below 8 kPa (a tiny lift limit under a wide cup)
        return
    for line, peak in (("static target=%s", 60000), ("massage target=%s", 30000),
                       ("interval high=%s low=0 high_s=600 low_s=600", 60000), ("ramp target=%s rate=0.05", 60000)):
        words = (line % _kpa(min(ceiling, peak)) + " minutes=1").split()
        program = programs.build(words[0], dict(w.split("=") for w in words[1:]), board, cup)
        for elapsed in range(-1, program.duration_ms + 2, 250):
            locked(program.name + ".target_pa", program.target_pa, elapsed)


def _kpa(pa):
    return "%d.%03d" % (pa // 1000, pa % 1000)


def pump(board):
    p = Pump(SimPWM(), board.pump_max_duty)
    for duty in (0, board.pump_max_duty, board.pump_max_duty + 1, 10000):
        locked("Pump.set", p.set, duty)


class _Valve:
    def __init__(self):
        self.vented = True  # an instance attribute from the start: setting it later allocates nothing

    def vent(self):
        self.vented = True

    def hold(self):
        self.vented = False


def _call(function):
    function()


def main():
    job = json.loads(sys.stdin.read())
    for data in job["boards"]:
        board = boardcfg.load(data)
        sensor(board, job["counts"])
        regulator(board, job["targets"], job["vacuums"])
        supervisor(board, job["vacuums"])
        setpoints(board)
        pump(board)
    print(json.dumps({"calls": calls, "allocations": allocations}))


main()
