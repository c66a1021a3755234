"""The dashboard's server: the token on every route and the websocket, loopback by default, the start form
checked like the CLI, stop at once, a lost link said at once and a resumed one, the history API."""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import Future

import aiohttp
import pytest

from cupctl import checklist
from cupctl.dashboard import DashboardError, security
from cupctl.dashboard.board import BoardWorker, LinkDown
from cupctl.dashboard.server import Dashboard

TOKEN = "s3cret-token"
ANSWERS = {"absent": list(checklist.ABSOLUTE), "relative": []}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


class Served:
    """A dashboard serving on a free loopback port, inside the test's event loop."""

    def __init__(self, ports, tmp_path, token=None, host="127.0.0.1"):
        self.dashboard = Dashboard(ports, 115200, tmp_path / "history.sqlite", token)
        self.host = host

    async def __aenter__(self):
        self.url = (await self.dashboard.start_serving(self.host, 0)).rstrip("/")
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # a browser's: IPs too
        return self

    async def __aexit__(self, *exc):
        await self.http.close()
        await self.dashboard.close()


def concrete(path):
    return path.replace("{index}", "0").replace("{id}", "1")


def test_every_route_and_the_websocket_need_the_token(tmp_path):
    async def check():
        async with Served(["/dev/cupctl-no-such-port"], tmp_path, TOKEN) as s:
            routes = [(r.method, r.resource.canonical) for r in s.dashboard.runner.app.router.routes()]
            assert {path for _, path in routes} >= {"/", "/ws", "/api/boards", "/api/stop", "/api/history",
                                                   "/api/boards/{index}/start", "/api/history/{id}", "/static"}
            for method, path in routes:
                url = s.url + concrete(path) + ("/app.js" if path == "/static" else "")
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + TOKEN[:-1]}):
                    async with s.http.request(method, url, headers=headers, json={}) as response:
                        assert response.status == 401, (method, path, headers)
                async with s.http.request(method, url, headers={"Authorization": "Bearer " + TOKEN},
                                          json={}) as response:
                    assert response.status != 401, (method, path)
            for url in (s.url + "/ws", s.url + "/ws?token=wrong"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await s.http.ws_connect(url)
                assert refused.value.status == 401
            async with s.http.ws_connect(s.url + "/ws?token=" + TOKEN) as ws:
                snapshot = await ws.receive_json(timeout=10)
                assert snapshot["type"] == "snapshot" and snapshot["boards"][0]["port"] == "/dev/cupctl-no-such-port"

    run(check())


def test_the_printed_address_sets_a_strict_cookie_that_then_opens_the_page_and_the_socket(tmp_path):
    async def check():
        async with Served(["/dev/cupctl-no-such-port"], tmp_path, TOKEN) as s:
            async with s.http.get(s.url + "/?token=" + TOKEN, allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"] == "/"
                cookie = response.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN in cookie
            async with s.http.get(s.url + "/") as response:  # the session keeps the cookie
                assert response.status == 200 and "STOP / VENT" in await response.text()
            async with s.http.ws_connect(s.url + "/ws") as ws:
                assert (await ws.receive_json(timeout=10))["type"] == "snapshot"

    run(check())


@pytest.mark.parametrize("host,token,refused", [
    ("0.0.0.0", None, True), ("192.0.2.7", "", True), ("clinic-pc.local", None, True),
    ("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False), ("0.0.0.0", TOKEN, False)])
def test_binding_off_loopback_needs_a_token(host, token, refused):
    if refused:
        with pytest.raises(DashboardError, match="refusing to listen on .* without an access token"):
            security.check_binding(host, token)
    else:
        security.check_binding(host, token)


def test_the_server_refuses_to_bind_off_loopback_without_a_token(tmp_path):
    async def check():
        dashboard = Dashboard(["/dev/cupctl-no-such-port"], 115200, tmp_path / "h.sqlite", None)
        with pytest.raises(DashboardError, match="refusing to listen on 0.0.0.0"):
            await dashboard.start_serving("0.0.0.0", 0)
        assert dashboard.runner is None and not any(w._thread.is_alive() for w in dashboard.workers)

    run(check())


def test_the_cli_off_loopback_makes_a_token_prints_it_and_enforces_it(tmp_path):
    env = dict(os.environ, CUPCTL_DASHBOARD_TOKEN="", XDG_CONFIG_HOME=str(tmp_path))  # no token configured
    proc = subprocess.Popen([sys.executable, "-m", "cupctl.cli", "dashboard", "--port", "/dev/cupctl-no-such-port",
                             "--listen", "0.0.0.0:0", "--db", str(tmp_path / "h.sqlite")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        match = re.match(r"dashboard: http://0\.0\.0\.0:(\d+)/\?token=(\S+)$", first)
        assert match, first + proc.stderr.read() if proc.poll() is not None else first
        port, token = match.groups()
        assert "access token (new" in proc.stdout.readline()

        async def check():
            async with aiohttp.ClientSession() as http:
                url = "http://127.0.0.1:%s/api/boards" % port
                async with http.get(url) as response:
                    assert response.status == 401
                async with http.get(url, headers={"Authorization": "Bearer " + token}) as response:
                    assert response.status == 200

        run(check())
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_without_a_token_only_loopback_names_and_this_origin_are_answered(tmp_path):
    async def check():
        async with Served(["/dev/cupctl-no-such-port"], tmp_path) as s:
            async with s.http.get(s.url + "/api/boards") as response:
                assert response.status == 200
            async with s.http.get(s.url + "/api/boards", headers={"Host": "evil.example:8765"}) as response:
                assert response.status == 403  # DNS rebinding reaches nothing
            async with s.http.post(s.url + "/api/stop", headers={"Origin": "http://evil.example"}) as response:
                assert response.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.http.ws_connect(s.url + "/ws", headers={"Origin": "http://evil.example"})
            assert refused.value.status == 403
            async with s.http.post(s.url + "/api/boards/0/start", data="program=static") as response:
                assert response.status == 415  # what a cross-site form could send

    run(check())


class FakeLink:
    def __init__(self):
        self.lines = []

    def write_line(self, text):
        self.lines.append(text)


def test_stop_is_written_at_once_whatever_waits_and_a_long_lost_reply_is_not_taken_for_its(tmp_path):
    worker = BoardWorker(0, "/dev/fake", 115200, tmp_path / "h.sqlite", None, lambda message: None)
    worker.link, worker.ready = FakeLink(), True
    waiting = [worker.send("ack") for _ in range(3)]  # three commands whose replies never came
    worker._pending = type(worker._pending)((future, time.monotonic() - 60) for future, _ in worker._pending)
    stop = worker.send("stop")
    assert worker.link.lines == ["ack", "ack", "ack", "stop"]  # written, not queued behind them
    worker._reply("ok,stopped, cup vented")
    assert stop.result(timeout=0) == "stopped, cup vented"
    assert all(isinstance(f.exception(timeout=0), LinkDown) for f in waiting)
    worker.link, worker.ready = FakeLink(), False  # still connecting: stop goes out anyway, start does not
    assert worker.send("stop", while_connecting=True).result(timeout=0) == "sent while connecting"
    with pytest.raises(LinkDown):
        worker.send("ack")
    worker.link = None
    with pytest.raises(LinkDown):
        worker.send("stop", while_connecting=True)
    assert isinstance(stop, Future)


@pytest.fixture
def vboard(host_vboards):
    return host_vboards()


async def next_message(ws, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
        if predicate(message):
            return message
    raise AssertionError("no such message within %g s" % timeout)


async def all_of(ws, *predicates, timeout=30.0):
    """The first message matching each predicate, in whatever order they come."""
    found = [None] * len(predicates)
    deadline = time.monotonic() + timeout
    while None in found:
        if time.monotonic() > deadline:
            raise AssertionError("not all seen within %g s: %s" % (timeout, found))
        message = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
        for i, predicate in enumerate(predicates):
            if found[i] is None and predicate(message):
                found[i] = message
    return found


def latest(message, field):
    return message["rows"][-1][["t_ms", "vacuum_pa", "target_pa", "pump_duty", "valve_open", "state", "fault",
                                "seq"].index(field)]


def form(**changes):
    return {"program": "static", "cup": "M", "params": {"target": "20", "minutes": "2"}, "operator": "anna",
            "patient": "P-0042", "checklist": ANSWERS, **changes}


def test_a_session_from_the_api_checked_started_stopped_and_in_the_history(vboard, tmp_path):
    async def check():
        async with Served([vboard.port], tmp_path) as s:
            async with s.http.ws_connect(s.url + "/ws") as ws:
                # idle and streaming: the dashboard sends a start only where the board would take it
                await next_message(ws, lambda m: m["type"] == "rows" and latest(m, "state") == 0)
                start = s.url + "/api/boards/0/start"
                for body, status, text in (
                        (form(params={"target": "45"}), 400, "above this board's limit for cup M"),
                        (form(program="launch"), 400, "unknown program"),
                        (form(cup="XL"), 400, "cup 'XL' is not configured"),
                        (form(params={"target": "20", "hb": "5"}), 400, "unknown parameter 'hb'"),
                        (form(heartbeat_s=0.01), 400, "heartbeat"),
                        (form(checklist={"absent": ANSWERS["absent"][1:]}), 400, "skin cancer"),
                        (form(operator=" "), 400, "therapist"),
                        (form(patient="John Smith"), 400, "not a name"),
                        (["static"], 400, "malformed start form")):
                    async with s.http.post(start, json=body) as response:
                        assert response.status == status and text in (await response.json())["error"], body
                assert not any(e[1] == "cmd" for e in s.dashboard.workers[0].events)  # none reached the device
                async with s.http.post(start, json=form()) as response:
                    assert response.status == 200, await response.text()
                    assert (await response.json())["result"].startswith("started static target=20 minutes=2")
                session = await next_message(ws, lambda m: m["type"] == "session" and m["session"])
                assert session["session"]["hard_limit_pa"] == 50000 and session["session"]["cup"] == "M"
                await next_message(ws, lambda m: m["type"] == "rows" and latest(m, "vacuum_pa") > 8000)
                for url, body, text in ((start, form(), "a session is already running"),
                                        (s.url + "/api/boards/0/ack", {}, "no fault to acknowledge")):
                    async with s.http.post(url, json=body) as response:  # what the device would refuse now
                        assert response.status == 409 and text in (await response.json())["error"]
                assert [e[1] for e in s.dashboard.workers[0].events].count("cmd") == 1  # the first start only
                for _ in range(10):  # stop is never throttled
                    async with s.http.post(s.url + "/api/boards/0/stop") as response:
                        assert response.status == 200 and (await response.json())["result"] == "stopped, cup vented"
                ended, vented = await all_of(ws, lambda m: m["type"] == "session" and m["session"] is None,
                                             lambda m: m["type"] == "rows" and latest(m, "state") == 0)
                assert latest(vented, "valve_open") == 1 and latest(vented, "pump_duty") == 0
            async with s.http.get(s.url + "/api/history?patient=P-0042&outcome=stopped") as response:
                sessions = (await response.json())["sessions"]
            assert len(sessions) == 1 and sessions[0]["source"] == "dashboard" and sessions[0]["confirmed_by"] == "anna"
            async with s.http.get(s.url + "/api/history/%d" % sessions[0]["id"]) as response:
                detail = await response.json()
            assert detail["checklist"]["absolute_absent"] == list(checklist.ABSOLUTE)
            assert max(detail["series"]["vacuum_pa"]) > 8000
            events = [(e["kind"], e["detail"].split()[0]) for e in detail["events"]]
            assert events[0] == ("cmd", "start") and ("state", "running") in events
            assert events.index(("cmd", "stop")) < events.index(("state", "idle"))
            async with s.http.get(s.url + "/api/history/999") as response:
                assert response.status == 404
            async with s.http.get(s.url + "/api/history?outcome=exploded") as response:
                assert response.status == 400

    run(check())


def test_a_lost_link_is_said_at_once_stop_says_why_it_cannot_and_the_view_resumes(vboard, tmp_path):
    cable = tmp_path / "ttyCUP0"  # the port by a name that can be unplugged and plugged again
    cable.symlink_to(vboard.port)

    async def check():
        async with Served([str(cable)], tmp_path) as s:
            async with s.http.ws_connect(s.url + "/ws") as ws:
                await next_message(ws, lambda m: m["type"] == "board" and m["board"]["connected"])
                await next_message(ws, lambda m: m["type"] == "rows")
                cable.unlink()
                vboard.stall_host(6.0)  # the board goes silent, and its port is gone
                lost = await next_message(ws, lambda m: m["type"] == "link")
                assert lost["ok"] is False and "nothing for" in lost["error"]
                async with s.http.post(s.url + "/api/boards/0/stop") as response:
                    assert response.status == 503
                    assert "keeps its own safety" in (await response.json())["error"]
                async with s.http.get(s.url + "/api/boards") as response:
                    assert (await response.json())["boards"][0]["connected"] is False
                cable.symlink_to(vboard.port)
                await next_message(ws, lambda m: m["type"] == "board" and m["board"]["connected"])
                await next_message(ws, lambda m: m["type"] == "rows")
                async with s.http.post(s.url + "/api/boards/0/stop") as response:
                    assert response.status == 200

    run(check())


def test_the_form_offers_what_the_board_allows(vboard, tmp_path):
    async def check():
        async with Served([vboard.port], tmp_path) as s:
            deadline = time.monotonic() + 30
            while True:
                async with s.http.get(s.url + "/api/boards") as response:
                    board = (await response.json())["boards"][0]
                if board["connected"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            spec = board["form"]
            target = next(p for p in spec["programs"]["static"] if p["name"] == "target")
            assert (target["min"], target["max"], target["default"]) == (8, 40, 30)  # 40: the board's maximum
            large = next(c for c in spec["cups"] if c["name"] == "L")
            assert large["hard_limit_kpa"] == 40 and large["max_target_kpa"] == {
                "firm": 36, "normal": 36, "soft": 17.818}  # the README's figures (17.8 rounded there)
            assert json.dumps(spec)  # plain JSON for the page

    run(check())
