"""Every CLI command, with esptool and the serial port mocked at their boundary."""

import shutil
import struct
import subprocess
import sys

import pytest
import serial

from cupctl import cli, trace
from cupctl.sim import scenario, virtual_time
from cupfw import protocol
from tests.conftest import ROOT

VERBS = ("boards", "flash", "deploy", "session", "monitor", "record", "plot", "replay", "sim", "info", "doctor", "repl",
         "bridge", "export", "history", "dashboard")


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("verb", ("",) + VERBS)
def test_help_works_without_a_board_and_has_examples(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(([verb] if verb else []) + ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: cupctl" in out
    if verb:
        assert "examples:" in out


def test_boards_lists_and_validates(capsys, tmp_path):
    code, out, _ = run(capsys, "boards")
    assert code == 0 and "esp32-devkitc" in out and "adafruit-qtpy-esp32s3" in out
    code, out, _ = run(capsys, "boards", "esp32-s3-devkitc-1")
    assert code == 0 and "Pump MOSFET gate  GPIO4" in out and "flyback" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "boards", str(bad))
    assert code == 1 and "not valid JSON" in err and "Traceback" not in err


def image(path, chip_id, magic=0xE9):
    header = bytes([magic, 3, 2, 0x20]) + struct.pack("<I", 0x40080000) + bytes([0xEE, 0, 0, 0])
    path.write_bytes(header + struct.pack("<H", chip_id) + bytes(10 + 1024))
    return path


@pytest.fixture
def esptool(mocker):
    from esptool import cmds

    esp = mocker.MagicMock(CHIP_NAME="ESP32-S3")
    esp.run_stub.return_value = esp
    mocks = {name: mocker.patch.object(cmds, name) for name in
             ("detect_chip", "attach_flash", "erase_flash", "write_flash", "reset_chip")}
    mocks["detect_chip"].return_value = esp
    return mocks


@pytest.fixture
def port(tmp_path):
    """A serial port that exists (esptool, which would open it, is mocked)."""
    path = tmp_path / "ttyFAKE"
    path.touch()
    return str(path)


def test_flash_writes_at_the_chip_offset_and_resets(esptool, port, tmp_path, capsys):
    img = image(tmp_path / "s3.bin", 9)
    code, out, err = run(capsys, "flash", "--port", port, "--erase", str(img))
    assert code == 0, err
    assert esptool["detect_chip"].call_args.args == (port,)
    esptool["erase_flash"].assert_called_once()
    esp = esptool["detect_chip"].return_value
    esptool["write_flash"].assert_called_once_with(esp, [(0x0, str(img))])
    esptool["reset_chip"].assert_called_once_with(esp, "hard-reset")


def test_esp32_image_goes_at_0x1000(esptool, port, tmp_path, capsys):
    esptool["detect_chip"].return_value.CHIP_NAME = "ESP32"
    img = image(tmp_path / "esp32.bin", 0)
    assert run(capsys, "flash", "--port", port, str(img))[0] == 0
    assert esptool["write_flash"].call_args.args[1] == [(0x1000, str(img))]


@pytest.mark.parametrize("chip_id,magic,args,message", [
    (9, 0x00, [], "not an ESP firmware image"),
    (9, 0xE9, ["--chip", "esp32c3"], "built for esp32s3, not esp32c3"),
    (2, 0xE9, [], "chip ID 2"),
])
def test_flash_refuses_wrong_images_before_touching_the_port(esptool, port, tmp_path, capsys, chip_id, magic, args,
                                                             message):
    img = image(tmp_path / "x.bin", chip_id, magic)
    code, _, err = run(capsys, "flash", "--port", port, *args, str(img))
    assert code == 1 and message in err
    esptool["detect_chip"].assert_not_called()


def test_flash_refuses_an_image_for_another_chip_than_detected(esptool, port, tmp_path, capsys):
    esptool["detect_chip"].return_value.CHIP_NAME = "ESP32-C3"
    code, _, err = run(capsys, "flash", "--port", port, str(image(tmp_path / "s3.bin", 9)))
    assert code == 1 and "is an ESP32-C3" in err
    esptool["write_flash"].assert_not_called()


def test_flash_missing_file(capsys):
    code, _, err = run(capsys, "flash", "--port", "/dev/x", "/no/such.bin")
    assert code == 1 and "cannot read /no/such.bin" in err


def result_line(text):
    return protocol.frame(protocol.RESULT, "ok," + text).encode()


class FakeSerial:
    """A pyserial stand-in: scripted bytes, answers to commands, then a pulled cable."""

    def __init__(self, chunks, answers):
        self.chunks = list(chunks)
        self.answers = answers
        self.written = []
        self.in_waiting = 0
        self.port = None

    def open(self):
        pass

    def close(self):
        pass

    def flush(self):
        pass

    def write(self, data):
        self.written.append(data)
        answers = [result_line(self.answers[line.split()[0]]) for line in data.decode().splitlines()
                   if line.strip() and line.split()[0] in self.answers]
        self.chunks[:0] = answers  # before any telemetry still queued

    def read(self, n):
        if not self.chunks:
            raise serial.SerialException("device disconnected")
        chunk = self.chunks.pop(0)
        return chunk


def telemetry(seq, state=2, duty=300):
    return bytes(protocol.TelemetryEncoder().encode(seq, 1000 + seq * 10, 7300000, 29000, 30000, duty, 0, state, 0))


def test_record_keeps_every_row_when_the_cable_is_pulled(mocker, tmp_path, capsys):
    info = "version=0.1.0 protocol=1 board=esp32-devkitc chip=esp32 loop_hz=100"
    chunks = [b"garbage\xff\xfe no newline yet "] + [telemetry(i) for i in range(1, 121)]
    chunks[40] = chunks[40][:20]  # a partial line, then noise: dropped, the rest kept
    fake = FakeSerial(chunks, {"info": info, "rate": "rate=100", "status": "state=idle fault=none program=none"})
    mocker.patch("serial.Serial", return_value=fake)
    out = tmp_path / "rec.csv"
    code, stdout, err = run(capsys, "record", "-o", str(out), "--port", "/dev/ttyFAKE")
    assert code == 1
    assert "holds all 119 rows received" in err and "cable pulled" in err
    data = trace.read(out)
    assert len(data.rows) == 119 and data.column("seq")[-1] == 120
    assert data.meta["board"] == "esp32-devkitc" and "board_file" in data.meta
    assert any(w.startswith(b"rate 100") for w in fake.written)


def test_session_start_refuses_out_of_range_before_sending(mocker, capsys):
    fake = FakeSerial([], {"info": "version=0.1.0 board=esp32-devkitc"})
    mocker.patch("serial.Serial", return_value=fake)
    code, _, err = run(capsys, "session", "start", "static", "target=55", "--port", "/dev/ttyFAKE", "--yes")
    assert code == 1 and "above this board's limit" in err
    assert not any(b"start" in w for w in fake.written)


def test_session_start_needs_confirmation_without_yes(mocker, capsys):
    fake = FakeSerial([], {"info": "version=0.1.0 board=esp32-devkitc"})
    mocker.patch("serial.Serial", return_value=fake)
    mocker.patch("sys.stdin.isatty", return_value=True)
    mocker.patch("builtins.input", return_value="n")
    code, out, _ = run(capsys, "session", "start", "static", "target=30", "--port", "/dev/ttyFAKE")
    assert code == 1 and "pacemaker" in out and "not started" in out
    assert not any(b"start" in w for w in fake.written)


def test_busy_port_gets_one_clear_line(mocker, capsys):
    mocker.patch("serial.Serial.open", side_effect=serial.SerialException("[Errno 11] Resource temporarily "
                                                                          "unavailable: could not lock port"))
    code, _, err = run(capsys, "monitor", "--port", "/dev/ttyUSB0")
    assert code == 1 and "is busy" in err and "Traceback" not in err


def test_no_board_found_by_vid_pid(mocker, capsys):
    mocker.patch("serial.tools.list_ports.comports", return_value=[])
    code, _, err = run(capsys, "monitor")
    assert code == 1 and "no board found by USB VID/PID" in err


@pytest.fixture(scope="module")
def sim_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("t") / "static.csv"
    virtual_time.run(scenario.load(ROOT / "examples" / "scenarios" / "leak-burst.toml"), path)
    return path


def test_plot_writes_a_png(sim_trace, tmp_path, capsys):
    out = tmp_path / "p.png"
    code, stdout, _ = run(capsys, "plot", str(sim_trace), "-o", str(out))
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replay_reports_the_first_divergence(sim_trace, tmp_path, capsys):
    lines = sim_trace.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("t_ms"))
    cells = lines[header + 3000].split(",")
    cells[4] = str(int(cells[4]) + 1)  # pump_duty off by one at one tick
    lines[header + 3000] = ",".join(cells)
    tampered = tmp_path / "tampered.csv"
    tampered.write_text("\n".join(lines) + "\n")
    assert run(capsys, "replay", str(sim_trace))[0] == 0
    code, out, _ = run(capsys, "replay", str(tampered))
    assert code == 1 and "tampered.csv:%d: DIVERGES" % (header + 3001) in out and "pump_duty" in out


