"""One board behind the dashboard: its serial port, owned by a thread of its own.

The thread reads every record, keeps the last minutes for new viewers, feeds the session history
and hands what it reads to ``publish``. Commands are written by the caller at once (``send``), from
whatever thread asks: a stop never waits in a queue behind telemetry, a start or a slow client. Replies
come back in order, so each one goes to the oldest command still waiting for one. A lost link is
published at once and retried every second; the board keeps its own safety meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from cupctl import boards, live
from cupctl.history.db import HistoryDB
from cupctl.history.recorder import SessionLog, device_of
from cupctl.link import Link, LinkError
from cupctl.telemetry import FIELDS, Record
from cupfw import faults, programs
from cupfw.controller import FAULT, IDLE, PREPARE, STATE_NAMES

REPLY_S = 3.0  # a device answers within a tick or two; a reply this late is taken as lost
SILENCE_S = 2.0  # a board sends 50 rows a second: this much silence is a lost link
RETRY_S = 1.0
KEEP_ROWS = 5 * 60 * 100  # five minutes at the fastest telemetry rate, for a page that opens late
_BATCH_S = 0.04  # rows go out in batches of about this long: smooth, and few messages
_ROW = [FIELDS.index(name) for name in ("t_ms", "vacuum_pa", "target_pa", "pump_duty", "valve_open", "state",
                                        "fault", "seq")]


class LinkDown(RuntimeError):
    """The board's port is not open (lost, or still connecting)."""


class Refused(RuntimeError):
    """The device answered ``err``: its own reason."""


