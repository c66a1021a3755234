"""The virtual board: the unmodified firmware on the unix port behind a pty, driven like a real board."""

import json
import signal
import subprocess
import sys
import time

import pytest

from cupctl import boards, replay, trace
from cupctl.link import Link
from cupctl.sim.vboard import VirtualBoard, populate_flash


@pytest.fixture
def make_vboard(tmp_path, micropython):
    started = []

    def make(spec=None, name="esp32-devkitc"):
        flash = tmp_path / ("flash%d" % len(started))
        populate_flash(flash, boards.load(name)[0])
        vb = VirtualBoard(flash, spec).start()
        started.append(vb)
        return vb

    yield make
    for vb in started:
        vb.stop()


def wait_for(link, predicate, timeout=10.0):
    seen = []
    deadline = time.monotonic() + timeout
    for record in link.records(timeout=timeout):
        seen.append(record)
        if predicate(record):
            return seen
        if time.monotonic() > deadline:
            break
    raise AssertionError("not seen in %gs; last records: %s" % (timeout, seen[-5:]))


def is_event(text):
    return lambda r: r.kind == "E" and text in r.text


def mpremote(port, *args, timeout=30):
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_firmware_boots_and_runs_a_session(make_vboard):
    vb = make_vboard()
    with Link(vb.port) as link:
        wait_for(link, is_event("state,idle"))
        assert "board=esp32-devkitc" in link.command("info")
        before_result = []
        result = link.command("start static target=20 minutes=1", on_record=before_result.append)
        assert result.startswith("started static")
        assert any(r.kind == "E" and ",cmd,start static" in r.text for r in before_result)
        wait_for(link, lambda r: r.kind == "T" and r.values[4] >= 8000 and r.values[7] == 2)
        assert link.command("stop") == "stopped, cup vented"
        vented = wait_for(link, lambda r: r.kind == "T" and r.values[7] == 0)[-1]
        assert vented.values[5] == 0 and vented.values[6] == 1  # duty 0, valve open


def test_mpremote_round_trip_after_maintenance_reboot(make_vboard, tmp_path):
    vb = make_vboard()
    with Link(vb.port) as link:
        wait_for(link, is_event("state,"))
        assert "maintenance" in link.command("maint")
        wait_for(link, is_event(",maintenance,"))
    script = tmp_path / "hello.py"
    script.write_text("print('hello', 6 * 7)\n")
    out = mpremote(vb.port, "fs", "cp", str(script), ":hello.py", "+", "ls", "+", "cat", "hello.py", "+",
                   "exec", "import os; print(sorted(os.listdir()))", "+", "run", str(script), "+",
                   "rm", ":hello.py", "+", "soft-reset")
    assert "hello.py" in out and "print('hello', 6 * 7)" in out and "hello 42" in out
    assert (vb.flash / "main.py").exists() and not (vb.flash / "hello.py").exists()
    assert "'board.json'" in out
    assert "hello.py" not in mpremote(vb.port, "ls")
    mpremote(vb.port, "reset")
    with Link(vb.port) as link:  # after the reset the firmware runs again
        wait_for(link, is_event(",boot,"))
    assert vb.resets[-1] == "hard"


def test_ctrl_c_stops_main_vented_then_the_armed_watchdog_resets(make_vboard):
    vb = make_vboard()
    with Link(vb.port) as link:
        wait_for(link, is_event("state,idle"))
        link.command("start static target=20 minutes=1")
        wait_for(link, lambda r: r.kind == "T" and r.values[7] == 2)
        link.serial.write(b"\x03")  # what mpremote sends first
        wait_for(link, is_event("exit,stopped by Ctrl-C; cup vented"))
        records = wait_for(link, is_event("fault=watchdog_reset"), timeout=5)
        assert any(r.kind == "E" and ",boot," in r.text for r in records)
    assert vb.resets == ["power", "wdt"]


def test_stalled_loop_is_reset_by_the_watchdog(make_vboard):
    # 2 s from 1.5 s after power-on: the watchdog resets the board 1 s in, the new boot waits out the rest
    vb = make_vboard({"faults": [{"kind": "loop_stall", "at_ms": 1500, "duration_ms": 2000}]})
    with Link(vb.port) as link:
        wait_for(link, is_event("fault=watchdog_reset"), timeout=8)
    assert "wdt" in vb.resets


