"""boot.py and main.py leave the hardware safe: on CPython (mocked machine) and on the unix port."""

import importlib
import json
import os
import shutil
import subprocess
import sys
import types

import pytest

from cupctl import mpunix
from cupctl.sim.vboard import populate_flash
from tests.conftest import DEFAULT_BOARD, ROOT


@pytest.fixture
def flash(tmp_path):
    populate_flash(tmp_path, json.loads(DEFAULT_BOARD.read_text()))
    return tmp_path


@pytest.mark.parametrize("mode", ["interrupt", "crash"])
def test_boot_and_main_leave_the_cup_vented_on_micropython(flash, mode, micropython):
    env = dict(mpunix.env(), MICROPYPATH=os.pathsep.join([str(ROOT / "host"), str(ROOT / "tests" / "mpcases")]))
    proc = subprocess.run([micropython, str(ROOT / "tests" / "mpcases" / "safe_exit.py"), mode], cwd=flash,
                          env=env, capture_output=True, text=True, timeout=60,
                          input="start static target=30 minutes=1\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert ("stopped by Ctrl-C; cup vented" if mode == "interrupt" else "crashed: RuntimeError") in out
    states = json.loads(out.strip().splitlines()[-1])
    assert states["after_boot"]["pump_level"] == 0 and states["after_boot"]["valve_vented"]
    assert states["mid_session"]["pump_pwm_u16"] > 0 and not states["mid_session"]["valve_vented"]
    after = states["after_main"]
    assert after["pump_pwm_u16"] is None and after["pump_level"] == 0, "pump pin back to a low GPIO"
    assert after["valve_vented"]


def _fresh_hw():
    """cupfw.hw imported again, against the machine module the test put in place."""
    sys.modules.pop("cupfw.hw", None)
    return importlib.import_module("cupfw.hw")


def test_make_safe_on_cpython_drives_pump_low_and_valve_to_vent(mocker, tmp_path, monkeypatch):
    machine = types.SimpleNamespace(Pin=mocker.MagicMock())
    machine.Pin.OUT = 3
    mocker.patch.dict(sys.modules, {"machine": machine})
    hw = _fresh_hw()

    monkeypatch.chdir(tmp_path)
    shutil.copy(DEFAULT_BOARD, tmp_path / "board.json")
    hw.make_safe()
    board = json.loads(DEFAULT_BOARD.read_text())
    calls = machine.Pin.call_args_list
    assert mocker.call(board["pump"]["pin"], 3, value=0) in calls
    # normally-open valve, energised high: vent = not energised = 0
    assert mocker.call(board["valve"]["pin"], 3, value=0) in calls
    sys.modules.pop("cupfw.hw", None)


def test_make_safe_never_raises_without_a_board_file(mocker, tmp_path, monkeypatch):
    mocker.patch.dict(sys.modules, {"machine": types.SimpleNamespace(Pin=mocker.MagicMock())})
    hw = _fresh_hw()

    monkeypatch.chdir(tmp_path)
    hw.make_safe()  # no board.json: must not raise
    sys.modules.pop("cupfw.hw", None)


def test_make_safe_leaves_the_pins_of_a_board_file_for_another_chip_alone(mocker, tmp_path, monkeypatch):
    """An ESP32-S3 board file on an ESP32: its pump and valve pins may be the ESP32's flash pins."""
    machine = types.SimpleNamespace(Pin=mocker.MagicMock())
    machine.Pin.OUT = 3
    mocker.patch.dict(sys.modules, {"machine": machine})
    monkeypatch.setattr(sys.implementation, "_machine", "Generic ESP32 module with ESP32", raising=False)
    hw = _fresh_hw()
    monkeypatch.chdir(tmp_path)
    board = json.loads((ROOT / "boards" / "esp32-s3-devkitc-1.json").read_text())
    (tmp_path / "board.json").write_text(json.dumps(board))
    hw.make_safe()
    assert machine.Pin.call_args_list == []
    board["chip"] = "esp32"  # the same file, for this chip: driven
    (tmp_path / "board.json").write_text(json.dumps(board))
    hw.make_safe()
    assert mocker.call(board["pump"]["pin"], 3, value=0) in machine.Pin.call_args_list
    sys.modules.pop("cupfw.hw", None)
