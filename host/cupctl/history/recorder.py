"""Turns one board's records into session rows: written at the start, closed at the end.

Fed every record a command sees (``add``), it opens a row on the device's ``cmd,start`` event (or
on ``join`` when it finds a session already running), keeps the figures as the telemetry goes by,
and closes the row with how the session ended: the device's own word (a fault and its code, back
to idle after a ``stop`` or at the program's end, a reboot), or the host's (the link lost, or
following stopped). Figures are checkpointed every few seconds, so a killed process leaves them
nearly whole; the next start marks its row "interrupted".
"""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from cupctl import live
from cupctl.history.db import HistoryDB, now, sha256_of
from cupctl.telemetry import FIELDS, Record
from cupfw import faults
from cupfw.controller import FAULT, IDLE, PREPARE, RUNNING

AT_TARGET_PA = 1000  # "at target": within 1 kPa of the device's set point while running
_CHECKPOINT_ROWS = 250  # figures written every this many rows (5 s at 50 Hz)
_MAX_STEP_MS = 1000  # a longer gap between rows (lost lines, a stall) counts for no time
_TICKS_PERIOD = 1 << 30
_T, _VACUUM, _TARGET, _STATE, _FAULT = (FIELDS.index(name) for name in (
    "t_ms", "vacuum_pa", "target_pa", "state", "fault"))


def device_of(port: str, info: dict[str, str]) -> dict:
    """What a session row says about the device, from its ``info`` answer."""
    cups = {}
    for cup in filter(None, info.get("cups", "").split(";")):
        name, _, limit = (cup.split(":") + ["", ""])[:3]
        if limit.isdigit():
            cups[name] = int(limit)
    return {"board": info.get("board"), "chip": info.get("chip"), "firmware": info.get("version"), "port": port,
            "cups": cups}


def parse_start(line: str) -> dict:
    """A canonical ``start PROGRAM key=value ... cup=C hb=MS`` line (or a status' program) as row fields."""
    words = line.split()
    if words and words[0] == "start":
        words = words[1:]
    params = dict(word.split("=", 1) for word in words[1:] if "=" in word)
    cup, hb = params.pop("cup", None), params.pop("hb", None)
    return {"program": words[0] if words else None, "params": json.dumps(params), "cup": cup,
            "tissue": params.get("tissue"), "heartbeat_ms": int(hb) if hb and hb.isdigit() else None}


