"""Live work on a connected board: recording, the monitor view, following a session."""

from __future__ import annotations

import datetime
import json
import socket
import sys
import time
from collections import deque
from collections.abc import Callable

from cupctl import boards
from cupctl.link import Link, LinkError, parse_info  # noqa: F401  (parse_info: also used through live)
from cupctl.telemetry import FIELDS, Record
from cupctl.trace import TRACE_COLUMNS, TraceWriter
from cupfw import faults
from cupfw.controller import FAULT, IDLE, RUNNING, STATE_NAMES

RECORD_COLUMNS = TRACE_COLUMNS + ("seq",)
_ORDER = [FIELDS.index(name) for name in RECORD_COLUMNS]
TELEPLOT = ("127.0.0.1", 47269)
_BARS = " ▁▂▃▄▅▆▇█"


def kpa(pa: int) -> str:
    """Pa as kPa with one decimal; never "-0.0" (a vented cup reads a few Pa either side of zero)."""
    return "%.1f" % (round(pa / 1000, 1) + 0.0)  # adding 0.0 turns -0.0 into 0.0


def parse_status(text: str) -> dict[str, int | str]:
    """The ``status`` answer as a dict: numbers as ints, ``program`` as its whole description."""
    head, _, program = text.partition(" program=")
    fields = with_numbers(parse_info(head))
    fields["program"] = program or "none"
    return fields


def with_numbers(fields: dict[str, str]) -> dict[str, int | str]:
    """The same fields with whole numbers as ints (for --json)."""
    return {key: int(value) if value.lstrip("-").isdigit() else value for key, value in fields.items()}


