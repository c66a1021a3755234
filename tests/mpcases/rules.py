"""Supervisor rule cases, each firing and not firing, runnable on CPython and the unix port.

Each case is a virtual-time scenario on the default board. ``run_all()`` returns
one result line per case: name, final fault, first trip time, peak vacuum,
pump duty and valve state one tick after the trip.
"""

import json

from cupctl.sim import runner
from cupfw import boardcfg, faults

STATIC = "start static target=30 minutes=1"
# name: (spec additions, expected fault)
CASES = (
    ("clean_session", {}, faults.NONE),
    # A reading past the cup's limit (45 kPa absolute: 56 kPa of vacuum on a 50 kPa cup).
    ("hard_limit_fires", {"faults": [{"kind": "sensor_stuck_counts", "at_ms": 12000, "value": 5181672}]},
     faults.HARD_LIMIT),
    # A shorted MOSFET with a strong pump and a weak valve: the firmware can only trip and vent.
    ("pump_runaway_fires", {"plant": {"pump_ul_s": 60000, "valve_ul_s_kpa": 100},
                            "faults": [{"kind": "pump_stuck_on", "at_ms": 12000}]}, faults.PUMP_RUNAWAY),
    ("hard_limit_near_miss", {"program": "start static target=36 minutes=1 cup=M"}, faults.NONE),
    ("sensor_status_fires", {"faults": [{"kind": "status_integrity", "at_ms": 12000}]}, faults.SENSOR_STATUS),
    ("sensor_saturation_fires", {"faults": [{"kind": "status_saturation", "at_ms": 12000}]},
     faults.SENSOR_STATUS),
    ("sensor_power_fires", {"faults": [{"kind": "status_power", "at_ms": 12000}]}, faults.SENSOR_STATUS),
    ("sensor_bus_fires", {"faults": [{"kind": "i2c_nack", "at_ms": 12000}]}, faults.SENSOR_BUS),
    ("sensor_bus_glitch_tolerated",
     {"faults": [{"kind": "i2c_nack", "at_ms": 12000, "duration_ms": 30}]}, faults.NONE),
    ("sensor_timeout_fires", {"faults": [{"kind": "sensor_busy", "at_ms": 12000}]}, faults.SENSOR_TIMEOUT),
    ("sensor_implausible_fires",
     {"faults": [{"kind": "sensor_stuck_counts", "at_ms": 12000, "value": 0x19999A}]},
     faults.SENSOR_IMPLAUSIBLE),
    ("sensor_frozen_fires", {"faults": [{"kind": "sensor_frozen", "at_ms": 12000}]}, faults.SENSOR_FROZEN),
    ("leak_fires", {"faults": [{"kind": "pump_stall", "at_ms": 10000}]}, faults.LEAK),
    ("vacuum_lost_fires", {"faults": [{"kind": "cup_off", "at_ms": 10000}]}, faults.VACUUM_LOST),
    ("tube_off_fires", {"faults": [{"kind": "tube_off", "at_ms": 10000}]}, faults.VACUUM_LOST),
    ("leak_burst_tolerated",
     {"faults": [{"kind": "leak_burst", "at_ms": 12000, "duration_ms": 1000}]}, faults.NONE),
    ("emergency_fires", {"faults": [{"kind": "button", "at_ms": 12000, "duration_ms": 200}]},
     faults.EMERGENCY),
    ("heartbeat_fires", {"program": "start static target=30 minutes=1 hb=500"}, faults.HEARTBEAT),
    ("heartbeat_kept", {"program": "start static target=30 minutes=1 hb=500",
                        "commands": [{"at_ms": 400 * i, "line": "hb"} for i in range(1, 40)]},
     faults.NONE),
    ("watchdog_reset_fires", {"faults": [{"kind": "loop_stall", "at_ms": 12000, "duration_ms": 3000}]},
     faults.WATCHDOG_RESET),
    ("ambient_fires", {"plant": {"ambient_pa": 40000}}, faults.AMBIENT),
)


def load_board(path):
    with open(path) as f:
        return boardcfg.load(json.load(f))


def run_case(board, extra):
    spec = {"duration_ms": 15000, "program": STATIC}
    for key in extra:
        spec[key] = extra[key]
    rows = []
    runner.run(spec, board, rows.append)
    trip = None
    for i, row in enumerate(rows):
        if row[7] and trip is None:
            trip = i
    after = rows[trip + 1] if trip is not None and trip + 1 < len(rows) else rows[-1]
    peak = max(row[8] for row in rows)
    return [rows[-1][7], rows[trip][0] if trip is not None else -1, peak, after[4], after[5]]


class _Actuator:
    duty = 0
    vented = True

    def set(self, duty):
        self.duty = duty

    def vent(self):
        self.vented = True

    def hold(self):
        self.vented = False


def _session(board, pump=None):
    """A supervisor in a session on the board's first cup, with a good reading at 20 kPa of vacuum."""
    from cupfw.supervisor import Reading, Supervisor

    reading = Reading()
    reading.code = reading.counts = 7000000
    reading.fresh = True
    reading.pressure_pa = 80000
    reading.vacuum_pa = 20000
    sup = Supervisor(board, pump or _Actuator(), _Actuator())
    sup.begin_session(1000, board.cups[0].hard_limit_pa, 0, reading)
    return sup, reading


def over_duration_case(board, elapsed_ms):
    """The over-duration backstop, which a program's own end normally pre-empts: unit level."""
    sup, reading = _session(board)
    sup.actuate(reading, 20000, 0, True)
    reading.counts += 1  # a live sensor: its counts never repeat for long
    return sup.check(1000 + elapsed_ms, reading)


def duty_caps(board, headrooms):
    """The supervisor's duty cap, and the duty actually applied for a full-duty proposal, per headroom."""
    pump = _Actuator()
    sup, reading = _session(board, pump)
    caps = []
    for headroom in headrooms:
        reading.vacuum_pa = sup.hard_limit_pa - headroom
        sup.actuate(reading, 20000, 1000, True)
        caps.append([sup.duty_cap(reading.vacuum_pa), pump.duty])
    return caps


def stale_case(board):
    """A tick without a fresh reading never pumps, whatever the regulator asks."""
    pump = _Actuator()
    sup, reading = _session(board, pump)
    sup.actuate(reading, 20000, 200, True)
    fresh = pump.duty
    reading.code = -1  # busy: this tick's reading did not arrive
    reading.fresh = False
    sup.actuate(reading, 20000, 200, True)
    return [fresh, pump.duty]


def acknowledge_case(board):
    """Emergency latch: ack refused while held, accepted once released, and the pump stays off."""
    pump = _Actuator()
    sup, reading = _session(board, pump)
    reading.button = True
    tripped = sup.check(1010, reading)
    held = sup.acknowledge(True)
    released = sup.acknowledge(False)
    sup.actuate(reading, 20000, 800, True)
    return [tripped, held, released, sup.fault, pump.duty]


HEADROOMS = (10000, 4000, 2000, 1, 0, -500)


def run_all(board_path):
    board = load_board(board_path)
    results = [[name] + run_case(board, extra) for name, extra, _ in CASES]
    results.append(["acknowledge", acknowledge_case(board)])
    results.append(["stale", stale_case(board)])
    results.append(["duty_cap", duty_caps(board, HEADROOMS)])
    results.append(["over_duration", over_duration_case(board, board.max_session_ms),
                    over_duration_case(board, board.max_session_ms + 10)])
    return results


if __name__ == "__main__":
    import sys

    print(json.dumps(run_all(sys.argv[1])))
