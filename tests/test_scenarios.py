"""Example scenarios: each runs with the outcome its file describes, identically on both runtimes."""

import pytest

from cupctl import replay, trace
from cupctl.sim import scenario, virtual_time
from cupfw import faults
from cupfw.controller import RUNNING
from tests.conftest import ROOT
from tests.safety_props import violations
from tests.test_hazards import HAZARDS

EXAMPLES = sorted((ROOT / "examples" / "scenarios").glob("*.toml"))
EXPECTED_FAULT = {
    "fault-button": "emergency", "fault-cup-off": "vacuum_lost", "fault-i2c-nack": "sensor_bus",
    "fault-loop-stall": "watchdog_reset", "fault-pump-stall": "leak", "fault-pump-stuck-on": "pump_runaway",
    "fault-reset": "unexpected_reset", "fault-i2c-hang": "sensor_bus",
    "fault-i2c-sda-low": "sensor_status", "fault-i2c-data-nack": "sensor_bus",
    "fault-sensor-busy": "sensor_timeout", "fault-sensor-frozen": "sensor_frozen",
    "fault-sensor-stuck-counts": "sensor_implausible", "fault-status-integrity": "sensor_status",
    "fault-status-power": "sensor_status", "fault-status-saturation": "sensor_status", "fault-weak-pump": "leak",
}


def test_every_program_and_fault_has_an_example():
    from cupctl.sim.injection import FAULT_KINDS
    from cupfw import programs

    names = {p.stem for p in EXAMPLES}
    texts = " ".join(p.read_text() for p in EXAMPLES)
    for program in programs.TABLE:
        assert 'name = "%s"' % program in texts
    for kind in FAULT_KINDS:
        assert 'kind = "%s"' % kind in texts
    assert set(EXPECTED_FAULT) <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_outcome_and_replay(path, tmp_path):
    from cupfw import faults

    loaded = scenario.load(path)
    out = tmp_path / "trace.csv"
    virtual_time.run(loaded, out)
    data = trace.read(out)
    fault_codes = data.column("fault")
    expected = EXPECTED_FAULT.get(path.stem) or HAZARDS.get(path.stem, ("none",))[0]
    assert faults.NAMES[fault_codes[-1]] == expected
    if path.stem != "fault-pump-stuck-on":  # a pump stuck on against a weak valve: only hardware helps
        assert violations(data.rows, data.events, loaded.board) == []
    if not any(f["kind"] == "loop_stall" for f in loaded.spec["faults"]):  # replay needs every tick
        assert replay.replay(data).ok


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_identical_on_micropython(path, tmp_path, micropython):
    loaded = scenario.load(path)
    virtual_time.run(loaded, tmp_path / "cpython.csv")
    virtual_time.run(loaded, tmp_path / "micropython.csv", runtime="micropython")
    a, b = trace.read(tmp_path / "cpython.csv"), trace.read(tmp_path / "micropython.csv")
    assert a.rows == b.rows
    assert a.events == b.events


@pytest.mark.parametrize("text,message", [
    ("board = 3", "board: expected"),
    ("board = \"nope\"", "no board 'nope'"),
    ("colour = 1", "unknown key"),
    ("[plant]\ncup_volume_ml = -1", "plant.cup_volume_ml"),
    ("[plant]\nwarp = 9", "plant.warp: unknown"),
    ("[plant]\ncup_volume_ml = 0", "cup_ul must be above 0"),
    ("[program]\nname = \"static\"\ntarget = 90", "program: static target"),
    ("[program]\nname = \"sauna\"", "unknown program"),
    ("[program]\nname = \"static\"\ncup = \"XL\"", "cup 'XL'"),
    ("[program]\nname = \"static\"\n[[fault]]\nkind = \"gremlin\"\nat_s = 1", "fault[0].kind"),
    ("[program]\nname = \"static\"\n[[fault]]\nkind = \"cup_off\"", "fault[0]: needs one of at_s"),
    ("[program]\nname = \"static\"\n[[fault]]\nkind = \"cup_off\"\nat_s = 1\nafter_start_s = 1",
     "fault[0]: needs one of"),
    ("[program]\nname = \"static\"\n[[fault]]\nkind = \"cup_off\"\nafter_start_s = -1", "fault[0].after_start_s"),
    ("[program]\nname = \"static\"\n[[fault]]\nkind = \"cup_off\"\nat_s = -1", "fault[0].at_s"),
    ("[program]\nname = \"static\"\n[[command]]\nat_s = 1", "command[0]"),
    ("[program]\nname = \"static\"\n[[fault]]\nkind = \"weak_pump\"\nat_s = 1\nvalue = 300", "percentage"),
    ("seed = 0\nduration_s = 1", "seed"),
    ("duration_s = \"long\"", "duration_s"),
    ("description = \"no program, no duration\"", "duration_s: required"),
    ("[program", "not valid TOML"),
])
def test_bad_scenarios_refused_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(scenario.ScenarioError, match=message.replace("[", r"\[")):
        scenario.load(path)


def test_missing_scenario_file(tmp_path):
    with pytest.raises(scenario.ScenarioError, match="cannot read"):
        scenario.load(tmp_path / "absent.toml")


def test_after_start_s_counts_from_the_sessions_start(tmp_path):
    """The same fault at after_start_s = 2 lands 2 s after the first running tick, wherever that falls."""
    path = tmp_path / "after.toml"
    path.write_text('duration_s = 8\n[program]\nname = "static"\ntarget = 20\nminutes = 1\n'
                    '[[fault]]\nkind = "button"\nafter_start_s = 2\n')
    out = tmp_path / "after.csv"
    virtual_time.run(scenario.load(path), out)
    got = trace.read(out)
    t, state, fault = got.column("t_ms"), got.column("state"), got.column("fault")
    started = t[state.index(RUNNING)]
    pressed = t[fault.index(faults.EMERGENCY)]
    assert started > 1000  # the zero at rest came first: at_s = 2 would have landed 2 s after boot
    assert 2000 <= pressed - started <= 2020
