"""A simulated ``machine`` module for the virtual board (MicroPython unix port).

The firmware's ``hw.py`` uses it unchanged. What is on the chip is here: what ``Pin``, ``PWM``, ``I2C``,
``SoftI2C``, ``Timer``, ``WDT`` and ``RTC`` accept and refuse, how long they block. What is outside the chip,
the cup, pump, valve, sensor, button and fault injections (cupctl.sim.boardworld), lives in the virtual
board's host process, which outlives a reset of this one: pin levels, PWM duties and bus transfers go to it
over a pair of pipes. WDT and ``reset()`` talk to the virtual board over its control FIFO.

Environment (set by cupctl.sim.vboard): CUPCTL_VBOARD_HW (the pipes' descriptors, "request,reply"),
CUPCTL_VBOARD_CONTROL (FIFO path), CUPCTL_RESET_CAUSE (an int below), CUPCTL_VBOARD_CHIP (the chip the
board is). Without CUPCTL_VBOARD_HW (a probe run on its own) the outside world is kept in this process,
from CUPCTL_VBOARD_SPEC (JSON file with ``plant`` and ``faults``).
"""

import _thread
import json
import os
import time
from binascii import hexlify, unhexlify

import micropython

from cupctl.sim import chips
from cupctl.sim.boardworld import BoardWorld
from cupctl.sim.hardware import SimRTC

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_STEP_MS = 10
_SCHEDULER_DEPTH = 8  # ports/esp32/mpconfigport.h MICROPY_SCHEDULER_DEPTH (the unix port's own queue holds 4)
_SCALE = getattr(time, "scale", 1)  # an accelerated clock (cupctl.sim.scaled_time) runs this many times faster
_SCHEDSTAT = "/proc/self/schedstat"  # the main thread's run time and run-queue wait, in ns (Linux)
_RTC_SUFFIX = ".rtc"


def _block_ms(ms):
    """Wait as a blocking C call does: no Timer callback runs meanwhile (the unix port's time.sleep
    runs none; its sleep_ms does)."""
    time.sleep(ms / 1000)


def _load_spec():
    path = os.getenv("CUPCTL_VBOARD_SPEC")
    if not path:
        return {}
    with open(path) as f:
        return json.load(f)


def _flags(text):
    """(SCL held low, SDA held low, the loop hangs) from the host's three digits."""
    return text[0:1] == b"1", text[1:2] == b"1", text[2:3] == b"1"


class _Remote:
    """The virtual board's outside world, in its host process: one request line, one reply line."""

    def __init__(self, fds):
        request, reply = fds.split(",")
        self._out = open("/dev/fd/" + request, "wb")
        self._in = open("/dev/fd/" + reply, "rb")

    def _ask(self, line):
        self._out.write(line + b"\n")
        return self._in.readline().split()

    def drive(self, pin, level):
        self._out.write(b"P %d %d\n" % (pin, level))

    def output(self, pin, level):
        self._out.write(b"O %d %d\n" % (pin, level))

    def pwm(self, pin, permille):
        self._out.write(b"M %d %d\n" % (pin, permille))

    def level(self, pin):
        return int(self._ask(b"V %d" % pin)[0])

    def poll(self):
        return _flags(self._ask(b"T")[0])

    def i2c_write(self, address, buf):
        result, flags = self._ask(b"W %d %s" % (address, hexlify(bytes(buf)) or b"-"))
        return int(result), _flags(flags)

    def i2c_read(self, address, n):
        result, flags = self._ask(b"R %d %d" % (address, n))
        return (unhexlify(result[1:]) if result[:1] == b"=" else int(result)), _flags(flags)

    def i2c_scan(self):
        words = self._ask(b"S")
        return [int(w) for w in words[1:]], _flags(words[0])


