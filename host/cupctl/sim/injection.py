"""Timed fault injections into the plant, the sensor bus, the button or the loop.

MicroPython-compatible; used by the virtual-time runner and the virtual board.
A target has ``plant``, ``hw`` (with ``bus`` and ``press_button``) and ``stalled``.
"""


class Injector:
    """Applies one fault injection to the plant, bus, button or loop; reverts it after."""

    def __init__(self, fault):
        self.kind = fault["kind"]
        self.at_ms = fault["at_ms"]
        self.duration_ms = fault.get("duration_ms", 0)
        self.every_ms = fault.get("every_ms", 0)
        self.value = fault.get("value", 0)
        self._on = False
        self._origin = None if fault.get("after_start") else 0  # after_start: from the session's start

    def active(self, t, holding):
        """At ``t`` ms since boot; ``holding``: the valve holds vacuum, so a session runs (the first
        such moment is the origin of an ``after_start`` fault)."""
        if self._origin is None:
            if not holding:
                return False
            self._origin = t
        t -= self._origin
        if t < self.at_ms:
            return False
        if not self.duration_ms:
            return True
        since = t - self.at_ms
        if self.every_ms:
            since %= self.every_ms
        return since < self.duration_ms

    def apply(self, sim, on):
        """Act on a change only: a fault that is not active leaves alone what another of its kind set."""
        if on == self._on:
            return
        self._on = on
        kind = self.kind
        bus = sim.hw.bus
        plant = sim.plant
        if kind == "sensor_busy":
            bus.busy_forever = on
        elif kind == "i2c_nack":
            bus.nack = on
        elif kind == "i2c_hang":
            bus.hung = on
        elif kind == "i2c_sda_low":
            bus.sda_low = on
        elif kind == "i2c_data_nack":
            bus.data_nack = on
        elif kind == "sensor_frozen":
            bus.frozen = on
        elif kind == "status_power":
            bus.powered = not on
        elif kind == "status_integrity":
            bus.status_bits = 0x04 if on else 0
        elif kind == "status_saturation":
            bus.status_bits = 0x01 if on else 0
        elif kind == "weak_pump":
            plant.pump_percent = min(self.value or 40, 100) if on else 100  # weaker, never stronger
        elif kind == "pump_stuck_on":
            plant.stuck_on = on
        elif kind == "sensor_stuck_counts":
            bus.forced_counts = self.value if on else None
        elif kind == "tube_off":  # the sensor's port sees the room; the sensor stays live and noisy
            bus.port_mpa = plant.ambient_mpa if on else None
        elif kind == "tube_kink":  # the port keeps the pressure of the moment it kinked, plus value Pa
            bus.port_mpa = plant.pressure_mpa + self.value * 1000 if on else None
        elif kind == "pump_stall":
            plant.pump_percent = 0 if on else 100
        elif kind == "leak_burst":
            plant.extra_leak_ul_s_kpa = (self.value or 1500) if on else 0
        elif kind == "cup_off":
            plant.extra_leak_ul_s_kpa = 1000000 if on else 0
        elif kind == "button":
            sim.hw.press_button(on)
        elif kind == "loop_stall":
            sim.stalled = on
        elif kind == "reset" and on:
            sim.reset(self.value == 1)


FAULT_KINDS = ("sensor_busy", "i2c_nack", "i2c_hang", "sensor_frozen", "status_power", "status_integrity",
               "status_saturation", "sensor_stuck_counts", "tube_off", "tube_kink", "weak_pump", "pump_stall",
               "pump_stuck_on", "leak_burst", "cup_off", "button", "loop_stall", "reset", "i2c_sda_low",
               "i2c_data_nack")