@pytest.mark.parametrize("edit,message", [
    (lambda lines, h: lines[: h + 10] + [lines[h + 10][:7]], "expected 10 fields"),
    (lambda lines, h: lines[: h + 5] + ["1,2,x,4,5,6,7,8,9,10"], "must be integers"),
    (lambda lines, h: lines[:h] + ["t_ms,vacuum_pa"] + lines[h + 1 :], "missing column"),
    (lambda lines, h: ["hello"] + lines[1:], "not a cupctl trace"),
])
def test_corrupt_traces_get_their_line_number(sim_trace, tmp_path, capsys, edit, message):
    lines = sim_trace.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("t_ms"))
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(edit(lines, header)) + "\n")
    code, _, err = run(capsys, "replay", str(bad))
    assert code == 1 and message in err and "bad.csv:" in err


def test_sim_needs_record(capsys):
    code, _, err = run(capsys, "sim", "--scenario", str(ROOT / "examples" / "scenarios" / "static.toml"))
    assert code == 1 and "--record" in err


def test_monitor_view_forwards_to_teleplot_on_localhost(capsys):
    import socket

    from cupctl import live
    from cupctl.telemetry import parse_line

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind(live.TELEPLOT)
    except OSError:
        pytest.skip("UDP port %d is in use on this machine" % live.TELEPLOT[1])
    receiver.settimeout(2)
    try:
        view = live.View(teleplot=True)
        view.show(parse_line(telemetry(7, duty=420)))
        payload = receiver.recv(1024).decode()
    finally:
        receiver.close()
    assert ">vacuum_pa:29000\n" in payload and ">pump_duty:420\n" in payload
    assert "vacuum  29.0 kPa" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_verbs_and_choices(tmp_path):
    script = tmp_path / "cupctl.bash"
    script.write_text(subprocess.run([sys.executable, "-m", "cupctl.cli", "completion", "bash"], capture_output=True,
                                     text=True, check=True).stdout)

    def complete(*words):
        line = 'source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _shtab_cupctl; echo "${COMPREPLY[@]}"' % (
            script, " ".join(words), len(words) - 1)
        return subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=True).stdout.split()

    assert complete("cupctl", "ses") == ["session"]
    assert set(complete("cupctl", "session", "")) >= {"start", "stop", "status", "ack"}
    assert "--bootloader" in complete("cupctl", "sim", "--")
