"""Every product on the control tick's path stays below 2**30, the ESP32's small-int limit, for any board.

An int at or above 2**30 is a heap object on the ESP32: the tick would allocate
(and, under heap_lock, fail). The table below names each product, the limits
that drive it and its worst case, computed from the absolute ranges of the
limits registry, so a board file that passes validation cannot overflow it.
``test_every_tick_product_is_in_the_table`` finds the products in the tick's
functions by parsing the firmware, so a new one cannot go unbounded unnoticed.
The 32-bit runtime (tests/test_wasm.py) checks the same thing by running.
"""

import ast
from collections import namedtuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cupfw import limits, mprls, programs, regulator
from cupfw.ambient import _WINDOW_MS
from cupfw.mprls import COUNTS_MAX, COUNTS_MIN
from tests.conftest import ROOT

SMALL_INT_LIMIT = 2**30
R = limits.REGISTRY


def lo(key):
    return R[key][1]


def hi(key):
    return R[key][2]


# --- the ranges of the values the tick works with, from the registry -------------------------------
KPA = 1000
COUNTS = (0, 2**24 - 1)  # the sensor's 24-bit field, whatever the status byte says
_WIDEST_SENSOR = mprls.MPRLS(None, psi_min=lo("sensor.psi_min"), psi_max=hi("sensor.psi_max"))
PRESSURE = (_WIDEST_SENSOR.counts_to_pa(COUNTS[0]), _WIDEST_SENSOR.counts_to_pa(COUNTS[1]))
AMBIENT = (lo("limits.ambient_min_kpa") * KPA, hi("limits.ambient_max_kpa") * KPA)
VACUUM = (AMBIENT[0] - PRESSURE[1], AMBIENT[1] - PRESSURE[0])  # before any rule looks at it
TARGET_MAX = min(hi("limits.max_target_kpa"), hi("cup.hard_limit_kpa") - lo("limits.cap_band_kpa")) * KPA
ERROR = (0 - VACUUM[1], TARGET_MAX - VACUUM[0])
ERROR_MAX = max(-ERROR[0], ERROR[1])
PERIOD_MS_MAX = 1000 // lo("loop_hz")
DUTY_MAX = hi("pump.max_duty")
KI_PERIOD_MAX = hi("regulator.ki") * PERIOD_MS_MAX
SCALE_MAX = regulator._SCALE_MAX  # the adapted gains' largest factor, in 1/256ths
KI_PERIOD_SCALED_MAX = KI_PERIOD_MAX * SCALE_MAX // regulator._ONE
STEP_MAX = -(-ERROR_MAX // 1000) * KI_PERIOD_SCALED_MAX + 999 * KI_PERIOD_SCALED_MAX // 1000  # kp 0: every error
TUNED_RISE_MAX = hi("regulator.rise_kpa_s") * KPA * PERIOD_MS_MAX // 1000  # Pa per full-duty tick
# muldiv_round(counts - COUNTS_MIN, dpa_span, COUNTS_MAX - COUNTS_MIN) in counts_to_pa
MULDIV_A = max(COUNTS_MIN - COUNTS[0], COUNTS[1] - COUNTS_MIN)
MULDIV_B = (hi("sensor.psi_max") - lo("sensor.psi_min")) * mprls._DPA_PER_CENTIPSI // 100
MULDIV_C = COUNTS_MAX - COUNTS_MIN
SECONDS_MAX = max(p[3] for p in programs.TABLE["interval"] if p[0] in ("high_s", "low_s"))
PERIOD_MS_MIN = 1000 // hi("loop_hz")
GAIN_MAX = 50000  # observer._MAX_GAIN_PA
DUTY_SUM_MAX = 20000  # observer._MAX_DUTY_SUM
TICKS_BETWEEN_READINGS_MAX = 20  # supervisor._MAX_TICKS
PLAUSIBLE_SPAN_PA = (hi("limits.plausible_max_kpa") - lo("limits.plausible_min_kpa")) * KPA

Row = namedtuple("Row", "file expression formula bound")
TABLE = (
    # mprls.py: raw counts to Pa, every tick
    Row("mprls.py", "buf[1] << 16", "255 << 16", 255 << 16),
    Row("mprls.py", "buf[2] << 8", "255 << 8", 255 << 8),
    Row("mprls.py", "psi_min * _DPA_PER_CENTIPSI", "psi_min(hi) * 6894757 (at boot)",
        hi("sensor.psi_min") * mprls._DPA_PER_CENTIPSI),
    Row("mprls.py", "(psi_max - psi_min) * _DPA_PER_CENTIPSI", "sensor.psi_max(hi) * 6894757 (at boot)",
        hi("sensor.psi_max") * mprls._DPA_PER_CENTIPSI),
    # mprls.py: muldiv_round, with a = counts - COUNTS_MIN, b = dpa_span, c = COUNTS_MAX - COUNTS_MIN
    Row("mprls.py", "a * ((b >> shift) & 31)", "|a| * 31, |a| = max(COUNTS_MIN, 2**24-1 - COUNTS_MIN)",
        MULDIV_A * 31),
    Row("mprls.py", "remainder * 32", "c * 32", MULDIV_C * 32),
    Row("mprls.py", "remainder * 32 + a * ((b >> shift) & 31)", "c * 32 + |a| * 31",
        MULDIV_C * 32 + MULDIV_A * 31),
    Row("mprls.py", "quotient * 32", "|a| * b // c + 1, b = sensor.psi_max(hi) * 68947.57 dPa",
        MULDIV_A * MULDIV_B // MULDIV_C + 1),
    Row("mprls.py", "2 * remainder", "2 * c", 2 * MULDIV_C),
    # controller.py: vacuum and the ambient measurement
    Row("controller.py", "self.ambient_pa - reading.pressure_pa",
        "ambient_max_kpa(hi) - pressure(counts 0), pressure(2**24-1) - ambient_min_kpa(lo)",
        max(VACUUM[1], -VACUUM[0])),
    Row("ambient.py", "self._sum += pressure_pa", "640 ms // period(min) samples * pressure(2**24-1, psi_max(hi))",
        _WINDOW_MS // PERIOD_MS_MIN * max(PRESSURE[1], -PRESSURE[0])),
    # observer.py: the pump's gain (clamped) times the duty spent between readings (clamped)
    Row("observer.py", "self.gain * duty_sum", "_MAX_GAIN_PA * _MAX_DUTY_SUM", GAIN_MAX * DUTY_SUM_MAX),
    Row("observer.py", "_MARGIN * risen", "2 * (vacuum(max) - vacuum(min))", 2 * (VACUUM[1] - VACUUM[0])),
    Row("observer.py", "_MARGIN * risen * 1000", "2 * (vacuum(max) - vacuum(min)) * 1000",
        2 * (VACUUM[1] - VACUUM[0]) * 1000),
    Row("observer.py", "self._disagree_pa * 1000", "disagree_kpa(hi) * 1000 * 1000",
        hi("limits.disagree_kpa") * KPA * 1000),
    # supervisor.py: what the commanded duty can explain of a rise, per interval between readings
    Row("supervisor.py", "self._observer.gain * window.bound_duty()", "_MAX_GAIN_PA * pump.max_duty(hi)",
        GAIN_MAX * DUTY_MAX),
    Row("supervisor.py", "(self._observer.gain * window.bound_duty() // 1000 + self._runaway_drift_pa) * ticks",
        "(_MAX_GAIN_PA * pump.max_duty(hi) // 1000 + 500) * _MAX_TICKS",
        (GAIN_MAX * DUTY_MAX // 1000 + 500) * TICKS_BETWEEN_READINGS_MAX),
    # programs.py: the lift ceiling, at the start of a session (inside the tick that starts it)
    Row("programs.py", "board.max_lift_mm * 1000000", "max_lift_mm(hi) * 10**6", hi("limits.max_lift_mm") * 10**6),
    Row("programs.py", "board.max_lift_mm * 1000000 * _LIFT_REF_DIAMETER_MM", "max_lift_mm(hi) * 10**6 * 40",
        hi("limits.max_lift_mm") * 10**6 * 40),
    Row("programs.py", "LIFT_UM_PER_KPA[tissue] * cup.diameter_mm", "500 um/kPa * cup.diameter_mm(hi)",
        max(programs.LIFT_UM_PER_KPA.values()) * hi("cup.diameter_mm")),
    # regulator.py
    Row("regulator.py", "target_pa - vacuum_pa",
        "min(max_target_kpa(hi), hard_limit_kpa(hi) - cap_band_kpa(lo)) - vacuum(min), or vacuum(max)",
        ERROR_MAX),
    Row("regulator.py", "self._ff * target_pa", "regulator.ff(hi) * target(max)", hi("regulator.ff") * TARGET_MAX),
    Row("regulator.py", "self._kp * error", "regulator.kp(hi) * |error|(max)", hi("regulator.kp") * ERROR_MAX),
    Row("regulator.py", "(self._ff * target_pa // 1000 + self._kp * error // 1000) * scale",
        "(ff(hi) * target(max) // 1000 + kp(hi) * |error|(max) // 1000) * _SCALE_MAX",
        (hi("regulator.ff") * TARGET_MAX // 1000 + hi("regulator.kp") * ERROR_MAX // 1000) * SCALE_MAX),
    Row("regulator.py", "board.regulator_ki * period_ms", "regulator.ki(hi) * 1000 // loop_hz(lo) (at boot)",
        KI_PERIOD_MAX),
    Row("regulator.py", "board.regulator_rise_pa_s * period_ms",
        "regulator.rise_kpa_s(hi) * 1000 * 1000 // loop_hz(lo) (at boot)",
        hi("regulator.rise_kpa_s") * KPA * PERIOD_MS_MAX),
    Row("regulator.py", "self._tuned_rise_pa * _ONE", "tuned rise per tick(max) * 256", TUNED_RISE_MAX * 256),
    Row("regulator.py", "self._ki_period * scale", "ki * period(max) * _SCALE_MAX", KI_PERIOD_MAX * SCALE_MAX),
    Row("regulator.py", "_P_DUTY_INTEGRATED * 1000", "90 * 1000 (at boot)", regulator._P_DUTY_INTEGRATED * 1000),
    Row("regulator.py", "error // 1000 * ki_period", "ceil(|error|(max) / 1000) * ki * period * _SCALE_MAX // 256",
        -(-ERROR_MAX // 1000) * KI_PERIOD_SCALED_MAX),
    Row("regulator.py", "error % 1000 * ki_period", "999 * ki * period * _SCALE_MAX // 256",
        999 * KI_PERIOD_SCALED_MAX),
    Row("regulator.py", "self._integral + step", "pump.max_duty(hi) * 1000 + step(max)", DUTY_MAX * 1000 + STEP_MAX),
    Row("regulator.py", "cap * 1000", "pump.max_duty(hi) * 1000", DUTY_MAX * 1000),
    # supervisor.py: how fast the vacuum fell between two plausible readings, the span clamped to 200 ms
    Row("supervisor.py", "fell * self._board.period_ms",
        "(plausible_max_kpa(hi) - plausible_min_kpa(lo)) * 1000 // loop_hz(lo)", PLAUSIBLE_SPAN_PA * PERIOD_MS_MAX),
    Row("supervisor.py", "_LOST_PA * span", "5000 * 200", 5000 * 200),
    # supervisor.py: the duty cap, only inside the band (0 < headroom < cap_band)
    Row("supervisor.py", "cap * headroom", "pump.max_duty(hi) * cap_band_kpa(hi)",
        DUTY_MAX * hi("limits.cap_band_kpa") * KPA),
    # programs.py: set points; the ramps multiply only while elapsed_ms < peak * 1000 // rate
    Row("programs.py", "self._rate_pa_s * elapsed_ms", "peak * 1000, peak <= target(max)", TARGET_MAX * 1000),
    Row("programs.py", "self._peak * 1000", "target(max) * 1000 (at start)", TARGET_MAX * 1000),
    Row("programs.py", 'values.get("high_s", 0) * 1000', "interval high_s(max) * 1000 (at start)",
        SECONDS_MAX * 1000),
    Row("programs.py", 'values.get("low_s", 0) * 1000', "interval low_s(max) * 1000 (at start)",
        SECONDS_MAX * 1000),
    # actuators.py
    Row("actuators.py", "duty * 65535", "pump.max_duty(hi) * 65535", DUTY_MAX * 65535),
)

# The functions a tick runs (with the constructors whose products it relies on), per firmware file.
TICK_PATH = {
    "controller.py": ("Controller.tick", "Controller._read", "Controller._slew", "Controller._zero",
                      "Controller._leave_session", "Controller._enter", "Controller.elapsed_ms", "Controller.stop",
                      "Controller.latch"),
    "supervisor.py": ("Supervisor.check", "Supervisor._first_rule_firing", "Supervisor.duty_cap",
                      "Supervisor.actuate", "Supervisor.vent", "Supervisor.trip", "Supervisor.begin_session",
                      "Supervisor.end_session", "Supervisor.arm", "Supervisor._count_bleed",
                      "Supervisor._hard_limit", "Supervisor._sensor", "Supervisor._implausible",
                      "Supervisor._emergency_button", "Supervisor._loop_overrun", "Supervisor._pump_runaway",
                      "Supervisor._disagrees", "Supervisor._frozen", "Supervisor._leak", "Supervisor._leak_duty",
                      "Supervisor._over_duration", "Supervisor._heartbeat", "Supervisor.pump_rise_pa",
                      "Supervisor._vacuum_lost", "Supervisor._unanswered",
                      "_ActuationWindow.add", "_ActuationWindow.bound_duty", "_ActuationWindow.restart"),
    "observer.py": ("PumpObserver.reset", "PumpObserver.duty_cap", "PumpObserver.observe", "PumpObserver.disagrees",
                    "PumpObserver._learn"),
    "ambient.py": ("Ambient.restart", "Ambient.sample"),
    "effort.py": ("EffortWatch.restart", "EffortWatch._open", "EffortWatch.add", "EffortWatch.unanswered"),
    "bootmemory.py": ("BootMemory.save", "_xor", "_RamStore.memory"),
    "deadman.py": ("Deadman.rearm", "Deadman.expire"),
    "regulator.py": ("Regulator.__init__", "Regulator.update", "Regulator.scale", "Regulator._integral_step",
                     "Regulator.reset"),
    "programs.py": ("Program.__init__", "Program.target_pa", "lift_ceiling_pa"),
    "mprls.py": ("MPRLS.__init__", "MPRLS.start", "MPRLS.collect", "MPRLS.counts_to_pa", "muldiv_round"),
    "fixedpoint.py": ("clamp",),
    "actuators.py": ("Pump.set", "Valve.vent", "Valve.hold", "Led.set", "Button.pressed"),
    "service.py": ("Service.after_tick",),
    "protocol.py": ("TelemetryEncoder.encode", "TelemetryEncoder._field", "checksum"),
}


def _functions(tree):
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[node.name + "." + item.name] = item
    return found


def tick_products():
    """(file, source text) of every multiplication and left shift in the tick's functions."""
    products = []
    for name, functions in TICK_PATH.items():
        source = (ROOT / "firmware" / name).read_text()
        defined = _functions(ast.parse(source))
        for function in functions:
            assert function in defined, "%s: %s is gone; update TICK_PATH in %s" % (name, function, __file__)
            for node in ast.walk(defined[function]):
                op = getattr(node, "op", None)
                if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(op, (ast.Mult, ast.LShift)):
                    products.append((name, ast.get_source_segment(source, node)))
    return products


@pytest.mark.parametrize("row", TABLE, ids=lambda r: "%s: %s" % (r.file, r.expression))
def test_worst_case_stays_a_small_int(row):
    source = (ROOT / "firmware" / row.file).read_text()
    assert row.expression in source, "the table names an expression %s no longer has" % row.file
    assert row.bound < SMALL_INT_LIMIT, "%s: %s reaches %d (%s) at the registry's limits" % (
        row.file, row.expression, row.bound, row.formula)


def test_every_tick_product_is_in_the_table():
    listed = {(row.file, row.expression) for row in TABLE}
    missing = [p for p in tick_products() if p not in listed]
    assert not missing, "products on the tick path without a worst case in TABLE: %s" % missing


def test_muldiv_round_gets_what_it_requires():
    # mprls.muldiv_round's contract: |a| < 2^24, 0 <= b < 2^25, 0 < c <= 2^24.
    assert MULDIV_A < 2**24 and 0 <= MULDIV_B < 2**25 and 0 < MULDIV_C <= 2**24


@given(ki_period=st.integers(0, KI_PERIOD_SCALED_MAX), error=st.integers(*ERROR))
def test_regulator_integral_step_is_the_exact_product(ki_period, error):
    """The split integral step floors exactly like the wide product (bit-exact replays)."""
    assert regulator.Regulator._integral_step(error, ki_period) == ki_period * error // 1000


def test_telemetry_sequence_number_stays_a_small_int(board):
    """At 100 Hz seq would pass 2**30 after 124 days; it wraps at its field's 8 digits instead."""
    from cupfw.service import Service

    class Ctl:
        t_ms = sensor_code = vacuum_pa = target_pa = state = fault = 0
        duty = 0
        vented = True

    Ctl.board = board
    service = Service(Ctl, type("Out", (), {"write": lambda self, data: None})(), "test")
    service.after_tick()
    service.seq = SMALL_INT_LIMIT - 2
    for _ in range(4 * board.loop_hz // board.telemetry_hz):
        service.after_tick()
    assert service.seq < SMALL_INT_LIMIT
