"""Parse the device's serial lines with the firmware's own format definition.

Tolerates REPL noise and partial lines: anything before a ``T1,``/``E1,``/
``R1,`` marker that starts a well-formed record is ignored, and a line with a
bad checksum or shape is dropped. ``parse_lines`` does the same for many lines
at once, checking and converting the fixed-width telemetry lines together
(numpy), which is what a recorder or a benchmark of a long stream wants.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, NamedTuple

from cupfw import protocol

if TYPE_CHECKING:
    import numpy as np

FIELDS = tuple(name for name, _, _ in protocol.TELEMETRY_FIELDS)
_T = protocol.TELEMETRY.encode()
_MARKERS = (_T, protocol.EVENT.encode(), protocol.RESULT.encode())
_LEN = protocol.TELEMETRY_LEN - 1  # without the newline
_STAR = _LEN - 3
_WIDTHS = tuple(width for _, width, _ in protocol.TELEMETRY_FIELDS)
_NUMBER_BYTES = b"0123456789,+-"


class Record(NamedTuple):
    kind: str  # "T" telemetry, "E" event, "R" result
    values: tuple = ()
    text: str = ""


_new = tuple.__new__  # Record(...) without its keyword handling, for the many telemetry records


def _xor(data: bytes) -> int:
    """XOR of all bytes, as protocol.checksum, by folding a big int onto itself (fast on CPython).

    Each fold XORs the upper half of the low ``2 * shift`` bits into the lower half; the bits above
    are left as they were and never come down again, so no mask is needed until the last byte.
    """
    folded = int.from_bytes(data, "big")
    shift = 8
    while shift < len(data) * 8:
        shift <<= 1
    while shift > 8:
        shift >>= 1
        folded ^= folded >> shift
    return folded & 0xFF


def parse_line(line: bytes) -> Record | None:
    """One received line (with or without newline) to a Record, or None if not ours/corrupt."""
    line = line.rstrip(b"\r\n")
    if len(line) == _LEN and line[:3] == _T:  # the common case: a whole telemetry line
        record = _telemetry(line)
        if record is not None:
            return record
    # Noise may precede the record, and a reply's text may itself contain "R1," or "T1,":
    # the record is the first marker from which a well-formed line follows.
    start = _next_marker(line, 0)
    while start >= 0:
        record = _record(line[start:])
        if record is not None:
            return record
        start = _next_marker(line, start + 1)
    return None


def _next_marker(line: bytes, start: int) -> int:
    found = [i for i in (line.find(marker, start) for marker in _MARKERS) if i >= 0]
    return min(found) if found else -1


def _record(line: bytes) -> Record | None:
    if line[:1] == b"T":
        return _telemetry(line)
    star = line.rfind(b"*")
    if star < 0 or len(line) != star + 3 or not _checksum_ok(line, star):
        return None
    try:
        return Record(chr(line[0]), text=line[3:star].decode())
    except UnicodeDecodeError:
        return None


def _checksum_ok(line: bytes, star: int) -> bool:
    try:
        return int(line[star + 1 : star + 3], 16) == _xor(line[:star])
    except ValueError:
        return False


def _telemetry(line: bytes) -> Record | None:
    if len(line) != _LEN or not _checksum_ok(line, _STAR):
        return None
    body = line[3:_STAR]
    fields = body.split(b",")
    if tuple(map(len, fields)) != _WIDTHS or body.translate(None, _NUMBER_BYTES):
        return None
    try:
        return _new(Record, ("T", tuple(map(int, fields)), ""))
    except ValueError:  # int() would also take " 1" or "1_0": the layout check above is for that
        return None


# --- many lines at once ---

_LAYOUT = []  # (first column, width, signed) of each field in a telemetry line
_pos = len(_T)
for _name, _width, _signed in protocol.TELEMETRY_FIELDS:
    _LAYOUT.append((_pos, _width, _signed))
    _pos += _width + 1
_COMMAS = [start + width for start, width, _ in _LAYOUT[:-1]]
_SIGNS = [start for start, _, signed in _LAYOUT if signed]
_SIGNED = [column for column, (_, _, signed) in enumerate(_LAYOUT) if signed]
_DIGIT_COLUMNS = [c for start, width, signed in _LAYOUT for c in range(start + signed, start + width)]


@functools.cache
def _bulk():
    """numpy and its tables, on first use: importing numpy takes a tenth of a second every CLI command would pay."""
    import numpy as np

    hex_value = np.full(256, 1000, np.int16)  # 1000: not a hex digit, so no checksum matches
    for i, c in enumerate(b"0123456789ABCDEF"):
        hex_value[c] = i
    # Each field's digit columns and their powers of ten: digits @ powers is the field's magnitude.
    places = [(slice(start + signed, start + width), 10 ** np.arange(width - signed - 1, -1, -1, dtype=np.int64))
              for start, width, signed in _LAYOUT]
    return np, hex_value, places


def parse_lines(lines: list[bytes]) -> list[Record | None]:
    """``[parse_line(line) for line in lines]``, for lines without their newline, checked in bulk."""
    whole = [i for i, line in enumerate(lines) if len(line) == _LEN and line[:3] == _T]
    values, ok = decode_telemetry([lines[i] for i in whole])
    out: list[Record | None] = [None] * len(lines)
    for i, row, good in zip(whole, values.tolist(), ok.tolist()):
        if good:
            out[i] = _new(Record, ("T", tuple(row), ""))
    for i, line in enumerate(lines):
        if out[i] is None:  # events, results, noise, corrupt lines: one at a time
            out[i] = parse_line(line)
    return out


def decode_telemetry(lines: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Whole telemetry lines (``_LEN`` bytes, no newline) to an (n, fields) int64 array and a validity mask."""
    np, hex_value, places = _bulk()
    grid = np.frombuffer(b"".join(lines), np.uint8).reshape(-1, _LEN)
    checksum = np.bitwise_xor.reduce(grid[:, :_STAR], axis=1).astype(np.int16)
    ok = checksum == hex_value[grid[:, _STAR + 1]] * 16 + hex_value[grid[:, _STAR + 2]]
    ok &= (grid[:, _STAR] == ord("*")) & (grid[:, _COMMAS] == ord(",")).all(axis=1)
    ok &= ((grid[:, _DIGIT_COLUMNS] - np.uint8(ord("0"))) < 10).all(axis=1)  # wraps below '0': one test
    values = np.empty((len(grid), len(places)), np.int64)
    for column, (digits, powers) in enumerate(places):
        values[:, column] = (grid[:, digits].astype(np.int64) - ord("0")) @ powers
    signs = grid[:, _SIGNS]
    ok &= ((signs == ord("+")) | (signs == ord("-"))).all(axis=1)
    values[:, _SIGNED] *= np.where(signs == ord("-"), -1, 1)
    return values, ok
