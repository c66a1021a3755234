"""Physical model of the cup, pump, valve, skin and MPRLS sensor, in exact integers.

Runs on CPython and on the MicroPython unix port (big ints on both), so a
scenario gives bit-identical results on either runtime. Units: pressure in mPa,
volume in µl, time in ms. The gas is isothermal: d(PV)/dt = inflow - outflow,
integrated with implicit Euler (unconditionally stable, even for a fast vent).

Parameters (``Plant(**params)``), all integers:
  ambient_pa, cup_ul, cup_diameter_mm, pump_ul_s (free flow at full duty),
  pump_max_vacuum_pa, leak_ul_s_kpa (cup rim leak per kPa of vacuum),
  valve_ul_s_kpa (open valve), skin_um_kpa (tissue lift per kPa, scaled by
  cup diameter / 40 mm), max_lift_um (also bounded by the cup's depth), noise_pa
  (peak sensor noise; a real MPRLS is never silent, and with 0 a steady reading
  trips the frozen-sensor rule), seed.
"""

DEFAULTS = {
    "ambient_pa": 101325,
    "cup_ul": 50000,
    "cup_diameter_mm": 40,
    "pump_ul_s": 20000,
    "pump_max_vacuum_pa": 75000,
    "leak_ul_s_kpa": 20,
    "valve_ul_s_kpa": 2000,
    "skin_um_kpa": 250,
    "max_lift_um": 15000,
    "noise_pa": 15,
    "seed": 1,
}
COUNTS_MIN = 0x19999A
COUNTS_SPAN = 0xE66666 - 0x19999A
FULL_SCALE_PA = 172369  # 25 psi
_REF_DIAMETER_MM = 40


def valve_vents(level, active_high, normally_open):
    """The plant's side of the valve wiring, apart from the firmware's (actuators.valve_level), so the
    simulation checks it: the pin ``level`` energises the coil when it is the active level, and a
    normally-open valve vents unless energised."""
    energised = level == (1 if active_high else 0)
    return energised != normally_open


class Plant:
    def __init__(self, **params):
        for key in params:
            if key not in DEFAULTS:
                raise ValueError("plant: unknown parameter %r" % key)
        p = dict(DEFAULTS)
        p.update(params)
        for key, value in p.items():
            if type(value) is not int or value < 0:
                raise ValueError("plant %s: expected a non-negative integer, got %r" % (key, value))
        if p["cup_ul"] <= 0 or p["pump_max_vacuum_pa"] <= 0 or p["cup_diameter_mm"] <= 0:
            raise ValueError("plant: cup_ul, cup_diameter_mm and pump_max_vacuum_pa must be positive")
        self.p = p
        self.ambient_mpa = p["ambient_pa"] * 1000
        self.pressure_mpa = self.ambient_mpa
        self._area_mm2 = 355 * p["cup_diameter_mm"] * p["cup_diameter_mm"] // 452  # pi/4 ~ 355/452
        self._skin_um_kpa = p["skin_um_kpa"] * p["cup_diameter_mm"] // _REF_DIAMETER_MM
        # Tissue cannot rise past the cup's depth: keep at least a fifth of the cup as air.
        depth_um = p["cup_ul"] * 1000 // self._area_mm2
        self._max_lift_um = min(p["max_lift_um"], depth_um * 4 // 5)
        self._rng = p["seed"] or 1
        # Inputs, set by the simulated hardware or fault injections.
        self.duty = 0
        self.valve_open = True
        self.pump_percent = 100  # weak pump < 100, stalled pump 0
        self.extra_leak_ul_s_kpa = 0
        self.stuck_on = False  # a shorted MOSFET: the pump runs whatever the PWM says

    @property
    def vacuum_pa(self):
        return (self.ambient_mpa - self.pressure_mpa) // 1000

    def lift_um(self):
        """Tissue drawn into the cup, in µm."""
        lift = self._skin_um_kpa * max(0, self.vacuum_pa) // 1000
        return min(lift, self._max_lift_um)

    def pump_flow_ul_s(self):
        p = self.p
        headroom = max(0, p["pump_max_vacuum_pa"] - self.vacuum_pa)
        duty = 1000 if self.stuck_on else self.duty
        return p["pump_ul_s"] * duty * self.pump_percent * headroom // (
            1000 * 100 * p["pump_max_vacuum_pa"])

    def step(self, dt_ms):
        p = self.p
        volume = p["cup_ul"] - self._area_mm2 * self.lift_um() // 1000
        # Skin compliance: dV/dP, as extra capacity while the lift is not at its maximum.
        if self.lift_um() < self._max_lift_um:
            volume += self.pressure_mpa * self._area_mm2 * self._skin_um_kpa // 10**9
        leak = p["leak_ul_s_kpa"] + self.extra_leak_ul_s_kpa
        if self.valve_open:
            leak += p["valve_ul_s_kpa"]
        ambient = self.ambient_mpa
        q = self.pump_flow_ul_s()
        # C dP/dt = -P q + P0 G (P0 - P) / 1e6, implicit in P; dt in ms.
        numerator = volume * self.pressure_mpa * 10**9 + dt_ms * ambient * leak * ambient
        denominator = volume * 10**9 + dt_ms * q * 10**6 + dt_ms * ambient * leak
        self.pressure_mpa = numerator // denominator

    def noise_mpa(self):
        """Deterministic, roughly triangular noise in [-noise_pa, noise_pa] Pa, in mPa (xorshift32)."""
        amplitude = self.p["noise_pa"] * 1000
        if not amplitude:
            return 0
        total = 0
        for _ in range(2):
            x = self._rng
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            self._rng = x
            total += x % (amplitude + 1)
        return total - amplitude

    def counts(self, port_mpa=None):
        """The MPRLS reading of the cup pressure now (or of ``port_mpa``, what its port sees instead):
        24-bit counts (about 0.013 Pa each), with the sensor's noise."""
        mpa = (self.pressure_mpa if port_mpa is None else port_mpa) + self.noise_mpa()
        counts = COUNTS_MIN + (mpa * COUNTS_SPAN + FULL_SCALE_PA * 500) // (FULL_SCALE_PA * 1000)
        return max(0, min(counts, 0xFFFFFF))


