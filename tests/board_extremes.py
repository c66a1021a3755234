"""Board files at the extremes of the limits registry, and session tours that exercise them.

``one_key()`` gives every numeric registry key at its absolute low and high,
one key at a time (the rest at the default board's values); ``all_at_once()``
all low, all high, the "widest" board (every limit at the end that
widens what the tick can see: slow loop, strongest gains, widest sensor,
plausibility and ambient windows), and the widest with the integral term alone. Keys that the board loader cross-checks
(watchdog against loop rate, plausible against ambient minimum, hard limit
against cap band) are moved the least needed to stay consistent, never the key
under test unless no other key can make room.

``tour(board_data)`` is a simulator spec that runs sessions through the
programs and the sensor faults on that board, with targets at the board's
ceiling (so the vacuum works in the duty-cap band) and a rim leaking hard (the
largest regulator error a session meets).
"""

import copy
import json

from cupfw import boardcfg, faults, limits, programs
from cupfw.ambient import _WINDOW_MS
from tests.conftest import DEFAULT_BOARD

DEFAULT = json.loads(DEFAULT_BOARD.read_text())
# Keys with a range (sensor.psi_min has a single allowed value).
NUMERIC = tuple(key for key, entry in limits.REGISTRY.items() if entry[1] != entry[2])
_LOW, _HIGH = 1, 2  # indices into a REGISTRY entry
# The "widest" board: the end of each range that makes the tick's numbers largest.
_WIDEST_LOW = ("loop_hz", "limits.cap_band_kpa", "limits.plausible_min_kpa", "limits.ambient_min_kpa")
_MIN_PROGRAM_TARGET_PA = min(p[2] for spec in programs.TABLE.values() for p in spec
                             if p[0] in ("target", "high"))
_PA_PER_PSI = 6894.757
_SEA_LEVEL_PA = 101325


def get(data, key):
    if key.startswith("cup."):
        return data["cups"][0][key[4:]]
    node = data
    for part in key.split("."):
        if part not in node:
            return limits.default(key)  # the board leaves it at the registry's default
        node = node[part]
    return node


def put(data, key, value):
    """Set a registry key in board data; a cup key sets it on every cup."""
    if key.startswith("cup."):
        for cup in data["cups"]:
            cup[key[4:]] = value
        return
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def board_with(values: dict, name: str) -> dict:
    """The default board with ``values`` (registry units), made consistent; validated."""
    data = copy.deepcopy(DEFAULT)
    data["name"] = name
    for key, value in values.items():
        put(data, key, value)
    _make_consistent(data, set(values))
    boardcfg.load(data)  # a variant the loader refuses is a bug here, not a finding
    return data


def _make_consistent(data, fixed):
    for _ in range(2):  # a loop rate moved by a later rule is checked against the earlier ones again
        _make_timing_consistent(data, fixed)
    # the leak rule must be able to fire: leak_duty at most the pump's maximum duty
    if get(data, "limits.leak_duty") > get(data, "pump.max_duty"):
        if "limits.leak_duty" in fixed:
            put(data, "pump.max_duty", get(data, "limits.leak_duty"))
        else:
            put(data, "limits.leak_duty", get(data, "pump.max_duty"))
    _make_limits_consistent(data, fixed)


