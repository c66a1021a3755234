"""Random sessions against the plant, and the safety invariants every row must satisfy.

Shared by the hypothesis tests on CPython, the shorter run on the MicroPython unix port and the
hazard scenarios. Every invariant is judged on the plant's true vacuum, not only the measured one.
"""

import random

from cupctl.trace import TRACE_COLUMNS

RUNNING = 2
START_VACUUM_MAX_PA = 500  # no session starts with more than this true vacuum left in the cup
OVER_LIMIT_PA = 1000  # the true vacuum stays within this of the session cup's hard limit
# A stuck pump only where the valve can vent against it: with a weak valve only hardware helps. No tube
# off: one that comes off while the cup vents reads like a vented cup, and the next session starts on the
# vacuum left (docs/safety.md, what the firmware cannot catch; the hazard scenarios cover a tube off in a
# session).
RANDOM_FAULTS = ("pump_stuck_on", "sensor_busy", "i2c_nack", "sensor_frozen", "status_power", "status_integrity",
                 "status_saturation", "sensor_stuck_counts", "weak_pump", "pump_stall", "leak_burst", "cup_off",
                 "button", "loop_stall", "reset")
GLITCHES = ("i2c_nack", "sensor_busy")
COMMANDS = ("start static target={t} cup={c}", "start massage target={t} cup={c} site=back",
            "start interval high={t} low=5 high_s=3 low_s=2 cup={c}", "start ramp target={t} rate=2 cup={c}",
            "start static target={t} cup={c} hb=300", "start static target={t} cup={c} tissue=soft",
            "stop", "ack", "status", "hb", "rate 10", "info",
            "start static target=99", "stat", "start", "start ramp rate=0 cup={c}", "\x00\xff junk", "maint x")
RESTART = ("stop", "ack", "start static target={t} cup={c}")
CUPS = ((5000, 20), (20000, 30), (50000, 40), (100000, 55), (200000, 60))  # (µl, mm): a facial cup to a big one
STUCK_COUNTS = (0x19999A, 8830924, 7800000)  # implausible, 10 kPa and ~28 kPa of vacuum
COLUMN = {name: i for i, name in enumerate(TRACE_COLUMNS + ("plant_vacuum_pa", "lift_um"))}


def random_spec(rng: random.Random, duration_ms=30000):
    valve = rng.choice([2000, 500])
    plant = {
        "pump_ul_s": rng.choice([5000, 20000, 60000, 100000]),  # up to 5x the default pump
        "leak_ul_s_kpa": rng.choice([0, 20, 200]),
        "pump_max_vacuum_pa": rng.choice([40000, 75000, 90000]),
        "valve_ul_s_kpa": valve,
        "noise_pa": rng.choice([0, 15, 50]),
        "seed": rng.randrange(1, 1 << 31),
    }
    plant["cup_ul"], plant["cup_diameter_mm"] = rng.choice(CUPS)
    commands = []
    for _ in range(rng.randrange(1, 10)):
        line = rng.choice(COMMANDS).format(t=rng.choice([8, 20, 30, 36, 40, 45]), c=rng.choice(["S", "M", "L"]))
        commands.append({"at_ms": rng.randrange(0, duration_ms), "line": line})
    for _ in range(rng.randrange(0, 3)):  # a restart soon after a stop or a fault: vacuum may be left in the cup
        at = rng.randrange(0, duration_ms)
        for line in RESTART:
            at += rng.choice([0, 10, 300, 1500])
            commands.append({"at_ms": at, "line": line.format(t=rng.choice([20, 30, 36]), c=rng.choice("SML"))})
    faults = []
    for _ in range(rng.randrange(0, 3)):
        kind = rng.choice(RANDOM_FAULTS if valve == 2000 else RANDOM_FAULTS[1:])
        fault = {"kind": kind, "at_ms": rng.randrange(1, duration_ms), "duration_ms": rng.choice([0, 30, 500, 5000]),
                 "value": rng.choice(STUCK_COUNTS) if kind == "sensor_stuck_counts" else rng.choice([0, 3, 1])}
        if kind in GLITCHES and rng.random() < 0.5:  # a burst of glitches
            fault.update(duration_ms=rng.choice([10, 20, 30]), every_ms=rng.choice([50, 70, 150]))
        faults.append(fault)
    if any(f["kind"] == "pump_stuck_on" for f in faults):
        # A stuck pump and then a power loss: RTC memory is gone, and a vented cup resting at the pump's
        # equilibrium vacuum reads like ambient (docs/safety.md, what the firmware cannot catch).
        for fault in faults:
            if fault["kind"] == "reset":
                fault["value"] = 0
        if plant["cup_ul"] < 20000 and plant["pump_ul_s"] >= 60000:
            # A 3x-5x pump stuck on at full power raises a 5 ml cup about 3 kPa a tick: in the two ticks it
            # takes to see any pump stuck on, that passes the 1 kPa allowed near a limit (docs/safety.md).
            plant["cup_ul"], plant["cup_diameter_mm"] = CUPS[1]
    return {"duration_ms": duration_ms, "plant": plant, "commands": commands, "faults": faults}


