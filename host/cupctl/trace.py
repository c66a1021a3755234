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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

TRACE_COLUMNS = ("t_ms", "raw_counts", "vacuum_pa", "target_pa", "pump_duty", "valve_open", "state", "fault")
MAGIC = "# cupctl trace v1"


class TraceError(ValueError):
    """A trace that cannot be read; the message names the file and line."""


class Table(Sequence):
    """Numbers read from a file, kept as one int64 array; its items (a row of a 2-D array becomes
    a tuple) are made into Python objects when first asked for.

    A column (``Trace.column``) is taken from the array directly, so a plot never builds the rows.
    """

    def __init__(self, array: np.ndarray):
        self.array = array
        self._items: list | None = None

    def _materialised(self) -> list:
        if self._items is None:
            items = self.array.tolist()
            self._items = list(map(tuple, items)) if self.array.ndim == 2 else items
        return self._items

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index):
        return self._materialised()[index]

    def __iter__(self):
        return iter(self._materialised())

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def column(self, index: int) -> list[int]:
        return self.array[:, index].tolist()


@dataclass
class Trace:
    meta: dict[str, str]
    columns: tuple[str, ...]
    rows: Sequence[tuple[int, ...]] = field(default_factory=list)  # a list, or a Table when read from a file
    events: list[tuple[int, str]] = field(default_factory=list)  # (index of the next row, text)
    line_numbers: Sequence[int] = field(default_factory=list)  # 1-based file line of each row

    def column(self, name: str) -> list[int]:
        i = self.columns.index(name)
        if isinstance(self.rows, Table):
            return self.rows.column(i)
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
        content = path.read_bytes()  # bytes: the rows go to numpy without a decode and an encode
    except OSError as e:
        raise TraceError("%s: cannot read: %s" % (path, e))
    meta: dict[str, str] = {}
    start = 0
    number = 0  # 1-based number of the line that starts at ``start``, minus one
    while True:
        end = content.find(b"\n", start)
        line = _decoded(content[start:] if end < 0 else content[start:end], path)
        number += 1
        if number == 1:
            if line.strip() != MAGIC:
                raise TraceError("%s:1: not a cupctl trace (expected %r first)" % (path, MAGIC))
        elif line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if not sep:
                raise TraceError("%s:%d: metadata line must be '# key: value'" % (path, number))
            meta[key.strip()] = value.strip()
        else:
            break
        if end < 0:
            raise TraceError("%s:%d: the column row is missing" % (path, number + 1))
        start = end + 1
    columns = tuple(c.strip() for c in line.split(","))
    missing = [c for c in TRACE_COLUMNS if c not in columns]
    if missing:
        raise TraceError("%s:%d: missing column(s) %s" % (path, number, ", ".join(missing)))
    trace = Trace(meta, columns)
    body = b"" if end < 0 else content[end + 1 :]
    if not _read_rows_quickly(trace, body, number + 1):
        _read_rows(trace, _decoded(body, path).splitlines(), number + 1, path)  # finds and names the bad line
    if not trace.rows:
        raise TraceError("%s: no rows after the column row" % path)
    return trace


def _decoded(data: bytes, path: Path) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise TraceError("%s: cannot read: %s" % (path, e))


_EVENT = b"# event:"


def _read_rows_quickly(trace: Trace, body: bytes, first_line: int) -> bool:
    """Rows and events in bulk (numpy); False, with ``trace`` untouched, if any line is irregular."""
    import numpy as np  # here, not at the top: most commands never read a trace, and numpy is slow to import
    data_parts, events, last, rows_before = [], [], 0, 0
    at = _next_comment(body, 0)
    while at >= 0:  # comment lines are few: find them, keep the rest
        if not body.startswith(_EVENT, at):
            return False  # only events may sit between rows: the slow path names the line
        end = body.find(b"\n", at)
        end = len(body) if end < 0 else end + 1
        data = body[last:at]
        rows_before += data.count(b"\n")
        data_parts.append(data)
        try:
            events.append((rows_before, body[at + len(_EVENT) : end].decode().strip()))
        except UnicodeDecodeError:
            return False
        last = end
        at = _next_comment(body, end)
    data_parts.append(body[last:])
    data = b"".join(data_parts)
    if not data.endswith(b"\n"):
        data += b"\n"
    raw = np.frombuffer(data, np.uint8)
    separators = np.flatnonzero((raw == ord(",")) | (raw == ord("\n")))
    width = len(trace.columns)
    rows = len(separators) // width
    # Every line has width - 1 commas then a newline: each width-th separator is a newline, and only those.
    if len(separators) != rows * width or rows == 0 or not (raw[separators[width - 1 :: width]] == 10).all() \
            or np.count_nonzero(raw == ord("\n")) != rows:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, then stops, at a field that is not an integer
        try:
            table = np.fromstring(data.replace(b"\n", b","), dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):
            return False
    if table.size != rows * width:
        return False
    trace.rows = Table(table.reshape(rows, width))
    trace.events = events
    index = np.arange(rows)
    event_rows = np.array([row for row, _ in events], dtype=np.int64)
    # A row's file line: its place among the rows, the lines before the first row, the events before it.
    trace.line_numbers = Table(index + first_line + np.searchsorted(event_rows, index, side="right"))
    return True


def _next_comment(body: bytes, start: int) -> int:
    """Where the next line from ``start`` (a line's beginning) that starts with '#' begins, or -1."""
    found = body.find(b"#", start)  # one byte: a memchr, much faster than finding "\n#"
    while found > 0 and body[found - 1] != 10:  # a '#' inside a line (not in an integer row, but be exact)
        found = body.find(b"#", found + 1)
    return found


def _read_rows(trace: Trace, lines: list[str], first_line: int, path: Path) -> None:
    for offset, line in enumerate(lines):
        number = first_line + offset
        if line.startswith("# event:"):
            trace.events.append((len(trace.rows), line[8:].strip()))
            continue
        cells = line.split(",")
        if len(cells) != len(trace.columns):
            raise TraceError("%s:%d: expected %d fields, got %d (truncated or corrupt row?)" % (
                path, number, len(trace.columns), len(cells)))
        try:
            trace.rows.append(tuple(int(c) for c in cells))
            trace.line_numbers.append(number)
        except ValueError:
            raise TraceError("%s:%d: fields must be integers: %r" % (path, number, line[:80]))
