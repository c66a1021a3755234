"""cupctl benchmarks: ``make bench`` runs them all; ``.venv/bin/python -m bench.run NAME...`` runs some.

Each prints its result as ours / baseline, both measured in this run on this machine (shared and
noisy, so timings alternate ours and the baseline and take medians). A benchmark that fails raises,
and ``make bench`` exits non-zero. BENCHMARKS.md holds the figures, the command and the machine.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from bench import deploy, flash_wire, mqtt_load, parsing, simulation
from bench.common import ROOT, machine
from cupctl import boards, mpunix, telemetry
from cupctl.sim import runner

REPEATS = 5


def tick_cost_unix_port() -> None:
    """Median µs per steady-state tick on the unix port (alloc_tick.py, 20,000 ticks per run)."""
    results = {}
    for mode in ("tick", "tick+telemetry"):
        runs = []
        for _ in range(REPEATS):
            out = subprocess.run([mpunix.executable(), "-X", "heapsize=8M", "tests/mpcases/alloc_tick.py",
                                  "boards/esp32-devkitc.json", "20000", mode], cwd=ROOT, capture_output=True,
                                 text=True, env=mpunix.env(ROOT / "tests" / "mpcases"), check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1])["us_per_tick"])
        results[mode] = statistics.median(runs)
    print("tick cost, unix port: %.2f us/tick (tick only), %.2f us/tick (with telemetry encode at 50 Hz); "
          "median of %d runs of 20,000 ticks" % (results["tick"], results["tick+telemetry"], REPEATS))


def link_use() -> None:
    """Telemetry bytes per second at the default rate, counted from the firmware's own output."""
    board = boards.load(boards.DEFAULT)[1]
    sim = runner.Simulation({"duration_ms": 10000, "program": "start static target=30 minutes=1"}, board)
    counted = {"bytes": 0}
    sim.service.out.write = lambda data: counted.__setitem__("bytes", counted["bytes"] + len(data))
    while sim.t < 10000:
        sim.step()
    per_s = counted["bytes"] / 10
    print("link use at %d Hz telemetry: %.0f B/s measured (incl. events) = %.1f %% of 115200 baud; "
          "computed %d B/line x %d = %d B/s" % (board.telemetry_hz, per_s, per_s * 10 / 115200 * 100,
                                                 telemetry.protocol.TELEMETRY_LEN, board.telemetry_hz,
                                                 telemetry.protocol.TELEMETRY_LEN * board.telemetry_hz))


def silent_sensor() -> None:
    from bench import observer

    observer.main()


def regulation_quality() -> None:
    from bench import regulation

    regulation.report()


BENCHMARKS = {
    "tick_cost": tick_cost_unix_port,
    "sim": simulation.sim_end_to_end,
    "serial_parse": parsing.serial_lines,
    "trace_parse": parsing.trace_file,
    "link_use": link_use,
    "replay_rate": simulation.replay_rate,
    "replay_memory": simulation.replay_memory,
    "regulation": regulation_quality,
    "silent_sensor": silent_sensor,
    "deploy": deploy.run,
    "flash_wire": flash_wire.run,
    "mqtt_load": mqtt_load.main,
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit("unknown benchmark(s) %s; have: %s" % (", ".join(unknown), " ".join(BENCHMARKS)))
    print("machine: %s" % machine(), flush=True)
    for name, bench in BENCHMARKS.items():
        if not names or name in names:
            print("== %s  (.venv/bin/python -m bench.run %s)" % (name, name), flush=True)
            bench()


if __name__ == "__main__":
    main(sys.argv[1:])
