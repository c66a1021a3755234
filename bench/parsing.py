"""Parsing against a plain ``csv.reader`` loop over the same data, in the same run.

The baseline only splits text into strings (no integers, no checksum), and is handed the serial
lines already decoded to ``str``; ours checks and converts everything. Each ratio is ours / baseline
in time: below 1 is faster.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from bench.common import ROOT, compare, ratio
from cupctl import telemetry, trace
from cupctl.sim import scenario, virtual_time

LINES = 200_000
CHUNK = 4096  # lines per bulk call, about 4 s of telemetry at 1 kHz or a recorder's read


def telemetry_lines() -> list[bytes]:
    encoder = telemetry.protocol.TelemetryEncoder()
    return [bytes(encoder.encode(i, i * 10, 7300000 + i, 29000 + i % 999, 30000, 500, 0, 2, 0))[:-1]
            for i in range(LINES)]


def serial_lines() -> None:
    lines = telemetry_lines()
    text = [line.decode() for line in lines]

    def baseline():
        for _row in csv.reader(text):
            pass

    def one_at_a_time():
        parse = telemetry.parse_line
        for line in lines:
            parse(line)

    def records_in_bulk():
        for i in range(0, len(lines), CHUNK):
            telemetry.parse_lines(lines[i : i + CHUNK])

    def columns_in_bulk():
        for i in range(0, len(lines), CHUNK):
            values, ok = telemetry.decode_telemetry(lines[i : i + CHUNK])
            assert ok.all()

    for name, ours in (("serial lines, decode_telemetry", columns_in_bulk),
                       ("serial lines, parse_lines", records_in_bulk),
                       ("serial lines, parse_line", one_at_a_time)):
        mine, theirs = compare(ours, baseline)
        ratio(name, mine, theirs, "<= 1", detail="%d lines, %.0f lines/s" % (LINES, LINES / mine))


def trace_file() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        loaded = scenario.load(ROOT / "examples" / "scenarios" / "interval.toml")
        loaded.spec["duration_ms"] = 10 * 60000
        rows = virtual_time.run(loaded, path)

        def baseline():
            with open(path, newline="") as f:
                for _row in csv.reader(f):
                    pass

        def read_and_use_every_row():
            data = trace.read(path)
            for _row in data.rows:
                pass

        mine, theirs = compare(lambda: trace.read(path), baseline, repeats=21)  # 25 ms each: more repeats
        ratio("trace file, trace.read", mine, theirs, "<= 1", detail="%d rows, 10-minute trace" % rows)
        mine, theirs = compare(read_and_use_every_row, baseline, repeats=21)
        ratio("trace file, read + rows as tuples", mine, theirs, "<= 1", detail="every row made a tuple of ints")
