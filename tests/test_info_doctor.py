"""cupctl info, doctor and repl against fake boards, ports and groups."""

import json

import pytest

from cupctl import cli, doctor
from cupfw import version
from tests.test_link import LineDevice

INFO = ("version=%s protocol=1 board=esp32-devkitc chip=esp32 loop_hz=100 max_target_pa=40000 "
        "max_session_ms=2400000 cups=M:40mm:50000;S:30mm:60000" % version.VERSION)


@pytest.fixture
def port(tmp_path, monkeypatch):
    """A port that exists, with a board answering ``info``; no config file or variables in the way."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CUPCTL_PORT", raising=False)
    path = tmp_path / "ttyFAKE"
    path.touch()
    return str(path)


def board(mocker, info=INFO):
    device = LineDevice(answers={"info": info})
    mocker.patch("serial.Serial", return_value=device)
    return device


def test_info_prints_version_board_and_limits_in_kpa(port, mocker, capsys):
    board(mocker)
    assert cli.main(["info", "--port", port]) == 0
    out = capsys.readouterr().out
    assert out == ("firmware %s (protocol 1) on esp32, board file esp32-devkitc\n"
                   "loop 100 Hz, targets up to 40.0 kPa, sessions up to 40 min\n"
                   "cup M: 40 mm, hard limit 50.0 kPa\n"
                   "cup S: 30 mm, hard limit 60.0 kPa\n" % version.VERSION)


def test_info_json_and_an_older_firmware(port, mocker, capsys):
    board(mocker, INFO.replace("version=%s" % version.VERSION, "version=0.0.9"))
    assert cli.main(["info", "--port", port, "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert fields["version"] == "0.0.9" and fields["max_target_pa"] == 40000
    assert cli.main(["info", "--port", port]) == 0
    assert "this host ships firmware %s: cupctl deploy installs it" % version.VERSION in capsys.readouterr().out


def lines(capsys):
    return [line.split(None, 1) for line in capsys.readouterr().out.splitlines()]


def test_doctor_checks_the_board_it_is_given(port, mocker, capsys):
    mocker.patch("serial.tools.list_ports.comports", return_value=[])
    board(mocker)
    assert cli.main(["doctor", "--port", port]) == 0
    checks = dict(reversed(line) for line in lines(capsys))
    assert checks["board on %s: esp32-devkitc on esp32, firmware %s, as this host deploys" % (
        port, version.VERSION)] == "ok"
    assert checks["no serial ports seen: plug the board in with a data (not charge-only) USB cable"] == "warn"


def test_doctor_fails_on_a_board_with_other_firmware_or_none_answering(port, mocker, capsys):
    mocker.patch("serial.tools.list_ports.comports", return_value=[])
    board(mocker, INFO.replace("version=%s" % version.VERSION, "version=0.0.9"))
    assert cli.main(["doctor", "--port", port]) == 1
    assert ["FAIL", "board on %s: esp32-devkitc on esp32, firmware 0.0.9, but this host deploys %s: run cupctl "
             "deploy" % (port, version.VERSION)] in lines(capsys)
    mocker.patch("cupctl.link.Link.info", side_effect=cli_link_error())
    assert cli.main(["doctor", "--port", port]) == 1
    assert any(status == "FAIL" and "no answer" in text for status, text in lines(capsys))


def cli_link_error():
    from cupctl.link import LinkError

    return LinkError("no answer from the port to 'info' within 3 s: is the cupctl firmware running?")


def test_doctor_names_the_group_of_a_port_the_user_cannot_open(port, mocker):
    mocker.patch("os.geteuid", return_value=1000)
    mocker.patch("os.access", return_value=False)
    status, text = next(doctor._permissions([port]))
    assert status == doctor.FAIL and "no read/write access to %s (group " % port in text
    assert "sudo usermod -aG" in text


def test_doctor_warns_without_the_unix_port(mocker):
    from cupctl.mpunix import RuntimeUnavailable

    mocker.patch("cupctl.doctor.executable", side_effect=RuntimeUnavailable("the MicroPython unix port is not "
                                                                              "installed"))
    status, text = next(doctor._unix_port())
    assert status == doctor.WARN and "the simulator still runs on CPython" in text


def test_repl_enters_maintenance_mode_before_mpremote(port, mocker, capsys):
    calls = []
    mocker.patch("cupctl.deploy.enter_maintenance", side_effect=lambda p, log: calls.append(("maint", p)))
    mocker.patch("subprocess.call", side_effect=lambda argv: calls.append(("mpremote", argv[-3:])) or 0)
    assert cli.main(["repl", "--port", port]) == 0
    assert calls == [("maint", port), ("mpremote", ["connect", port, "repl"])]
    assert "cup vented, no control loop, no watchdog" in capsys.readouterr().out
