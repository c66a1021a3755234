"""cupctl deploy onto a virtual board whose firmware runs and has armed the watchdog."""

import json
import os
import pty
import subprocess
import sys
import time

import pytest

from cupctl import boards
from cupctl import deploy as deploy_module
from cupctl.fw import PACKAGE_ON_BOARD, board_layout
from cupctl.sim.vboard import VirtualBoard, populate_flash


def another_esp32_board(tmp_path):
    """Another board file for the DevKitC's chip: the virtual board is an ESP32, and like a real one its
    firmware refuses a board file written for another chip."""
    path = tmp_path / "esp32-devkitc-bench.json"
    path.write_text(json.dumps(dict(boards.load("esp32-devkitc")[0], name="esp32-devkitc-bench")))
    return str(path)


def deploy(port, board="esp32-devkitc"):
    proc = subprocess.run([sys.executable, "-m", "cupctl.cli", "deploy", "--port", port, "--board", board],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_deploy_compiles_copies_only_changes_and_verifies(tmp_path, micropython):
    flash = tmp_path / "flash"
    populate_flash(flash, boards.load("esp32-devkitc")[0])
    with VirtualBoard(flash) as vb:
        first = deploy(vb.port)
        assert "firmware answers" in first
        package = flash / PACKAGE_ON_BOARD
        assert (package / "controller.mpy").exists() and not (package / "controller.py").exists()
        assert (package / "__init__.mpy").exists()
        assert (flash / "main.py").exists() and (flash / "boot.py").exists()
        assert "0 copied" in deploy(vb.port)
        (package / "regulator.mpy").write_bytes(b"stale")
        assert "1 copied" in deploy(vb.port)
        changed = deploy(vb.port, another_esp32_board(tmp_path))
        assert "1 copied" in changed  # only board.json differs
        assert '"esp32-devkitc-bench"' in (flash / "board.json").read_text()
        assert vb.resets.count("wdt") == 0


def test_deploy_over_the_flat_layout_of_older_firmware_removes_its_root_modules(tmp_path, micropython):
    # Firmware deployed before it became a package kept every module in the root folder, where
    # the board's REPL finds them first.
    flash = tmp_path / "flash"
    populate_flash(flash, boards.load("esp32-devkitc")[0])
    (flash / "controller.mpy").write_bytes(b"old")
    (flash / "protocol.py").write_text("raise RuntimeError('old')\n")
    (flash / "notes.txt").write_text("the maker's own file")
    with VirtualBoard(flash) as vb:
        assert "firmware answers" in deploy(vb.port)
    assert not (flash / "controller.mpy").exists() and not (flash / "protocol.py").exists()
    assert (flash / "notes.txt").read_text() == "the maker's own file"
    assert sorted(p.name for p in flash.glob("*.py")) == ["boot.py", "main.py"]


def test_deploy_refuses_a_bad_board_before_touching_the_port(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "chip": "esp32", "pump": {"pin": 0}}')
    proc = subprocess.run([sys.executable, "-m", "cupctl.cli", "deploy", "--port", "/dev/definitely-not-here",
                           "--board", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "pump.pin" in proc.stderr or "i2c" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_deploy_rescues_a_board_stuck_in_a_reset_loop(tmp_path, micropython):
    from cupctl.link import Link

    flash = tmp_path / "flash"
    populate_flash(flash, boards.load("esp32-devkitc")[0])
    broken = (flash / PACKAGE_ON_BOARD / "controller.py").read_text().replace(
        "    def tick(self, now):\n", "    def tick(self, now):\n        raise RuntimeError('bug')\n")
    (flash / PACKAGE_ON_BOARD / "controller.py").write_text(broken)
    with VirtualBoard(flash) as vb:
        deadline = time.monotonic() + 15
        while vb.resets.count("wdt") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert vb.resets.count("wdt") >= 2, "the broken firmware should crash, then the watchdog resets it"
        vb.hold_button(True)  # the maker holds the button through the next reset...
        with Link(vb.port) as link:
            deadline = time.monotonic() + 10
            for record in link.records(timeout=5):
                if record.kind == "E" and ",maintenance," in record.text:
                    break
                assert time.monotonic() < deadline, "no maintenance boot with the button held"
        vb.hold_button(False)  # ...and lets go once the board sits in maintenance mode
        assert "firmware answers" in deploy(vb.port)
        package = flash / PACKAGE_ON_BOARD
        assert not (package / "controller.py").exists() and (package / "controller.mpy").exists()
        resets = len(vb.resets)
        time.sleep(2.5)
        assert len(vb.resets) == resets, "no more resets once deployed"


def test_compiled_files_come_from_the_cache_until_their_source_changes(tmp_path, mocker):
    from cupctl import deploy as dep

    source = tmp_path / "regulator.py"
    source.write_text("X = 1\n")
    version = dep.mpy_cross_version()
    assert version is not None
    first = dep.compiled(source, tmp_path / "cache", version)
    assert first[:1] == b"M"  # an .mpy file
    run = mocker.spy(dep.subprocess, "run")
    assert dep.compiled(source, tmp_path / "cache", version) == first
    assert run.call_count == 0, "a cache hit runs no compiler"
    source.write_text("X = 2\n")
    second = dep.compiled(source, tmp_path / "cache", version)
    assert run.call_count == 1 and second != first
    assert len(list((tmp_path / "cache").glob("regulator-*.mpy"))) == 1, "the stale entry is dropped"
    assert dep.compiled(source, tmp_path / "cache", version + " other") == second
    assert run.call_count == 2, "another compiler version is a miss"


@pytest.fixture
def deployed(tmp_path, micropython):
    """A virtual board holding a fresh deploy, and the deploy function to call again."""
    from cupctl import deploy as dep

    flash = tmp_path / "flash"
    populate_flash(flash, boards.load("esp32-devkitc")[0])
    with VirtualBoard(flash) as vb:
        def again(board="esp32-devkitc"):
            return dep.deploy(vb.port, board, tmp_path / "work", log=lambda text: None)

        again()
        yield vb, flash, again


def test_only_the_changed_file_crosses_the_link(deployed, mocker):
    from cupctl import deploy as dep

    vb, flash, again = deployed
    send = mocker.spy(dep, "_send")
    firmware_files = len(board_layout())
    assert again(another_esp32_board(flash.parent)) == {"copied": 1, "unchanged": firmware_files, "removed": 0}
    assert [c.args[1] for c in send.call_args_list] == ["board.json"]
    assert '"esp32-devkitc-bench"' in (flash / "board.json").read_text()


def test_a_file_the_board_stores_wrongly_stops_the_deploy(deployed, mocker):
    from cupctl import deploy as dep

    vb, flash, again = deployed
    compress = dep.zlib.compress
    mocker.patch.object(dep.zlib, "compress", lambda data, *a, **k: compress(data + b" ", *a, **k))
    with pytest.raises(dep.DeployError, match="board.json on the board does not match"):
        again(another_esp32_board(flash.parent))


def test_deploy_to_a_port_where_nothing_answers_fails_in_one_line(tmp_path):
    master, slave = pty.openpty()  # a port that never answers, like /dev/ttyS0 with nothing attached
    try:
        proc = subprocess.run([sys.executable, "-m", "cupctl.cli", "deploy", "--port", os.ttyname(slave)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "nothing answers" in proc.stderr and "b''" not in proc.stdout + proc.stderr


def test_deploy_refuses_a_board_file_for_another_chip_before_copying(tmp_path, micropython):
    """An ESP32-S3 board file onto an ESP32: its pins may be the ESP32's flash pins."""
    flash = tmp_path / "flash"
    populate_flash(flash, boards.load("esp32-devkitc")[0])
    before = {p: p.read_bytes() for p in flash.rglob("*") if p.is_file()}
    with VirtualBoard(flash) as vb:
        proc = subprocess.run([sys.executable, "-m", "cupctl.cli", "deploy", "--port", vb.port, "--board",
                               "esp32-s3-devkitc-1"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "written for esp32s3, but this board is an esp32" in proc.stderr
        assert "nothing was copied" in proc.stderr
        deploy_module.verify(vb.port)  # back in the firmware it had
    assert {p: p.read_bytes() for p in flash.rglob("*") if p.is_file() and p.name != "maintenance.flag"} == before
