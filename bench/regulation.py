"""Regulation quality: the PI regulator vs a bang-bang baseline, on the default plant and on a matrix of plants.

All run the same scenario in the same process; metrics use the plant's true vacuum. The matrix is the full
product of pump flow (0.5x, 1x, 2x, 3x the default 20 ml/s), cup volume (20, 50, 100 ml), peak sensor noise
(15, 30, 60 Pa) and rim leak (a sealed cup, the default 0.02 ml/s per kPa, and 5x that): 108 plants, each a
static 30 kPa session of one minute; everything else is the simulator's default plant. Besides bang-bang,
the matrix runs the same PI with its gains fixed at the board's (the adaptation off), to show what the
adaptation does. The massage rows repeat the default plant's leak bursts on the matrix's 60 Pa plants.
Run: ``.venv/bin/python -m bench.run regulation`` (part of ``make bench``).
"""

from __future__ import annotations

import itertools

from cupctl import boards
from cupctl.sim import plant, runner
from cupfw import faults
from cupfw.controller import RUNNING
from cupfw.regulator import Regulator

TARGET_PA = 30000
SETTLED_MS = 20000  # the steady RMS is taken from here to the end of the session
OVERSHOOT_GOAL_PA = 1000
RMS_GOAL_PA = 300
PUMPS_X = (0.5, 1, 2, 3)
CUPS_ML = (20, 50, 100)
NOISES_PA = (15, 30, 60)
LEAKS = (("sealed", 0), ("rim", 1), ("leaky", 5))  # times the default rim leak
PI, FIXED, BANG_BANG = "PI", "PI, fixed gains", "bang-bang"
LEAK_BURSTS = {"kind": "leak_burst", "at_ms": 12000, "duration_ms": 600, "every_ms": 4000, "value": 800}


class BangBang:
    """Full duty below target, off above, vent when over by the bleed band: the naive baseline."""

    def __init__(self, band_pa):
        self.band_pa = band_pa
        self.bleed = False

    def reset(self):
        self.bleed = False

    def update(self, target_pa, vacuum_pa, cap, rise_pa=0):
        self.bleed = target_pa <= 0 or vacuum_pa > target_pa + self.band_pa
        return cap if vacuum_pa < target_pa else 0


class FixedGains(Regulator):
    """The firmware's regulator told nothing of the pump: the board's gains on every plant."""

    def update(self, target_pa, vacuum_pa, cap, rise_pa=0):
        return super().update(target_pa, vacuum_pa, cap, 0)


def simulate(program, duration_ms, faults=(), kind=PI, plant_params=None):
    """Rows (t, raw, vac, target, duty, valve, state, fault, plant, lift) while the session runs, and the
    first fault latched (0 if none)."""
    board = boards.load(boards.DEFAULT)[1]
    spec = {"duration_ms": duration_ms, "program": program, "faults": list(faults), "plant": plant_params or {}}
    sim = runner.Simulation(spec, board)
    if kind == BANG_BANG:
        sim.ctl.regulator = BangBang(board.regulator_bleed_band_pa)
    elif kind == FIXED:
        sim.ctl.regulator = FixedGains(board, board.period_ms)
    rows = []
    while sim.t <= duration_ms:
        rows.append(sim.step())
    fault = next((r[7] for r in rows if r[7]), 0)
    return [r for r in rows if r[6] == RUNNING], fault


def static_metrics(rows):
    """(overshoot, steady RMS error, soft-ramp tracking error) in Pa, of a static 30 kPa session."""
    start = rows[0][0]
    ramp = [r for r in rows if r[3] < TARGET_PA and r[0] - start > 1000]
    hold = [r for r in rows if r[0] - start > SETTLED_MS]
    overshoot = max(r[8] for r in rows) - TARGET_PA
    rms = (sum((r[8] - TARGET_PA) ** 2 for r in hold) / len(hold)) ** 0.5 if hold else float("inf")
    tracking = max((abs(r[8] - r[3]) for r in ramp), default=float("inf"))
    return overshoot, rms, tracking


