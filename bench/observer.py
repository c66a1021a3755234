"""How fast a silent sensor is caught: frozen, or stuck at a plausible value below target.

Virtual time on CPython (bit-identical on the unix port), default board, static 36 kPa on cup S.
For pumps 1x, 3x and 5x the default on 50, 20 and 10 ml cups, the sensor goes silent while the
pump works (during the soft ramp, or holding at target), and the table gives the time to the trip
and how far the true vacuum got above the last reading the firmware believed.
Run: ``.venv/bin/python -m bench.run silent_sensor`` (part of ``make bench``).
"""

from __future__ import annotations

from cupctl import boards
from cupctl.sim import runner
from cupfw import faults

STUCK_10_KPA = 8830924  # raw counts of 91.3 kPa absolute: 10 kPa of vacuum
CASES = (("frozen in the soft ramp", 5000, {"kind": "sensor_frozen"}),
         ("frozen at target", 20000, {"kind": "sensor_frozen"}),
         ("stuck at 10 kPa, at target", 20000, {"kind": "sensor_stuck_counts", "value": STUCK_10_KPA}))


def measure(pump_x: int, cup_ml: int, at_ms: int, fault: dict) -> tuple[int, int, str]:
    """(ms from the fault to the trip, true vacuum above the last believed reading in Pa, fault name)."""
    board = boards.load(boards.DEFAULT)[1]
    spec = {"duration_ms": at_ms + 3000, "program": "start static target=36 minutes=1 cup=S",
            "plant": {"pump_ul_s": 20000 * pump_x, "cup_ul": cup_ml * 1000, "cup_diameter_mm": 25},
            "faults": [dict(fault, at_ms=at_ms)]}
    rows = []
    runner.run(spec, board, rows.append)
    believed = next(r[2] for r in rows if r[0] >= at_ms - 10)
    trip = next(r for r in rows if r[7])
    peak = max(r[8] for r in rows if r[0] >= at_ms)
    return trip[0] - at_ms, peak - believed, faults.NAMES[trip[7]]


def main() -> None:
    print("%-28s %-14s %10s %16s  %s" % ("sensor", "pump, cup", "trip after", "true - believed", "fault"))
    for name, at_ms, fault in CASES:
        for pump_x, cup_ml in ((1, 50), (3, 20), (5, 10)):
            after, gap, code = measure(pump_x, cup_ml, at_ms, fault)
            print("%-28s %dx, %3d ml %10s %13d Pa  %s" % (name, pump_x, cup_ml, "%d ms" % after, gap, code))


if __name__ == "__main__":
    main()
