"""One board on the broker: the bridge owns the serial port, publishes every line the board sends and
passes the few commands a remote may give (``stop``, ``ack``; ``start`` only when allowed) to it.

It outlives both of its links: while the broker is away lines wait in the Outbox and paho reconnects
by itself; while the board is away (unplugged, resetting) the retained status says ``link-lost`` and the
bridge keeps opening the port until the board answers again.
"""

from __future__ import annotations

import datetime
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

from cupctl import __version__
from cupctl.fleet import broker as brokers
from cupctl.fleet import topics
from cupctl.fleet.outbox import Outbox
from cupctl.link import BAUD, Link, LinkError
from cupctl.telemetry import Record

REMOTE = ("stop", "ack")  # what any operator may send; `start` only with allow_start
SILENT_S = 5.0  # the board sends telemetry at 1 Hz at least: this long without a line is a lost link
RETRY_S = 1.0
DRAIN_S = 5.0  # at exit, how long to wait for the broker to take what is still held


class Bridge:
    def __init__(self, broker: brokers.Broker, device: str, port: str | None, baud: int = BAUD,
                 rate: int | None = None, allow_start: bool = False, buffer_lines: int = 30000,
                 log: Callable[[str], None] = print):
        self.broker = broker
        self.device = topics.check_device_id(device)
        self.port, self.baud, self.rate = port, baud, rate
        self.allow_start = allow_start
        self.buffer_lines = buffer_lines
        self.log = log
        self.counts = {"telemetry": 0, "event": 0, "command": 0}
        self.info: dict[str, str] = {}
        self._status: dict = {"state": "starting"}
        # (text, from a remote, why it is refused or None): filled by paho's thread, emptied by ours
        self._commands: queue.SimpleQueue[tuple[str, bool, str | None]] = queue.SimpleQueue()
        self._awaiting: deque[tuple[str, bool]] = deque()  # commands sent, oldest first: (text, from a remote)
        self._linked = False
        self._rate = rate
        self._away_since: float | None = None
        self.client = broker.client("cupctl-bridge-" + self.device, will=(
            self._topic(topics.STATUS), topics.status_payload(self._fields("offline", reason="bridge lost"))))
        self.outbox = Outbox(self.client, buffer_lines)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = lambda *_: self.outbox.on_publish()
        self.client.on_message = self._on_message

    def run(self, stop: threading.Event | None = None) -> None:
        """Bridge until ``stop`` is set (or Ctrl-C); errors a user must fix first are raised (one line)."""
        stop = stop or threading.Event()
        self.broker.connect(self.client)  # our _on_connect subscribes to the command topic, then and later
        try:
            while not stop.is_set():
                try:
                    with Link(self.port, self.baud) as link:
                        self._serve(link, stop)
                except LinkError as e:
                    if not self._linked:
                        raise  # a wrong port or a board without our firmware: say so now
                    self._link_lost(e, stop)
        finally:
            self.close()

    def close(self) -> None:
        """Retained status offline, what is held handed to the broker (within DRAIN_S), then goodbye."""
        if self._status["state"] == "closed":
            return
        self._set_status("offline", reason="bridge stopped")
        deadline = time.monotonic() + DRAIN_S
        while (self.outbox.held or self.outbox.unacknowledged) and time.monotonic() < deadline:
            self.outbox.pump()
            time.sleep(0.02)
        brokers.disconnect(self.client)
        self._status["state"] = "closed"
        self.log("bridge: %d telemetry lines and %d events from the board, %d remote commands; %d telemetry "
                 "lines dropped, %d lines not handed to the broker" % (
                     self.counts["telemetry"], self.counts["event"], self.counts["command"], self.outbox.dropped,
                     self.outbox.held + self.outbox.unacknowledged))

    # --- the board ---

    def _serve(self, link: Link, stop: threading.Event) -> None:
        self.info = link.info()
        rate = self.rate or int(self.info.get("loop_hz", 100))
        link.command("rate %d" % rate, on_record=self._on_record)
        self._rate, self.port = rate, link.port
        if not self._linked:
            self.log("bridge: %s (%s, firmware %s) on %s as %s, %d Hz" % (
                link.port, self.info.get("board", "?"), self.info.get("version", "?"), self.broker.url,
                self._topic("#"), rate))
        elif self._status["state"] == "link-lost":
            self.log("bridge: board back on %s" % link.port)
        self._linked = True
        self._set_status("online")
        for record in link.records(timeout=SILENT_S):
            self._on_record(record)
            self._send_commands(link)
            self._pump()
            if stop.is_set():
                return
        raise LinkError("%s went silent for %g s" % (link.port, SILENT_S))

    def _on_record(self, record: Record) -> None:
        if record.kind == "T":
            self.counts["telemetry"] += 1
            self.outbox.put(self._topic(topics.TELEMETRY), topics.line_of(record), seq=record.values[0])
        elif record.kind == "E":
            self.counts["event"] += 1
            self.outbox.put(self._topic(topics.EVENT), topics.line_of(record))
            if ",boot," in "," + record.text:
                self._on_boot(record.text)
        elif record.kind == "R":
            self._answer(record.text)

    def _on_boot(self, text: str) -> None:
        """A reset: unanswered commands are lost with it, and the telemetry rate is back to the default."""
        while self._awaiting:
            command, remote = self._awaiting.popleft()
            if remote:
                self._result(command, False, "the board rebooted before answering")
        self._commands.put(("rate %d" % self._rate, False, None))
        self.log("bridge: the board rebooted (%s)" % text.split(",", 2)[-1][:80])

    def _send_commands(self, link: Link) -> None:
        while True:
            try:
                text, remote, refusal = self._commands.get_nowait()
            except queue.Empty:
                return
            if refusal:
                self._result(text, False, refusal)
                continue
            link.write_line(text)
            self._awaiting.append((text, remote))
            self.counts["command"] += remote

    def _answer(self, text: str) -> None:
        status, _, message = text.partition(",")
        if not self._awaiting:
            return  # an answer to nothing of ours (the resync's info, an earlier host's command)
        command, remote = self._awaiting.popleft()
        if remote:
            self._result(command, status == "ok", message)
        elif status != "ok":
            self.log("bridge: the board refused %r: %s" % (command, message))

    def _link_lost(self, error: LinkError, stop: threading.Event) -> None:
        if self._status["state"] != "link-lost":  # once per loss, not once per try
            self.log("bridge: link lost (%s); retrying every %g s" % (error, RETRY_S))
            self._set_status("link-lost", error=str(error))
        while self._awaiting:
            command, remote = self._awaiting.popleft()
            if remote:
                self._result(command, False, "the link to the board was lost before it answered")
        deadline = time.monotonic() + RETRY_S
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                text, remote, refusal = self._commands.get(timeout=0.1)
                if remote:  # the bridge's own (a rate after a reboot) is sent again when the board is back
                    self._result(text, False, refusal or "the link to the board is down")
            except queue.Empty:
                pass
            self._pump()

    # --- the broker ---

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            return
        self.outbox.on_connect()
        if self._away_since is not None:
            self.log("bridge: broker back after %.1f s; %d lines held to send" % (
                time.monotonic() - self._away_since, self.outbox.held))
            self._away_since = None
        client.subscribe(self._topic(topics.CMD), qos=topics.QOS[topics.CMD])
        if self._status["state"] not in ("starting", "closed"):
            self._publish_status()  # a broker that lost its state (no persistence) gets it again

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self.outbox.on_disconnect()
        if self._status["state"] in ("offline", "closed"):
            return
        self._away_since = time.monotonic()
        self.log("bridge: broker away (%s); holding lines, up to %d telemetry lines" % (reason, self.buffer_lines))

    def _on_message(self, client, userdata, message) -> None:
        """A command: checked here, run by the bridge's thread in the order received."""
        if message.topic != self._topic(topics.CMD):
            return
        text = message.payload.decode("utf-8", "replace").strip()
        self._commands.put((text, True, self._refusal(text, message.retain)))

    def _refusal(self, text: str, retained: bool) -> str | None:
        if retained:
            return "a retained command is not run (it would run again at every reconnect)"
        if not text or any(ord(c) < 32 for c in text) or "\ufffd" in text:
            return "one command line of printable UTF-8 text, please"
        allowed = REMOTE + (("start",) if self.allow_start else ())
        if text.split()[0].lower() not in allowed:
            return "over MQTT only %s%s" % (" and ".join(allowed), "" if self.allow_start else
                                            " (start: run the bridge with --allow-remote-start)")
        return None

    def _pump(self) -> None:
        self.outbox.pump()
        if self.outbox.dropped_runs and not self.outbox.held:
            runs = ", ".join("%d..%d" % tuple(run) for run in self.outbox.dropped_runs)
            self.outbox.dropped_runs = []
            self.log("bridge: dropped telemetry seq %s while the broker was away (%d dropped in all)" % (
                runs, self.outbox.dropped))
            self._publish_status()

    def _result(self, command: str, ok: bool, text: str) -> None:
        self.outbox.put(self._topic(topics.RESULT), topics.status_payload({"cmd": command, "ok": ok, "text": text}))

    def _set_status(self, state: str, **extra) -> None:
        self._status = self._fields(state, **extra)
        self._publish_status()

    def _publish_status(self) -> None:
        self._status["dropped"] = self.outbox.dropped
        self.outbox.publish(self._topic(topics.STATUS), topics.status_payload(self._status), retain=True)

    def _fields(self, state: str, **extra) -> dict:
        fields = {"state": state, "device": self.device, "port": self.port, "info": self.info,
                  "rate_hz": self._rate, "remote_start": self.allow_start,
                  "bridge": __version__, "since": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds")}
        fields.update(extra)
        return fields

    def _topic(self, leaf: str) -> str:
        return topics.topic(self.device, leaf)

