"""The topic tree and the payloads, defined once for the bridge and every subscriber (docs/mqtt.md).

Telemetry and events travel as the device's own checksummed lines, rebuilt from the parsed record
(so noise is gone and the checksum still covers every byte); status and command results are JSON.
"""

from __future__ import annotations

import json
import re

from cupctl.telemetry import Record
from cupfw import protocol

ROOT = "cupctl"
TELEMETRY, EVENT, STATUS, CMD, RESULT = "telemetry", "event", "status", "cmd", "result"
# QoS per topic: every line counts (a recording from the broker must replay without gaps), so 1
# throughout; a live view may subscribe at 0 to get only fresh lines after a reconnect.
QOS = {TELEMETRY: 1, EVENT: 1, STATUS: 1, CMD: 1, RESULT: 1}
_DEVICE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_encoder = protocol.TelemetryEncoder()


def topic(device: str, leaf: str) -> str:
    return "%s/%s/%s" % (ROOT, device, leaf)


def leaf_of(name: str) -> tuple[str, str] | None:
    """``cupctl/<device>/<leaf>`` as (device, leaf); None for any other topic."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != ROOT:
        return None
    return parts[1], parts[2]


def check_device_id(device: str) -> str:
    """A device id is one topic level a %u ACL pattern can match: no '/', '+' or '#'."""
    if not _DEVICE_ID.fullmatch(device or ""):
        raise ValueError("device id %r: use 1-64 letters, digits, '_', '.' or '-' (it is one topic level, "
                         "and the device's broker user name)" % device)
    return device


def line_of(record: Record) -> bytes:
    """The device line of a telemetry record or event, without its newline."""
    if record.kind == "T":
        return bytes(_encoder.encode(*record.values)[:-1])
    return protocol.frame(protocol.EVENT, record.text).rstrip("\n").encode()


def status_payload(fields: dict) -> bytes:
    return json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()


def parse_json(payload: bytes) -> dict:
    """A status or result payload as a dict; {} when it is not a JSON object (never raises)."""
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
