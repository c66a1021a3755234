"""What the bridge publishes, in the device's order, through broker outages.

While the broker is away lines wait here, in memory: up to ``capacity`` telemetry lines, the oldest
dropped (and counted, with their sequence numbers) beyond that; events are never dropped. paho keeps
the QoS 1 messages it had already taken and sends them again after a reconnect, so nothing goes back
to it before all of those are acknowledged: otherwise a new line could overtake an old one.
"""

from __future__ import annotations

import threading
from collections import deque

import paho.mqtt.client as mqtt

WINDOW = 1000  # unacknowledged messages paho may hold before lines wait here instead


class Outbox:
    def __init__(self, client: mqtt.Client, capacity: int):
        self._client = client
        self.capacity = capacity
        self._held: deque[tuple[str, bytes, int | None]] = deque()  # (topic, payload, seq of a telemetry line)
        self._held_telemetry = 0
        self._lock = threading.Lock()  # publish() runs in the main thread and in paho's callbacks
        self._sent = 0
        self._acked = 0  # written by paho's thread only
        self._connected = False
        self._generation = 0  # connections so far
        self._settled = -1  # the connection whose earlier messages are all acknowledged
        self.dropped = 0
        self.dropped_runs: list[list[int]] = []  # [first, last] seq of each run dropped since the last report

    # --- paho's callbacks (its network thread) ---

    def on_connect(self) -> None:
        self._generation += 1
        self._connected = True

    def on_disconnect(self) -> None:
        self._connected = False

    def on_publish(self) -> None:
        self._acked += 1

    # --- the bridge's thread ---

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Straight to paho (QoS 1), bypassing the queue: for status, which has no order to keep."""
        with self._lock:
            self._sent += 1
            self._client.publish(topic, payload, qos=1, retain=retain)

    def put(self, topic: str, payload: bytes, seq: int | None = None) -> None:
        """Publish in order, or hold while the broker is away; ``seq``: a telemetry line, may be dropped."""
        if not self._held and self._flowing():
            self.publish(topic, payload)
            return
        self._held.append((topic, payload, seq))
        if seq is not None:
            self._held_telemetry += 1
            if self._held_telemetry > self.capacity:
                self._drop_oldest_telemetry()
        self.pump()

    def pump(self) -> int:
        """Send what waits, as far as the broker is there; the number sent."""
        sent = 0
        while self._held and self._flowing():
            topic, payload, seq = self._held.popleft()
            self._held_telemetry -= seq is not None
            self.publish(topic, payload)
            sent += 1
        return sent

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def unacknowledged(self) -> int:
        return self._sent - self._acked

    def _flowing(self) -> bool:
        if not self._connected:
            return False
        generation = self._generation
        if self._settled != generation:
            if self._sent != self._acked:  # paho is still resending what it held at the reconnect
                return False
            self._settled = generation
        return self._sent - self._acked < WINDOW

    def _drop_oldest_telemetry(self) -> None:
        kept = []
        while True:
            topic, payload, seq = self._held.popleft()
            if seq is not None:
                break
            kept.append((topic, payload, seq))  # an event: it stays, in front
        self._held.extendleft(reversed(kept))
        self._held_telemetry -= 1
        self.dropped += 1
        if self.dropped_runs and seq == self.dropped_runs[-1][1] + 1:
            self.dropped_runs[-1][1] = seq
        else:  # the first drop, or the sequence started again (a reboot) or jumped
            self.dropped_runs.append([seq, seq])
