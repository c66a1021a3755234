"""The only module that touches ``machine``: builds the real pins, bus and watchdog.

On the virtual board a simulated ``machine`` module stands in, unchanged code.
"""

import json
import os
import sys

import machine

from . import boardcfg
from .actuators import Button, Led, Pump, Valve, valve_level
from .bootmemory import BootMemory
from .deadman import Deadman
from .files import BOARD_FILE, MAINTENANCE_FLAG
from .mprls import MPRLS

# Bit-banged I2C: its waits are bounded by ``timeout`` (µs). The hardware driver of
# MicroPython v1.22-v1.24 blocks up to 100 ms per byte on a hung bus, and the
# dead-man timer cannot run while it does.
_I2C_TIMEOUT_US = 1000
_DEADMAN_TIMER_ID = 0  # every ESP32 variant has timer 0


def chip():
    """The running chip as board files name it, or None if unknown (not an ESP32: it runs as the board
    file's chip). CPython (the tests) has no ``_machine``."""
    return boardcfg.chip_of(getattr(sys.implementation, "_machine", ""))


def read_board_file():
    with open(BOARD_FILE) as f:
        return json.load(f)


def make_safe():
    """Pump off, cup vented, from the raw board file; never raises.

    Runs first in boot.py and after any crash, before validation, so even a
    board file with other mistakes gets its pump pin driven low; but not one
    written for another chip, whose pins may be this chip's flash pins.
    """
    try:
        data = read_board_file()
        running = chip()
        if running is not None and data.get("chip", running) != running:
            return  # the gate pull-down and the normally-open valve keep it safe
        machine.Pin(data["pump"]["pin"], machine.Pin.OUT, value=0)
        valve = data["valve"]
        vent = valve_level(valve["active_high"], valve["normally_open"], True)
        machine.Pin(valve["pin"], machine.Pin.OUT, value=vent)
    except Exception:  # no usable file: the gate pull-down and the normally-open valve keep it safe
        pass


def build(board):
    """The sensor, pump, valve, LED and button for a validated board."""
    Pin = machine.Pin
    i2c = machine.SoftI2C(scl=Pin(board.i2c_scl), sda=Pin(board.i2c_sda), freq=board.i2c_freq_hz,
                          timeout=_I2C_TIMEOUT_US)
    sensor = MPRLS(i2c, board.sensor_address, board.sensor_psi_min, board.sensor_psi_max)
    pwm = machine.PWM(Pin(board.pump_pin), freq=board.pump_freq_hz, duty_u16=0)
    pump = Pump(pwm, board.pump_max_duty)
    valve = Valve(Pin(board.valve_pin, Pin.OUT), board.valve_active_high, board.valve_normally_open)
    led = Led(Pin(board.led_pin, Pin.OUT), board.led_active_high)
    pull = Pin.PULL_UP if board.button_active_low else Pin.PULL_DOWN
    button = Button(Pin(board.button_pin, Pin.IN, pull), board.button_active_low)
    return sensor, pump, valve, led, button


def watchdog(timeout_ms):
    """Arm the hardware watchdog. It cannot be stopped again until reset."""
    return machine.WDT(timeout=timeout_ms)


def deadman(board, pump, valve):
    """The pump's dead-man switch, expired by a timer every loop period (see deadman.py)."""
    period = board.period_ms
    switch = Deadman(pump, valve, board.deadman_ms, period)
    machine.Timer(_DEADMAN_TIMER_ID).init(mode=machine.Timer.PERIODIC, period=period, callback=switch.expire)
    return switch


def boot_memory():
    """The record that outlives watchdog, panic and software resets (RTC memory)."""
    return BootMemory(machine.RTC())


def reset_was_watchdog():
    return machine.reset_cause() == machine.WDT_RESET


def maintenance_requested(button):
    """True once after ``request_maintenance()``, or while the button is held at boot."""
    try:
        os.remove(MAINTENANCE_FLAG)
        return True
    except OSError:
        return button.pressed()


def request_maintenance():
    """Reboot into maintenance mode: no control loop, no watchdog, a free REPL."""
    with open(MAINTENANCE_FLAG, "w") as f:
        f.write("1")
    machine.reset()
