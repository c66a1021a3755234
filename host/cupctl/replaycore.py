"""Feed recorded sensor results through the firmware core (MicroPython-compatible).

Used by ``cupctl replay`` on CPython and, through a small script, on the unix
port. Inputs per tick: t_ms, the recorded sensor result (counts or error
code), the recorded vacuum, state and fault, and the ``cmd`` event lines that
arrived before it. Causes the trace cannot carry as inputs are put back where
the recording shows their fault: the button is pressed and the dead-man switch
trips for that tick (so the rule fires inside it, as on the device), and a
reset's fault is latched before the first tick after the boot.
"""

from cupctl.sim.hardware import SimPin, SimPWM, SimRTC
from cupfw import faults
from cupfw.actuators import Button, Led, Pump, Valve
from cupfw.bootmemory import BootMemory
from cupfw.controller import PREPARE, Controller
from cupfw.mprls import MPRLS
from cupfw.service import Service
from cupfw.version import VERSION

OUTPUTS = ("vacuum_pa", "target_pa", "pump_duty", "valve_open", "state", "fault")
_AT_BOOT = (faults.WATCHDOG_RESET, faults.UNEXPECTED_RESET)


class _ReplaySensor(MPRLS):
    def __init__(self, board):
        MPRLS.__init__(self, None, board.sensor_address, board.sensor_psi_min, board.sensor_psi_max)
        self.code = 0

    def start(self):
        return 0

    def collect(self):
        return self.code


class _Deadman:
    """Trips where the recording shows the device's did (its timer ran between ticks)."""

    def __init__(self):
        self.tripped = False

    def rearm(self):
        pass

    def clear(self):
        self.tripped = False


class _Null:
    def write(self, data):
        pass


BOOT = "boot"  # pseudo-command: the device restarted (a boot event in the trace)


def _device(board, sensor, rtc, button_pin):
    memory = BootMemory(rtc)  # outlives the device's resets, as RTC memory does
    ctl = Controller(board, sensor, Pump(SimPWM(), board.pump_max_duty),
                     Valve(SimPin(), board.valve_active_high, board.valve_normally_open),
                     Led(SimPin(), board.led_active_high), Button(button_pin, True), deadman=_Deadman(),
                     memory=memory)
    return ctl, Service(ctl, _Null(), VERSION)


def replay(board, ticks, emit):
    """``ticks``: iterable of (t_ms, raw, vacuum_pa, state, fault, [commands]); emit(outputs).

    Commands are the recorded ``cmd`` lines, or BOOT where the device restarted.
    """
    sensor = _ReplaySensor(board)
    rtc = SimRTC()
    button_pin = SimPin(1)  # active low: released
    ctl, service = _device(board, sensor, rtc, button_pin)
    first = True
    for t, raw, vacuum, state, fault, commands in ticks:
        if first and state != PREPARE and BOOT not in commands:  # the recording began after boot
            ctl.resume(t, sensor.counts_to_pa(raw) + vacuum)
        first = False
        for line in commands:
            if line == BOOT:
                ctl, service = _device(board, sensor, rtc, button_pin)
                continue
            for byte in line.encode() + b"\n":
                service.feed(byte)
        if fault in _AT_BOOT and ctl.fault != fault:
            ctl.latch(fault)
        button_pin.level = 0 if fault == faults.EMERGENCY and ctl.fault != fault else 1
        if fault == faults.LOOP_OVERRUN and ctl.fault != fault:
            ctl.deadman.tripped = True
        sensor.code = raw
        ctl.tick(t)
        emit((ctl.vacuum_pa, ctl.target_pa, ctl.pump.duty, 1 if ctl.valve.vented else 0, ctl.state,
              ctl.fault))