class _Local:
    """The outside world kept in this process (no virtual board around it)."""

    def __init__(self):
        self.start = time.ticks_ms()
        self.world = BoardWorld(_load_spec(), self.now, lambda power: _world.control(b"P" if power else b"R"))

    def now(self):
        return time.ticks_diff(time.ticks_ms(), self.start)

    def drive(self, pin, level):
        self.world.drive(pin, level)

    def output(self, pin, level):
        self.world.output(pin, level)

    def pwm(self, pin, permille):
        self.world.pwm(pin, permille)

    def level(self, pin):
        return self.world.level(pin)

    def poll(self):
        return self.world.flags()

    def i2c_write(self, address, buf):
        return self.world.i2c_write(address, buf), self.world.flags()

    def i2c_read(self, address, n):
        return self.world.i2c_read(address, n), self.world.flags()

    def i2c_scan(self):
        return self.world.i2c_scan(), self.world.flags()


class _World:
    """The chip: which one it is, its running PWMs, and its lines to the virtual board."""

    def __init__(self):
        self._chip = None
        self._control = None
        self.pwms = {}  # GPIO: the PWM object running on it
        fds = os.getenv("CUPCTL_VBOARD_HW")
        self.link = _Remote(fds) if fds else _Local()

    def hang_while_stalled(self, flags):
        """An injected loop stall: the Python loop hangs here (sleep_ms runs Timer callbacks) until the
        stall ends or the watchdog resets the chip."""
        while flags[2]:
            time.sleep_ms(_STEP_MS)
            flags = self.link.poll()

    def chip(self):
        """The chip this board is: the virtual board's (CUPCTL_VBOARD_CHIP), else its board file's, else the
        DevKitC's ESP32. On the virtual board it need not be the board file's chip, as on a real board."""
        if self._chip is None:
            self._chip = os.getenv("CUPCTL_VBOARD_CHIP")
            if self._chip not in chips.GPIOS:
                self._chip = None
                try:
                    with open("board.json") as f:
                        self._chip = json.load(f).get("chip")
                except (OSError, ValueError, AttributeError):
                    pass
            if self._chip not in chips.GPIOS:
                self._chip = "esp32"
        return self._chip

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
        if mode in (Pin.OUT, Pin.OPEN_DRAIN):  # as on the ESP32: a GPIO re-init detaches a PWM signal
            _world.pwms.pop(id, None)
            _world.link.output(id, -1 if value is None else (1 if value else 0))
        elif value is not None:
            _world.link.drive(id, 1 if value else 0)

    def value(self, level=None):
        if level is None:
            return _world.link.level(self.id)
        _world.link.drive(self.id, 1 if level else 0)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class PWM:
    """LEDC PWM as ports/esp32/machine_pwm.c (v1.24.1) drives it: the duty resolution the frequency leaves
    (11 bits at 20 kHz: 65535 is 2047/2048), and what it refuses."""

    def __init__(self, pin, freq=-1, *, duty=-1, duty_u16=-1, duty_ns=-1):
        self.pin = pin.id
        self._active = False
        self._set_by = None  # machine_pwm.c duty_x: the setter last used, re-applied at a new frequency
        self._raw = 0
        self._bits = 1
        self._freq = 0
        self.init(freq, duty=duty, duty_u16=duty_u16, duty_ns=duty_ns)

    def init(self, freq=-1, *, duty=-1, duty_u16=-1, duty_ns=-1):
        """mp_machine_pwm_init_helper(): one duty at most; without a freq the pin's running one or 5 kHz;
        without a duty (and none set before) 50 %."""
        if (duty != -1) + (duty_u16 != -1) + (duty_ns != -1) > 1:
            raise ValueError("only one of parameters 'duty', 'duty_u16' or 'duty_ns' is allowed")
        if freq == -1:
            running = _world.pwms.get(self.pin)
            freq = running._freq if running is not None and running._active else chips.PWM_DEFAULT_FREQ
        bits = chips.pwm_bits(_world.chip(), freq)
        if self.pin in chips.INPUT_ONLY[_world.chip()]:  # configure_channel(): ledc_channel_config() fails
            raise ValueError("PWM not supported on Pin(%d)" % self.pin)
        self._active = True
        self._bits = bits
        self._freq = freq
        if duty_u16 != -1:
            self.duty_u16(duty_u16)
        elif duty_ns != -1:
            self.duty_ns(duty_ns)
        elif duty != -1:
            self.duty(duty)
        elif self._set_by is None:
            self.duty(512)  # 50 %
        else:
            self._reapply()
        _world.pwms[self.pin] = self
        self._deliver()

    def _deliver(self):
        """Tell the outside world the duty the pin now carries, if this PWM still drives it."""
        if _world.pwms.get(self.pin) is self:
            _world.link.pwm(self.pin, self.permille)

    def _check_active(self):
        if not self._active:  # pwm_is_active()
            raise RuntimeError("PWM inactive")

    def _set_u16(self, value):
        self._raw = min(value >> (16 - self._bits), (1 << self._bits) - 1)
        self._deliver()

    def _get_u16(self):
        """get_duty_u16(): the hardware duty, shifted back up: what was set, rounded down to the resolution."""
        return self._raw << (16 - self._bits)

    def _ns_max(self):
        return self._to_ns(65535)

    def _to_ns(self, u16):  # duty_to_ns()
        return (u16 * 1000000000 + self._freq * 65535 // 2) // (self._freq * 65535)

    def duty_u16(self, value=None):
        self._check_active()
        if value is None:
            return self._get_u16()
        if not 0 <= value <= 65535:  # set_duty_u16()
            raise ValueError("duty_u16 must be from 0 to 65535")
        self._set_u16(value)
        self._set_by = ("u16", value)

    def duty(self, value=None):
        """Duty in 10 bits (0..1023)."""
        self._check_active()
        if value is None:
            return self._get_u16() >> 6
        if not 0 <= value <= 1023:  # set_duty_u10()
            raise ValueError("duty must be from 0 to 1023")
        self._set_u16(value << 6)
        self._set_by = ("u10", value)

    def duty_ns(self, value=None):
        self._check_active()
        if value is None:
            return self._to_ns(self._get_u16())
        if not 0 <= value <= self._ns_max():  # set_duty_ns()
            raise ValueError("duty_ns must be from 0 to %d ns" % self._ns_max())
        u16 = (value * 65535 * self._freq + 500000000) // 1000000000  # ns_to_duty()
        self._set_u16(1 if value > 0 and u16 == 0 else min(u16, 65535))
        self._set_by = ("ns", value)

    def _reapply(self):
        kind, value = self._set_by
        {"u16": self.duty_u16, "u10": self.duty, "ns": self.duty_ns}[kind](value)

    @property
    def permille(self):
        """What the pump really gets, 0..1000: the duty the timer's resolution can give."""
        return self._raw * 1000 // (1 << self._bits) if self._active else 0

    def freq(self, value=None):
        self._check_active()
        if value is None:
            return self._freq
        self._bits = chips.pwm_bits(_world.chip(), value)
        self._freq = value
        self._reapply()  # set_freq(): the same duty at the new resolution

    def deinit(self):
        """pwm_deinit(): the channel stops (output low) and the object is inactive until init()."""
        self._active = False
        self._set_by = None
        if _world.pwms.get(self.pin) is self:
            del _world.pwms[self.pin]
            _world.link.pwm(self.pin, -1)


def _write(address, buf):
    """One write on the sensor bus: (SoftI2C's answer: bytes ACKed or -errno, the bus's flags)."""
    return _world.link.i2c_write(address, buf)


def _answer(result, flags):
    """After a transfer: hang here if the loop is stalled, then raise the transfer's error."""
    _world.hang_while_stalled(flags)
    if type(result) is int and result < 0:
        raise OSError(-result)
    return result


class I2C:
    """Hardware I2C (ports/esp32/machine_i2c.c ``machine_hw_i2c_transfer``): a hung bus blocks each call for
    100 ms per byte (plus one), ``i2c_master_cmd_begin``'s wait, before ETIMEDOUT; any NACK is ``ESP_FAIL``,
    OSError(ENODEV), a data byte's too. SDA held low is taken as a hang."""

    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        if id not in chips.I2C_IDS[_world.chip()]:
            raise ValueError("I2C(%d) doesn't exist" % id)
        self.id = id

    def _stuck(self, flags, nbytes):
        if flags[0] or flags[1]:
            _block_ms(chips.I2C_MS_PER_BYTE * (1 + nbytes))
            return True
        return False

    def writeto(self, address, buf, stop=True):
        acked, flags = _write(address, buf)
        if self._stuck(flags, len(buf)):
            acked = -chips.ETIMEDOUT
        elif 0 <= acked < len(buf):
            acked = -19  # ESP_FAIL: -MP_ENODEV
        return _answer(acked, flags)

    def readfrom_into(self, address, buf, stop=True):
        data, flags = _world.link.i2c_read(address, len(buf))
        if self._stuck(flags, len(buf)):
            data = -chips.ETIMEDOUT
        data = _answer(data, flags)
        for i in range(len(buf)):
            buf[i] = data[i]

    def scan(self):
        found, flags = _world.link.i2c_scan()
        if flags[0] or flags[1]:
            _block_ms(112 * chips.I2C_MS_PER_BYTE)  # each of the 112 addresses waits its 100 ms
            return []
        return found


class SoftI2C:
    """Bit-banged I2C (extmod/machine_i2c.c): ``writeto`` returns the number of data bytes ACKed, a NACK on a
    data byte is no exception; SCL held low (``i2c_hang``) times out after ``timeout`` µs of busy-waiting
    (``mp_hal_i2c_scl_release``, no Timer callback meanwhile); SDA held low reads 0x00 and ACKs everything."""

    def __init__(self, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = -1
        self._timeout_us = timeout

    def _stuck(self, flags):
        if flags[0]:
            time.sleep_us(self._timeout_us)  # the unix port's sleep_us runs no Timer callback

    def writeto(self, address, buf, stop=True):
        acked, flags = _write(address, buf)
        self._stuck(flags)
        return _answer(acked, flags)

    def readfrom_into(self, address, buf, stop=True):
        data, flags = _world.link.i2c_read(address, len(buf))
        self._stuck(flags)
        data = _answer(data, flags)
        for i in range(len(buf)):
            buf[i] = data[i]

    def scan(self):
        found, flags = _world.link.i2c_scan()
        if flags[0]:
            time.sleep_us(112 * self._timeout_us)
        return found


class _Scheduler:
    """The ESP32 port's soft-IRQ path for ``Timer`` callbacks, on the unix port's own scheduler.

    On the chip the timer ISR calls ``mp_sched_schedule(callback, timer)`` every period
    (ports/esp32/machine_timer.c ``machine_timer_isr``); the queue holds ``MICROPY_SCHEDULER_DEPTH``
    (8) callbacks and drops the rest (py/scheduler.c ``mp_sched_schedule``); one pending callback
    runs at each pending check (``mp_sched_run_pending``): between bytecodes (py/vm.c) and inside
    ``sleep_ms`` (ports/esp32/mphalport.c ``mp_hal_delay_ms``), never inside a blocking C call.
    Here a thread plays the hardware timer and keeps that queue of 8; one ``micropython.schedule``
    item at a time hands its head to the unix port's scheduler, which runs it in the same places
    (its ``sleep_ms`` too; ``time.sleep``, ``sleep_us`` and ``select.poll`` do not run it, as no
    blocking C call does). Unlike the chip (with a GIL), the unix port runs scheduled callbacks in
    the main thread only (py/scheduler.c ``mp_handle_pending``).
    """

    def __init__(self):
        self.lock = _thread.allocate_lock()
        self.queue = []  # the timers whose callback is pending, oldest first
        self.handed = False  # an item is in the unix port's queue
        self.dropped = 0  # callbacks the full queue refused, as mp_sched_schedule's `false`
        self.timers = []
        self.thread = False
        self._run_one = self.run_one  # one bound method, not one per period
        self._waited_ns = _main_thread_wait_ns()

    def post(self, timer):
        """The timer's ISR: queue its callback (the timer thread)."""
        with self.lock:
            if len(self.queue) >= _SCHEDULER_DEPTH:
                self.dropped += 1
                return
            self.queue.append(timer)
            if self.handed:
                return
            self.handed = True
        self._hand_over()

    def _hand_over(self):
        try:
            micropython.schedule(self._run_one, None)
        except RuntimeError:  # the unix port's queue is full (something else scheduled): retry next period
            with self.lock:
                self.handed = False

    def run_one(self, _arg):
        """A pending check in the main thread: run the oldest pending callback, one per check."""
        with self.lock:
            timer = self.queue.pop(0) if self.queue else None
            self.handed = bool(self.queue)
        if self.handed:
            self._hand_over()
        if timer is not None and timer._callback is not None:
            timer._callback(timer)

    def start(self, timer):
        with self.lock:
            for other in self.timers:
                if other is not timer and other._unit == timer._unit:  # the same hardware timer, re-initialised
                    self.timers.remove(other)
                    break
            if timer not in self.timers:
                self.timers.append(timer)
            if self.thread:
                return
            self.thread = True
        _thread.start_new_thread(self._tick, ())

    def stop(self, timer):
        with self.lock:
            if timer in self.timers:
                self.timers.remove(timer)

    def host_wait_ms(self):
        """How long (in the firmware's ms) the host kept the firmware's thread off the CPU since the
        last call: another process's load is not the firmware's time (nothing takes the chip's core)."""
        waited = _main_thread_wait_ns()
        real_ms = (waited - self._waited_ns) // 1000000
        self._waited_ns += real_ms * 1000000
        return real_ms * _SCALE

    def _tick(self):
        """The hardware timer: fire each timer at its period, in the firmware's clock."""
        read = time.ticks_ms()
        while True:
            now = time.ticks_ms()
            credit = 0
            if time.ticks_diff(now, read) >= 10 * _SCALE:  # every 10 real ms: cheap for an accelerated clock
                read = now
                credit = self.host_wait_ms()
            wait = 1000
            with self.lock:
                timers = list(self.timers)
            for timer in timers:
                timer._due = time.ticks_add(timer._due, credit)
                late = time.ticks_diff(now, timer._due)
                if late >= 0:
                    self.post(timer)
                    if not timer._periodic:
                        self.stop(timer)
                        continue
                    # A pause of this whole process (this thread overslept a period) is not the chip's:
                    # fire once and go on from now rather than catch up.
                    step = timer._period if late < timer._period else late + timer._period
                    timer._due = time.ticks_add(timer._due, step)
                wait = min(wait, time.ticks_diff(timer._due, now))
            time.sleep_ms(max(1, wait))


def _main_thread_wait_ns():
    """The main thread's time waiting for a CPU, in ns (field 2 of /proc/PID/schedstat); 0 if unknown."""
    try:
        with open(_SCHEDSTAT) as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0


_scheduler = _Scheduler()


class Timer:
    """A hardware timer: its callback is scheduled every period, as a soft IRQ (see _Scheduler)."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id, mode=PERIODIC, period=-1, callback=None):
        self.id = id
        self._unit = chips.timer_unit(_world.chip(), id)
        self._callback = None
        self._period = 0
        self._periodic = True
        self._due = 0
        if callback is not None or period != -1:
            self.init(mode=mode, period=period, callback=callback)

    def init(self, mode=PERIODIC, period=-1, callback=None):
        if period <= 0:
            raise ValueError("the virtual board needs a period in ms")
        _scheduler.stop(self)  # machine_timer_init_helper() disables the timer first
        self._callback = callback
        self._period = period
        self._periodic = bool(mode)
        self._due = time.ticks_add(time.ticks_ms(), period)
        _scheduler.start(self)

    def deinit(self):
        """Stops the timer; a callback already queued still runs, as on the chip."""
        _scheduler.stop(self)


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
        if len(data) > SimRTC.SIZE:  # ports/esp32/machine_rtc.c machine_rtc_memory(): MICROPY_HW_RTC_USER_MEM_MAX
            raise ValueError("buffer too long")
        with open(self._path(), "wb") as f:
            f.write(data)


class WDT:
    """The task watchdog, kept by the virtual board (ports/esp32/machine_wdt.c)."""

    def __init__(self, id=0, timeout=5000):
        if id != 0:  # mp_machine_wdt_make_new_instance()
            raise ValueError()
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
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
