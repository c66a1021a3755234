"""A simulated ``machine`` module for the virtual board (MicroPython unix port).

The firmware's ``hw.py`` uses it unchanged: I2C talks to the plant's MPRLS,
PWM and Pin drive the plant's pump and valve, the button reads a scenario
input, and WDT and ``reset()`` talk to the virtual board over its control
FIFO. The plant runs in real time, advanced lazily in 10 ms steps.

Environment (set by cupctl.sim.vboard): CUPCTL_VBOARD_SPEC (JSON file with
``plant`` and ``faults``), CUPCTL_VBOARD_CONTROL (FIFO path),
CUPCTL_RESET_CAUSE (an int below).
"""

import json
import os
import time

from cupctl.sim import chips
from cupctl.sim.hardware import SimPWM
from cupctl.sim.injection import Injector
from cupctl.sim.plant import Plant, SimMPRLSBus, valve_vents

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_STEP_MS = 10
_MAX_TIMER_RUNS = 1000
_RTC_SUFFIX = ".rtc"
_PLANT_SUFFIX = ".plant"  # the true vacuum's peak since boot, for tests (VirtualBoard.true_vacuum_peak_pa)
_PLANT_REPORT_STEPS = 10


def _load_spec():
    path = os.getenv("CUPCTL_VBOARD_SPEC")
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)


class _World:
    """The plant, pins and fault injections behind this module."""

    def __init__(self):
        spec = _load_spec()
        self.plant = Plant(**spec.get("plant", {}))
        self.injectors = [Injector(f) for f in spec.get("faults", [])]
        self.start = time.ticks_ms()
        self.sim_ms = 0
        self.levels = {}
        self.pwms = {}
        self.button_pressed = False
        self.stalled = False
        self.hw = self  # the injection target wants .hw.bus and .hw.press_button
        self.bus = SimMPRLSBus(self.plant, self.now)
        self._wiring = None
        self._chip = None
        self._control = None
        self.timers = []
        self.peak_vacuum_pa = 0
        for injector in self.injectors:  # what holds from power-up (a held button) holds at boot
            injector.apply(self, injector.active(0, False))

    def now(self):
        return time.ticks_diff(time.ticks_ms(), self.start)

    def press_button(self, pressed):
        self.button_pressed = pressed

    def wiring(self):
        """(pump pin, valve pin, valve active high, normally open, button pin, active low)."""
        if self._wiring is None:
            try:
                with open("board.json") as f:
                    b = json.load(f)
                self._wiring = (b["pump"]["pin"], b["valve"]["pin"], b["valve"]["active_high"],
                                b["valve"]["normally_open"], b["button"]["pin"], b["button"]["active_low"])
            except (OSError, ValueError, KeyError, TypeError):
                self._wiring = (-1, -1, True, True, -1, True)
        return self._wiring

    def advance(self):
        self.advance_plant()
        self.run_timers(1)
        while self.stalled:  # an injected loop stall: hang here until the watchdog resets us
            time.sleep_ms(_STEP_MS)
            self.run_timers(_MAX_TIMER_RUNS)
            self.advance_plant()

    def advance_plant(self):
        now = self.now()
        pump, valve, active_high, normally_open, _, _ = self.wiring()
        while self.sim_ms + _STEP_MS <= now:
            for injector in self.injectors:
                injector.apply(self, injector.active(self.sim_ms, not self.plant.valve_open))
            pwm = self.pwms.get(pump)
            self.plant.duty = pwm.duty if pwm is not None else 0
            unpowered = 0 if active_high else 1
            self.plant.valve_open = valve_vents(self.levels.get(valve, unpowered), active_high, normally_open)
            self.plant.step(_STEP_MS)
            self.sim_ms += _STEP_MS
            if self.plant.vacuum_pa > self.peak_vacuum_pa:
                self.peak_vacuum_pa = self.plant.vacuum_pa
            if self.sim_ms % (_STEP_MS * _PLANT_REPORT_STEPS) == 0:
                self._report_plant()

    def _report_plant(self):
        path = os.getenv("CUPCTL_VBOARD_CONTROL")
        if path:
            with open(path + _PLANT_SUFFIX, "w") as f:
                f.write(str(self.peak_vacuum_pa))

    def run_timers(self, at_most):
        """Timer callbacks due by now, as the ESP32 schedules them between bytecodes and in waits.

        Outside an injected stall at most one run per timer and call: a pause of this host
        process is not the firmware's, and must not trip the dead-man switch.
        """
        now = self.now()
        for timer in self.timers:
            timer.run_due(now, at_most)

    def chip(self):
        """The chip this board is (its board file's, the DevKitC's ESP32 without one)."""
        if self._chip is None:
            try:
                with open("board.json") as f:
                    self._chip = json.load(f).get("chip")
            except (OSError, ValueError, AttributeError):
                pass
            if self._chip not in chips.GPIOS:
                self._chip = "esp32"
        return self._chip

    def button_level(self):
        _, _, _, _, _, active_low = self.wiring()
        return (0 if self.button_pressed else 1) if active_low else (1 if self.button_pressed else 0)

    def reset(self, power):
        """An injected reset that is not the watchdog's: a panic (HARD_RESET, RTC memory kept) or, with
        ``power``, a brownout, which the ESP32 port reports as PWRON_RESET (RTC memory lost)."""
        self.control(b"P" if power else b"R")

    def control(self, message):
        """Tell the virtual board: b'A<ms>' arm the watchdog, b'F' feed, b'R' reset, b'P' power-on reset."""
        path = os.getenv("CUPCTL_VBOARD_CONTROL")
        if not path:
            return
        if self._control is None:
            self._control = open(path, "wb")
        self._control.write(message + b"\n")  # unbuffered; flush() would fsync, which a FIFO refuses