def format_status(fields: dict[str, int | str]) -> str:
    """One status line in the live view's units: kPa and %."""
    def pa(key):
        return "%s kPa" % kpa(int(fields[key])) if key in fields else "?"

    text = "%s, fault %s: vacuum %s, target %s, duty %.1f%%, ambient %s; program %s" % (
        fields.get("state", "?"), fields.get("fault", "?"), pa("vacuum_pa"), pa("target_pa"),
        int(fields.get("duty", 0)) / 10, pa("ambient_pa"), fields["program"])
    if "missed" in fields:
        text += "; %s late ticks" % fields["missed"]
    if "mem_free" in fields:
        text += ", %d kB free" % (int(fields["mem_free"]) // 1024)
    return text


def trace_metadata(link: Link, info: dict[str, str]) -> dict[str, str]:
    meta = {
        "source": "recorded from %s" % link.port,
        "firmware": info.get("version", "?"),
        "board": info.get("board", "?"),
        "limits": " ".join("%s=%s" % kv for kv in info.items() if kv[0] not in ("version", "protocol")),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        data, _ = boards.load(info.get("board", ""))
        meta["board_file"] = json.dumps(data, separators=(",", ":"))
    except boards.BoardFileError:
        pass  # replay will say the board file is missing
    return meta


class Recorder:
    """Writes telemetry rows and event lines to a trace; counts sequence gaps.

    After a device reboot its telemetry rate is back to the default, so
    ``on_boot`` (e.g. re-sending ``rate``) runs on every boot event.
    """

    def __init__(self, path, meta: dict[str, str], on_boot: Callable[[], None] | None = None):
        # Every row reaches the OS at once: a killed recorder loses nothing it received.
        self.writer = TraceWriter(path, meta, RECORD_COLUMNS, flush_every=1)
        self.gaps = 0
        self._last_seq: int | None = None
        self.on_boot = on_boot

    def add(self, record: Record) -> None:
        if record.kind == "E" and ",boot," in "," + record.text:
            self._last_seq = None  # the sequence restarts with the firmware
            if self.on_boot is not None:
                self.on_boot()
        if record.kind == "T":
            seq = record.values[0]
            if self._last_seq is not None and seq != self._last_seq + 1:
                self.gaps += 1
            self._last_seq = seq
            self.writer.write([record.values[i] for i in _ORDER])
        elif record.kind == "E":
            self.writer.event(record.text)

    @property
    def count(self) -> int:
        return self.writer.count

    def close(self) -> None:
        self.writer.close()


def as_json(record: Record) -> str | None:
    """A telemetry row or event as one JSON line (``monitor --json``); None for anything else."""
    if record.kind == "T":
        values: dict[str, int | str] = dict(zip(FIELDS, record.values))
        values["state_name"] = STATE_NAMES[record.values[FIELDS.index("state")]]
        values["fault_name"] = faults.NAMES.get(record.values[FIELDS.index("fault")], "?")
        return json.dumps(values)
    if record.kind == "E":
        t_ms, kind, detail = (record.text.split(",", 2) + ["", ""])[:3]
        return json.dumps({"event": kind, "t_ms": int(t_ms) if t_ms.isdigit() else t_ms, "detail": detail})
    return None


class View:
    """One status line with a small terminal plot of the last minute of vacuum."""

    def __init__(self, out=None, teleplot: bool = False, every_s: float = 0.2):
        self.out = out or sys.stdout  # looked up now, not at import: it may have been replaced
        self.history: deque[int] = deque(maxlen=60)
        self.every_s = every_s
        self._next = 0.0
        self._tty = self.out.isatty()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if teleplot else None
        self.last: dict[str, int] = {}

    def show(self, record: Record) -> None:
        if record.kind == "E":
            self._line("event " + record.text)
            return
        if record.kind != "T":
            return
        values = dict(zip(FIELDS, record.values))
        self.last = values
        if self._udp is not None:
            payload = "".join(">%s:%d\n" % (k, values[k]) for k in ("vacuum_pa", "target_pa", "pump_duty"))
            self._udp.sendto(payload.encode(), TELEPLOT)
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        self.history.append(values["vacuum_pa"])
        top = max(max(self.history), 1000)  # at least 1 kPa full scale: a vented cup's noise stays flat
        spark = "".join(_BARS[max(0, v) * (len(_BARS) - 1) // top] for v in self.history)
        text = "vacuum %5s kPa  target %5s  duty %5.1f%%  valve %-6s %-8s fault %-12s |%s|" % (
            kpa(values["vacuum_pa"]), kpa(values["target_pa"]), values["pump_duty"] / 10,
            "vented" if values["valve_open"] else "sealed", STATE_NAMES[values["state"]],
            faults.NAMES.get(values["fault"], "?"), spark)
        if self._tty:
            self.out.write("\r\x1b[2K" + text)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def _line(self, text: str) -> None:
        self.out.write(("\r\x1b[2K" if self._tty else "") + text + "\n")
        self.out.flush()


def follow(link: Link, on_record: Callable[[Record], None], until: Callable[[Record], bool] | None = None,
           duration_s: float | None = None, heartbeat_s: float | None = None) -> None:
    """Pass records to ``on_record`` until ``until(record)``, the duration, or Ctrl-C."""
    end = time.monotonic() + duration_s if duration_s else None
    next_hb = time.monotonic()
    for record in link.records(timeout=5.0):
        on_record(record)
        if until is not None and until(record):
            return
        now = time.monotonic()
        if heartbeat_s and now >= next_hb:
            link.write_line("hb")
            next_hb = now + heartbeat_s
        if end is not None and now >= end:
            return
    raise LinkError("%s went silent for 5 s: board reset, unplugged, or not running cupctl firmware" % link.port)


class SessionEnd:
    """True once a session that ran is over: back to idle, or a latched fault."""

    def __init__(self):
        self.ran = False
        self.final: dict[str, int] = {}

    def __call__(self, record: Record) -> bool:
        if record.kind != "T":
            return False
        state = record.values[FIELDS.index("state")]
        self.final = dict(zip(FIELDS, record.values))
        if state == RUNNING:
            self.ran = True
        return state == FAULT or (self.ran and state == IDLE)