class SimMPRLSBus:
    """An I2C bus with the plant's MPRLS at 0x18: ~5 ms conversions and injectable faults.

    Its calls answer as MicroPython's ``SoftI2C`` does (extmod/machine_i2c.c ``mp_machine_soft_i2c_transfer``),
    the driver the firmware uses: ``writeto`` returns the number of data bytes ACKed, a NACK on the address
    raises ENODEV, a NACK on a data byte ends the write without an exception, and a bus whose SCL is held low
    times out (ETIMEDOUT). How long a call blocks, and what the hardware ``I2C`` makes of a NACK, is the
    simulated machine's (cupctl.sim.machine).
    """

    CONVERSION_MS = 5

    def __init__(self, plant, clock, address=0x18):
        self.plant = plant
        self.clock = clock  # callable -> now in ms
        self.address = address
        self._started = None
        self._counts = 0
        self.busy_forever = False
        self.nack = False
        self.hung = False  # SCL held low: every call times out (how long it blocks is the machine's)
        self.sda_low = False  # SDA held low: every bit reads 0, so every byte is ACKed and reads 0x00
        self.data_nack = False  # the sensor ACKs its address and NACKs the bytes written to it
        self.nack_read = False  # NACK on the read only: the command went out, the result cannot come back
        self.frozen = False
        self.status_bits = 0  # extra status bits (0x04 integrity, 0x01 saturation)
        self.powered = True
        self.forced_counts = None  # a sensor stuck at one raw value
        self.port_mpa = None  # what the sensor's port sees when not the cup (a tube off or kinked), mPa

    def _check(self, address):
        if self.hung:
            raise OSError(116)  # ETIMEDOUT: mp_hal_i2c_scl_release() waits in vain for SCL
        if self.nack or address != self.address:
            raise OSError(19)  # ENODEV: a NACK on the address

    def writeto(self, address, buf, stop=True):
        """The number of bytes of ``buf`` the sensor ACKed (all of them, unless a data byte was NACKed)."""
        if self.sda_low and not self.hung:
            return len(buf)  # the ACK bits read 0 (ACK), and the sensor heard nothing it understood
        self._check(address)
        if self.data_nack and len(buf):
            return 0  # the first data byte was NACKed: the command never reached the sensor
        if len(buf) >= 1 and buf[0] == 0xAA:
            self._started = self.clock()
            if self.forced_counts is not None:
                self._counts = self.forced_counts
            elif not self.frozen:
                self._counts = self.plant.counts(self.port_mpa)
        return len(buf)

    def readfrom_into(self, address, buf, stop=True):
        if self.sda_low and not self.hung:
            for i in range(len(buf)):
                buf[i] = 0  # every bit reads 0
            return
        self._check(address)
        if self.nack_read:
            raise OSError(19)
        busy = (self.busy_forever or self._started is None
                or self.clock() - self._started < self.CONVERSION_MS)
        status = (0x40 if self.powered else 0) | (0x20 if busy else 0) | self.status_bits
        data = (status, (self._counts >> 16) & 255, (self._counts >> 8) & 255, self._counts & 255)
        for i in range(min(len(buf), 4)):
            buf[i] = data[i]

    def scan(self):
        """The addresses that ACK (mp_machine_i2c_scan: 0x08..0x77)."""
        if self.hung:
            return []
        if self.sda_low:
            return list(range(0x08, 0x78))
        return [] if self.nack else [self.address]