def recovery_times(rows, events_ms, level_of):
    """For each event time, seconds until the plant is within 1 kPa of the target level."""
    times = []
    for event in events_ms:
        after = [r for r in rows if r[0] >= event]
        for r in after:
            if abs(r[8] - level_of(r)) <= 1000:
                times.append((r[0] - event) / 1000)
                break
        else:
            times.append(float("inf"))
    return times


def massage(kind, plant_params=None):
    """(worst seconds back within 1 kPa after a burst ends, worst Pa above 20 kPa after the first burst,
    fault name or '') of a one-minute back massage with a 0.6 s leak every 4 s."""
    rows, fault = simulate("start massage target=20 minutes=1 site=back", 60000, [LEAK_BURSTS], kind, plant_params)
    ends = [12000 + 600 + k * 4000 for k in range(11)]
    overshoot = max((r[8] - 20000 for r in rows if r[0] > 12000), default=float("inf"))
    return max(recovery_times(rows, ends, lambda r: 20000)), overshoot, faults.NAMES[fault] if fault else ""


def interval(kind):
    rows, _ = simulate("start interval high=30 low=10 high_s=20 low_s=10 minutes=2", 120000, (), kind)
    start = rows[0][0]
    changes = [start + ms for ms in (20000, 30000, 50000, 60000, 80000, 90000)]
    return max(recovery_times(rows, changes, lambda r: r[3]))


def default_plant():
    results = {}
    for kind in (PI, BANG_BANG):
        rows, _ = simulate("start static target=30 minutes=1", 60000, (), kind)
        overshoot, rms, tracking = static_metrics(rows)
        results[kind] = (overshoot / 1000, rms / 1000, tracking / 1000, massage(kind)[0], interval(kind))
    labels = ("static 30 kPa overshoot (kPa, target <= 1)", "static 30 kPa steady RMS error (kPa, target <= 0.3)",
              "static soft-ramp tracking error (kPa, target <= 1)",
              "massage: worst recovery to 1 kPa after a leak (s, target <= 1.5)",
              "interval: worst settling to 1 kPa after a level change (s, target <= 2)")
    print("regulation, default plant (metric: PI | bang-bang | bang-bang/PI):")
    for i, label in enumerate(labels):
        pi, bb = results[PI][i], results[BANG_BANG][i]
        print("  %-70s %7.3f | %7.3f | %s" % (label, pi, bb, "%.1f" % (bb / pi) if pi else "-"))
    return results


def plants():
    """(label, plant parameters) of every plant in the matrix."""
    defaults = plant.DEFAULTS
    for pump_x, cup_ml, noise_pa, (leak_name, leak_x) in itertools.product(PUMPS_X, CUPS_ML, NOISES_PA, LEAKS):
        label = "%gx %3d ml %2d Pa %s" % (pump_x, cup_ml, noise_pa, leak_name)
        yield label, {"pump_ul_s": int(defaults["pump_ul_s"] * pump_x), "cup_ul": cup_ml * 1000,
                      "noise_pa": noise_pa, "leak_ul_s_kpa": defaults["leak_ul_s_kpa"] * leak_x}


def static_on(plant_params, kind):
    """(overshoot Pa, steady RMS Pa, fault name or '') of one static 30 kPa minute on the plant."""
    rows, fault = simulate("start static target=30 minutes=1", 60000, (), kind, plant_params)
    overshoot, rms, _ = static_metrics(rows) if rows else (float("inf"), float("inf"), 0)
    return overshoot, rms, faults.NAMES[fault] if fault else ""


