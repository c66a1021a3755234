"""Trace CSV files: a ``# key: value`` metadata header, a column row, one row per tick.

Device events (commands, state changes) are kept between the rows as
``# event: <t_ms>,<kind>,<detail>`` comment lines, where they arrived; a
replay re-issues the ``cmd`` events at the same place.

Columns always include ``TRACE_COLUMNS`` (the contract); extras are documented
in docs/trace.md. The writer flushes every ``flush_every`` rows and on close,
so a crash or a pulled cable loses at most the rows not yet received.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

TRACE_COLUMNS = ("t_ms", "raw_counts", "vacuum_pa", "target_pa", "pump_duty", "valve_open", "state", "fault")
MAGIC = "# cupctl trace v1"


class TraceError(ValueError):
    """A trace that cannot be read; the message names the file and line."""


@dataclass
class Trace:
    meta: dict[str, str]
    columns: tuple[str, ...]
    rows: list[tuple[int, ...]] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)  # (index of the next row, text)
    line_numbers: list[int] = field(default_factory=list)  # 1-based file line of each row

    def column(self, name: str) -> list[int]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


class TraceWriter:
    def __init__(self, path: str | Path, meta: dict[str, str], columns=TRACE_COLUMNS, flush_every=50):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", newline="")  # noqa: SIM115 (closed in close())
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._flush_every = flush_every
        self.count = 0
        self._file.write(MAGIC + "\n")
        for key, value in meta.items():
            self._file.write("# %s: %s\n" % (key, str(value).replace("\n", " ")))
        self._writer.writerow(columns)
        self._file.flush()

    def write(self, row) -> None:
        self._writer.writerow(row)
        self.count += 1
        if self.count % self._flush_every == 0:
            self._file.flush()

    def event(self, text: str) -> None:
        self._file.write("# event: %s\n" % text.replace("\n", " "))

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read(path: str | Path) -> Trace:
    """Read and check a trace; TraceError with the line number on any problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise TraceError("%s: cannot read: %s" % (path, e))
    lines = text.splitlines()
    if not lines or lines[0].strip() != MAGIC:
        raise TraceError("%s:1: not a cupctl trace (expected %r first)" % (path, MAGIC))
    meta: dict[str, str] = {}
    number = 1
    while number < len(lines) and lines[number].startswith("#"):
        key, sep, value = lines[number][1:].partition(":")
        if not sep:
            raise TraceError("%s:%d: metadata line must be '# key: value'" % (path, number + 1))
        meta[key.strip()] = value.strip()
        number += 1
    if number >= len(lines):
        raise TraceError("%s:%d: the column row is missing" % (path, number + 1))
    columns = tuple(c.strip() for c in lines[number].split(","))
    missing = [c for c in TRACE_COLUMNS if c not in columns]
    if missing:
        raise TraceError("%s:%d: missing column(s) %s" % (path, number + 1, ", ".join(missing)))
    trace = Trace(meta, columns)
    for index in range(number + 1, len(lines)):
        if lines[index].startswith("# event:"):
            trace.events.append((len(trace.rows), lines[index][8:].strip()))
            continue
        cells = lines[index].split(",")
        if len(cells) != len(columns):
            raise TraceError("%s:%d: expected %d fields, got %d (truncated or corrupt row?)" % (
                path, index + 1, len(columns), len(cells)))
        try:
            trace.rows.append(tuple(int(c) for c in cells))
            trace.line_numbers.append(index + 1)
        except ValueError:
            raise TraceError("%s:%d: fields must be integers: %r" % (path, index + 1, lines[index][:80]))
    if not trace.rows:
        raise TraceError("%s: no rows after the column row" % path)
    return trace
