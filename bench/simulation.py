"""``cupctl sim --scenario`` end to end (virtual_time.run, the function the CLI calls, writing its CSV)
against a plain loop that writes the same rows with the csv module; the replay's memory on the unix port."""

from __future__ import annotations

import csv
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.common import ROOT, compare, ratio, timed
from cupctl import mpunix, replay, trace
from cupctl.sim import scenario, virtual_time

MINUTES = 30


def _scenario(name: str, minutes: int):
    loaded = scenario.load(ROOT / "examples" / "scenarios" / name)
    loaded.spec["duration_ms"] = minutes * 60000
    loaded.spec["program"] = loaded.spec["program"].replace("minutes=1", "minutes=%d" % minutes)
    return loaded


def sim_end_to_end() -> None:
    loaded = _scenario("static.toml", MINUTES)
    with tempfile.TemporaryDirectory() as tmp:
        out, plain = Path(tmp) / "sim.csv", Path(tmp) / "plain.csv"
        count = virtual_time.run(loaded, out)
        header = [line for line in out.read_text().splitlines() if line.startswith("#")]
        with open(out, newline="") as f:
            rows = [row for row in csv.reader(line for line in f if not line.startswith("#"))]

        def baseline():
            with open(plain, "w", newline="") as f:
                f.write("\n".join(header) + "\n")
                writer = csv.writer(f, lineterminator="\n")
                for row in rows:
                    writer.writerow(row)

        mine, theirs = compare(lambda: virtual_time.run(loaded, out), baseline, repeats=3)
        ratio("sim --scenario, CPython", mine, theirs, "<= 2",
              detail="%d simulated minutes, %d rows, %.0fx real time" % (MINUTES, count, MINUTES * 60 / mine))
        micro = timed(lambda: virtual_time.run(loaded, out, runtime="micropython"))
        ratio("sim --scenario, micropython", micro, theirs, "report",
              detail="one run; %.0fx real time" % (MINUTES * 60 / micro))


def replay_rate() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        virtual_time.run(_scenario("interval.toml", 10), path)
        data = trace.read(path)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            report = replay.replay(data)
            times.append(time.perf_counter() - started)
        assert report.ok, report
    print("replay, CPython:                   %.0f ticks/s (median of 3 x %d ticks, compare included)" % (
        report.ticks / statistics.median(times), report.ticks), flush=True)


def replay_memory() -> None:
    """Peak RSS of the unix-port process replaying 10 and 60 minutes: streamed vs sent as one job."""
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in (10, 60):
            path = Path(tmp) / ("t%d.csv" % minutes)
            virtual_time.run(_scenario("interval.toml", minutes), path)
            peaks[minutes] = _replay_memory(trace.read(path), minutes)
    ratio("replay memory, 60 min / 10 min", peaks[60], peaks[10], "~1 (flat)", unit="kB")


def _replay_memory(data: trace.Trace, minutes: int) -> int:
    start = replay.first_replayable_row(data)
    board = json.loads(data.meta["board_file"])
    ticks = len(data.rows) - start
    streamed = _peak_rss(lambda: mpunix.stream_job({"kind": "replay", "board": board},
                                                   replay.ticks_of(data, start, len(data.rows))), ticks)
    try:
        job = _peak_rss(lambda: mpunix.run_job({"kind": "replay", "board": board,
                                                "ticks": list(replay.ticks_of(data, start, len(data.rows)))}), ticks)
        whole = "%.1f MB" % (job / 1024)
    except RuntimeError as e:
        whole = "fails (%s; its heap is 64 MB)" % (str(e)[:60] or "out of memory")
    print("replay --runtime micropython, %d min (%d ticks): peak RSS streamed %.1f MB; as one job %s"
          % (minutes, ticks, streamed / 1024, whole), flush=True)
    return streamed


def _peak_rss(job, expected: int) -> int:
    """Run an mpunix job to the end; the unix-port process's peak resident set (VmHWM), in kB."""
    peak = [0]
    start = mpunix._start

    def watched(heap):
        proc = start(heap)

        def watch():
            while proc.poll() is None:
                try:
                    for line in Path("/proc/%d/status" % proc.pid).read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
                except OSError:
                    pass
                time.sleep(0.02)

        threading.Thread(target=watch, daemon=True).start()
        return proc

    mpunix._start = watched
    try:
        outputs = sum(1 for kind, _ in job() if kind == "R")
    finally:
        mpunix._start = start
    if outputs != expected:
        raise RuntimeError("replay produced %d outputs for %d ticks" % (outputs, expected))
    return peak[0]
