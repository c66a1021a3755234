"""Replay a trace through the firmware core and diff the outputs tick by tick."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cupctl import mpunix, mpwasm, replaycore
from cupctl.trace import Trace, TraceError

import boardcfg  # isort: skip
import faults  # isort: skip
from controller import IDLE, RUNNING, STATE_NAMES  # isort: skip


@dataclass
class Divergence:
    line: int  # in the trace file, 1-based
    t_ms: int
    column: str
    recorded: int
    replayed: int


@dataclass
class Report:
    ticks: int = 0
    first_row: int = 0
    divergence: Divergence | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.divergence is None and not self.violations


def board_of(trace: Trace):
    try:
        return boardcfg.load(json.loads(trace.meta["board_file"]))
    except KeyError:
        raise TraceError("trace metadata has no board_file: cannot replay without the board's limits")
    except (ValueError, boardcfg.BoardError) as e:
        raise TraceError("trace metadata board_file is not a valid board: %s" % e)


def ticks_of(trace: Trace, start: int):
    idx = {name: trace.columns.index(name) for name in ("t_ms", "raw_counts", "vacuum_pa", "state", "fault")}
    commands: dict[int, list[str]] = {}
    for row_index, text in trace.events:
        _, kind, detail = (text.split(",", 2) + ["", ""])[:3]
        if kind == "cmd":
            commands.setdefault(row_index, []).append(detail)
        elif kind == "boot":
            commands.setdefault(row_index, []).append(replaycore.BOOT)
    for i in range(start, len(trace.rows)):
        row = trace.rows[i]
        yield [row[idx["t_ms"]], row[idx["raw_counts"]], row[idx["vacuum_pa"]], row[idx["state"]],
               row[idx["fault"]], commands.get(i, [])]


def first_replayable_row(trace: Trace) -> int:
    """Row 0 if the trace starts at boot, else the first idle row with a good reading."""
    if any(index == 0 and ",boot," in "," + text for index, text in trace.events):
        return 0
    states = trace.column("state")
    raw = trace.column("raw_counts")
    for i, (state, counts) in enumerate(zip(states, raw)):
        if state == IDLE and counts >= 0:
            return i
    raise TraceError("the recording began mid-session (%s) and never shows the device idle: start recording "
                     "before the session, e.g. cupctl session start ... --record FILE" % STATE_NAMES[states[0]])


JOB_RUNNERS = {"micropython": mpunix.run_job, "wasm": mpwasm.run_job}


def replay(trace: Trace, runtime: str = "cpython") -> Report:
    board = board_of(trace)
    start = first_replayable_row(trace)
    ticks = list(ticks_of(trace, start))
    if runtime == "cpython":
        outputs: list = []
        replaycore.replay(board, ticks, outputs.append)
    else:
        job = {"kind": "replay", "board": json.loads(trace.meta["board_file"]), "ticks": ticks}
        outputs = [tuple(int(v) for v in text.split(",")) for kind, text in JOB_RUNNERS[runtime](job)
                   if kind == "R"]
    return compare(trace, start, outputs, board)


def compare(trace: Trace, start: int, outputs: list, board) -> Report:
    report = Report(first_row=start)
    cols = [trace.columns.index(name) for name in replaycore.OUTPUTS]
    t_col = trace.columns.index("t_ms")
    hard_limit = max(c.hard_limit_pa for c in board.cups)
    for offset, replayed in enumerate(outputs):
        i = start + offset
        row = trace.rows[i]
        report.ticks += 1
        _check_invariants(report, row[t_col], dict(zip(replaycore.OUTPUTS, replayed)), hard_limit)
        if report.divergence is None:
            for name, col, value in zip(replaycore.OUTPUTS, cols, replayed):
                if row[col] != value:
                    report.divergence = Divergence(trace.line_numbers[i], row[t_col], name, row[col], value)
                    break
    if report.ticks != len(trace.rows) - start:
        report.violations.append("replay produced %d ticks for %d rows" % (report.ticks, len(trace.rows) - start))
    return report


def _check_invariants(report: Report, t_ms: int, out: dict, hard_limit: int) -> None:
    problems = []
    if out["state"] != RUNNING and (out["pump_duty"] or not out["valve_open"]):
        problems.append("pump on or cup sealed while %s" % STATE_NAMES[out["state"]])
    if out["fault"] != faults.NONE and out["pump_duty"]:
        problems.append("pump on with fault %s latched" % faults.NAMES[out["fault"]])
    if out["vacuum_pa"] > hard_limit and out["pump_duty"]:
        problems.append("pump on above the hard limit")
    for problem in problems:
        if len(report.violations) < 20:
            report.violations.append("t=%d ms: %s" % (t_ms, problem))
