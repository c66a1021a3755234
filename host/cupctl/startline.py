"""The ``start`` line for a session, checked on the host before it is sent.

One place for the CLI (``cupctl session start``) and the dashboard's form: the parameters go
through the firmware's own ``programs.build`` against the board file, so the host refuses what
the device would refuse (the device checks again on its own).
"""

from __future__ import annotations

from cupfw import programs


def parse_params(items: list[str]) -> dict[str, str]:
    """``["target=30", "minutes=20"]`` as a dict; ValueError naming the first malformed item."""
    params = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key or not value:
            raise ValueError("parameter %r: expected KEY=VALUE, e.g. target=30" % item)
        if key in params:
            raise ValueError("parameter %s given twice (%s=%s, then %s)" % (key, key, params[key], item))
        params[key] = value
    return params


def start_line(program: str, params: dict[str, str], board, cup_name: str | None = None,
               heartbeat_ms: int = 0) -> str:
    """The canonical command line, or ValueError with the firmware's own message."""
    if not program:
        raise ValueError("session start needs a program: %s" % ", ".join(programs.TABLE))
    cup = board.cup(cup_name) if cup_name else board.cups[0]
    built = programs.build(program, params, board, cup)
    line = "start %s cup=%s" % (built.describe(), cup.name)
    if heartbeat_ms:
        if not 100 <= heartbeat_ms <= 60000:
            raise ValueError("heartbeat: %g s is outside 0.1..60 s" % (heartbeat_ms / 1000))
        line += " hb=%d" % heartbeat_ms
    return line
