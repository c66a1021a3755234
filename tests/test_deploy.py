"""cupctl deploy onto a virtual board whose firmware runs and has armed the watchdog."""

import subprocess
import sys
import time

from cupctl import boards
from cupctl.sim.vboard import VirtualBoard, populate_flash


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
        assert (flash / "controller.mpy").exists() and not (flash / "controller.py").exists()
        assert (flash / "main.py").exists() and (flash / "boot.py").exists()
        assert "0 copied" in deploy(vb.port)
        (flash / "regulator.mpy").write_bytes(b"stale")
        assert "1 copied" in deploy(vb.port)
        s3 = deploy(vb.port, "esp32-s3-devkitc-1")
        assert "1 copied" in s3  # only board.json differs
        assert '"esp32s3"' in (flash / "board.json").read_text()
        assert vb.resets.count("wdt") == 0


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
    broken = (flash / "controller.py").read_text().replace(
        "    def tick(self, now):\n", "    def tick(self, now):\n        raise RuntimeError('bug')\n")
    (flash / "controller.py").write_text(broken)
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
        assert not (flash / "controller.py").exists() and (flash / "controller.mpy").exists()
        resets = len(vb.resets)
        time.sleep(2.5)
        assert len(vb.resets) == resets, "no more resets once deployed"
