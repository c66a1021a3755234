"""The history database: schema, migrations, and the few queries the recorder and the reports need.

The schema version is SQLite's ``user_version``; each migration runs once, in one transaction, so
a database from an older cupctl opens and is brought up to date, and one from a newer cupctl is
refused rather than misread. WAL with full syncs: a process killed mid-session loses nothing it
wrote, and readers (the dashboard's history pages) never wait for the writer.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import socket
import sqlite3
from pathlib import Path

from cupctl.history import HistoryError

# One entry per schema version; never edit one that has shipped, add the next.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: one row per session
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            ended_at TEXT,
            outcome TEXT NOT NULL,
            fault_code INTEGER,
            fault_name TEXT,
            patient TEXT,
            board TEXT, chip TEXT, firmware TEXT, port TEXT,
            source TEXT NOT NULL,
            program TEXT, params TEXT, cup TEXT, hard_limit_pa INTEGER, tissue TEXT, heartbeat_ms INTEGER,
            start_line TEXT,
            checklist TEXT, confirmed_by TEXT,
            peak_vacuum_pa INTEGER, mean_vacuum_pa INTEGER, time_at_target_ms INTEGER, running_ms INTEGER,
            trace_path TEXT, trace_sha256 TEXT,
            pid INTEGER, host TEXT)""",
        "CREATE INDEX sessions_started ON sessions(started_at)",
    ),
    (  # 2: the device's events during each session, sessions joined mid-way, lookups by patient
        """CREATE TABLE events (
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            t_ms INTEGER, kind TEXT NOT NULL, detail TEXT)""",
        "CREATE INDEX events_session ON events(session_id)",
        "ALTER TABLE sessions ADD COLUMN joined INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX sessions_patient ON sessions(patient, started_at)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
COLUMNS = ("id", "started_at", "updated_at", "ended_at", "outcome", "fault_code", "fault_name", "patient",
           "board", "chip", "firmware", "port", "source", "program", "params", "cup", "hard_limit_pa", "tissue",
           "heartbeat_ms", "start_line", "checklist", "confirmed_by", "peak_vacuum_pa", "mean_vacuum_pa",
           "time_at_target_ms", "running_ms", "trace_path", "trace_sha256", "pid", "host", "joined")


def now() -> str:
    """UTC, one fixed format, so that timestamps sort and compare as text."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def sha256_of(path: str | Path | None) -> str | None:
    if not path:
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class HistoryDB:
    def __init__(self, path: str | Path, upto: int = SCHEMA_VERSION):
        """Open (creating it and its folder if need be) and migrate up to ``upto`` (tests: an older schema)."""
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._migrate(upto)
        except sqlite3.DatabaseError as e:
            raise HistoryError("%s: not a usable cupctl history database: %s" % (self.path, e))
        except OSError as e:
            raise HistoryError("cannot open history database %s: %s" % (self.path, e.strerror or e))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self, upto: int) -> None:
        version = self.version
        if version > SCHEMA_VERSION:
            raise HistoryError("%s: written by a newer cupctl (schema %d; this one knows up to %d): upgrade cupctl"
                               % (self.path, version, SCHEMA_VERSION))
        for number in range(version + 1, upto + 1):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if self.version < number:  # another process may have migrated while we waited for the lock
                    for statement in MIGRATIONS[number - 1]:
                        self.conn.execute(statement)
                    self.conn.execute("PRAGMA user_version=%d" % number)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    # --- writes (the recorder) ---

    def open_session(self, fields: dict) -> int:
        """Write a session's row at its start, marked running, with this process as its owner."""
        stamp = now()
        row = {"started_at": stamp, "updated_at": stamp, "outcome": "running", "pid": os.getpid(),
               "host": socket.gethostname(), **fields}
        names = ", ".join(row)
        cursor = self.conn.execute("INSERT INTO sessions (%s) VALUES (%s)" % (names, ", ".join("?" * len(row))),
                                   tuple(row.values()))
        return int(cursor.lastrowid)

    def update(self, session_id: int, **fields) -> None:
        fields["updated_at"] = now()
        unknown = set(fields) - set(COLUMNS)
        if unknown:
            raise KeyError("no such column(s): %s" % ", ".join(sorted(unknown)))
        self.conn.execute("UPDATE sessions SET %s WHERE id = ?" % ", ".join("%s = ?" % k for k in fields),
                          (*fields.values(), session_id))

    def add_event(self, session_id: int, t_ms: int | None, kind: str, detail: str) -> None:
        self.conn.execute("INSERT INTO events (session_id, t_ms, kind, detail) VALUES (?, ?, ?, ?)",
                          (session_id, t_ms, kind, detail))

    def mark_interrupted(self) -> int:
        """Sessions left "running" by a process of this machine that is gone: "interrupted"; returns how many."""
        host = socket.gethostname()
        rows = self.conn.execute("SELECT id, pid, updated_at, trace_path FROM sessions "
                                 "WHERE outcome = 'running' AND host = ?", (host,)).fetchall()
        dead = [row for row in rows if row["pid"] != os.getpid() and not _alive(row["pid"])]
        for row in dead:
            self.conn.execute("UPDATE sessions SET outcome = 'interrupted', ended_at = ?, trace_sha256 = ? "
                              "WHERE id = ?", (row["updated_at"], sha256_of(row["trace_path"]), row["id"]))
        return len(dead)

    # --- reads (the reports and the dashboard) ---

    def sessions(self, patient: str | None = None, device: str | None = None, outcome: str | None = None,
                 since: str | None = None, until: str | None = None) -> list[dict]:
        """Sessions, newest first. ``device`` matches the board name or the port; ``since``/``until``
        are UTC timestamps in ``now()``'s format, compared with the start time."""
        where, values = [], []
        for clause, value in (("patient = ?", patient), ("(board = ? OR port = ?)", device),
                              ("outcome = ?", outcome), ("started_at >= ?", since), ("started_at < ?", until)):
            if value is not None:
                where.append(clause)
                values += [value] * clause.count("?")
        query = "SELECT * FROM sessions" + (" WHERE " + " AND ".join(where) if where else "")
        return [dict(row) for row in self.conn.execute(query + " ORDER BY started_at DESC, id DESC", values)]

    def session(self, session_id: int) -> dict:
        row = self.conn.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise HistoryError("no session %d in %s" % (session_id, self.path))
        return dict(row)

    def events(self, session_id: int) -> list[dict]:
        return [dict(row) for row in self.conn.execute(
            "SELECT t_ms, kind, detail FROM events WHERE session_id = ? ORDER BY rowid", (session_id,))]
