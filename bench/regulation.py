"""Regulation quality on the simulator's default plant: the PI regulator vs a bang-bang baseline.

Both run the same scenario in the same process; metrics use the plant's true vacuum.
"""

from __future__ import annotations

from cupctl import boards
from cupctl.sim import runner

from controller import RUNNING  # isort: skip


class BangBang:
    """Full duty below target, off above, vent when over by the bleed band: the naive baseline."""

    def __init__(self, band_pa):
        self.band_pa = band_pa
        self.bleed = False

    def reset(self):
        self.bleed = False

    def update(self, target_pa, vacuum_pa, cap):
        self.bleed = target_pa <= 0 or vacuum_pa > target_pa + self.band_pa
        return cap if vacuum_pa < target_pa else 0


def simulate(program, duration_ms, faults=(), baseline=False):
    board = boards.load(boards.DEFAULT)[1]
    sim = runner.Simulation({"duration_ms": duration_ms, "program": program, "faults": list(faults)}, board)
    if baseline:
        sim.ctl.regulator = BangBang(board.regulator_bleed_band_pa)
    rows = []
    while sim.t <= duration_ms:
        rows.append(sim.step())
    return [r for r in rows if r[6] == RUNNING]  # (t, raw, vac, target, duty, valve, state, fault, plant, lift)


def static_metrics(rows):
    start = rows[0][0]
    ramp = [r for r in rows if r[3] < 30000 and r[0] - start > 1000]
    hold = [r for r in rows if r[0] - start > 20000]
    overshoot = max(r[8] for r in rows) - 30000
    rms = (sum((r[8] - 30000) ** 2 for r in hold) / len(hold)) ** 0.5
    tracking = max(abs(r[8] - r[3]) for r in ramp)
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


def massage(baseline):
    leak = {"kind": "leak_burst", "at_ms": 12000, "duration_ms": 600, "every_ms": 4000, "value": 800}
    rows = simulate("start massage target=20 minutes=1 site=back", 60000, [leak], baseline)
    ends = [12000 + 600 + k * 4000 for k in range(11)]
    return max(recovery_times(rows, ends, lambda r: 20000))


def interval(baseline):
    rows = simulate("start interval high=30 low=10 high_s=20 low_s=10 minutes=2", 120000, (), baseline)
    start = rows[0][0]
    changes = [start + ms for ms in (20000, 30000, 50000, 60000, 80000, 90000)]
    return max(recovery_times(rows, changes, lambda r: r[3]))


def report():
    results = {}
    for name, baseline in (("PI", False), ("bang-bang", True)):
        rows = simulate("start static target=30 minutes=1", 60000, (), baseline)
        overshoot, rms, tracking = static_metrics(rows)
        results[name] = (overshoot / 1000, rms / 1000, tracking / 1000, massage(baseline), interval(baseline))
    labels = ("static 30 kPa overshoot (kPa, target <= 1)", "static 30 kPa steady RMS error (kPa, target <= 0.3)",
              "static soft-ramp tracking error (kPa, target <= 1)",
              "massage: worst recovery to 1 kPa after a leak (s, target <= 1.5)",
              "interval: worst settling to 1 kPa after a level change (s, target <= 2)")
    print("regulation, default plant (metric: PI | bang-bang | bang-bang/PI):")
    for i, label in enumerate(labels):
        pi, bb = results["PI"][i], results["bang-bang"][i]
        print("  %-70s %7.3f | %7.3f | %s" % (label, pi, bb, "%.1f" % (bb / pi) if pi else "-"))
    return results


if __name__ == "__main__":
    report()
