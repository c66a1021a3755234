"""Random sessions against the plant, and the safety invariants every row must satisfy.

Shared by the hypothesis tests on CPython and the shorter run on the MicroPython unix port.
"""

import random

from cupctl.trace import TRACE_COLUMNS

# A stuck pump is injected too: with the default valve, venting holds the cup below every limit.
RANDOM_FAULTS = ("pump_stuck_on", "sensor_busy", "i2c_nack", "sensor_frozen", "status_power", "status_integrity",
                 "status_saturation", "sensor_stuck_counts", "weak_pump", "pump_stall", "leak_burst", "cup_off",
                 "button", "loop_stall")
COMMANDS = ("start static target={t} cup={c}", "start massage target={t} cup={c} site=back",
            "start interval high={t} low=5 high_s=3 low_s=2 cup={c}", "start ramp target={t} rate=2 cup={c}",
            "start static target={t} cup={c} hb=300", "stop", "ack", "status", "hb", "rate 10", "info",
            "start static target=99", "stat", "start", "start ramp rate=0 cup={c}", "\x00\xff junk", "maint x")
CUPS = ((5000, 20), (20000, 30), (50000, 40), (100000, 55))  # (µl, mm): from a tiny facial cup up
COLUMN = {name: i for i, name in enumerate(TRACE_COLUMNS + ("plant_vacuum_pa", "lift_um"))}


def random_spec(rng: random.Random, duration_ms=30000):
    plant = {
        "pump_ul_s": rng.choice([5000, 20000, 60000]),  # up to 3x the default pump
        "leak_ul_s_kpa": rng.choice([0, 20, 200]),
        "pump_max_vacuum_pa": rng.choice([40000, 75000, 90000]),
        "noise_pa": rng.choice([0, 15, 50]),
        "seed": rng.randrange(1, 1 << 31),
    }
    plant["cup_ul"], plant["cup_diameter_mm"] = rng.choice(CUPS)
    commands = []
    for _ in range(rng.randrange(1, 10)):
        line = rng.choice(COMMANDS).format(t=rng.choice([8, 20, 30, 36, 45]), c=rng.choice(["S", "M", "L"]))
        commands.append({"at_ms": rng.randrange(0, duration_ms), "line": line})
    faults = []
    for _ in range(rng.randrange(0, 3)):
        faults.append({"kind": rng.choice(RANDOM_FAULTS), "at_ms": rng.randrange(0, duration_ms),
                       "duration_ms": rng.choice([0, 30, 500, 5000]), "value": rng.choice([0, 3, 1677722])})
    return {"duration_ms": duration_ms, "plant": plant, "commands": commands, "faults": faults}


def violations(rows, events, board):
    """Every broken invariant, as text. ``events``: (row index, 't,kind,detail') pairs."""
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
    for i, row in enumerate(rows):
        limit = starts.get(i, limit)
        where = "t=%d ms" % row[c["t_ms"]]
        running = row[c["state"]] == 2
        if running and row[c["plant_vacuum_pa"]] > limit + 1000:
            found.append("%s: vacuum %d Pa over the hard limit %d + 1 kPa" % (where, row[c["plant_vacuum_pa"]], limit))
        if row[c["pump_duty"]] and row[c["vacuum_pa"]] > limit:
            found.append("%s: pump on above the hard limit" % where)
        if row[c["fault"]] and (row[c["pump_duty"]] or not row[c["valve_open"]]):
            found.append("%s: fault latched but pump %d, valve_open %d" % (
                where, row[c["pump_duty"]], row[c["valve_open"]]))
        if not running and (row[c["pump_duty"]] or not row[c["valve_open"]]):
            found.append("%s: no session but pump %d, valve_open %d" % (
                where, row[c["pump_duty"]], row[c["valve_open"]]))
    return found[:10]
