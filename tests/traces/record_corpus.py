"""Record the replay corpus from the virtual board: every program and every injectable fault.

Run from the repository root: ``.venv/bin/python tests/traces/record_corpus.py`` (about 4 minutes).
Each trace's metadata says it was recorded from the virtual board, with the scenario.
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

from cupctl import boards
from cupctl.sim.demo import record_session
from cupctl.sim.injection import FAULT_KINDS
from cupctl.sim.vboard import VirtualBoard, populate_flash

HERE = Path(__file__).resolve().parent
STATIC = "start static target=30 minutes=1 cup=M"
FAULT_AT_MS = 8000
PROGRAMS = {
    "program-static": (STATIC, {}),
    "program-massage": ("start massage target=20 minutes=1 cup=M site=back",
                        {"faults": [{"kind": "leak_burst", "at_ms": 5000, "duration_ms": 500, "every_ms": 2500,
                                     "value": 800}]}),
    "program-interval": ("start interval high=30 low=10 high_s=3 low_s=2 minutes=1 cup=M", {}),
    "program-ramp": ("start ramp target=25 rate=2 minutes=1 cup=S", {}),
}
FAULT_DETAILS = {
    "weak_pump": {"value": 3}, "sensor_stuck_counts": {"value": 1677722}, "button": {"duration_ms": 300},
    "leak_burst": {"duration_ms": 1000, "value": 1500}, "tube_kink": {"value": 100},
}
PLANTS = {"pump_stuck_on": {"pump_ul_s": 60000, "valve_ul_s_kpa": 100}}


def cases():
    yield from PROGRAMS.items()
    for kind in FAULT_KINDS:
        fault = dict({"kind": kind, "at_ms": FAULT_AT_MS}, **FAULT_DETAILS.get(kind, {}))
        yield "fault-" + kind.replace("_", "-"), (STATIC, {"faults": [fault], "plant": PLANTS.get(kind, {})})


def main(only=()):
    board_data = boards.load(boards.DEFAULT)[0]
    for name, (program, spec) in cases():
        if only and name not in only:
            continue
        flash = Path(tempfile.mkdtemp(prefix="cupctl-corpus-"))
        populate_flash(flash, board_data)
        path = HERE / (name + ".csv")
        with VirtualBoard(flash, spec) as vb:
            rows = record_session(vb.port, path, program, 13.0)
        text = path.read_text().replace(
            "# source: recorded from %s" % vb.port,
            "# source: recorded from the virtual board (tests/traces/record_corpus.py), scenario %s"
            % json.dumps(spec, separators=(",", ":")), 1)
        path.write_text(text)
        shutil.rmtree(flash)
        print("%-28s %5d rows, resets %s" % (name, rows, vb.resets), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
