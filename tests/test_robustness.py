"""Host robustness against the virtual board: nothing received is lost, reconnecting works."""

import signal
import subprocess
import sys
import time

import pytest

from cupctl import boards, trace
from cupctl.sim.vboard import VirtualBoard, populate_flash

CLI = [sys.executable, "-m", "cupctl.cli"]


@pytest.fixture
def flash(tmp_path, micropython):
    folder = tmp_path / "flash"
    populate_flash(folder, boards.load("esp32-devkitc")[0])
    return folder


def record(port, out, *extra):
    return subprocess.Popen([*CLI, "record", "-o", str(out), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_rows(path, rows, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") > rows:
            return
        time.sleep(0.1)
    raise AssertionError("the recording did not reach %d lines" % rows)


def assert_contiguous(data):
    seq = data.column("seq")
    assert seq == list(range(seq[0], seq[0] + len(seq))), "a telemetry row went missing"


def test_pty_closing_mid_stream_keeps_every_row(flash, tmp_path):
    out = tmp_path / "rec.csv"
    vb = VirtualBoard(flash).start()
    proc = record(vb.port, out)
    wait_rows(out, 200)
    vb.stop()  # the cable is gone
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert "holds all" in stderr and "Traceback" not in stderr
    kept = int(stderr.split("holds all ")[1].split()[0])
    data = trace.read(out)
    assert len(data.rows) == kept > 150
    assert_contiguous(data)


def test_noise_on_the_line_is_ignored(flash, tmp_path):
    out = tmp_path / "rec.csv"
    with VirtualBoard(flash) as vb:
        proc = record(vb.port, out, "--duration", "4")
        wait_rows(out, 50)
        bursts = (b"\xff\xfe\x00garbage", b"T1,0000,broken*00\n", b"\r\n\r\n", b"E1,1,x*ZZ\n" * 3)
        for noise in bursts:
            vb.line_noise(noise)
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    data = trace.read(out)
    assert len(data.rows) > 300
    seq = data.column("seq")
    assert seq == sorted(set(seq)), "rows out of order or twice"
    lost = seq[-1] - seq[0] + 1 - len(seq)
    assert lost <= len(bursts)  # noise that lands inside a line costs that line, and nothing else


def test_killed_recorder_loses_nothing_it_received_and_the_port_is_free_again(flash, tmp_path):
    out = tmp_path / "rec.csv"
    with VirtualBoard(flash) as vb:
        proc = record(vb.port, out)
        wait_rows(out, 150)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        data = trace.read(out)  # every line complete: rows are flushed whole
        assert len(data.rows) > 140
        assert_contiguous(data)
        again = subprocess.run([*CLI, "record", "-o", str(tmp_path / "again.csv"), "--port", vb.port,
                                "--duration", "1"], capture_output=True, text=True, timeout=30)
        assert again.returncode == 0, again.stderr


def test_record_reconnects_after_the_board_comes_back(flash, tmp_path):
    out = tmp_path / "rec.csv"
    link = tmp_path / "ttyBOARD"  # a stable name, like /dev/serial/by-id/...
    vb = VirtualBoard(flash).start()
    link.symlink_to(vb.port)
    proc = record(link, out, "--reconnect", "--duration", "12")
    try:
        wait_rows(out, 150)
        vb.stop()
        link.unlink()
        time.sleep(1.0)
        vb = VirtualBoard(flash).start()  # the board is plugged back in
        link.symlink_to(vb.port)
        stdout, stderr = proc.communicate(timeout=40)
    finally:
        vb.stop()
    assert proc.returncode == 0, stderr
    assert "link lost" in stdout and "waiting for the board" in stdout
    data = trace.read(out)
    lost = [i for i, text in data.events if ",host,link lost" in text]
    assert len(lost) == 1
    seq = data.column("seq")
    assert len(seq) > lost[0] + 100, "the recording went on after the reconnect"
    assert seq[lost[0]] < seq[lost[0] - 1], "the new board's telemetry starts its own sequence"
    assert_contiguous(trace.Trace(data.meta, data.columns, data.rows[: lost[0]]))
