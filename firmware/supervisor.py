"""The safety supervisor: a table of rules, each returning a fault code or 0.

The supervisor owns the actuators: the regulator proposes a duty and a valve
state, ``actuate()`` decides and drives the pump and valve. A trip latches (pump 0, cup vented) until
``acknowledge()``, which never restarts the pump by itself.

Each tick the controller hands over its ``Reading`` (this tick's sensor result)
to ``check()`` and ``actuate()``; nothing else flows in.
"""

from time import ticks_diff

from . import faults, mprls
from .effort import EffortWatch
from .observer import PumpObserver

_ALWAYS = 0  # rule runs in every state
_SESSION = 1  # rule runs only while a session holds vacuum
_MIN_VACUUM_PA = -5000  # cup pressure 5 kPa above ambient: a vacuum pump cannot do that
_RUNAWAY_DRIFT_PA_S = 500  # slow drifts (a cooling cup, tissue creep) are not a pump
_IDLE_LIMIT_MARGIN_PA = 1000  # the idle limit returns this far below it: never on the noise of a stop at it
# A fall with the valve held faster than any leak on skin makes it (a gliding cup loses < 1 kPa a tick,
# a burst on a big cup 2): the cup is off, or the sensor's tube is, and then the pump would work blind.
_LOST_PA = 5000  # per tick period
_LOST_SPAN_MS = 200  # the time between two readings counted at most: keeps products < 2^30
_HELD_TICKS_MAX = 255  # the valve-held count saturates: all the rule asks is "longer than the interval"
_MAX_TICKS = 20  # ticks between two readings counted at most: keeps products < 2^30 (a longer gap
# explains less than it might: the safe side)


class Reading:
    """One tick's sensor observation; the controller refreshes it in place."""

    def __init__(self):
        self.code = mprls.ERR_BUSY  # this tick's result: counts >= 0, or a negative mprls.ERR_*
        self.fresh = False  # a good reading arrived this tick
        self.counts = 0  # the last good counts
        self.pressure_pa = 0
        self.vacuum_pa = 0  # against the current ambient, 0 until one is known
        self.button = False


class _ActuationWindow:
    """What acted on the cup between two readings: the duty spent and the highest duty.

    A reading samples the cup at the start of the tick before the one that collects it, before
    that tick's actuation: so each actuation acts on the interval that ends at the next sample,
    one actuation behind. ``add()`` keeps the latest pending until the next one arrives.
    """

    def __init__(self):
        self._pending_duty = 0
        self.restart()

    def restart(self):
        self.duty_sum = 0
        self.duty_max = 0
        self.ticks = 0

    def add(self, duty):
        pending = self._pending_duty
        self.duty_sum += pending
        if pending > self.duty_max:
            self.duty_max = pending
        self.ticks += 1
        self._pending_duty = duty

    def bound_duty(self):
        """The highest duty that may show in the next reading, the pending one included."""
        return self._pending_duty if self._pending_duty > self.duty_max else self.duty_max


