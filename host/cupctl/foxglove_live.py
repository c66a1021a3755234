"""A live Foxglove WebSocket server (foxglove-sdk) fed with the records a monitor follows, over serial or
through the broker: the same ``/telemetry`` and ``/event`` channels and JSON schemas as the MCAP export,
so a Foxglove layout made for a recording works live too."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from cupctl.mcap_export import EVENT_SCHEMA, event_message, telemetry_message, telemetry_schema
from cupctl.telemetry import FIELDS, Record


class LiveServer:
    def __init__(self, port: int, host: str = "127.0.0.1"):
        try:
            import foxglove
        except ImportError:
            raise ValueError("--foxglove needs foxglove-sdk: pip install 'cupctl[foxglove]'")
        try:
            self.server = foxglove.start_server(name="cupctl", host=host, port=port)
        except Exception as e:  # the SDK raises its own error types for a port in use or a bad host
            raise ValueError("cannot serve Foxglove on %s:%d: %s" % (host, port, e))
        self.telemetry = foxglove.Channel("/telemetry", schema=telemetry_schema(FIELDS), message_encoding="json")
        self.event = foxglove.Channel("/event", schema=EVENT_SCHEMA, message_encoding="json")
        self.url = "ws://%s:%d" % (host, self.server.port)

    def show(self, record: Record) -> None:
        now = time.time_ns()  # live: the time it arrived here
        if record.kind == "T":
            self.telemetry.log(telemetry_message(FIELDS, record.values), log_time=now)
        elif record.kind == "E":
            self.event.log(event_message(record.text), log_time=now)

    def close(self) -> None:
        self.telemetry.close()
        self.event.close()
        self.server.stop()


@contextlib.contextmanager
def tee(show: Callable[[Record], None], port: int | None) -> Iterator[Callable[[Record], None]]:
    """``show``, and with a port also a Foxglove server on it, for as long as the ``with`` lasts."""
    if port is None:
        yield show
        return
    server = LiveServer(port)
    print("Foxglove: open connection %s (Foxglove WebSocket)" % server.url, flush=True)

    def both(record: Record) -> None:
        show(record)
        server.show(record)

    try:
        yield both
    finally:
        server.close()
