"""Parse the device's serial lines with the firmware's own format definition.

Tolerates REPL noise and partial lines: anything before the ``T1,``/``E1,``/
``R1,`` marker is ignored, and a line with a bad checksum or shape is dropped.
"""

from dataclasses import dataclass

from cupctl import fw  # noqa: F401  (puts the firmware on the path)

import protocol  # isort: skip

FIELDS = tuple(name for name, _, _ in protocol.TELEMETRY_FIELDS)
_MARKERS = (protocol.TELEMETRY.encode(), protocol.EVENT.encode(), protocol.RESULT.encode())
_SLICES = []
_pos = len(protocol.TELEMETRY)
for _name, _width, _signed in protocol.TELEMETRY_FIELDS:
    _SLICES.append(slice(_pos, _pos + _width))
    _pos += _width + 1
_STAR = _pos - 1
_LEN = protocol.TELEMETRY_LEN - 1  # without the newline


@dataclass(frozen=True)
class Record:
    kind: str  # "T" telemetry, "E" event, "R" result
    values: tuple = ()
    text: str = ""


def _xor(data: bytes) -> int:
    """XOR of all bytes, as protocol.checksum, by folding halves in a big int (fast on CPython)."""
    folded = int.from_bytes(data, "big")
    width = len(data) * 8
    while width > 8:
        half = (width // 8 + 1) // 2 * 8  # whole bytes, so byte boundaries stay aligned
        folded = (folded >> half) ^ (folded & ((1 << half) - 1))
        width = half
    return folded


def parse_line(line: bytes) -> Record | None:
    """One received line (with or without newline) to a Record, or None if not ours/corrupt."""
    line = line.rstrip(b"\r\n")
    start = -1
    for marker in _MARKERS:
        found = line.rfind(marker)
        if found > start:
            start = found
    if start < 0:
        return None
    line = line[start:]
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
    try:
        return Record("T", tuple(int(line[s]) for s in _SLICES))
    except ValueError:
        return None