_world = _World()
if int(os.getenv("CUPCTL_RESET_CAUSE") or 1) == 1:  # power-on: RTC memory holds nothing
    try:
        os.remove((os.getenv("CUPCTL_VBOARD_CONTROL") or "vboard") + _RTC_SUFFIX)
    except OSError:
        pass


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        chip = _world.chip()
        if id not in chips.GPIOS[chip]:
            raise ValueError("invalid pin")
        if id in chips.INPUT_ONLY[chip] and (mode in (Pin.OUT, Pin.OPEN_DRAIN) or pull not in (-1, None)):
            raise ValueError("pin can only be input")
        self.id = id
        if mode == Pin.OUT:
            _world.pwms.pop(id, None)  # as on the ESP32: a GPIO re-init detaches the PWM signal
        if value is not None:
            _world.levels[id] = 1 if value else 0

    def value(self, level=None):
        if level is None:
            if self.id == _world.wiring()[4]:
                return _world.button_level()
            return _world.levels.get(self.id, 0)
        _world.levels[self.id] = 1 if level else 0

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class PWM(SimPWM):
    """LEDC PWM: the duty resolution the frequency leaves (11 bits at 20 kHz: 65535 is 2047/2048)."""

    def __init__(self, pin, freq=1000, duty_u16=0):
        SimPWM.__init__(self)
        self.pin = pin.id
        self._bits = chips.pwm_bits(_world.chip(), freq)
        self._freq = freq
        self.duty_u16(duty_u16)
        _world.pwms[pin.id] = self

    def duty_u16(self, value=None):
        if value is None:
            return self.u16
        self.u16 = value
        self._raw = min(value >> (16 - self._bits), (1 << self._bits) - 1)

    @property
    def duty(self):
        """What the pump really gets, 0..1000: the duty the timer's resolution can give."""
        return self._raw * 1000 // (1 << self._bits)

    def freq(self, value=None):
        if value is None:
            return self._freq
        self._bits = chips.pwm_bits(_world.chip(), value)
        self._freq = value
        self.duty_u16(self.u16)

    def deinit(self):
        _world.pwms.pop(self.pin, None)


class I2C:
    """Hardware I2C: a hung bus blocks each call for 100 ms per byte (plus one) before ETIMEDOUT."""

    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        if id not in chips.I2C_IDS[_world.chip()]:
            raise ValueError("I2C(%d) doesn't exist" % id)
        self.id = id

    def _hang(self, nbytes):
        time.sleep_ms(chips.I2C_MS_PER_BYTE * (1 + nbytes))

    def writeto(self, address, buf, stop=True):
        _world.advance()
        if _world.bus.hung:
            self._hang(len(buf))
        return _world.bus.writeto(address, buf)

    def readfrom_into(self, address, buf, stop=True):
        _world.advance()
        if _world.bus.hung:
            self._hang(len(buf))
        _world.bus.readfrom_into(address, buf)

    def scan(self):
        return [] if _world.bus.nack else [_world.bus.address]


class SoftI2C(I2C):
    """Bit-banged I2C: every wait is bounded by ``timeout`` (µs)."""

    def __init__(self, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = -1
        self._timeout_us = timeout

    def _hang(self, nbytes):
        time.sleep_us(self._timeout_us)


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=0):
        self.id = id
        self._callback = None
        self._period = 0
        self._due = 0

    def init(self, mode=PERIODIC, period=-1, callback=None):
        if mode != Timer.PERIODIC or period <= 0:
            raise ValueError("the virtual board has periodic timers only")
        self._callback = callback
        self._period = period
        self._due = _world.now() + period
        if self not in _world.timers:
            _world.timers.append(self)

    def run_due(self, now, at_most):
        runs = 0
        while self._due <= now and runs < at_most:
            self._due += self._period
            runs += 1
            self._callback(self)
        if runs == at_most:
            self._due = now + self._period

    def deinit(self):
        if self in _world.timers:
            _world.timers.remove(self)


class RTC:
    """RTC memory in a file beside the control FIFO: kept across resets, lost at power-on."""

    def _path(self):
        return (os.getenv("CUPCTL_VBOARD_CONTROL") or "vboard") + _RTC_SUFFIX

    def memory(self, data=None):
        if data is None:
            try:
                with open(self._path(), "rb") as f:
                    return f.read()
            except OSError:
                return b""
        with open(self._path(), "wb") as f:
            f.write(data)


class WDT:
    def __init__(self, id=0, timeout=5000):
        _world.control(b"A%d" % timeout)

    def feed(self):
        _world.control(b"F")


def reset():
    """Ask the virtual board to reset this process; like the real one, never returns."""
    _world.control(b"R")
    while True:
        time.sleep(1)


soft_reset = reset


def reset_cause():
    return int(os.getenv("CUPCTL_RESET_CAUSE") or PWRON_RESET)


def freq():
    return 240000000


def unique_id():
    return b"vboard"


def idle():
    time.sleep_ms(1)
