"""Replay a trace through the firmware core and diff the outputs tick by tick."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cupctl import mpunix, mpwasm, replaycore
from cupctl.link import parse_info
from cupctl.trace import Trace, TraceError
from cupfw import boardcfg, faults
from cupfw.controller import IDLE, RUNNING, STATE_NAMES


@dataclass
class Divergence:
    line: int  # in the trace file, 1-based
    t_ms: int
    column: str
    recorded: int
    replayed: int


@dataclass
class Gap:
    """Rows missing from the trace (lost on the line, or deleted): replay stops before them."""

    row: int  # index of the first row after the gap
    line: int  # the same row's line in the trace file, 1-based
    t_ms: int
    column: str  # seq, or t_ms in a trace without seq
    before: int
    after: int


@dataclass
class Report:
    ticks: int = 0
    first_row: int = 0
    divergence: Divergence | None = None
    gap: Gap | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.divergence is None and self.gap is None and not self.violations


def board_of(trace: Trace):
    """The trace's board, from its ``board_file``, checked against its ``board`` and ``limits`` headers."""
    try:
        board = boardcfg.load(json.loads(trace.meta["board_file"]))
    except KeyError:
        raise TraceError("trace metadata has no board_file: cannot replay without the board's limits")
    except (ValueError, boardcfg.BoardError) as e:
        raise TraceError("trace metadata board_file is not a valid board: %s" % e)
    _check_headers(trace, board)
    return board


def _check_headers(trace: Trace, board) -> None:
    """Refuse a trace whose ``# board`` or ``# limits`` header disagrees with its ``board_file``.

    The device wrote all three from one board, so a disagreement means an edited header: a replay
    would check the recording against limits it never ran under. Keys only one side has are not
    compared, so traces from older and newer firmware still replay.
    """
    stated = list(parse_info(trace.meta.get("limits", "")).items())
    if "board" in trace.meta:
        stated.append(("board", trace.meta["board"]))
    actual = parse_info(board.summary())
    for key, value in stated:
        if key in actual and value != actual[key]:
            raise TraceError("the trace header says %s=%s but its board_file gives %s: the header was edited; "
                             "refusing to replay against limits the device did not run under" % (
                                 key, value, actual[key]))


def ticks_of(trace: Trace, start: int, end: int):
    idx = {name: trace.columns.index(name) for name in ("t_ms", "raw_counts", "vacuum_pa", "state", "fault")}
    commands: dict[int, list[str]] = {}
    for row_index, text in trace.events:
        _, kind, detail = (text.split(",", 2) + ["", ""])[:3]
        if kind == "cmd":
            commands.setdefault(row_index, []).append(detail)
        elif kind == "boot":
            commands.setdefault(row_index, []).append(replaycore.BOOT)
    for i in range(start, end):
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


_T_MS_WRAP = 1 << 30  # the device clock, time.ticks_ms(), wraps here


def first_gap(trace: Trace, start: int, loop_hz: int) -> Gap | None:
    """The first row that does not follow the one before by exactly one tick, except at a boot.

    By ``seq`` where the trace has it (recordings), else by ``t_ms`` (simulations run in exact ticks).
    """
    column = "seq" if "seq" in trace.columns else "t_ms"
    values = trace.column(column)
    boots = {index for index, text in trace.events if ",boot," in "," + text}
    period = 1000 // loop_hz
    for i in range(start + 1, len(values)):
        if i in boots:
            continue  # the device restarted: seq and t_ms start again
        step = values[i] - values[i - 1] if column == "seq" else (values[i] - values[i - 1]) % _T_MS_WRAP
        if step != (1 if column == "seq" else period):
            return Gap(i, trace.line_numbers[i], trace.rows[i][trace.columns.index("t_ms")], column, values[i - 1],
                       values[i])
    return None


def _on_micropython(job: dict, ticks):
    return mpunix.stream_job(job, ticks)  # one tick at a time: flat memory however long the trace


def _on_wasm(job: dict, ticks):
    return mpwasm.run_job(dict(job, ticks=list(ticks)))


JOB_RUNNERS = {"micropython": _on_micropython, "wasm": _on_wasm}


def replay(trace: Trace, runtime: str = "cpython") -> Report:
    board = board_of(trace)
    start = first_replayable_row(trace)
    gap = first_gap(trace, start, board.loop_hz)
    end = len(trace.rows) if gap is None else gap.row
    ticks = ticks_of(trace, start, end)
    if runtime == "cpython":
        outputs: list = []
        replaycore.replay(board, ticks, outputs.append)
    else:
        job = {"kind": "replay", "board": json.loads(trace.meta["board_file"])}
        outputs = [tuple(int(v) for v in text.split(",")) for kind, text in JOB_RUNNERS[runtime](job, ticks)
                   if kind == "R"]
    report = compare(trace, start, end, outputs, board)
    report.gap = gap
    return report


def compare(trace: Trace, start: int, end: int, outputs: list, board) -> Report:
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
    if report.ticks != end - start:
        report.violations.append("replay produced %d ticks for %d rows" % (report.ticks, end - start))
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