class _Session:
    def __init__(self, session_id: int, fields: dict):
        self.id = session_id
        self.fields = fields
        self.active = False  # seen preparing or running: back to idle now means it ended
        self.stop_sent = False
        self.rebooted = False
        self.run_start_ms: int | None = None
        self.last_t: int | None = None
        self.peak = 0
        self.running_rows = 0
        self.vacuum_sum = 0
        self.running_ms = 0
        self.at_target_ms = 0
        self.rows = 0
        self.trace: live.Recorder | None = None

    def figures(self) -> dict:
        return {"peak_vacuum_pa": self.peak, "running_ms": self.running_ms, "time_at_target_ms": self.at_target_ms,
                "mean_vacuum_pa": self.vacuum_sum // self.running_rows if self.running_rows else None}

    def summary(self) -> dict:
        """What the dashboard shows of the session in progress."""
        return {"id": self.id, "program": self.fields.get("program"), "params": json.loads(self.fields["params"]),
                "cup": self.fields.get("cup"), "hard_limit_pa": self.fields.get("hard_limit_pa"),
                "heartbeat_ms": self.fields.get("heartbeat_ms") or 0,
                "joined": bool(self.fields.get("joined")),
                # a joined session's real start is unknown, and so is its time left
                "run_start_ms": None if self.fields.get("joined") else self.run_start_ms}


def _guarded(method):
    """A database that fails mid-session (disk full, removed) costs the history, never the live session:
    one warning, then the log records nothing more."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.failed is not None:
            return None
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as e:
            self.failed = "%s: %s" % (self.db.path, e)
            self.current = None
            self.warn("history not recorded from here on (%s); the session itself goes on" % self.failed)
            return None

    return wrapper


class SessionLog:
    """Records the sessions seen on one link.

    ``trace``: the caller's own trace of everything (``--record``, ``record -o``); without it each
    session gets its own trace beside the database, in ``traces/``, written from ``trace_meta``.
    ``on_change`` hears the session in progress (its summary) or None when it ends; ``warn`` hears a
    database that stopped working.
    """

    def __init__(self, db: HistoryDB, device: dict, source: str, trace: str | Path | None = None,
                 trace_meta: dict | None = None, patient: str | None = None,
                 on_change: Callable[[dict | None], None] | None = None,
                 warn: Callable[[str], None] = lambda text: print("cupctl: " + text, file=sys.stderr)):
        self.db = db
        self.device = device
        self.source = source
        self.trace = Path(trace).resolve() if trace else None
        self.trace_meta = trace_meta or {}
        self.patient = patient
        self.on_change = on_change
        self.warn = warn
        self.failed: str | None = None
        self.current: _Session | None = None
        self.recorded: list[int] = []
        self._next: dict = {}
        db.mark_interrupted()

    def expect(self, **fields) -> None:
        """Fields for the next session that starts (patient, checklist, confirmed_by); cleared by it."""
        self._next = fields

    @_guarded
    def join(self, status: dict) -> None:
        """Follow a session already under way, from the device's ``status`` (its program, not its cup)."""
        # "prepare" with no program is the board's own zeroing after a boot, not a session
        if self.current is None and status.get("state") in ("prepare", "running") \
                and status.get("program", "none") != "none":
            self._open(parse_start(str(status.get("program", ""))), joined=True)

    @_guarded
    def add(self, record: Record) -> None:
        if record.kind == "E":
            self._event(record.text)
        elif record.kind == "T" and self.current is not None:
            self._row(record.values)

    @_guarded
    def link_lost(self, why: str) -> None:
        if self.current is not None:
            self.db.add_event(self.current.id, None, "host", "link lost: %s" % why)
            self._end("link_lost")

    @_guarded
    def close(self) -> None:
        """Following stops: a session still open was stopped by us (the device said so) or goes on without us."""
        if self.current is not None:
            self._end("stopped" if self.current.stop_sent else "left_running")
        if self.trace is not None:  # the caller has closed its trace: its hash is final now
            digest = sha256_of(self.trace)
            for session_id in self.recorded:
                self.db.update(session_id, trace_sha256=digest)

    # --- records ---

    def _event(self, text: str) -> None:
        _, kind, detail = (text.split(",", 2) + ["", ""])[:3]
        if kind == "cmd" and detail.startswith("start "):
            if self.current is not None:  # the device took a new start: the last one is over
                self._end("stopped" if self.current.stop_sent else "completed")
            self._open(parse_start(detail), start_line=detail)
        session = self.current
        if session is None:
            return
        t_ms = text.split(",", 1)[0]
        self.db.add_event(session.id, int(t_ms) if t_ms.isdigit() else None, kind, detail)
        if session.trace is not None:
            session.trace.add(Record("E", text=text))
        if kind == "cmd" and detail == "stop":
            session.stop_sent = True
        elif kind == "boot":
            session.rebooted = True

    def _row(self, values: tuple) -> None:
        session = self.current
        assert session is not None
        if session.trace is not None:
            session.trace.add(Record("T", values))
        t, vacuum, state = values[_T], values[_VACUUM], values[_STATE]
        step = 0
        if session.last_t is not None:
            step = (t - session.last_t) % _TICKS_PERIOD
            step = step if step <= _MAX_STEP_MS else 0
        session.last_t = t
        session.peak = max(session.peak, vacuum)
        if state == RUNNING:
            if session.run_start_ms is None:
                session.run_start_ms = t
                self._changed()
            session.running_rows += 1
            session.vacuum_sum += vacuum
            session.running_ms += step
            target = values[_TARGET]
            if target > 0 and abs(vacuum - target) <= AT_TARGET_PA:
                session.at_target_ms += step
        session.rows += 1
        if state == FAULT:
            self._end("fault", values[_FAULT])
        elif session.rebooted:  # a boot never resumes a session; a fault it latched shows in its first row
            self._end("board_reset")
        elif state == IDLE and (session.active or session.stop_sent):
            self._end("stopped" if session.stop_sent else "completed")
        elif state in (PREPARE, RUNNING):
            session.active = True
            if session.rows % _CHECKPOINT_ROWS == 0:
                self.db.update(session.id, **session.figures())

    # --- rows ---

    def _open(self, fields: dict, start_line: str | None = None, joined: bool = False) -> None:
        device = self.device
        row = {"board": device.get("board"), "chip": device.get("chip"), "firmware": device.get("firmware"),
               "port": device.get("port"), "source": self.source, "patient": self.patient, "start_line": start_line,
               "hard_limit_pa": device.get("cups", {}).get(fields.get("cup")), "joined": int(joined),
               **fields, **self._next}
        self._next = {}
        session_id = self.db.open_session(row)
        session = _Session(session_id, row)
        if self.trace is None:
            path = self.db.path.parent / "traces" / ("%s-session-%d.csv" % (now()[:10], session_id))
            meta = {**self.trace_meta, "source": "cupctl history, session %d" % session_id}
            session.trace = live.Recorder(path, meta)
            self.db.update(session_id, trace_path=str(path.resolve()))
        else:
            self.db.update(session_id, trace_path=str(self.trace))
        self.current = session
        self.recorded.append(session_id)
        self._changed()

    def _end(self, outcome: str, fault: int | None = None) -> None:
        session = self.current
        assert session is not None
        self.current = None
        fields = {"outcome": outcome, "ended_at": now(), **session.figures()}
        if fault is not None:
            fields.update(fault_code=fault, fault_name=faults.NAMES.get(fault, str(fault)))
        if session.trace is not None:
            session.trace.close()
            fields["trace_sha256"] = sha256_of(session.trace.writer.path)
        self.db.update(session.id, **fields)
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(None if self.current is None else self.current.summary())