def matrix():
    """Every plant with each regulator; prints the table and the worst cases against the goals."""
    kinds = (PI, BANG_BANG, FIXED)
    print("regulation matrix: static 30 kPa, true vacuum, Pa; RMS from %d s to the end (60 s); "
          "a session ended by a fault shows the fault" % (SETTLED_MS // 1000))
    print("  %-24s %-15s | %-15s | %-9s | %s" % ("pump cup noise leak", "PI: over RMS", "bang-bang: over RMS",
                                                "bb/PI RMS", "PI, fixed gains: over RMS"))
    results = []
    for label, params in plants():
        result = {kind: static_on(params, kind) for kind in kinds}
        results.append((label, result))
        pi, bb = result[PI], result[BANG_BANG]
        print("  %-24s %-15s | %-19s | %-9s | %s" % (
            label, _cell(pi), _cell(bb), "%.1f" % (bb[1] / pi[1]) if pi[1] and not (pi[2] or bb[2]) else "-",
            _cell(result[FIXED])), flush=True)
    for leak in (None,) + tuple(name for name, _ in LEAKS):
        group = [r for r in results if leak is None or r[0].endswith(" " + leak)]
        where = "all %d plants" % len(group) if leak is None else "the %d %s plants" % (len(group), leak)
        for index, name, goal in ((0, "overshoot", OVERSHOOT_GOAL_PA), (1, "steady RMS", RMS_GOAL_PA)):
            print("worst %-10s of %s: %s" % (name, where, _against(group, index, goal, kinds)), flush=True)
    for kind in kinds:
        tripped = sorted(set(r[1][kind][2] for r in results if r[1][kind][2]))
        count = sum(1 for r in results if r[1][kind][2])
        print("%s: sessions ended by a fault: %d of %d%s" % (kind, count, len(results),
                                                             " (%s)" % ", ".join(tripped) if tripped else ""))
    return results


def massage_matrix():
    """The leak-burst massage on the matrix's 60 Pa plants: worst recovery, worst overshoot, faults."""
    chosen = [(label, params) for label, params in plants() if " 60 Pa " in label]
    print("massage on the %d plants with 60 Pa noise (20 kPa, 0.6 s leak every 4 s from 12 s):" % len(chosen))
    for kind in (PI, BANG_BANG, FIXED):
        results = [(label, massage(kind, params)) for label, params in chosen]
        held = [r for r in results if not r[1][2]]
        tripped = [r[0] for r in results if r[1][2]]
        print("  %-15s worst recovery %s, worst overshoot after a burst %s; ended by a fault: %d%s" % (
            kind + ":", "%.2f s (%s)" % max((r[1][0], r[0]) for r in held) if held else "-",
            "%.0f Pa (%s)" % max((r[1][1], r[0]) for r in held) if held else "-", len(tripped),
            " (%s: %s)" % (", ".join(sorted(set(r[1][2] for r in results if r[1][2]))), "; ".join(tripped))
            if tripped else ""), flush=True)


def _cell(result):
    overshoot, rms, fault = result
    return fault if fault else "%6.0f %6.0f" % (overshoot, rms)


def _against(group, index, goal, kinds):
    """Each regulator's worst plant (a session that faulted misses the goal), the goal for PI, and the ratio
    of bang-bang's worst to PI's over the plants where neither session faulted."""
    parts = []
    for kind in kinds:
        held = [r for r in group if not r[1][kind][2]]
        value, label = max((r[1][kind][index], r[0]) for r in held) if held else (float("inf"), "-")
        faulted = len(group) - len(held)
        parts.append("%s %.0f Pa (%s)%s" % (kind, value, label, ", %d faulted" % faulted if faulted else ""))
    pi = max((r[1][PI][index] if not r[1][PI][2] else float("inf")) for r in group)
    verdict = "met" if pi <= goal else "MISSED by %.0f Pa" % (pi - goal)
    both = [r for r in group if not (r[1][PI][2] or r[1][BANG_BANG][2])]
    ratio = "-"
    if both and max(r[1][PI][index] for r in both) > 0:
        ratio = "%.1f over the %d plants both held" % (
            max(r[1][BANG_BANG][index] for r in both) / max(r[1][PI][index] for r in both), len(both))
    return "%s; ratio bang-bang/PI %s; goal <= %d Pa on every plant (PI): %s" % ("; ".join(parts), ratio, goal,
                                                                                  verdict)


def report():
    default_plant()
    massage_matrix()
    return matrix()


if __name__ == "__main__":
    report()
