"""The safety supervisor: a table of rules, each returning a fault code or 0.

The supervisor owns the actuators: the regulator proposes a duty and a valve
state, ``actuate()`` decides and drives the pump and valve. A trip latches (pump 0, cup vented) until
``acknowledge()``, which never restarts the pump by itself.
"""

from time import ticks_diff

import faults
import mprls

_ALWAYS = 0  # rule runs in every state
_SESSION = 1  # rule runs only while a session holds vacuum
_MIN_VACUUM_PA = -5000  # cup pressure 5 kPa above ambient: a vacuum pump cannot do that


class Supervisor:
    def __init__(self, board, pump, valve):
        self._board = board
        self._pump = pump
        self._valve = valve
        self._idle_limit_pa = min(cup.hard_limit_pa for cup in board.cups)
        self.hard_limit_pa = self._idle_limit_pa
        self.fault = faults.NONE
        # Latest observation, written by the tick before check().
        self.sensor_code = 0
        self.counts = 0
        self.pressure_pa = 0
        self.vacuum_pa = 0
        self.target_pa = 0
        self.duty = 0
        self.button = False
        self.session = False
        self._last_good_ms = 0
        self._last_error = faults.NONE
        self._frozen_counts = -1
        self._frozen_since = 0
        self._leak_ref_pa = 0
        self._leak_since = 0
        self._session_start = 0
        self._heartbeat_ms = 0
        self._last_heartbeat = 0
        self._rules = (
            # rule                          applies
            (self._sensor, _ALWAYS),  # data validity first: the rest trusts the reading
            (self._implausible, _ALWAYS),
            (self._hard_limit, _ALWAYS),
            (self._emergency_button, _ALWAYS),
            (self._frozen, _SESSION),
            (self._leak, _SESSION),
            (self._over_duration, _SESSION),
            (self._heartbeat, _SESSION),
        )

    def begin_session(self, now, hard_limit_pa, heartbeat_ms):
        self.hard_limit_pa = hard_limit_pa
        self.session = True
        self._session_start = now
        self._heartbeat_ms = heartbeat_ms
        self._last_heartbeat = now
        self._leak_since = now
        self._leak_ref_pa = self.vacuum_pa
        self._frozen_since = now
        self._frozen_counts = -1

    def end_session(self):
        self.session = False
        self.hard_limit_pa = self._idle_limit_pa
        self.vent()

    def arm(self, now):
        """Start the sensor-timeout clock; called once, on the first tick."""
        self._last_good_ms = now

    def vent(self):
        self._pump.set(0)
        self._valve.vent()
        self.duty = 0

    def heartbeat(self, now):
        self._last_heartbeat = now

    def trip(self, code):
        """Latch ``code`` unless a fault is already latched. Returns the latched code."""
        if self.fault == faults.NONE:
            self.fault = code
            self.session = False
        self.vent()
        return self.fault

    def acknowledge(self):
        """Clear the latch if its cause is gone. Returns True when cleared."""
        if self.fault == faults.EMERGENCY and self.button:
            return False
        self.fault = faults.NONE
        return True

    def check(self, now):
        """Run every applicable rule; latch the first that fires. Returns the fault."""
        for rule, applies in self._rules:
            if applies == _SESSION and not self.session:
                continue
            code = rule(now)
            if code:
                return self.trip(code)
        return self.fault

    def duty_cap(self):
        """Full duty until the cap band below the hard limit, then linearly to 0."""
        board = self._board
        headroom = self.hard_limit_pa - self.vacuum_pa
        if headroom <= 0:
            return 0
        if headroom >= board.cap_band_pa:
            return board.pump_max_duty
        return board.pump_max_duty * headroom // board.cap_band_pa

    def actuate(self, duty, hold):
        """Drive the hardware with the proposal, as far as safety allows."""
        if self.fault or not self.session:
            self.vent()
            return
        cap = self.duty_cap()
        if duty > cap:
            duty = cap
        if hold:
            self._valve.hold()
        else:
            self._valve.vent()
            duty = 0  # never pump against an open valve
        self._pump.set(duty)
        self.duty = self._pump.duty

    # --- rules: each returns a fault code, or 0 when all is well ---

    def _hard_limit(self, now):
        return faults.HARD_LIMIT if self.hard_limit_pa and self.vacuum_pa > self.hard_limit_pa else 0

    def _sensor(self, now):
        code = self.sensor_code
        if code >= 0:
            self._last_good_ms = now
            return 0
        if code == mprls.ERR_BUS:
            self._last_error = faults.SENSOR_BUS
        elif code == mprls.ERR_BUSY:
            self._last_error = faults.SENSOR_TIMEOUT
        else:  # not powered, integrity or saturation: the sensor says its data is bad
            return faults.SENSOR_STATUS
        if ticks_diff(now, self._last_good_ms) > self._board.sensor_timeout_ms:
            return self._last_error
        return 0

    def _implausible(self, now):
        if self.sensor_code < 0:
            return 0
        board = self._board
        if self.pressure_pa < board.plausible_min_pa or self.pressure_pa > board.plausible_max_pa:
            return faults.SENSOR_IMPLAUSIBLE
        if self.vacuum_pa < _MIN_VACUUM_PA:
            return faults.SENSOR_IMPLAUSIBLE
        return 0

    def _emergency_button(self, now):
        return faults.EMERGENCY if self.button else 0

    def _frozen(self, now):
        if self.duty == 0 or self.counts != self._frozen_counts:
            self._frozen_counts = self.counts
            self._frozen_since = now
            return 0
        if ticks_diff(now, self._frozen_since) > self._board.frozen_ms:
            return faults.SENSOR_FROZEN
        return 0

    def _leak(self, now):
        board = self._board
        rise = board.leak_min_rise_pa
        if (
            self.duty < board.leak_duty
            or self.vacuum_pa >= self.target_pa - rise
            or self.vacuum_pa > self._leak_ref_pa + rise
        ):
            self._leak_ref_pa = self.vacuum_pa
            self._leak_since = now
            return 0
        if ticks_diff(now, self._leak_since) > board.leak_timeout_ms:
            return faults.LEAK
        return 0

    def _over_duration(self, now):
        if ticks_diff(now, self._session_start) > self._board.max_session_ms:
            return faults.OVER_DURATION
        return 0

    def _heartbeat(self, now):
        if self._heartbeat_ms and ticks_diff(now, self._last_heartbeat) > self._heartbeat_ms:
            return faults.HEARTBEAT
        return 0
