"""``cupctl sim --scenario``: run a scenario in virtual time on CPython or the unix port."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable

from cupctl import mpunix, telemetry
from cupctl.sim import runner
from cupctl.sim.scenario import Scenario
from cupctl.trace import TraceWriter
from cupfw.version import VERSION


def metadata(scenario: Scenario, runtime: str) -> dict:
    board = scenario.board
    return {
        "source": "sim scenario %s (%s runtime, virtual time)" % (scenario.path, runtime),
        "firmware": VERSION,
        "board": board.name,
        "limits": board.summary(),
        "program": scenario.spec.get("program", "none"),
        "board_file": json.dumps(scenario.board_data, separators=(",", ":")),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run(scenario: Scenario, out_path, runtime: str = "cpython",
        progress: Callable[[int, int], None] | None = None) -> int:
    """Write the scenario's trace to ``out_path``; returns the number of rows."""
    total = scenario.spec["duration_ms"]
    with TraceWriter(out_path, metadata(scenario, runtime), runner.COLUMNS, flush_every=2000) as writer:

        def on_events(lines):
            for line in lines:
                record = telemetry.parse_line(line.encode())
                if record is not None:
                    writer.event(record.text)

        def emit(row):
            writer.write(row)
            if progress and writer.count % 1000 == 0:
                progress(row[0], total)

        if runtime == "cpython":
            runner.run(scenario.spec, scenario.board, emit, on_events)
        else:
            job = {"kind": "sim", "board": scenario.board_data, "spec": scenario.spec}
            for kind, text in mpunix.run_job(job):
                if kind == "E":
                    on_events([text])
                elif kind == "R":
                    emit(tuple(int(v) for v in text.split(",")))
        return writer.count
