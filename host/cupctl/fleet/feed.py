"""The subscriber side: one device followed through the broker, as ``Link.records`` follows it over serial.

``BrokerFeed(broker, device).records()`` yields the same ``Record`` objects (telemetry and events, parsed
and checksum-checked by cupctl.telemetry), so the monitor, the recorder or a dashboard take either source.
The bridge's retained status is kept in ``feed.status``; ``on_status`` hears every change.

QoS 1 is at least once: a line whose acknowledgement was lost in a broker restart comes again,
late. The feed drops such repeats (a telemetry line's seq and t_ms, an event's whole line, among the
last REPEAT_WINDOW lines), so a recording holds each line once.

``durable=True`` (a recording) subscribes at QoS 1 in a session the broker keeps for SESSION_S while
this client is away, so a broker restart or a network blip loses nothing; a live view subscribes at
QoS 0 and sees only fresh lines after a reconnect.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from cupctl.fleet import BrokerError, topics
from cupctl.fleet import broker as brokers
from cupctl.telemetry import Record, parse_line

SESSION_S = 600
REPEAT_WINDOW = 4096  # more than the bridge lets wait unacknowledged (outbox.WINDOW)


class BrokerFeed:
    def __init__(self, broker: brokers.Broker, device: str, durable: bool = False,
                 on_status: Callable[[dict], None] | None = None):
        self.device = topics.check_device_id(device)
        self.port = "%s/%s" % (broker.url, topics.topic(device, "#"))  # where from, for messages and traces
        self.status: dict = {}
        self._status_seen = threading.Event()
        self._on_status = on_status
        self._durable = durable
        self._queue: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self._recent: set[bytes] = set()
        self._recent_order: deque[bytes] = deque()
        self.repeats = 0
        client_id = "cupctl-%s-%s-%s-%d" % ("rec" if durable else "mon", device, socket.gethostname()[:20],
                                            os.getpid())
        self.client = broker.client(client_id)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        if not broker.connect(self.client, session_expiry_s=SESSION_S if durable else 0) and \
                not subscribed.wait(10):  # from here on, nothing published is missed
            brokers.disconnect(self.client)
            raise BrokerError("the broker at %s did not confirm the subscription to %s" % (
                broker.url, topics.topic(device, "#")))

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if not reason.is_failure and not flags.session_present:  # a kept session keeps its subscriptions
            qos = 1 if self._durable else 0
            client.subscribe([(topics.topic(self.device, leaf), qos)
                              for leaf in (topics.TELEMETRY, topics.EVENT, topics.STATUS)])

    def _on_message(self, client, userdata, message) -> None:
        if message.topic.endswith("/" + topics.STATUS):
            self.status = topics.parse_json(message.payload)
            self._status_seen.set()
        self._queue.put((message.topic, message.payload))

    def records(self, timeout: float | None = None) -> Iterator[Record]:
        """Telemetry and event records as they arrive; stops after ``timeout`` s without one (None: never)."""
        while True:
            try:
                name, payload = self._queue.get(timeout=timeout)
            except queue.Empty:
                return
            leaf = topics.leaf_of(name)
            if leaf is None:
                continue
            if leaf[1] == topics.STATUS:
                if self._on_status is not None:
                    self._on_status(topics.parse_json(payload))
                continue
            record = parse_line(payload)
            if record is not None and record.kind in "TE" and not self._repeated(payload):
                yield record

    def _repeated(self, line: bytes) -> bool:
        """A line seen among the last REPEAT_WINDOW: a telemetry line carries its seq and device time, so
        two equal lines are one line sent twice (and an event's time, kind and detail, the same)."""
        if line in self._recent:
            self.repeats += 1
            return True
        self._recent.add(line)
        self._recent_order.append(line)
        if len(self._recent_order) > REPEAT_WINDOW:
            self._recent.discard(self._recent_order.popleft())
        return False

    def wait_status(self, timeout: float = 3.0) -> dict:
        """The bridge's retained status (what board, what rate); BrokerError if no bridge ever published one."""
        if not self._status_seen.wait(timeout):
            raise BrokerError("no bridge has published %s on %s: is `cupctl bridge` running for it?" % (
                topics.topic(self.device, topics.STATUS), self.port.split("/cupctl/")[0]))
        return self.status

    def close(self) -> None:
        brokers.disconnect(self.client, forget_session=self._durable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def devices(broker: brokers.Broker, wait_s: float = 1.0) -> dict[str, dict]:
    """Every device with a retained status on the broker, and that status."""
    seen: dict[str, dict] = {}
    client = broker.client()

    def on_message(c, userdata, message):
        leaf = topics.leaf_of(message.topic)
        if leaf is not None and leaf[1] == topics.STATUS:
            seen[leaf[0]] = topics.parse_json(message.payload)

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(topics.topic("+", topics.STATUS), qos=1)
    broker.connect(client)
    time.sleep(wait_s)  # retained messages arrive at once; this waits for them, not for news
    brokers.disconnect(client)
    return seen