def test_cli_session_record_then_replay_bit_exact(make_vboard, tmp_path):
    vb = make_vboard()
    with Link(vb.port) as link:
        wait_for(link, is_event("state,idle"))
    out = tmp_path / "session.csv"
    cli = [sys.executable, "-m", "cupctl.cli"]
    session = subprocess.Popen([*cli, "session", "start", "interval", "high=25", "low=10", "high_s=3", "low_s=2",
                                "minutes=1", "--port", vb.port, "--yes", "--record", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(9)
    session.send_signal(signal.SIGINT)  # Ctrl-C: the CLI stops the session and keeps the recording
    stdout, stderr = session.communicate(timeout=15)
    assert session.returncode == 130, stderr
    assert "stopped by Ctrl-C; cup vented" in stdout and "recorded" in stdout
    status = subprocess.run([*cli, "session", "status", "--port", vb.port, "--json"], capture_output=True, text=True)
    assert json.loads(status.stdout)["state"] == "idle" and json.loads(status.stdout)["fault"] == "none"
    recorded = subprocess.run([*cli, "record", "-o", str(tmp_path / "after.csv"), "--port", vb.port,
                               "--duration", "1"], capture_output=True, text=True, timeout=30)
    assert recorded.returncode == 0 and "0 sequence gaps" in recorded.stdout, recorded.stderr
    data = trace.read(out)
    assert len(data.rows) > 500 and json.loads(data.meta["board_file"])["name"] == "esp32-devkitc"
    assert max(data.column("vacuum_pa")) > 15000  # every rise of the interval follows the 4 kPa/s ramp
    report = replay.replay(data)
    assert report.ok, report
    assert replay.replay(data, "micropython").ok


def test_cli_serve_prints_the_port_first_and_monitor_works_on_it(tmp_path, micropython):
    scenario_path = tmp_path / "s.toml"
    scenario_path.write_text('[plant]\nambient_kpa = 95\n[program]\nname = "static"\n')
    serve = subprocess.Popen([sys.executable, "-m", "cupctl.cli", "sim", "--serve", "--scenario", str(scenario_path),
                              "--flash", str(tmp_path / "flash")], stdout=subprocess.PIPE, text=True)
    try:
        first = serve.stdout.readline()
        assert first.startswith("port: /") and first.rstrip().endswith("/ttyVB0")
        port = first.split()[1]
        monitor = subprocess.run([sys.executable, "-m", "cupctl.cli", "monitor", "--port", port, "--duration", "3"],
                                 capture_output=True, text=True, timeout=30)
        assert monitor.returncode == 0, monitor.stderr
        assert "vacuum" in monitor.stdout and "state,idle" in monitor.stdout
        status = subprocess.run([sys.executable, "-m", "cupctl.cli", "session", "status", "--port", port, "--json"],
                                capture_output=True, text=True, timeout=30)
        ambient = json.loads(status.stdout)["ambient_pa"]
        assert abs(ambient - 95000) < 100  # the scenario's plant is behind the port
    finally:
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=15) == 0
    assert "virtual board stopped" in serve.stdout.read()


def test_mpremote_soft_reset_on_a_running_board_never_hangs(tmp_path, micropython):
    """The race: Ctrl-C stops main.py, the watchdog it armed stays armed (as on the ESP32) and may
    reset the board in the middle of mpremote's exchange; the board then runs quiet firmware. Each
    attempt must end: done, or mpremote's own "could not enter raw repl" (a pty read without a timeout
    used to hang here)."""
    flash = tmp_path / "flash"
    data = boards.load("esp32-devkitc")[0]
    data["watchdog_ms"] = 300  # the shortest the registry allows: the race in most runs
    populate_flash(flash, data)
    outcomes = []
    with VirtualBoard(flash) as vb:
        for attempt in range(12):
            time.sleep(attempt % 4 * 0.1)  # land at different points of the board's boot and loop
            proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, "soft-reset"],
                                  capture_output=True, text=True, timeout=40)
            assert proc.returncode == 0 or "could not enter raw repl" in proc.stdout + proc.stderr, proc
            outcomes.append(proc.returncode)
        assert "wdt" in vb.resets  # the race was there to lose
        # The board ends at its REPL (a Ctrl-C before main.py armed the watchdog leaves no watchdog, as on
        # the chip) or back in its firmware; its reset button brings the firmware back either way (mpremote's
        # own reset would race the watchdog again).
        vb.press_reset()
        with Link(vb.port) as link:
            assert "board=esp32-devkitc" in link.command("info", timeout=15)
    assert 0 in outcomes


def test_mpremote_sees_a_boards_filesystem_and_names(make_vboard):
    """ls sizes, df of the littlefs partition, os.uname, '/' as the flash root, tracebacks without host paths."""
    vb = make_vboard(name="esp32-s3-devkitc-1")
    with Link(vb.port) as link:
        wait_for(link, is_event("state,"))
        link.command("maint")
        wait_for(link, is_event(",maintenance,"))
    listing = mpremote(vb.port, "ls", ":/")
    sizes = {line.split()[1]: int(line.split()[0]) for line in listing.splitlines()[1:] if line.strip()}
    assert sizes["main.py"] == (vb.flash / "main.py").stat().st_size > 0
    assert set(sizes) == {p.name + "/" * p.is_dir() for p in vb.flash.iterdir()}  # the flash, not the host's /
    assert "controller.py" in mpremote(vb.port, "ls", ":/lib/cupfw")
    size, used, avail = mpremote(vb.port, "df").splitlines()[1].split()[1:4]
    assert int(size) == 2 * 1024 * 1024 and int(used) + int(avail) == int(size)
    assert int(used) >= sum(sizes.values())
    assert "machine='Generic ESP32S3 module with ESP32S3'" in mpremote(vb.port, "exec",
                                                                       "import os; print(os.uname())")
    failed = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, "exec", "1/0"],
                            capture_output=True, text=True, timeout=30)
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[:3] == ["Traceback (most recent call last):",
                                              '  File "<stdin>", line 1, in <module>',
                                              "ZeroDivisionError: divide by zero"]


def test_a_fault_after_start_waits_for_the_session_you_start(make_vboard):
    """`after_start_s` on a served board: counted from the session's start, not the board's boot."""
    vb = make_vboard({"faults": [{"kind": "button", "at_ms": 1000, "after_start": True}]})
    with Link(vb.port) as link:
        wait_for(link, is_event("state,idle"))
        time.sleep(1.5)  # past the fault's time counted from boot
        assert "fault=none" in link.command("status")
        link.command("start static target=20 minutes=1")
        wait_for(link, is_event("state,running"))
        running = time.monotonic()
        wait_for(link, is_event("fault=emergency"), timeout=20)
        assert time.monotonic() - running >= 1.0
