"""Steady-state ticks under micropython.heap_lock(): any allocation raises MemoryError.

Also times the tick (sensor read through a fake I2C, supervise, regulate,
actuate) for bench/. Usage: micropython alloc_tick.py BOARD.json [TICKS] [tick|tick+telemetry]
"""

import json
import sys
import time

import micropython

from cupctl.sim.hardware import SimPin, SimPWM
from cupfw import boardcfg, programs
from cupfw.actuators import Button, Led, Pump, Valve
from cupfw.bootmemory import BootMemory
from cupfw.controller import IDLE, RUNNING, Controller
from cupfw.deadman import Deadman
from cupfw.mprls import MPRLS
from cupfw.service import Service


class FakeI2C:
    """Returns a slowly varying pressure near 71 kPa absolute; allocation-free."""

    def __init__(self):
        self.counts = 7300000
        self.step = 0

    def writeto(self, address, buf, stop=True):
        self.step = (self.step + 1) & 63
        return 3

    def readfrom_into(self, address, buf, stop=True):
        counts = self.counts + self.step * 40
        buf[0] = 0x40
        buf[1] = (counts >> 16) & 255
        buf[2] = (counts >> 8) & 255
        buf[3] = counts & 255


class NullOut:
    def write(self, data):
        return len(data)


def build(board):
    i2c = FakeI2C()
    pump = Pump(SimPWM(), 1000)
    valve = Valve(SimPin(), True, True)
    deadman = Deadman(pump, valve, board.deadman_ms, board.period_ms)
    ctl = Controller(board, MPRLS(i2c), pump, valve, Led(SimPin(), True), Button(SimPin(1), True),
                     deadman=deadman, memory=BootMemory())
    return ctl, Service(ctl, NullOut(), "alloc"), i2c


def locked_ticks(ctl, service, t, ticks, telemetry):
    """``ticks`` ticks from ``t`` under heap_lock (the dead-man timer's callback as often); the next t."""
    micropython.heap_lock()
    try:
        for _ in range(ticks):
            ctl.deadman.expire()
            ctl.tick(t)
            if telemetry:
                service.after_tick()
            t += 10
    finally:
        micropython.heap_unlock()
    return t


def main(board_path, ticks, telemetry=True):
    with open(board_path) as f:
        board = boardcfg.load(json.load(f))
    ctl, service, i2c = build(board)
    t = 0
    while ctl.state != 0:  # boot: ambient at ~101 kPa
        i2c.counts = 9560000
        ctl.tick(t)
        t += 10
    ctl.start(programs.build("static", {"target": "30"}, board, board.cups[0]), board.cups[0])
    for _ in range(1000):  # ambient, soft ramp and the first events: allocation allowed
        if ctl.state == RUNNING:  # the cup follows the ramp (a jump would be a pump running on its own)
            i2c.counts = 9560000 - ctl.target_pa * 7787 // 100
        ctl.tick(t)
        service.after_tick()
        t += 10
    assert ctl.state == RUNNING and ctl.target_pa == 30000, (ctl.state, ctl.fault)
    start = time.ticks_us()
    t = locked_ticks(ctl, service, t, ticks, telemetry)
    elapsed = time.ticks_diff(time.ticks_us(), start)
    running = (ctl.state, ctl.fault, ctl.pump.duty)
    ctl.stop()
    i2c.counts = 9560000  # vented: idle ticks track the ambient and keep it in boot memory
    for _ in range(100):
        ctl.tick(t)
        service.after_tick()
        t += 10
    locked_ticks(ctl, service, t, ticks // 4, telemetry)
    assert ctl.state == IDLE and ctl.memory.ambient_pa, (ctl.state, ctl.memory.ambient_pa)
    gc_free = __import__("gc").mem_free()
    print(json.dumps({"ticks": ticks, "state": running[0], "fault": running[1], "duty": running[2],
                      "us_per_tick": elapsed / ticks, "mem_free": gc_free}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10000,
         len(sys.argv) < 4 or sys.argv[3] != "tick")
