"""cupctl benchmarks. Run with ``make bench``; the figures go into BENCHMARKS.md by hand.

Each benchmark prints what it measured and how. Machines are shared and noisy, so
comparisons (regulator vs bang-bang, incremental vs full deploy) are made in one run,
and timings are medians of repeats.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cupctl import boards, mpunix, replay, telemetry, trace
from cupctl.sim import runner, scenario, virtual_time

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5


def tick_cost_unix_port() -> None:
    """Median µs per steady-state tick on the unix port (alloc_tick.py, 20,000 ticks per run)."""
    results = {}
    path = ":".join(str(ROOT / d) for d in ("firmware", "host", "tests/mpcases"))
    for mode in ("tick", "tick+telemetry"):
        runs = []
        for _ in range(REPEATS):
            out = subprocess.run([mpunix.executable(), "-X", "heapsize=8M", "tests/mpcases/alloc_tick.py",
                                  "boards/esp32-devkitc.json", "20000", mode], cwd=ROOT, capture_output=True,
                                 text=True, env=dict(mpunix.env(), MICROPYPATH=path), check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1])["us_per_tick"])
        results[mode] = statistics.median(runs)
    print("tick cost, unix port: %.2f us/tick (tick only), %.2f us/tick (with telemetry encode at 50 Hz); "
          "median of %d runs of 20,000 ticks" % (results["tick"], results["tick+telemetry"], REPEATS))


def sim_speed() -> None:
    """Wall time for 30 simulated minutes of a static session on CPython (virtual time)."""
    spec = {"duration_ms": 30 * 60000, "program": "start static target=30 minutes=30"}
    board = boards.load(boards.DEFAULT)[1]
    times = []
    for _ in range(3):
        rows = []
        started = time.perf_counter()
        runner.run(spec, board, rows.append)
        times.append(time.perf_counter() - started)
    print("simulation: 30 simulated minutes (%d ticks) in %.2f s wall on CPython (median of 3), %.0fx real time"
          % (len(rows), statistics.median(times), 1800 / statistics.median(times)))


def parse_rate() -> None:
    """Host telemetry parsing, lines as the firmware encodes them."""
    encoder = telemetry.protocol.TelemetryEncoder()
    lines = [bytes(encoder.encode(i, i * 10, 7300000 + i, 29000 + i % 999, 30000, 500, 0, 2, 0))
             for i in range(200_000)]
    rates = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for line in lines:
            telemetry.parse_line(line)
        rates.append(len(lines) / (time.perf_counter() - started))
    print("telemetry parsing: %.0f records/s on CPython (median of %d x 200,000 lines)" % (
        statistics.median(rates), REPEATS))


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


def replay_rate() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        loaded = scenario.load(ROOT / "examples" / "scenarios" / "interval.toml")
        loaded.spec["duration_ms"] = 10 * 60000
        virtual_time.run(loaded, path)
        data = trace.read(path)
        rates = []
        for _ in range(3):
            started = time.perf_counter()
            report = replay.replay(data)
            rates.append(report.ticks / (time.perf_counter() - started))
        assert report.ok
    print("replay: %.0f ticks/s on CPython (median of 3 x %d ticks, compare included)" % (
        statistics.median(rates), report.ticks))


def regulation_quality() -> None:
    from bench import regulation

    regulation.report()


def deploy_ratio() -> None:
    """Incremental deploy (one file changed: board.json) vs mpremote cp -r of the whole firmware.

    Same virtual board. Both include the maintenance reboot that the armed watchdog makes
    necessary and the final reset. The pty is not paced like a 115200 baud UART, so the bytes
    each sends to the board are reported too: on a real link those dominate.
    """
    import json

    from cupctl.deploy import enter_maintenance, verify
    from cupctl.sim.vboard import VirtualBoard, populate_flash

    board_data = boards.load(boards.DEFAULT)[0]
    with tempfile.TemporaryDirectory() as tmp:
        variants = []
        for hz in (50, 25):
            path = Path(tmp) / ("board-%d.json" % hz)
            path.write_text(json.dumps(dict(board_data, telemetry_hz=hz)))
            variants.append(str(path))
        flash = Path(tmp) / "flash"
        populate_flash(flash, board_data)
        with VirtualBoard(flash) as vb:
            def deploy(board):
                subprocess.run([sys.executable, "-m", "cupctl.cli", "deploy", "--port", vb.port, "--board", board],
                               check=True, capture_output=True)

            deploy(variants[0])
            incremental, full, sent = [], [], {}
            for i in range(3):
                before = vb.bytes_from_host
                started = time.perf_counter()
                deploy(variants[(i + 1) % 2])
                incremental.append(time.perf_counter() - started)
                sent["incremental"] = vb.bytes_from_host - before
                before = vb.bytes_from_host
                started = time.perf_counter()
                enter_maintenance(vb.port, log=lambda text: None)  # else the armed watchdog cuts mpremote off
                subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, "cp", "-r",
                                str(ROOT / "firmware") + "/", ":", "+", "reset"], check=True, capture_output=True)
                verify(vb.port)  # as deploy does: until the firmware answers
                full.append(time.perf_counter() - started)
                sent["full"] = vb.bytes_from_host - before
                shutil.rmtree(flash / "firmware", ignore_errors=True)
    inc, whole = statistics.median(incremental), statistics.median(full)
    print("deploy: incremental (board.json changed; maintenance reboot, hash check, copy, reset, verify) %.2f s, "
          "%d bytes sent; mpremote cp -r firmware/ + reset + the same verify %.2f s, %d bytes sent; "
          "time full/incremental %.2f, bytes full/incremental %.1f (median of 3)"
          % (inc, sent["incremental"], whole, sent["full"], whole / inc, sent["full"] / sent["incremental"]))


BENCHMARKS = [tick_cost_unix_port, sim_speed, parse_rate, link_use, replay_rate, regulation_quality,
              deploy_ratio]

if __name__ == "__main__":
    only = sys.argv[1:]
    for bench in BENCHMARKS:
        if not only or bench.__name__ in only:
            bench()
