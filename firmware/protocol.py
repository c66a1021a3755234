"""The serial line format, defined once: the firmware encodes with it, the host parses with it.

Every line the device sends is ``<kind><version>,<body>*<xx>\\n`` where ``xx``
is the NMEA-style XOR of the bytes before ``*``, in hex. Kinds:

- ``T1`` telemetry: fixed-width decimal fields (``TELEMETRY_FIELDS``), so a
  line has a constant length and is encoded into one preallocated buffer.
- ``E1`` event: ``E1,<t_ms>,<kind>,<detail>`` for boot, state and fault changes.
- ``R1`` result: ``R1,ok,<text>`` or ``R1,err,<text>``, one per command.

Commands from the host are plain text lines, e.g. ``start static target=30``.
"""

VERSION = 1
TELEMETRY = "T%d," % VERSION
EVENT = "E%d," % VERSION
RESULT = "R%d," % VERSION
MAX_COMMAND = 160  # longest command line accepted, in bytes

# (name, width, signed): the trace CSV uses the same names.
TELEMETRY_FIELDS = (
    ("seq", 8, False),
    ("t_ms", 10, False),
    ("raw_counts", 9, True),  # counts, or a negative sensor error code
    ("vacuum_pa", 7, True),
    ("target_pa", 6, False),
    ("pump_duty", 4, False),
    ("valve_open", 1, False),
    ("state", 1, False),
    ("fault", 2, False),
)
TELEMETRY_LEN = len(TELEMETRY) + sum(w + 1 for _, w, _ in TELEMETRY_FIELDS) + 3  # ",*xx\n"
COMMANDS = ("start", "stop", "ack", "status", "hb", "info", "rate", "maint")


class ProtocolError(ValueError):
    """A command line the device refuses; the message is sent back as ``R1,err``."""


def checksum(data, end):
    """XOR of ``data[0:end]`` (bytes or bytearray); allocation-free."""
    value = 0
    for i in range(end):
        value ^= data[i]
    return value


_HEX = b"0123456789ABCDEF"


class TelemetryEncoder:
    """Writes one fixed-length telemetry line into a reused buffer."""

    def __init__(self):
        self.buf = bytearray(TELEMETRY_LEN)
        self.buf[0 : len(TELEMETRY)] = TELEMETRY.encode()
        ends = []
        pos = len(TELEMETRY)
        for _, width, _ in TELEMETRY_FIELDS:
            pos += width
            ends.append(pos)
            self.buf[pos] = ord(",")
            pos += 1
        self.buf[pos - 1] = ord("*")
        self.buf[pos + 2] = ord("\n")
        self._ends = tuple(ends)
        self._star = pos - 1

    def encode(self, seq, t_ms, counts, vacuum, target, duty, valve, state, fault):
        ends = self._ends
        self._put(ends[0], 8, seq)
        self._put(ends[1], 10, t_ms)
        self._put_signed(ends[2], 9, counts)
        self._put_signed(ends[3], 7, vacuum)
        self._put(ends[4], 6, target)
        self._put(ends[5], 4, duty)
        self._put(ends[6], 1, valve)
        self._put(ends[7], 1, state)
        self._put(ends[8], 2, fault)
        buf = self.buf
        star = self._star
        value = checksum(buf, star)
        buf[star + 1] = _HEX[value >> 4]
        buf[star + 2] = _HEX[value & 15]
        return buf

    def _put(self, end, width, value):
        buf = self.buf
        for i in range(end - 1, end - width - 1, -1):
            buf[i] = 48 + value % 10
            value //= 10

    def _put_signed(self, end, width, value):
        self.buf[end - width] = ord("-") if value < 0 else ord("+")
        self._put(end, width - 1, -value if value < 0 else value)


def frame(prefix, body):
    """A checksummed text line (event or result); allocates, so not for the tick."""
    line = prefix + body
    data = line.encode()
    return "%s*%02X\n" % (line, checksum(data, len(data)))


def parse_command(line):
    """Split ``start static target=30`` into ('start', ['static'], {'target': '30'})."""
    if len(line) > MAX_COMMAND:
        raise ProtocolError("line too long (max %d bytes)" % MAX_COMMAND)
    words = line.split()
    if not words:
        raise ProtocolError("empty command")
    verb = words[0].lower()
    if verb not in COMMANDS:
        raise ProtocolError("unknown command %r (have: %s)" % (words[0][:20], " ".join(COMMANDS)))
    args = []
    params = {}
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq:
            args.append(word)
        elif not key or not value or key in params:
            raise ProtocolError("bad parameter %r: expected key=value, once each" % word[:20])
        else:
            params[key] = value
    return verb, args, params
