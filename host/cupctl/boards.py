"""Board files on the host: find, load and validate (with the firmware's own loader), describe wiring."""

from __future__ import annotations

import json
from pathlib import Path

from cupctl.fw import BOARDS_DIR
from cupfw import boardcfg

DEFAULT = "esp32-devkitc"


class BoardFileError(ValueError):
    """A board name or file that cannot be used; one actionable line."""


def names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.json"))


def path_for(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".json" or candidate.exists():
        return candidate
    path = BOARDS_DIR / (name_or_path + ".json")
    if not path.exists():
        raise BoardFileError("no board %r (have: %s)" % (name_or_path, ", ".join(names())))
    return path


def load(name_or_path: str):
    """(raw dict, validated Board) for a board name in boards/ or a JSON file path."""
    path = path_for(name_or_path)
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise BoardFileError("%s: cannot read: %s" % (path, e.strerror or e))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BoardFileError("%s: not valid JSON: %s" % (path, e))
    try:
        return data, boardcfg.load(data)
    except boardcfg.BoardError as e:
        raise BoardFileError("%s: %s" % (path, e))


def wiring(board, title: str = "") -> str:
    """A text wiring table for a validated board."""
    valve_kind = "normally-open" if board.valve_normally_open else "normally-closed (not recommended)"
    rows = [
        ("MPRLS SDA", "GPIO%d" % board.i2c_sda, "I2C data, %d kHz" % (board.i2c_freq_hz // 1000)),
        ("MPRLS SCL", "GPIO%d" % board.i2c_scl, "I2C clock; sensor VIN to 3V3, GND to GND"),
        ("Pump MOSFET gate", "GPIO%d" % board.pump_pin,
         "via 100 ohm; 100k gate pull-down; flyback diode across the pump; PWM %d Hz" % board.pump_freq_hz),
        ("Valve driver", "GPIO%d" % board.valve_pin,
         "%s valve, %s; flyback diode across the coil" % (
             valve_kind, "energised high" if board.valve_active_high else "energised low")),
        ("Status LED", "GPIO%d" % board.led_pin, "through 330 ohm"),
        ("Emergency button", "GPIO%d" % board.button_pin,
         "to GND (internal pull-up)" if board.button_active_low else "to 3V3 (internal pull-down)"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = ["%s (%s)" % (title or board.name, board.chip)]
    lines += ["  %-*s  %-7s %s" % (width, a, b, c) for a, b, c in rows]
    lines.append("  cups: " + ", ".join(
        "%s %d mm (hard limit %g kPa)" % (c.name, c.diameter_mm, c.hard_limit_pa / 1000) for c in board.cups))
    return "\n".join(lines)
