"""History for people and scripts: the list, one session with a plot, CSV and JSON exports."""

from __future__ import annotations

import csv
import datetime
import io
import json
from pathlib import Path

from cupctl import trace
from cupctl.history import HistoryError
from cupctl.history.db import COLUMNS, HistoryDB, sha256_of

_PLOT_COLUMNS = ("t_ms", "vacuum_pa", "target_pa", "pump_duty", "valve_open", "state", "fault")


def day_bound(text: str, end: bool = False) -> str:
    """A local calendar day ``YYYY-MM-DD`` as the UTC timestamp where it starts (or, ``end``, where the next
    day starts), in the database's format."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise HistoryError("date %r: expected YYYY-MM-DD, e.g. 2025-03-14" % text)
    if end:
        day += datetime.timedelta(days=1)
    local = datetime.datetime.combine(day, datetime.time()).astimezone()
    return local.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds")


def local_time(stamp: str | None) -> str:
    if not stamp:
        return "-"
    return datetime.datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration_s(row: dict) -> float | None:
    if not row.get("ended_at"):
        return None
    start, end = (datetime.datetime.fromisoformat(row[k]) for k in ("started_at", "ended_at"))
    return (end - start).total_seconds()


def outcome_text(row: dict) -> str:
    return "fault %s" % row["fault_name"] if row["outcome"] == "fault" else row["outcome"]


def _kpa(pa) -> str:
    return "-" if pa is None else "%.1f" % (pa / 1000 + 0.0)


def program_text(row: dict) -> str:
    params = json.loads(row["params"] or "{}")
    text = " ".join([row["program"] or "?"] + ["%s=%s" % kv for kv in params.items() if kv[0] != "tissue"])
    return text + (" cup=%s" % row["cup"] if row["cup"] else "")


def list_text(rows: list[dict]) -> str:
    if not rows:
        return "no sessions"
    lines = ["%4s  %-19s  %6s  %-14s  %-8s  %-34s  %6s  %s" % (
        "id", "started", "min", "board", "patient", "program", "peak", "outcome")]
    for row in rows:
        seconds = duration_s(row)
        lines.append("%4d  %-19s  %6s  %-14s  %-8s  %-34s  %6s  %s" % (
            row["id"], local_time(row["started_at"]), "-" if seconds is None else "%.1f" % (seconds / 60),
            (row["board"] or "?")[:14], (row["patient"] or "-")[:8], program_text(row)[:34],
            _kpa(row["peak_vacuum_pa"]), outcome_text(row)))
    return "\n".join(lines)


def series(db: HistoryDB, row: dict, points: int | None = None) -> dict:
    """The session's rows from its trace (thinned to about ``points``), or ``{"why": reason}``.

    A trace of the caller's own (``record -o``) may hold more than this session: the rows from its
    start to two seconds after its last event are taken.
    """
    path = row.get("trace_path")
    if not path or not Path(path).exists():
        return {"why": "trace file %s is missing" % path if path else "no trace file"}
    try:
        data = trace.read(path)
    except trace.TraceError as e:
        return {"why": str(e)}
    columns = {name: data.column(name) for name in _PLOT_COLUMNS}
    times = [e["t_ms"] for e in db.events(row["id"]) if e["t_ms"] is not None]
    keep: list[int] = list(range(len(columns["t_ms"])))
    if times:  # a joined session has no start event: its rows begin with the trace
        first = -1 if row["joined"] else min(times)
        window = [i for i in keep if first <= columns["t_ms"][i] <= max(times) + 2000]
        keep = window if len(window) > 1 else keep  # a reboot restarts the device's clock: keep all
    if points and len(keep) > points:
        step = len(keep) / points
        keep = [keep[int(i * step)] for i in range(points)]
    return {name: [values[i] for i in keep] for name, values in columns.items()}


def text_plot(data: dict, hard_limit_pa: int | None, width: int = 64, height: int = 12) -> str:
    """Vacuum (*) and target (-) over time, with the cup's hard limit (=), for a terminal."""
    times = data["t_ms"]
    if not times:
        return "(no rows in the trace)"
    top = max(max(data["vacuum_pa"]), max(data["target_pa"]), hard_limit_pa or 0, 1000) * 1.05
    grid = [[" "] * width for _ in range(height)]

    def row_of(pa: float) -> int:
        return min(height - 1, max(0, height - 1 - int(pa / top * (height - 1) + 0.5)))

    if hard_limit_pa:
        grid[row_of(hard_limit_pa)] = ["="] * width
    start, span = times[0], max(times[-1] - times[0], 1)
    buckets: list[list[int]] = [[] for _ in range(width)]
    for i, t in enumerate(times):
        buckets[min(width - 1, (t - start) * width // (span + 1))].append(i)
    for column, members in enumerate(buckets):
        if members:
            for key, mark in (("target_pa", "-"), ("vacuum_pa", "*")):
                grid[row_of(sum(data[key][i] for i in members) / len(members))][column] = mark
    lines = []
    for number, cells in enumerate(grid):
        label = top * (height - 1 - number) / (height - 1) / 1000
        lines.append("%5.1f |%s" % (label, "".join(cells)))
    lines.append("  kPa +" + "-" * width)
    lines.append("       0 s%s%.0f s" % (" " * (width - 8), span / 1000))
    lines.append("       * vacuum   - target" + ("   = hard limit %s kPa" % _kpa(hard_limit_pa) if hard_limit_pa
                                                 else ""))
    return "\n".join(lines)


def trace_state(row: dict) -> str:
    path = row.get("trace_path")
    if not path:
        return "none"
    if not Path(path).exists():
        return "%s (missing)" % path
    digest = sha256_of(path)
    if row.get("trace_sha256") and digest != row["trace_sha256"]:
        return "%s (CHANGED since the session: sha256 %s, recorded %s)" % (path, digest, row["trace_sha256"])
    return "%s (sha256 %s)" % (path, digest)


def show_text(db: HistoryDB, session_id: int) -> str:
    row = db.session(session_id)
    seconds = duration_s(row)
    checklist = json.loads(row["checklist"]) if row["checklist"] else None
    lines = [
        "session %d: %s" % (row["id"], outcome_text(row)),
        "  started   %s, ended %s%s" % (local_time(row["started_at"]), local_time(row["ended_at"]),
                                        "" if seconds is None else " (%.0f s)" % seconds),
        "  patient   %s" % (row["patient"] or "-"),
        "  device    %s (%s), firmware %s, port %s" % (row["board"], row["chip"], row["firmware"], row["port"]),
        "  program   %s%s" % (row["start_line"] or program_text(row),
                              " (joined while running)" if row["joined"] else ""),
        "  tissue    %s; cup hard limit %s kPa" % (row["tissue"] or "-", _kpa(row["hard_limit_pa"])),
        "  checklist %s; confirmed by %s" % (_checklist_text(checklist), row["confirmed_by"] or "-"),
        "  vacuum    peak %s kPa, mean %s kPa while running; %.1f s running, %.1f s within 1 kPa of target" % (
            _kpa(row["peak_vacuum_pa"]), _kpa(row["mean_vacuum_pa"]), (row["running_ms"] or 0) / 1000,
            (row["time_at_target_ms"] or 0) / 1000),
        "  recorded  by cupctl %s" % row["source"],
        "  trace     %s" % trace_state(row),
        "  events:",
    ]
    lines += ["    %10s  %-6s %s" % ("-" if e["t_ms"] is None else e["t_ms"], e["kind"], e["detail"])
              for e in db.events(session_id)]
    data = series(db, row)
    lines.append(data["why"] if "why" in data else text_plot(data, row["hard_limit_pa"]))
    return "\n".join(lines)


def _checklist_text(checklist: dict | None) -> str:
    if not checklist:
        return "not recorded"
    if checklist.get("skipped"):
        return "not shown (%s)" % checklist["skipped"]
    relative = checklist.get("relative_present")
    return "%d absolute contraindications confirmed absent; relative present: %s" % (
        len(checklist.get("absolute_absent", [])),
        "not asked" if relative is None else ", ".join(relative) or "none")


def export(db: HistoryDB, rows: list[dict], fmt: str) -> str:
    """``csv``: one line per session, every column; ``json``: a list of sessions with their checklist
    answers and events."""
    if fmt == "json":
        items = [{**row, "params": json.loads(row["params"] or "{}"),
                  "checklist": json.loads(row["checklist"]) if row["checklist"] else None,
                  "events": db.events(row["id"])} for row in rows]
        return json.dumps(items, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
