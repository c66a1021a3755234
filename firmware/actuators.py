"""Pump, release valve, status LED and emergency button over injected pins.

Nothing here imports ``machine``: ``hw.py`` builds the pins, tests pass fakes.
"""


class Pump:
    """PWM pump, duty 0..1000, never above the board's ``max_duty``."""

    def __init__(self, pwm, max_duty):
        self._pwm = pwm
        self._max_duty = max_duty
        self.duty = 0
        self.set(0)

    def set(self, duty):
        if duty > self._max_duty:
            duty = self._max_duty
        if duty < 0:
            duty = 0
        self.duty = duty
        self._pwm.duty_u16(duty * 65535 // 1000)


def valve_level(active_high, normally_open, vent):
    """The pin level that vents the cup (``vent``) or holds it: a normally-open valve is energised
    to hold, a normally-closed one to vent."""
    energised = vent != normally_open
    return (1 if active_high else 0) if energised else (0 if active_high else 1)


class Valve:
    """Release valve. ``vent()`` opens the cup to air; ``hold()`` seals it.

    A normally-open valve is energised only while it holds, so an unpowered
    valve is a vented cup.
    """

    def __init__(self, pin, active_high, normally_open):
        self._pin = pin
        self._vent_level = valve_level(active_high, normally_open, True)
        self.vented = True
        self.vent()

    def vent(self):
        self.vented = True
        self._pin.value(self._vent_level)

    def hold(self):
        self.vented = False
        self._pin.value(1 - self._vent_level)


class Led:
    def __init__(self, pin, active_high):
        self._pin = pin
        self._on = 1 if active_high else 0

    def set(self, lit):
        self._pin.value(self._on if lit else 1 - self._on)


class Button:
    def __init__(self, pin, active_low):
        self._pin = pin
        self._pressed_level = 0 if active_low else 1

    def pressed(self):
        return self._pin.value() == self._pressed_level