def _make_timing_consistent(data, fixed):
    # the tick's I2C traffic takes at most a quarter of the loop period
    least_ms = -(-boardcfg.I2C_BITS_PER_TICK * 4000 // get(data, "i2c.freq_hz"))
    if 1000 // get(data, "loop_hz") < least_ms:
        if "i2c.freq_hz" in fixed and "loop_hz" not in fixed:
            put(data, "loop_hz", 1000 // least_ms)
        else:
            put(data, "i2c.freq_hz", -(-boardcfg.I2C_BITS_PER_TICK * 4000 // (1000 // get(data, "loop_hz"))))
    # sensor_timeout_ms and deadman_ms cover 2 loop periods; the dead-man switch is shorter than the watchdog
    for key in ("limits.sensor_timeout_ms", "limits.deadman_ms"):
        if get(data, key) < 2000 // get(data, "loop_hz"):
            if key in fixed and "loop_hz" not in fixed:
                put(data, "loop_hz", -(-2000 // get(data, key)))
            else:
                put(data, key, 2000 // get(data, "loop_hz"))
    if get(data, "limits.deadman_ms") >= get(data, "watchdog_ms"):
        if "watchdog_ms" in fixed:
            put(data, "limits.deadman_ms", get(data, "watchdog_ms") - 1)
        else:
            put(data, "watchdog_ms", get(data, "limits.deadman_ms") + 1)
    # watchdog_ms must cover 5 loop periods
    if get(data, "watchdog_ms") < 5000 // get(data, "loop_hz"):
        if "watchdog_ms" in fixed and "loop_hz" not in fixed:
            put(data, "loop_hz", 5000 // (get(data, "watchdog_ms") + 1) + 1)
        else:
            put(data, "watchdog_ms", 5000 // get(data, "loop_hz"))


def _make_limits_consistent(data, fixed):
    # plausible minimum below the ambient minimum
    if get(data, "limits.plausible_min_kpa") >= get(data, "limits.ambient_min_kpa"):
        if "limits.ambient_min_kpa" in fixed and "limits.plausible_min_kpa" not in fixed:
            put(data, "limits.plausible_min_kpa", get(data, "limits.ambient_min_kpa") - 1)
        else:
            put(data, "limits.ambient_min_kpa", get(data, "limits.plausible_min_kpa") + 1)
    # every cup leaves a 5 kPa target below its cap band
    band = get(data, "limits.cap_band_kpa")
    for cup in data["cups"]:
        if cup["hard_limit_kpa"] - band < 5:
            if "limits.cap_band_kpa" not in fixed:
                band = max(limits.REGISTRY["limits.cap_band_kpa"][_LOW], cup["hard_limit_kpa"] - 5)
                put(data, "limits.cap_band_kpa", band)
            if cup["hard_limit_kpa"] - band < 5:
                cup["hard_limit_kpa"] = band + 5


def one_key():
    """(id, board data) for every key at each end of its absolute range, the rest at the defaults."""
    out = []
    for key in NUMERIC:
        for end, label in ((_LOW, "low"), (_HIGH, "high")):
            out.append(("%s=%s" % (key, label), board_with({key: limits.REGISTRY[key][end]}, key + "-" + label)))
    return out


def all_at_once():
    lows = {key: limits.REGISTRY[key][_LOW] for key in NUMERIC}
    # All low, but able to run a session: a sensor that reads the ambient the board accepts, and the
    # lowest target a program takes (8 kPa) below the cap band.
    lows["limits.max_target_kpa"] = _MIN_PROGRAM_TARGET_PA // 1000
    lows["cup.hard_limit_kpa"] = lows["limits.max_target_kpa"] + lows["limits.cap_band_kpa"]
    ambient = plant_ambient_pa(board_with(lows, "all-low"))
    lows["sensor.psi_max"] = int((ambient + 2000) / _PA_PER_PSI) + 1
    highs = {key: limits.REGISTRY[key][_HIGH] for key in NUMERIC}
    # All high, but with room for the highest target: a plausible minimum (60 kPa absolute) above
    # ambient minus the target would trip every session near its target.
    highest_target_kpa = min(60, highs["limits.max_target_kpa"], highs["cup.hard_limit_kpa"] - highs[
        "limits.cap_band_kpa"])
    highs["limits.plausible_min_kpa"] = min(highs["limits.plausible_min_kpa"],
                                            highs["limits.ambient_min_kpa"] - highest_target_kpa - 1)
    widest = dict(highs, **{key: limits.REGISTRY[key][_LOW] for key in _WIDEST_LOW})
    # The widest board driven by its integral alone: with kp and ff at zero the output leaves
    # saturation, so the integral step is taken with the largest errors and the longest period.
    integral = dict(widest, **{key: limits.REGISTRY[key][_LOW] for key in ("regulator.kp", "regulator.ff")})
    return [("all-low", board_with(lows, "all-low")), ("all-high", board_with(highs, "all-high")),
            ("widest", board_with(widest, "widest")), ("widest-integral-only", board_with(integral, "integral"))]


def plant_ambient_pa(data):
    """An ambient pressure the board accepts: sea level if it can, else the nearest inside its windows."""
    low = get(data, "limits.ambient_min_kpa") * 1000 + 1000
    high = min(get(data, "limits.ambient_max_kpa"), get(data, "limits.plausible_max_kpa")) * 1000 - 2000
    return max(low, min(_SEA_LEVEL_PA, high))


def sensor_reads_ambient(data):
    return get(data, "sensor.psi_max") * _PA_PER_PSI > plant_ambient_pa(data) + 2000


def session_cup(board):
    """The cup with the lowest hard limit: its cap band is the most likely to bound the target."""
    return min(board.cups, key=lambda cup: cup.hard_limit_pa)


def ceiling_pa(board, program_max_pa):
    """The highest target a program may ask for on this board's session cup, to whole Pa."""
    return min(program_max_pa, programs.max_target_pa(board, session_cup(board), "normal"))


def can_run_sessions(data):
    board = boardcfg.load(data)
    return sensor_reads_ambient(data) and ceiling_pa(board, 30000) >= _MIN_PROGRAM_TARGET_PA


def _kpa(pa):
    return "%d.%03d" % (pa // 1000, pa % 1000)


# (program line template, hold after the soft ramp in ms or None for halfway up the ramp,
#  fault kind, fault value, expected fault)
_FULL = (
    # A rim that leaks hard but not at once (a cup coming off at once trips vacuum_lost on the next
    # reading): the vacuum sinks below half the target, the regulator's error grows large, and leak
    # trips. The value (None) is set per board, from its ceiling: _sinking_leak().
    ("static target={c60}", 3000, "leak_burst", None, faults.LEAK),
    ("interval high={c60} low=0 high_s=2 low_s=2", 5000, "status_integrity", 0, faults.SENSOR_STATUS),
    ("ramp target={c60} rate=5", 2000, "i2c_nack", 0, faults.SENSOR_BUS),
    ("massage target={c30}", 2000, "sensor_busy", 0, faults.SENSOR_TIMEOUT),
    ("static target={c60}", None, "sensor_frozen", 0, faults.SENSOR_DISAGREES),  # only while pumping
    ("static target={c60}", 1000, "sensor_stuck_counts", 0, faults.SENSOR_IMPLAUSIBLE),
    ("static target={c60}", 1000, "sensor_stuck_counts", 0xFFFFFF, faults.SENSOR_IMPLAUSIBLE),
    ("static target={c60}", 1000, "button", 0, faults.EMERGENCY),
    ("static target={c60}", 1000, "loop_stall", 0, faults.WATCHDOG_RESET),
)
SHORT = _FULL[:1]
FULL = _FULL
_NEEDS_PUMPING = (faults.LEAK, faults.SENSOR_DISAGREES)  # rules that watch the pump working


def regulator_pumps(board):
    """False on a board whose gains are all zero: its regulator never asks for any duty."""
    return bool(board.regulator_kp or board.regulator_ki or board.regulator_ff)


def _fault_window_ms(kind, board):
    """How long the fault must last to latch (it is held until the segment ends)."""
    return {"leak_burst": board.leak_timeout_ms, "i2c_nack": board.sensor_timeout_ms,
            "sensor_busy": board.sensor_timeout_ms, "sensor_frozen": board.frozen_ms,
            "loop_stall": board.watchdog_ms}.get(kind, 0) + 1000


def _sinking_leak(target_pa):
    """A rim leak (µl/s per kPa) against which the default pump holds well under half of ``target_pa``,
    yet which drains the cup slower than vacuum_lost's 5 kPa a tick at the slowest loop."""
    return max(1000, 60000 * 1000 // target_pa)


def tour(data, segments):
    """A simulator spec: each segment starts a program at the ceiling, holds, injects its fault,
    and is acknowledged before the next starts. Returns (spec, expected fault codes)."""
    board = boardcfg.load(data)
    cup = session_cup(board)
    c60, c30 = ceiling_pa(board, 60000), ceiling_pa(board, 30000)
    period = 1000 // board.loop_hz
    prepare_ms = 4 * _WINDOW_MS + 200  # two windows at rest, one more if the cup was still venting, margin
    minutes = min(board.max_session_ms // 60000, 20)
    commands, injected, expected = [], [], set()
    t = 0
    for index, (line, hold_ms, kind, value, fault) in enumerate(segments):
        start = "start " + line.format(c60=_kpa(c60), c30=_kpa(c30)) + " minutes=%d cup=%s" % (minutes, cup.name)
        if index:  # one period apart: MicroPython's sort (of the runner's command list) is not stable
            commands.append({"at_ms": t - period, "line": "ack"})
        commands.append({"at_ms": t, "line": start})
        peak = c30 if "{c30}" in line else c60
        ramp_ms = min(peak * 1000 // board.soft_ramp_pa_s, minutes * 60000 - 8000)
        at = t + prepare_ms + (ramp_ms // 2 if hold_ms is None else ramp_ms + hold_ms)
        window = _fault_window_ms(kind, board)
        # The button and the stall must be over before the acknowledgement.
        duration = 200 if kind == "button" else window - 500
        injected.append({"kind": kind, "at_ms": at, "duration_ms": duration,
                         "value": _sinking_leak(peak) if value is None else value})
        can_fire = fault not in _NEEDS_PUMPING or regulator_pumps(board)
        if fault == faults.LEAK:
            can_fire = can_fire and board.leak_duty <= board.pump_max_duty
        if can_fire:
            expected.add(fault)
        t = at + window + (prepare_ms if kind == "loop_stall" else 0)  # after a reset, ambient again
    spec = {"duration_ms": t, "commands": commands, "faults": injected,
            "plant": {"ambient_pa": plant_ambient_pa(data)}}
    return spec, expected, c60


def case(name, data, segments):
    """A job for tests/mpcases/alloc_extremes.py, and what it must show: (case, expected faults, ceiling)."""
    spec, expected, ceiling = tour(data, segments)
    # The plant models a 25 psi part; give it the board's range so the sensor matches its board file.
    full_scale_pa = round(get(data, "sensor.psi_max") * _PA_PER_PSI)
    return {"name": name, "board": data, "spec": spec, "full_scale_pa": full_scale_pa}, expected, ceiling