class Supervisor:
    def __init__(self, board, pump, valve, deadman=None):
        self._board = board
        self._pump = pump
        self._valve = valve
        self._deadman = deadman
        self._observer = PumpObserver(board)
        self._idle_limit_pa = min(cup.hard_limit_pa for cup in board.cups)
        self.hard_limit_pa = self._idle_limit_pa
        self._taper_limit_pa = self._idle_limit_pa
        self.fault = faults.NONE
        self.session = False
        self.duty = 0  # what the pump runs at since the last actuate()
        self._target_pa = 0
        self._last_good_ms = 0
        self._last_error = faults.NONE
        self._frozen_counts = -1
        self._frozen_since = 0
        self._leak_ref_pa = 0
        self._leak_since = 0
        self._window = _ActuationWindow()
        self._bleed_window_ticks = board.leak_timeout_ms // board.period_ms
        self._forget_bleeds()
        self._last_pressure_pa = 0
        self._last_pressure_ms = 0
        self._held_ticks = 0  # consecutive actuations with the valve held, up to _HELD_TICKS_MAX
        self._effort = EffortWatch()
        self._runaway_sum = 0
        self._runaway_drift_pa = board.per_tick(_RUNAWAY_DRIFT_PA_S)
        self._session_start = 0
        self._heartbeat_ms = 0
        self._last_heartbeat = 0
        self._rules = (
            # rule                          applies
            (self._sensor, _ALWAYS),  # data validity first: the rest trusts the reading
            (self._implausible, _ALWAYS),
            (self._hard_limit, _ALWAYS),
            (self._emergency_button, _ALWAYS),
            (self._loop_overrun, _ALWAYS),
            (self._pump_runaway, _ALWAYS),
            (self._disagrees, _SESSION),
            (self._vacuum_lost, _SESSION),
            (self._unanswered, _SESSION),
            (self._frozen, _SESSION),
            (self._leak, _SESSION),
            (self._over_duration, _SESSION),
            (self._heartbeat, _SESSION),
        )

    def _forget_bleeds(self):
        self._window_left = 0  # checks left in the window of the last bleed
        self._window_left_before = 0  # and of the one before
        self._bled_thrice = False

    def begin_session(self, now, hard_limit_pa, heartbeat_ms, reading, lift_limit_pa=0):
        """``lift_limit_pa``: where the tissue reaches max_lift_mm; the duty tapers to 0 there too."""
        self.hard_limit_pa = hard_limit_pa
        self._taper_limit_pa = lift_limit_pa if 0 < lift_limit_pa < hard_limit_pa else hard_limit_pa
        self.session = True
        self._session_start = now
        self._heartbeat_ms = heartbeat_ms
        self._last_heartbeat = now
        self._forget_bleeds()  # overshoots count within one session
        # The leak clock and the effort windows need no restart: the session's first checks see the pump
        # off and the valve just closed (the cup was vented until now), which restarts both. The frozen
        # clock runs whatever the duty.
        self._frozen_counts = reading.counts
        self._frozen_since = now
        self._observer.reset(reading.vacuum_pa)

    def end_session(self):
        """Vent. The session cup's limit stays until the cup has vented 1 kPa below the idle limit."""
        self.session = False
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

    def acknowledge(self, button_pressed):
        """Clear the latch if its cause is gone. Returns True when cleared."""
        if self.fault == faults.EMERGENCY and button_pressed:
            return False
        self.fault = faults.NONE
        if self._deadman is not None:
            self._deadman.clear()
        return True

    def check(self, now, reading):
        """Run every applicable rule on this tick's reading; latch the first that fires."""
        # Each bleed's window counts down (bounded, unlike ticks since boot: 31-bit small ints
        # run out after 124 days at 100 Hz).
        if self._window_left:
            self._window_left -= 1
        if self._window_left_before:
            self._window_left_before -= 1
        if reading.fresh:
            if self.session:
                self._observer.observe(reading.counts, reading.vacuum_pa, self._window.duty_sum)
            if not self.session and reading.vacuum_pa <= self._idle_limit_pa - _IDLE_LIMIT_MARGIN_PA:
                self.hard_limit_pa = self._idle_limit_pa
        code = self._first_rule_firing(now, reading)
        if reading.fresh:  # the next reading is compared with this one, if this one was trusted
            self._last_pressure_pa = 0 if code else reading.pressure_pa
            self._last_pressure_ms = now
            self._window.restart()
        return self.trip(code) if code else self.fault

    def _first_rule_firing(self, now, reading):
        for rule, applies in self._rules:
            if applies == _SESSION and not self.session:
                continue
            code = rule(now, reading)
            if code:
                return code
        return faults.NONE

    def duty_cap(self, vacuum_pa):
        """Full duty until the cap band below the hard limit (or the tissue's lift limit, if lower),
        then linearly to 0; never more than one tick can raise the vacuum by ``disagree_kpa``
        (see observer.py)."""
        board = self._board
        headroom = (self._taper_limit_pa if self.session else self.hard_limit_pa) - vacuum_pa
        if headroom <= 0:
            return 0
        cap = board.pump_max_duty
        if headroom < board.cap_band_pa:
            cap = cap * headroom // board.cap_band_pa
        rate_cap = self._observer.duty_cap()
        return rate_cap if rate_cap < cap else cap

    def pump_rise_pa(self):
        """What this session has learned of the pump on this cup (observer.py): the vacuum one full-duty
        tick raises, in Pa; 0 until the soft ramp has measured it."""
        return self._observer.rise_pa

    def actuate(self, reading, target_pa, duty, hold):
        """Drive the hardware with the proposal, as far as safety allows."""
        steady = target_pa >= self._target_pa
        self._target_pa = target_pa
        if self.fault or not self.session:
            self.vent()
        else:
            cap = self.duty_cap(reading.vacuum_pa) if reading.fresh else 0  # never pump on stale data
            if duty > cap:
                duty = cap
            if hold:
                self._valve.hold()
            else:
                if steady and not self._valve.vented:
                    self._count_bleed()
                self._valve.vent()
                duty = 0  # never pump against an open valve
            self._pump.set(duty)
            self.duty = self._pump.duty
        if self._valve.vented:
            self._held_ticks = 0
        elif self._held_ticks < _HELD_TICKS_MAX:
            self._held_ticks += 1
        self._window.add(self.duty)

    # --- rules: each returns a fault code, or 0 when all is well ---

    def _hard_limit(self, now, reading):
        return faults.HARD_LIMIT if reading.vacuum_pa > self.hard_limit_pa else 0

    def _sensor(self, now, reading):
        code = reading.code
        if code >= 0:
            self._last_good_ms = now
        elif code == mprls.ERR_BUS:
            self._last_error = faults.SENSOR_BUS
        elif code == mprls.ERR_BUSY:
            self._last_error = faults.SENSOR_TIMEOUT
        else:  # not powered, integrity or saturation: the sensor says its data is bad
            return faults.SENSOR_STATUS
        return self._last_error if ticks_diff(now, self._last_good_ms) > self._board.sensor_timeout_ms else 0

    def _implausible(self, now, reading):
        board = self._board
        pressure = reading.pressure_pa
        bad = (pressure < board.plausible_min_pa or pressure > board.plausible_max_pa
               or reading.vacuum_pa < _MIN_VACUUM_PA)
        return faults.SENSOR_IMPLAUSIBLE if reading.fresh and bad else 0

    def _emergency_button(self, now, reading):
        return faults.EMERGENCY if reading.button else 0

    def _loop_overrun(self, now, reading):
        return faults.LOOP_OVERRUN if self._deadman is not None and self._deadman.tripped else 0

    def _count_bleed(self):
        """The regulator opens the valve while the target holds or rises: the vacuum overshot."""
        if self._window_left_before:  # the two before are both within a window: three in one
            self._bled_thrice = True
        self._window_left_before = self._window_left
        self._window_left = self._bleed_window_ticks

    def _pump_runaway(self, now, reading):
        """The vacuum rises faster than the commanded duty can explain: something else pumps.

        A CUSUM of each rise between consecutive readings beyond what the pump could have done
        meanwhile (the observer's upper bound at the highest duty that acted on that interval; 0
        with the pump off), less a small drift, so that sensor noise never adds up but a pump
        stuck on does, also against a valve that bleeds it (the vacuum should fall then).
        """
        if not reading.fresh:
            return 0
        window = self._window
        if self._last_pressure_pa:
            ticks = window.ticks if window.ticks < _MAX_TICKS else _MAX_TICKS
            explained = (self._observer.gain * window.bound_duty() // 1000 + self._runaway_drift_pa) * ticks
            excess = self._last_pressure_pa - reading.pressure_pa - explained
            self._runaway_sum = self._runaway_sum + excess if self._runaway_sum + excess > 0 else 0
        if self._runaway_sum > self._board.runaway_rise_pa:
            return faults.PUMP_RUNAWAY
        # A pump stuck on that the valve can still bleed: overshoot after overshoot on a steady target.
        return faults.PUMP_RUNAWAY if self.session and self._bled_thrice else 0

    def _disagrees(self, now, reading):
        return faults.SENSOR_DISAGREES if self._observer.disagrees() else 0

    def _vacuum_lost(self, now, reading):
        """Since the last trusted reading the vacuum fell faster than ``_LOST_PA`` a period while the valve
        held all along (the actuation before that reading's sample included): a cup that came off, or a
        sensor tube that did, which ``leak`` would only see after ``leak_timeout_ms`` of pumping."""
        if not (reading.fresh and self._last_pressure_pa and self._held_ticks > self._window.ticks + 1):
            return 0
        span = ticks_diff(now, self._last_pressure_ms)
        if span > _LOST_SPAN_MS:
            span = _LOST_SPAN_MS
        fell = reading.pressure_pa - self._last_pressure_pa
        return faults.VACUUM_LOST if fell * self._board.period_ms > _LOST_PA * span else 0

    def _unanswered(self, now, reading):
        """The duty climbs window after window and the vacuum, below target, does not answer (effort.py):
        a kinked sensor tube."""
        if not reading.fresh:
            return 0
        window = self._window
        effort = self._effort
        if self._held_ticks <= window.ticks + 1 or self._target_pa != effort.target_pa:
            effort.restart(now, self._target_pa)  # a bleed or a new target: the regulator has other work
        else:
            effort.add(now, reading.vacuum_pa, window.duty_sum, window.ticks)
        return faults.SENSOR_DISAGREES if effort.unanswered() else 0

    def _frozen(self, now, reading):
        """Identical raw counts for ``frozen_ms``, whatever the duty: a frozen sensor on a cup held at
        duty 0 would hide a pump that starts on its own (a shorted MOSFET). Judged on fresh readings only:
        a bus that stops answering is the sensor rule's."""
        if reading.counts != self._frozen_counts:
            self._frozen_counts = reading.counts
            self._frozen_since = now
        late = ticks_diff(now, self._frozen_since) > self._board.frozen_ms
        return faults.SENSOR_FROZEN if reading.fresh and late else 0

    def _leak(self, now, reading):
        board = self._board
        rise = board.leak_min_rise_pa
        vacuum = reading.vacuum_pa
        if (
            self.duty < self._leak_duty()
            or vacuum >= self._target_pa - rise
            or vacuum > self._leak_ref_pa + rise
        ):
            self._leak_ref_pa = vacuum
            self._leak_since = now
        return faults.LEAK if ticks_diff(now, self._leak_since) > board.leak_timeout_ms else 0

    def _leak_duty(self):
        """The duty that counts as working hard: the board's, or less where the rate cap allows less
        (the board file keeps leak_duty within pump.max_duty)."""
        cap = self._observer.duty_cap()
        return cap if cap < self._board.leak_duty else self._board.leak_duty

    def _over_duration(self, now, reading):
        return faults.OVER_DURATION if ticks_diff(now, self._session_start) > self._board.max_session_ms else 0

    def _heartbeat(self, now, reading):
        late = self._heartbeat_ms and ticks_diff(now, self._last_heartbeat) > self._heartbeat_ms
        return faults.HEARTBEAT if late else 0
