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
        layout = []  # (end, width, signed) per field, from the one table
        pos = len(TELEMETRY)
        for _, width, signed in TELEMETRY_FIELDS:
            pos += width
            layout.append((pos, width, signed))
            self.buf[pos] = ord(",")
            pos += 1
        self.buf[pos - 1] = ord("*")
        self.buf[pos + 2] = ord("\n")
        self._layout = tuple(layout)
        self._star = pos - 1

    def encode(self, seq, t_ms, counts, vacuum, target, duty, valve, state, fault):
        """Values in TELEMETRY_FIELDS order; returns the reused buffer."""
        self._field(0, seq)
        self._field(1, t_ms)
        self._field(2, counts)
        self._field(3, vacuum)
        self._field(4, target)
        self._field(5, duty)
        self._field(6, valve)
        self._field(7, state)
        self._field(8, fault)
        buf = self.buf
        star = self._star
        value = checksum(buf, star)
        buf[star + 1] = _HEX[value >> 4]
        buf[star + 2] = _HEX[value & 15]
        return buf

    def _field(self, index, value):
        end, width, signed = self._layout[index]
        buf = self.buf
        if signed:
            buf[end - width] = 45 if value < 0 else 43  # '-' or '+'
            width -= 1
            if value < 0:
                value = -value
        for i in range(end - 1, end - width - 1, -1):
            buf[i] = 48 + value % 10  # '0' + digit
            value //= 10


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
        elif not key or not value:
            raise ProtocolError("bad parameter %r: expected key=value" % word[:20])
        elif key in params:
            raise ProtocolError("parameter %s given twice" % key[:20])
        else:
            params[key] = value
    return verb, args, params
