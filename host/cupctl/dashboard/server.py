"""The dashboard's web application (aiohttp): the page, a websocket stream, commands, the history.

Routes (all behind ``security.guard``):

- ``GET /`` and ``/static/*``: the page, served from the package (nothing from the internet);
- ``GET /ws``: a snapshot of every board (the last minutes of rows), then rows, events, sessions
  and link changes as they happen;
- ``POST /api/boards/{i}/stop`` and ``/api/stop``: written to the port at once, never queued;
- ``POST /api/boards/{i}/start`` (JSON): checked with the same code as ``cupctl session start``
  against the board file, plus the checklist, and only when the board can start one (idle, from its
  last row); the device checks again itself;
- ``POST /api/boards/{i}/ack``, only with a fault latched;
- ``GET /api/boards``, ``/api/history`` and ``/api/history/{id}``.

There is no route for any other device command.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from pathlib import Path

from aiohttp import web

from cupctl import checklist, history, startline
from cupctl.dashboard import DashboardError, security
from cupctl.dashboard.board import REPLY_S, BoardWorker, LinkDown, Refused
from cupctl.history import report
from cupctl.history.db import HistoryDB
from cupfw import faults

STATIC = Path(__file__).resolve().parent / "static"
_CLIENT_BACKLOG = 500  # messages a slow page may fall behind by before it is dropped (it reconnects)
_CHART_POINTS = 2000


class Hub:
    """The open websockets; ``publish`` runs on the event loop."""

    def __init__(self):
        self.clients: dict[web.WebSocketResponse, asyncio.Queue] = {}

    def publish(self, message: dict) -> None:
        text = json.dumps(message)
        for ws, queue in list(self.clients.items()):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:  # a page that stopped reading: it reconnects and gets a snapshot
                self.clients.pop(ws, None)
                asyncio.ensure_future(ws.close())


class Dashboard:
    def __init__(self, ports: list[str], baud: int, db_path: str | Path | None, token: str | None,
                 board_file: str | None = None):
        self.token = token
        self.db_path = Path(db_path or history.default_path())
        self.hub = Hub()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.workers = [BoardWorker(i, port, baud, self.db_path, board_file, self._publish)
                        for i, port in enumerate(ports)]
        self.runner: web.AppRunner | None = None
        self.url = ""

    # --- life cycle ---

    def app(self) -> web.Application:
        app = web.Application(middlewares=[security.guard(self.token, json_posts=("start", "ack"))])
        app.add_routes([
            web.get("/", self.page),
            web.get("/favicon.ico", self.no_icon),
            web.static("/static", STATIC),
            web.get("/ws", self.websocket),
            web.get("/api/boards", self.boards),
            web.post("/api/stop", self.stop_all),
            web.post("/api/boards/{index:\\d+}/stop", self.stop),
            web.post("/api/boards/{index:\\d+}/start", self.start, name="start"),
            web.post("/api/boards/{index:\\d+}/ack", self.ack, name="ack"),
            web.get("/api/history", self.history_list),
            web.get("/api/history/{id:\\d+}", self.history_one),
        ])
        return app

    async def start_serving(self, host: str, port: int) -> str:
        """Bind (refused off loopback without a token), start the boards; returns the page's address."""
        security.check_binding(host, self.token)
        self.loop = asyncio.get_running_loop()
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        try:
            await site.start()
        except OSError as e:
            await self.runner.cleanup()
            raise DashboardError("cannot listen on %s:%d: %s" % (host, port, e.strerror or e))
        bound = site._server.sockets[0].getsockname()[1]  # the port the system gave for 0
        for worker in self.workers:
            worker.start()
        shown = "[%s]" % host if ":" in host else host
        self.url = "http://%s:%d/" % (shown, bound)
        return self.url

    async def close(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(worker.close) for worker in self.workers))
        for ws in list(self.hub.clients):
            await ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    def _publish(self, message: dict) -> None:
        """From a board's thread to every page."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.hub.publish, message)
            except RuntimeError:  # the loop closed in between: the dashboard is stopping
                pass

    # --- the page and the stream ---

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def no_icon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=10)
        await ws.prepare(request)
        queue: asyncio.Queue = asyncio.Queue(_CLIENT_BACKLOG)
        self.hub.clients[ws] = queue  # before the snapshot: nothing falls between (the page drops repeats)
        boards = []
        for worker in self.workers:
            rows, events = worker.recent()
            boards.append({**worker.describe(), "rows": rows, "events": events})
        await ws.send_str(json.dumps({"type": "snapshot", "boards": boards, "faults": faults.NAMES,
                                      "outcomes": history.OUTCOMES, "checklist": {
                                          "absolute": checklist.ABSOLUTE, "relative": checklist.RELATIVE}}))
        sender = asyncio.ensure_future(self._send(ws, queue))
        try:
            async for _ in ws:  # the page says nothing on the socket; commands are POSTs
                pass
        finally:
            self.hub.clients.pop(ws, None)
            sender.cancel()
        return ws

    async def _send(self, ws: web.WebSocketResponse, queue: asyncio.Queue) -> None:
        try:
            while not ws.closed:
                await ws.send_str(await queue.get())
        except (ConnectionError, RuntimeError):
            pass  # the page went away

    async def boards(self, request: web.Request) -> web.Response:
        return web.json_response({"boards": [worker.describe() for worker in self.workers]})

    # --- commands ---

    def _worker(self, request: web.Request) -> BoardWorker:
        index = int(request.match_info["index"])
        if index >= len(self.workers):
            raise web.HTTPNotFound(text="no board %d" % index)
        return self.workers[index]

    async def stop(self, request: web.Request) -> web.Response:
        worker = self._worker(request)
        try:
            future = worker.send("stop", while_connecting=True)  # on the wire before anything else happens
        except LinkDown as e:
            return _error(503, "stop could not be sent: %s. The board keeps its own safety (it vents on every "
                               "fault); its emergency button vents at once" % e)
        return await _reply(future, "stop sent; the board has not answered yet")

    async def stop_all(self, request: web.Request) -> web.Response:
        futures, errors = [], []
        for worker in self.workers:  # every write first, then the waiting
            try:
                futures.append(worker.send("stop", while_connecting=True))
            except LinkDown as e:
                errors.append(str(e))
        replies = [await _reply(future, "stop sent") for future in futures]
        return web.json_response({"sent": len(futures), "results": [json.loads(r.text) for r in replies],
                                  "errors": errors}, status=503 if errors else 200)

    async def ack(self, request: web.Request) -> web.Response:
        worker = self._worker(request)
        refusal = worker.refusal("ack")
        if refusal:
            return _error(409, refusal)
        try:
            future = worker.send("ack")
        except LinkDown as e:
            return _error(503, str(e))
        return await _reply(future, "ack sent; the board has not answered yet")

    async def start(self, request: web.Request) -> web.Response:
        worker = self._worker(request)
        try:
            body = await request.json()
            line, fields = self._checked_start(worker, body)
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # json's errors are ValueErrors
            return _error(400, str(e) if isinstance(e, ValueError) else "malformed start form: %s" % e)
        refusal = worker.refusal("start")
        if refusal:
            return _error(409, refusal)
        try:
            future = worker.start_session(line, fields)
        except LinkDown as e:
            return _error(503, str(e))
        return await _reply(future, "start sent; the board has not answered yet")

    def _checked_start(self, worker: BoardWorker, body: dict) -> tuple[str, dict]:
        if worker.board is None:
            raise ValueError(worker.board_error or "the board has not said which it is yet")
        params = body.get("params") or {}
        if not isinstance(params, dict) or not all(isinstance(v, (str, int, float)) for v in params.values()):
            raise ValueError("params: expected an object of names and values")
        heartbeat_s = float(body.get("heartbeat_s") or 0)
        line = startline.start_line(str(body.get("program") or ""), {k: str(v) for k, v in params.items() if v != ""},
                                    worker.board, body.get("cup") or None, int(round(heartbeat_s * 1000)))
        operator = str(body.get("operator") or "").strip()
        if not operator or len(operator) > 64:
            raise ValueError("therapist: who confirms the checklist (1 to 64 characters)")
        answers = body.get("checklist") or {}
        confirmed = checklist.answers(list(answers.get("absent") or []), list(answers.get("relative") or []))
        return line, {"patient": history.check_patient(body.get("patient") or None),
                      "checklist": json.dumps(confirmed), "confirmed_by": operator}

    # --- history ---

    async def history_list(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            rows = await asyncio.to_thread(self._sessions, query.get("patient") or None,
                                           query.get("device") or None, query.get("outcome") or None,
                                           query.get("since") or None, query.get("until") or None)
        except ValueError as e:
            return _error(400, str(e))
        return web.json_response({"sessions": rows})

    def _sessions(self, patient, device, outcome, since, until) -> list[dict]:
        if outcome is not None and outcome not in history.OUTCOMES:
            raise history.HistoryError("outcome %r: one of %s" % (outcome, ", ".join(history.OUTCOMES)))
        with HistoryDB(self.db_path) as db:
            rows = db.sessions(patient=patient, device=device, outcome=outcome,
                               since=report.day_bound(since) if since else None,
                               until=report.day_bound(until, end=True) if until else None)
        return [_summary(row) for row in rows]

    async def history_one(self, request: web.Request) -> web.Response:
        try:
            detail = await asyncio.to_thread(self._session, int(request.match_info["id"]))
        except history.HistoryError as e:
            return _error(404, str(e))
        return web.json_response(detail)

    def _session(self, session_id: int) -> dict:
        with HistoryDB(self.db_path) as db:
            row = db.session(session_id)
            return {**_summary(row), "events": db.events(session_id), "series": report.series(db, row, _CHART_POINTS),
                    "checklist": json.loads(row["checklist"]) if row["checklist"] else None,
                    "trace": report.trace_state(row)}


def _summary(row: dict) -> dict:
    return {**{k: v for k, v in row.items() if k not in ("pid", "host", "checklist")},
            "params": json.loads(row["params"] or "{}"), "program_text": report.program_text(row),
            "outcome_text": report.outcome_text(row), "started_local": report.local_time(row["started_at"]),
            "duration_s": report.duration_s(row)}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _reply(future, pending_text: str) -> web.Response:
    """The device's answer: 200 with its text, 409 with its refusal, 503 if the link went, 202 if no answer yet."""
    try:
        text = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), REPLY_S)
    except asyncio.TimeoutError:
        return web.json_response({"result": pending_text}, status=202)
    except Refused as e:
        return _error(409, "the board refused: %s" % e)
    except LinkDown as e:
        return _error(503, "link lost before the board answered: %s" % e)
    return web.json_response({"result": text})


def serve(ports: list[str], baud: int, listen: str, db_path: str | None, token: str | None,
          board_file: str | None = None) -> int:
    """``cupctl dashboard``: serve until Ctrl-C or SIGTERM."""
    host, port = security.parse_listen(listen)
    HistoryDB(db_path or history.default_path()).close()  # a database that cannot be used: say so before serving
    generated = not token and not security.is_loopback(host)
    if generated:
        token = secrets.token_urlsafe(24)
    return asyncio.run(_serve(Dashboard(ports, baud, db_path, token, board_file), host, port, generated))


async def _serve(dashboard: Dashboard, host: str, port: int, generated: bool) -> int:
    url = await dashboard.start_serving(host, port)
    print("dashboard: %s%s" % (url, "?token=" + dashboard.token if dashboard.token else ""), flush=True)
    if generated:
        print("access token (new; set dashboard_token in the config file to keep one): %s" % dashboard.token,
              flush=True)
    print("boards: %s; history: %s (Ctrl-C to stop; the boards go on as they are)" % (
        ", ".join(w.port for w in dashboard.workers), dashboard.db_path), flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        await dashboard.close()
    print("dashboard stopped", flush=True)
    return 0
