"""Scenario files (TOML): plant parameters, a program, timed faults and commands.

``load(path)`` validates the file and returns a ``Scenario`` whose ``spec`` is
the plain dict the runner takes, in integer units (µl, Pa, ms). The format is
documented in docs/scenarios.md; examples live in examples/scenarios/.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from cupctl import boards
from cupctl.sim.injection import FAULT_KINDS
from cupctl.sim.plant import DEFAULTS as PLANT_DEFAULTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from cupfw import programs

# TOML key: (plant key, scale to the plant's integer unit)
PLANT_KEYS = {
    "ambient_kpa": ("ambient_pa", 1000),
    "cup_volume_ml": ("cup_ul", 1000),
    "cup_diameter_mm": ("cup_diameter_mm", 1),
    "pump_flow_ml_s": ("pump_ul_s", 1000),
    "pump_max_vacuum_kpa": ("pump_max_vacuum_pa", 1000),
    "leak_ml_s_per_kpa": ("leak_ul_s_kpa", 1000),
    "valve_ml_s_per_kpa": ("valve_ul_s_kpa", 1000),
    "skin_mm_per_kpa": ("skin_um_kpa", 1000),
    "max_lift_mm": ("max_lift_um", 1000),
    "sensor_noise_pa": ("noise_pa", 1),
}
_TOP_KEYS = {"description", "board", "duration_s", "seed", "plant", "program", "fault", "command"}
_PROGRAM_META = {"name", "cup", "heartbeat_ms"}
_FAULT_KEYS = {"kind", "at_s", "after_start_s", "duration_s", "every_s", "value"}
_END_MARGIN_MS = 5000


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file and field."""


@dataclass
class Scenario:
    path: Path
    description: str
    board_name: str
    board: object
    board_data: dict
    spec: dict


def load(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ScenarioError("%s: cannot read: %s" % (path, e.strerror or e))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ScenarioError("%s: not valid TOML: %s" % (path, e))

    def fail(message):
        raise ScenarioError("%s: %s" % (path, message))

    unknown = set(data) - _TOP_KEYS
    if unknown:
        fail("unknown key(s) %s (have: %s)" % (", ".join(sorted(unknown)), ", ".join(sorted(_TOP_KEYS))))
    board_name = data.get("board", boards.DEFAULT)
    if not isinstance(board_name, str):
        fail("board: expected a board name or path")
    beside = path.parent / board_name
    if board_name.endswith(".json") and not Path(board_name).is_absolute() and beside.exists():
        board_name = str(beside)  # a board file next to the scenario
    try:
        board_data, board = boards.load(board_name)
    except boards.BoardFileError as e:
        fail("board: %s" % e)
    spec: dict = {"plant": _plant(data.get("plant", {}), data.get("seed"), fail)}
    program = data.get("program")
    duration_ms = None
    if program is not None:
        spec["program"], duration_ms = _program(program, board, fail)
    spec["faults"] = [_fault(i, f, fail) for i, f in enumerate(_list(data, "fault", fail))]
    spec["commands"] = [_command(i, c, fail) for i, c in enumerate(_list(data, "command", fail))]
    if "duration_s" in data:
        duration_ms = _ms(data["duration_s"], "duration_s", fail, minimum=0.01)
    if duration_ms is None:
        fail("duration_s: required when there is no [program]")
    spec["duration_ms"] = duration_ms
    return Scenario(path, str(data.get("description", "")), board.name, board, board_data, spec)


def _list(data, key, fail):
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        fail("%s: expected [[%s]] tables" % (key, key))
    return value


def _number(value, where, fail, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        fail("%s: expected a number >= %s, got %r" % (where, minimum, value))
    return value


def _ms(value, where, fail, minimum=0.0):
    return int(round(_number(value, where, fail, minimum) * 1000))


def _plant(table, seed, fail):
    if not isinstance(table, dict):
        fail("plant: expected a table")
    plant = {}
    for key, value in table.items():
        if key not in PLANT_KEYS:
            fail("plant.%s: unknown parameter (have: %s)" % (key, ", ".join(PLANT_KEYS)))
        target, scale = PLANT_KEYS[key]
        plant[target] = int(round(_number(value, "plant." + key, fail) * scale))
    for key in ("cup_ul", "cup_diameter_mm", "pump_max_vacuum_pa", "ambient_pa"):
        if plant.get(key, PLANT_DEFAULTS[key]) <= 0:
            fail("plant: %s must be above 0" % key)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 < seed < 2**32:
            fail("seed: expected a whole number from 1 to 2^32-1")
        plant["seed"] = seed
    return plant


def _program(table, board, fail):
    if not isinstance(table, dict) or not isinstance(table.get("name"), str):
        fail("program.name: required (one of %s)" % ", ".join(sorted(programs.TABLE)))
    params = {k: _text(v) for k, v in table.items() if k not in _PROGRAM_META}
    cup_name = table.get("cup", board.cups[0].name)
    try:
        cup = board.cup(str(cup_name))
        program = programs.build(table["name"], params, board, cup)
    except ValueError as e:
        fail("program: %s" % e)
    heartbeat = table.get("heartbeat_ms", 0)
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 0:
        fail("program.heartbeat_ms: expected a whole number of ms")
    line = "start %s cup=%s" % (program.describe(), cup.name)
    if heartbeat:
        line += " hb=%d" % heartbeat
    return line, program.duration_ms + _END_MARGIN_MS


def _text(value):
    if isinstance(value, float):
        return ("%.3f" % value).rstrip("0").rstrip(".")
    return str(value)


def _fault(index, table, fail):
    where = "fault[%d]" % index
    unknown = set(table) - _FAULT_KEYS
    if unknown:
        fail("%s: unknown key(s) %s" % (where, ", ".join(sorted(unknown))))
    if table.get("kind") not in FAULT_KINDS:
        fail("%s.kind: %r is not one of %s" % (where, table.get("kind"), ", ".join(FAULT_KINDS)))
    if ("at_s" in table) == ("after_start_s" in table):
        fail("%s: needs one of at_s (from boot) or after_start_s (from the session's start)" % where)
    if "at_s" in table:
        fault = {"kind": table["kind"], "at_ms": _ms(table["at_s"], where + ".at_s", fail)}
    else:
        fault = {"kind": table["kind"], "at_ms": _ms(table["after_start_s"], where + ".after_start_s", fail),
                 "after_start": True}
    for key in ("duration_s", "every_s"):
        if key in table:
            fault[key.replace("_s", "_ms")] = _ms(table[key], "%s.%s" % (where, key), fail)
    if table["kind"] == "reset" and "at_s" in table and fault["at_ms"] <= 0:
        fail("%s.at_s: a reset needs a time after boot" % where)
    if "value" in table:
        value = table["value"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            fail("%s.value: expected a whole number >= 0" % where)
        if table["kind"] == "weak_pump" and value > 100:
            fail("%s.value: a weak pump's flow is a percentage, 0..100" % where)
        fault["value"] = value
    return fault


def _command(index, table, fail):
    where = "command[%d]" % index
    if set(table) != {"at_s", "line"} or not isinstance(table["line"], str):
        fail("%s: expected at_s and line" % where)
    return {"at_ms": _ms(table["at_s"], where + ".at_s", fail), "line": table["line"]}
