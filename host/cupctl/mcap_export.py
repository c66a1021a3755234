"""A trace as an MCAP file, which Foxglove opens: a ``/telemetry`` channel (one message per row) and an
``/event`` channel, both JSON with a JSON schema, and the trace header as MCAP metadata.

Message times are the device's ``t_ms`` from the start of the trace, unwrapped (``ticks_ms`` wraps at
2^30; a reboot, whose clock starts again, does not make time run back), counted from the recording's
``created`` time when the header has one. An event takes the time of the row it precedes.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from mcap.well_known import MessageEncoding, SchemaEncoding
from mcap.writer import CompressionType, Writer

from cupctl.trace import Trace
from cupfw import faults
from cupfw.controller import STATE_NAMES

_WRAP = 1 << 30
_REBOOT_MS = 3_600_000  # a forward step longer than this is the device clock starting again
_DESCRIPTIONS = {
    "t_ms": "device time, ms (ticks_ms, wraps at 2^30)",
    "raw_counts": "MPRLS counts this tick, or a negative sensor error",
    "vacuum_pa": "ambient minus cup pressure, Pa",
    "target_pa": "set point, Pa",
    "pump_duty": "pump duty, 0..1000",
    "valve_open": "1 = vented",
    "state": "0 idle, 1 prepare, 2 running, 3 fault",
    "fault": "fault code, 0 = none (fault_name)",
    "seq": "telemetry sequence number (+1 per line)",
    "plant_vacuum_pa": "simulated true vacuum in the cup, Pa",
    "lift_um": "simulated tissue drawn into the cup, um",
}


def telemetry_schema(columns: tuple[str, ...]) -> dict:
    properties: dict[str, dict] = {name: {"type": "integer", "description": _DESCRIPTIONS.get(name, name)}
                                   for name in columns}
    properties.update(vacuum_kpa={"type": "number", "description": "vacuum_pa in kPa"},
                      target_kpa={"type": "number", "description": "target_pa in kPa"},
                      state_name={"type": "string"}, fault_name={"type": "string"})
    return {"title": "cupctl.Telemetry", "type": "object", "properties": properties, "required": list(columns)}


EVENT_SCHEMA = {"title": "cupctl.Event", "type": "object", "properties": {
    "t_ms": {"type": ["integer", "string"], "description": "device time of the event (0 for the host's)"},
    "kind": {"type": "string", "description": "boot, state, cmd, ... (docs/protocol.md); host: the recorder's"},
    "detail": {"type": "string"}}}


def export(trace: Trace, path: str | Path) -> list[str]:
    """Write ``trace`` to ``path``; returns the channel topics."""
    times = _log_times(trace)
    with open(path, "wb") as stream:
        writer = Writer(stream, compression=CompressionType.ZSTD)
        writer.start(profile="", library="cupctl")
        writer.add_metadata("cupctl trace", {key: str(value) for key, value in trace.meta.items()})
        rows = writer.register_channel("/telemetry", MessageEncoding.JSON, _schema(writer, telemetry_schema(
            trace.columns)))
        events = writer.register_channel("/event", MessageEncoding.JSON, _schema(writer, EVENT_SCHEMA))
        for index, (row, at) in enumerate(zip(trace.rows, times)):
            writer.add_message(rows, log_time=at, publish_time=at, sequence=index,
                               data=_json(telemetry_message(trace.columns, row)))
        for index, (before, text) in enumerate(trace.events):
            at = times[min(before, len(times) - 1)]
            writer.add_message(events, log_time=at, publish_time=at, sequence=index, data=_json(event_message(text)))
        writer.finish()
    return ["/telemetry", "/event"]


def telemetry_message(columns: tuple[str, ...], row) -> dict:
    """One row as a /telemetry message: every column, and kPa and names for plots and tables."""
    message = dict(zip(columns, row))
    state, fault = message["state"], message["fault"]
    message.update(vacuum_kpa=message["vacuum_pa"] / 1000, target_kpa=message["target_pa"] / 1000,
                   state_name=STATE_NAMES[state] if 0 <= state < len(STATE_NAMES) else "?",
                   fault_name=faults.NAMES.get(fault, "?"))
    return message


def event_message(text: str) -> dict:
    """An event line's text (``t_ms,kind,detail``) as an /event message."""
    t_ms, kind, detail = (text.split(",", 2) + ["", ""])[:3]
    return {"t_ms": int(t_ms) if t_ms.isdigit() else t_ms, "kind": kind, "detail": detail}


def _schema(writer: Writer, schema: dict) -> int:
    return writer.register_schema(schema["title"], SchemaEncoding.JSONSchema, _json(schema))


def _json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _log_times(trace: Trace) -> list[int]:
    """Nanoseconds per row: ``created`` (or 0) plus the device time elapsed since the first row."""
    start_ns = 0
    created = trace.meta.get("created")
    if created:
        try:
            start_ns = int(datetime.datetime.fromisoformat(created).timestamp()) * 1_000_000_000
        except ValueError:
            pass  # a hand-edited header: times from 0
    elapsed, previous, times = 0, None, []
    for t_ms in trace.column("t_ms"):
        if previous is not None:
            step = (t_ms - previous) % _WRAP
            elapsed += step if step <= _REBOOT_MS else 0
        previous = t_ms
        times.append(start_ns + elapsed * 1_000_000)
    return times