def violations(rows, events, board):
    """Every broken invariant, as text. ``events``: (row index, 't,kind,detail') pairs."""
    from cupfw import faults

    c = COLUMN
    limits = {cup.name: cup.hard_limit_pa for cup in board.cups}
    starts = {}
    for index, text in events:
        _, kind, detail = (text.split(",", 2) + ["", ""])[:3]
        if kind == "cmd" and detail.startswith("start "):
            cup = [w[4:] for w in detail.split() if w.startswith("cup=")][0]
            starts[index] = limits[cup]
    found = []
    limit = min(limits.values())
    ended_at = None  # row where the last session ended normally (running -> idle)
    for i, row in enumerate(rows):
        limit = starts.get(i, limit)
        where = "t=%d ms" % row[c["t_ms"]]
        running = row[c["state"]] == RUNNING
        true_vacuum = row[c["plant_vacuum_pa"]]
        if true_vacuum > limit + OVER_LIMIT_PA:
            found.append("%s: true vacuum %d Pa over the hard limit %d + 1 kPa" % (where, true_vacuum, limit))
        if row[c["pump_duty"]] and row[c["vacuum_pa"]] > limit:
            found.append("%s: pump on above the hard limit" % where)
        if row[c["fault"]] and (row[c["pump_duty"]] or not row[c["valve_open"]]):
            found.append("%s: fault latched but pump %d, valve_open %d" % (
                where, row[c["pump_duty"]], row[c["valve_open"]]))
        if not running and (row[c["pump_duty"]] or not row[c["valve_open"]]):
            found.append("%s: no session but pump %d, valve_open %d" % (
                where, row[c["pump_duty"]], row[c["valve_open"]]))
        if i and running and rows[i - 1][c["state"]] != RUNNING and true_vacuum > START_VACUUM_MAX_PA:
            found.append("%s: a session started with %d Pa of true vacuum in the cup" % (where, true_vacuum))
        if i and running and rows[i - 1][c["state"]] == RUNNING:
            rise = row[c["target_pa"]] - rows[i - 1][c["target_pa"]]
            allowed = board.soft_ramp_pa_s * (row[c["t_ms"]] - rows[i - 1][c["t_ms"]]) // 1000
            if rise > allowed:
                found.append("%s: target rose %d Pa in one tick, more than the soft ramp's %d" % (where, rise, allowed))
        if row[c["lift_um"]] > board.max_lift_mm * 1000:
            found.append("%s: tissue lift %d um over %d mm" % (where, row[c["lift_um"]], board.max_lift_mm))
        if i and not running and rows[i - 1][c["state"]] == RUNNING and not row[c["fault"]]:
            ended_at = i
        if ended_at is not None and row[c["fault"]] == faults.HARD_LIMIT and true_vacuum <= limit:
            found.append("%s: a normal end latched hard_limit with the cup within its limit" % where)
        if row[c["fault"]]:
            ended_at = None
    return found[:10]