class BoardWorker:
    def __init__(self, index: int, port: str, baud: int, db_path: Path, board_file: str | None,
                 publish: Callable[[dict], None]):
        self.index = index
        self.port = port
        self.baud = baud
        self.db_path = db_path
        self.board_file = board_file
        self.publish = publish  # called from this board's thread: must be thread-safe
        self.link: Link | None = None
        self.ready = False
        self.error: str | None = "connecting"
        self.info: dict[str, str] = {}
        self.board = None  # the validated board file the start form is checked against
        self.board_error: str | None = None
        self.session: dict | None = None
        self.rows: deque[list[int]] = deque(maxlen=KEEP_ROWS)
        self._rows_lock = threading.Lock()  # the page's snapshot copies while this thread appends
        self._told_down = False
        self.events: deque[list] = deque(maxlen=100)
        self._batch: list[list[int]] = []
        self._batch_since = 0.0
        self._pending: deque[tuple[Future, float]] = deque()  # commands sent, oldest first, with when
        self._write = threading.Lock()
        self._log: SessionLog | None = None
        self._next_hb = 0.0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="board-%s" % port, daemon=True)

    def start(self) -> BoardWorker:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop following (the board goes on as it is); the thread closes the history it holds."""
        self._closing.set()
        self._thread.join(timeout=10)

    # --- commands, from any thread ---

    def send(self, line: str, while_connecting: bool = False, before: Callable[[], None] | None = None) -> Future:
        """Write ``line`` now; the future gets the device's reply text (Refused if it said err).

        ``while_connecting``: write it even before the connection is ready (stop), without waiting for
        its reply, which the connection's own questions may take. ``before`` runs under the write lock.
        """
        future: Future = Future()
        with self._write:
            link = self.link
            if link is None or not (self.ready or while_connecting):
                raise LinkDown("%s: %s" % (self.port, self.error or "not connected"))
            if before is not None:
                before()
            if self.ready:
                self._pending.append((future, time.monotonic()))
            else:
                future.set_result("sent while connecting")
            try:
                link.write_line(line)
            except LinkError as e:
                if self._pending and self._pending[-1][0] is future:
                    self._pending.pop()
                raise LinkDown(str(e))
        return future

    def start_session(self, line: str, fields: dict) -> Future:
        """Send a checked start line; ``fields`` (patient, checklist, operator) go to the session's history row."""
        log = self._log
        if log is None:
            raise LinkDown("%s: %s" % (self.port, self.error or "not connected"))
        def forget_if_refused(done: Future) -> None:
            if done.exception() is not None:
                log.expect()  # no session started: the next one is not this one

        future = self.send(line, before=lambda: log.expect(**fields))
        future.add_done_callback(forget_if_refused)
        return future

    def refusal(self, verb: str) -> str | None:
        """Why the device would refuse ``start`` or ``ack`` now, from its last row (its own rules, in
        controller.start and service's ack); None if it would take it."""
        with self._rows_lock:
            last = self.rows[-1] if self.rows else None
        if last is None:
            return "no telemetry from the board yet"
        state, fault = last[5], last[6]
        if verb == "ack":
            return None if state == FAULT else "no fault to acknowledge"
        if state == FAULT:
            return "cannot start: fault %s is latched (acknowledge it first)" % faults.NAMES.get(fault, fault)
        booting = state == PREPARE and self.session is None  # the board's own zero after a boot
        return None if state == IDLE or booting else "cannot start: a session is already %s" % STATE_NAMES[state]

    # --- what the page is told ---

    def recent(self) -> tuple[list[list[int]], list[list]]:
        """The rows and events kept, for a page that opens now."""
        with self._rows_lock:
            return list(self.rows), list(self.events)

    def describe(self) -> dict:
        return {"index": self.index, "port": self.port, "connected": self.ready, "error": self.error,
                "info": self.info, "session": self.session, "form": self.form()}

    def form(self) -> dict | None:
        """The start form: programs and their parameters, cups, each cup's highest target per tissue."""
        board = self.board
        if board is None:
            return None
        board_max = {"target": board.max_target_pa, "high": board.max_target_pa,
                     "minutes": board.max_session_ms // 60000}
        spec = {}
        for name, params in programs.TABLE.items():
            spec[name] = []
            for key, kind, low, high, default in params:
                high = min(high, board_max.get(key, high)) if kind != 2 else None
                scale = 1000 if kind == 0 else 1  # kPa parameters are held in Pa
                spec[name].append({"name": key, "kind": ("kpa", "count", "word")[kind],
                                   "choices": list(low) if kind == 2 else None,
                                   "min": None if kind == 2 else low / scale,
                                   "max": None if kind == 2 else high / scale, "default": default / scale
                                   if kind != 2 else default})
        tissues = programs.LIFT_UM_PER_KPA
        cups = [{"name": cup.name, "diameter_mm": cup.diameter_mm, "hard_limit_kpa": cup.hard_limit_pa / 1000,
                 "max_target_kpa": {t: programs.max_target_pa(board, cup, t) / 1000 for t in tissues}}
                for cup in board.cups]
        return {"programs": spec, "cups": cups, "max_session_min": board.max_session_ms // 60000}

    # --- the thread ---

    def _run(self) -> None:
        try:
            while not self._closing.is_set():
                try:
                    self._connect()
                    self._follow()
                except LinkError as e:
                    self._lost(str(e))
                except Exception as e:  # a bug must not end this board's thread: say it, and connect again
                    self._lost("dashboard error: %r" % e)
                self._closing.wait(RETRY_S)
        finally:
            self._lost("dashboard stopped", closing=True)

    def _connect(self) -> None:
        link = Link(self.port, self.baud)
        with self._write:
            self.link = link
        self.error = "connecting"
        self.info = link.info()
        self._load_board()
        status = live.parse_status(link.command("status", on_record=self._on_record))
        db = HistoryDB(self.db_path)
        self._log = SessionLog(db, device_of(self.port, self.info), "dashboard",
                               trace_meta=live.trace_metadata(link, self.info), on_change=self._on_session)
        self._log.join(status)
        with self._write:
            self.ready = True
            self.error = None
        self._told_down = False
        self.publish({"type": "board", "board": self.describe()})

    def _load_board(self) -> None:
        try:
            self.board = boards.load(self.board_file or self.info.get("board", ""))[1]
            self.board_error = None
        except boards.BoardFileError as e:
            self.board, self.board_error = None, "cannot check a start form: %s (pass --board FILE)" % e

    def _follow(self) -> None:
        link = self.link
        assert link is not None
        for record in link.records(timeout=SILENCE_S):
            self._on_record(record)
            if self._closing.is_set():
                return
            self._heartbeat()
        raise LinkError("%s sent nothing for %g s" % (self.port, SILENCE_S))

    def _on_record(self, record: Record) -> None:
        if record.kind == "R":
            self._reply(record.text)
            return
        if record.kind == "T":
            row = [record.values[i] for i in _ROW]
            with self._rows_lock:
                self.rows.append(row)
            self._batch.append(row)
            now = time.monotonic()
            if now - self._batch_since >= _BATCH_S:
                self._flush(now)
        elif record.kind == "E":
            t_ms, kind, detail = (record.text.split(",", 2) + ["", ""])[:3]
            event = [int(t_ms) if t_ms.isdigit() else None, kind, detail]
            with self._rows_lock:
                if kind == "boot":
                    self.rows.clear()  # the device's clock starts again
                self.events.append(event)
            self._flush(time.monotonic())
            self.publish({"type": "event", "board": self.index, "event": event})
        if self._log is not None:
            self._log.add(record)

    def _flush(self, now: float) -> None:
        if self._batch:
            self.publish({"type": "rows", "board": self.index, "rows": self._batch})
            self._batch = []
        self._batch_since = now

    def _reply(self, text: str) -> None:
        """The device answers in order: this is the reply to the oldest command not given up on."""
        lost = []
        with self._write:
            while self._pending and time.monotonic() - self._pending[0][1] > REPLY_S:
                lost.append(self._pending.popleft()[0])
            future = self._pending.popleft()[0] if self._pending else None
        for old in lost:
            old.set_exception(LinkDown("no reply from %s within %g s" % (self.port, REPLY_S)))
        if future is None:
            return
        status, _, message = text.partition(",")
        if status == "ok":
            future.set_result(message)
        else:
            future.set_exception(Refused(message))

    def _heartbeat(self) -> None:
        """A session started with hb=MS faults on the device if this dashboard goes silent."""
        period = (self.session or {}).get("heartbeat_ms") or 0
        now = time.monotonic()
        if period and now >= self._next_hb:
            self._next_hb = now + period / 3000
            try:
                self.send("hb")
            except LinkDown:
                pass  # the read that follows finds the link gone and says so

    def _on_session(self, summary: dict | None) -> None:
        self.session = summary
        self.publish({"type": "session", "board": self.index, "session": summary})

    def _lost(self, why: str, closing: bool = False) -> None:
        with self._write:
            link, self.link, self.ready = self.link, None, False
            pending, self._pending = self._pending, deque()
            self.error = why
        for future, _ in pending:
            future.set_exception(LinkDown(why))
        if link is not None:
            link.close()
        log, self._log = self._log, None
        if log is not None:
            if closing:
                log.close()
            else:
                log.link_lost(why)
            log.db.close()
        self._batch = []
        if not self._told_down:  # once per loss, not at every retry
            self._told_down = True
            self.publish({"type": "link", "board": self.index, "ok": False, "error": why})
