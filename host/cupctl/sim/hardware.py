"""Simulated pins, PWM and watchdog, wired to the plant (MicroPython-compatible)."""

from cupctl.sim.plant import SimMPRLSBus, valve_vents


class SimPin:
    def __init__(self, level=0):
        self.level = level

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = 1 if level else 0


class SimPWM:
    def __init__(self):
        self.u16 = 0

    def duty_u16(self, value=None):
        if value is None:
            return self.u16
        self.u16 = value

    @property
    def duty(self):
        """The 0..1000 duty the firmware asked for (Pump writes floor(d * 65.535))."""
        return (self.u16 * 1000 + 65534) // 65535


class SimRTC:
    """RTC memory: kept across resets of one simulated board, lost at power-on.

    Like the ESP32's (2048 bytes), a write copies into fixed storage and allocates nothing.
    """

    SIZE = 2048

    def __init__(self):
        self._data = bytearray(self.SIZE)
        self._len = 0

    def memory(self, data=None):
        if data is None:
            return bytes(self._data[: self._len])
        if len(data) > self.SIZE:
            raise ValueError("buffer too long")
        for i in range(len(data)):
            self._data[i] = data[i]
        self._len = len(data)


class SimTimer:
    """A periodic timer whose callback the simulation runs once per loop period."""

    def __init__(self):
        self.callback = None

    def fire(self):
        if self.callback is not None:
            self.callback(self)


class SimWDT:
    def __init__(self, clock):
        self._clock = clock
        self.last_feed = clock()

    def feed(self):
        self.last_feed = self._clock()


class SimHardware:
    """The board's pins and sensor bus around a plant; ``sync()`` moves outputs into it."""

    def __init__(self, board, plant, clock):
        self.board = board
        self.plant = plant
        self.clock = clock
        self.bus = SimMPRLSBus(plant, clock, board.sensor_address)
        self.pump_pwm = SimPWM()
        self.valve_pin = SimPin(0 if board.valve_active_high else 1)
        self.led_pin = SimPin()
        self.button_pin = SimPin()
        self.rtc = SimRTC()
        self.timer = SimTimer()
        self.press_button(False)

    def press_button(self, pressed):
        self.button_pin.level = (0 if pressed else 1) if self.board.button_active_low else (
            1 if pressed else 0)

    def sync(self):
        self.plant.duty = self.pump_pwm.duty
        self.plant.valve_open = valve_vents(self.valve_pin.level, self.board.valve_active_high,
                                            self.board.valve_normally_open)

    def watchdog(self):
        return SimWDT(self.clock)
