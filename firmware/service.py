"""Serial service between ticks: command lines in, results, events and telemetry out.

``out`` is anything with ``write(bytes)``: ``sys.stdout.buffer`` on the board,
a pipe on the unix port, a list-backed fake in tests. Telemetry is decimated
to ``telemetry_hz`` and written from one reused buffer, so at most one
fixed-length line (plus rare events) leaves per tick.
"""

from . import faults, limits, programs, protocol
from .controller import FAULT, STATE_NAMES

_DEFAULT_CUP_INDEX = 0
_SEQ_WRAP = 99999999


class Service:
    def __init__(self, controller, out, version, mem_free=None, dropped=None):
        """``mem_free``: a function giving free heap bytes (``gc.mem_free`` on the board), for status;
        ``dropped``: one giving the lines ``out`` had to drop (the host fell behind)."""
        self.ctl = controller
        self._mem_free = mem_free
        self._dropped = dropped
        self.out = out
        self.version = version
        self.maintenance_requested = False
        self.seq = 0
        self.missed = 0  # ticks that started late (counted by the loop)
        self._encoder = protocol.TelemetryEncoder()
        self._line = bytearray(protocol.MAX_COMMAND + 1)
        self._len = 0
        self._overflow = False
        self._noise = False
        self._countdown = 0
        self._every = 1
        self.set_rate(controller.board.telemetry_hz)
        self._state = -1
        self._fault = -1

    def announce_boot(self):
        """The first line after every boot: firmware version, board and limits."""
        self.event("boot", "version=%s %s" % (self.version, self.ctl.board.summary()))

    def set_rate(self, hz):
        self._every = max(1, self.ctl.board.loop_hz // hz)

    def event(self, kind, detail):
        self.out.write(protocol.frame(protocol.EVENT, "%d,%s,%s" % (self.ctl.t_ms, kind, detail)).encode())

    def after_tick(self):
        """Report state and fault changes, then telemetry when due."""
        ctl = self.ctl
        if ctl.state != self._state or ctl.fault != self._fault:
            self._state = ctl.state
            self._fault = ctl.fault
            self.event("state", "%s fault=%s" % (STATE_NAMES[ctl.state], faults.NAMES[ctl.fault]))
        self._countdown -= 1
        if self._countdown > 0:
            return
        self._countdown = self._every
        self.seq = self.seq + 1 if self.seq < _SEQ_WRAP else 1  # the field's 8 digits; a small int for ever
        valve = 1 if ctl.vented else 0
        self.out.write(self._encoder.encode(
            self.seq, ctl.t_ms, ctl.sensor_code, ctl.vacuum_pa, ctl.target_pa,
            ctl.duty, valve, ctl.state, ctl.fault))

    def feed(self, byte):
        """Take one input byte; a complete line is handled and answered."""
        if byte == 10 or byte == 13:  # \n or \r ends a line
            if self._overflow:
                self._reply(False, "line too long (max %d bytes)" % protocol.MAX_COMMAND)
            elif self._noise:
                self._reply(False, "line dropped: it held control bytes (line noise, or a REPL tool's request)")
            elif self._len:
                self._answer(self._line[: self._len])
            self._len = 0
            self._overflow = False
            self._noise = False
        elif (byte < 32 and byte != 9) or byte == 127:  # not text: the line is noise, the next one counts
            self._noise = True
        elif self._len < protocol.MAX_COMMAND:
            self._line[self._len] = byte
            self._len += 1
        else:
            self._overflow = True

    def _answer(self, raw):
        try:
            line = bytes(raw).decode()
            ok, text = True, self.handle(*protocol.parse_command(line))
        except (ValueError, UnicodeError) as e:  # ProtocolError and program errors are ValueErrors
            ok, text = False, str(e) or "not text"
        except Exception as e:  # a bug must not take the device down; the state is untouched
            ok, text = False, "internal error: %r" % (e,)
        self._reply(ok, text)

    def _reply(self, ok, text):
        self.out.write(protocol.frame(protocol.RESULT, ("ok," if ok else "err,") + text).encode())

    def handle(self, verb, args, params):
        """Carry out one parsed command; returns the result text or raises ValueError.

        Commands that change what the device does are echoed as ``cmd`` events,
        so a recording holds everything a replay must re-issue.
        """
        if verb == "start":
            text, canonical = self._start(args, params)
            self.event("cmd", canonical)
            return text
        text = self._command(verb, args, params)
        if verb in ("stop", "ack", "hb"):
            self.event("cmd", verb)
        return text

    def _command(self, verb, args, params):
        ctl = self.ctl
        if args or params:
            if verb != "rate" or len(args) != 1 or params:
                raise protocol.ProtocolError("%s takes no parameters" % verb)
        if verb == "stop":
            ctl.stop()
            return "stopped, cup vented"
        if verb == "ack":
            if ctl.state != FAULT:
                raise ValueError("no fault to acknowledge")
            if not ctl.acknowledge():
                raise ValueError("fault %s is still active" % faults.NAMES[ctl.fault])
            return "acknowledged; pump stays off until the next start"
        if verb == "hb":
            ctl.heartbeat()
            return "hb"
        if verb == "status":
            return self.status()
        if verb == "info":
            return "version=%s protocol=%d %s" % (self.version, protocol.VERSION, ctl.board.summary())
        if verb == "rate":
            hz = programs.parse_count("rate", args[0])
            try:
                limits.check("telemetry_hz", hz, "rate")
            except limits.LimitError as e:
                raise ValueError(str(e))
            self.set_rate(hz)
            return "rate=%d" % hz
        if verb == "maint":
            self.maintenance_requested = True
            return "rebooting into maintenance mode (no watchdog, REPL free)"
        raise protocol.ProtocolError("unknown command %r" % verb)  # a verb in COMMANDS with no branch

    def _start(self, args, params):
        ctl = self.ctl
        if len(args) != 1:
            raise protocol.ProtocolError("usage: start PROGRAM [cup=NAME] [hb=MS] [param=value ...]")
        cup_name = params.pop("cup", None)
        cup = ctl.board.cup(cup_name) if cup_name else ctl.board.cups[_DEFAULT_CUP_INDEX]
        hb = programs.parse_count("hb", params.pop("hb", "0"))
        if hb and (hb < 100 or hb > 60000):
            raise ValueError("hb: %d ms is outside 100..60000" % hb)
        program = programs.build(args[0], params, ctl.board, cup)
        ctl.start(program, cup, hb)
        canonical = "start %s cup=%s hb=%d" % (program.describe(), cup.name, hb)
        return "started" + canonical[5:], canonical

    def status(self):
        ctl = self.ctl
        program = ctl.program.describe() if ctl.program else "none"
        text = "state=%s fault=%s vacuum_pa=%d target_pa=%d duty=%d ambient_pa=%d missed=%d" % (
            STATE_NAMES[ctl.state], faults.NAMES[ctl.fault], ctl.vacuum_pa, ctl.target_pa,
            ctl.duty, ctl.ambient_pa, self.missed)
        if self._mem_free is not None:
            text += " mem_free=%d" % self._mem_free()
        if self._dropped is not None:
            text += " dropped=%d" % self._dropped()
        return text + " program=" + program
