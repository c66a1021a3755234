"""What is outside the chip of a virtual board: the cup, pump, valve, sensor, button and fault injections.

MicroPython-compatible. The virtual board (cupctl.sim.vboard) keeps one for its whole life, in its host
process, so that a reset of the firmware (a new unix-port process) leaves the cup's vacuum, the pins'
physical state and the fault-injection clock as they are; the simulated ``machine`` (cupctl.sim.machine)
talks to it over a pair of pipes. Without a virtual board (a probe run on its own) the simulated
``machine`` keeps one in-process.

Pins as the ESP32 leaves them (ports/esp32/main.c ``soft_reset_exit``): a soft reset stops every PWM
(``machine_pwm_deinit_all``, output low) and leaves the other GPIOs driven as they were
(``machine_pins_deinit`` only removes interrupt handlers); any other reset floats every pin until the
firmware drives it again, so a MOSFET gate falls to its pull-down: pump off, valve coil unpowered.
"""

import json

from cupctl.sim.injection import Injector
from cupctl.sim.plant import Plant, SimMPRLSBus, valve_vents

STEP_MS = 10
ETIMEDOUT = 116
_NO_WIRING = (-1, -1, True, True, -1, True)


class BoardWorld:
    def __init__(self, spec, clock, reset=None, board_file="board.json"):
        """``spec``: ``plant`` and ``faults`` (cupctl.sim.scenario); ``clock()``: ms since power-on, in the
        board's (possibly accelerated) time; ``reset(power)``: carry out an injected reset."""
        self.plant = Plant(**spec.get("plant", {}))
        self.injectors = [Injector(f) for f in spec.get("faults", [])]
        self.clock = clock
        self._reset = reset
        self._board_file = board_file
        self.sim_ms = 0
        self.levels = {}  # GPIOs driven as outputs: their level; a pin not here floats
        self.pwm_permille = {}  # GPIOs a running PWM drives: the duty it delivers, 0..1000
        self.button_pressed = False
        self.stalled = False
        self.hw = self  # the injection target wants .hw.bus and .hw.press_button
        self.bus = SimMPRLSBus(self.plant, self.clock)
        self.peak_vacuum_pa = 0
        self.wiring = _NO_WIRING
        self.load_wiring()
        for injector in self.injectors:  # what holds from power-up (a held button) holds at boot
            injector.apply(self, injector.active(0, False))

    def load_wiring(self):
        """(pump pin, valve pin, valve active high, normally open, button pin, active low), from the board
        file: the simulated board is wired as its board file says."""
        try:
            with open(self._board_file) as f:
                b = json.load(f)
            self.wiring = (b["pump"]["pin"], b["valve"]["pin"], b["valve"]["active_high"],
                           b["valve"]["normally_open"], b["button"]["pin"], b["button"]["active_low"])
        except (OSError, ValueError, KeyError, TypeError):
            self.wiring = _NO_WIRING
        self.bus.address = 0x18
        try:
            with open(self._board_file) as f:
                self.bus.address = json.load(f)["sensor"]["address"]
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def boot(self, cause):
        """The chip resets (``cause``: power, hard, wdt or soft); the cup and the faults go on."""
        self.advance()
        self.pwm_permille = {}
        if cause != "soft":
            self.levels = {}
        self.peak_vacuum_pa = 0
        self.load_wiring()

    def press_button(self, pressed):
        self.button_pressed = pressed

    def reset(self, power):
        """An injected reset that is not the watchdog's: a panic (HARD_RESET, RTC memory kept) or, with
        ``power``, a brownout, which the ESP32 port reports as PWRON_RESET (RTC memory lost)."""
        if self._reset is not None:
            self._reset(power)

    def advance(self):
        """Step the plant and the fault injections up to now, 10 ms at a time."""
        now = self.clock()
        pump, valve, active_high, normally_open, _, _ = self.wiring
        unpowered = 0 if active_high else 1  # a floating pin: the driver's pull-down leaves the coil off
        while self.sim_ms + STEP_MS <= now:
            for injector in self.injectors:
                injector.apply(self, injector.active(self.sim_ms, not self.plant.valve_open))
            self.plant.duty = self.pwm_permille.get(pump, 1000 if self.levels.get(pump) == 1 else 0)
            self.plant.valve_open = valve_vents(self.levels.get(valve, unpowered), active_high, normally_open)
            self.plant.step(STEP_MS)
            self.sim_ms += STEP_MS
            if self.plant.vacuum_pa > self.peak_vacuum_pa:
                self.peak_vacuum_pa = self.plant.vacuum_pa

    # --- what the chip's pins and bus do (the simulated machine's calls) ---

    def output(self, pin, level):
        """``Pin(pin, Pin.OUT)``: the GPIO matrix routes the plain output, so a PWM on the pin no longer
        reaches it; ``level`` -1 keeps the output register's level."""
        self.advance()
        self.pwm_permille.pop(pin, None)
        if level >= 0:
            self.levels[pin] = level
        elif pin not in self.levels:
            self.levels[pin] = 0

    def drive(self, pin, level):
        """``Pin(pin).value(level)``: the output register (a PWM routed to the pin still wins)."""
        self.advance()
        self.levels[pin] = 1 if level else 0

    def pwm(self, pin, permille):
        """A PWM drives ``pin`` at ``permille`` of full duty; -1: the PWM stopped (output low)."""
        self.advance()
        if permille < 0:
            self.pwm_permille.pop(pin, None)
            self.levels[pin] = 0
        else:
            self.pwm_permille[pin] = permille

    def level(self, pin):
        """What ``Pin(pin).value()`` reads."""
        self.advance()
        _, _, _, _, button, active_low = self.wiring
        if pin == button:
            pressed = self.button_pressed
            return (0 if pressed else 1) if active_low else (1 if pressed else 0)
        return self.levels.get(pin, 0)

    def flags(self):
        """(SCL held low, SDA held low, the firmware's loop hangs) now."""
        self.advance()
        return self.bus.hung, self.bus.sda_low, self.stalled

    def i2c_write(self, address, buf):
        """As SoftI2C.writeto: the number of bytes ACKed, or -errno."""
        self.advance()
        try:
            return self.bus.writeto(address, buf)
        except OSError as e:
            return -e.args[0]

    def i2c_read(self, address, n):
        """As SoftI2C.readfrom_into: ``n`` bytes, or -errno."""
        self.advance()
        buf = bytearray(n)
        try:
            self.bus.readfrom_into(address, buf)
        except OSError as e:
            return -e.args[0]
        return bytes(buf)

    def i2c_scan(self):
        self.advance()
        return self.bus.scan()
