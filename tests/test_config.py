"""Defaults for port, baud, board and cup: command line, then CUPCTL_* variables, then the config file."""

import pytest

from cupctl import cli, config
from tests.test_cli import FakeSerial

INFO = "version=0.1.0 protocol=1 board=esp32-devkitc chip=esp32 loop_hz=100"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty config folder under XDG_CONFIG_HOME and no CUPCTL_* variables."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for key in config.KEYS:
        monkeypatch.delenv(config.env_name(key), raising=False)
    folder = tmp_path / "xdg" / "cupctl"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def device(mocker):
    fake = FakeSerial([], {"info": INFO, "status": "state=idle fault=none"})
    mocker.patch("serial.Serial", return_value=fake)
    return fake


def status(capsys, *argv):
    code = cli.main(["session", "status", *argv])
    return code, capsys.readouterr().err


def test_the_config_file_gives_port_and_baud(home, device, capsys):
    (home / "config.toml").write_text('port = "u0"\nbaud = 57600\n')
    assert status(capsys)[0] == 0
    assert device.port == "/dev/ttyUSB0" and device.baudrate == 57600  # u0: mpremote's shortcut


def test_the_environment_overrides_the_file_and_the_command_line_overrides_both(home, device, capsys,
                                                                                 monkeypatch):
    (home / "config.toml").write_text('port = "/dev/ttyUSB0"\n')
    monkeypatch.setenv("CUPCTL_PORT", "a1")
    monkeypatch.setenv("CUPCTL_BAUD", "230400")
    assert status(capsys)[0] == 0
    assert device.port == "/dev/ttyACM1" and device.baudrate == 230400
    assert status(capsys, "--port", "/dev/ttyS9", "--baud", "9600")[0] == 0
    assert device.port == "/dev/ttyS9" and device.baudrate == 9600


def test_without_xdg_config_home_the_file_is_under_dot_config(home, monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert config.path() == tmp_path / "me" / ".config" / "cupctl" / "config.toml"


def test_deploy_takes_the_configured_board(home, mocker, capsys):
    (home / "config.toml").write_text('port = "/dev/ttyUSB3"\nboard = "esp32-c3-devkitm-1"\n')
    deploy = mocker.patch("cupctl.deploy.deploy", return_value={"copied": 0, "unchanged": 0, "removed": 0})
    assert cli.main(["deploy"]) == 0
    assert deploy.call_args.args[:2] == ("/dev/ttyUSB3", "esp32-c3-devkitm-1")


def test_session_start_takes_the_configured_cup(home, device, capsys):
    (home / "config.toml").write_text('port = "/dev/ttyUSB0"\ncup = "S"\n')
    device.answers["start"] = "started static target=30 minutes=20 cup=S hb=0"
    cli.main(["session", "start", "static", "target=30", "--yes", "--detach"])
    assert any(b"start static" in w and b"cup=S" in w for w in device.written)


@pytest.mark.parametrize("text,message", [
    ('prot = "/dev/ttyUSB0"\n', "unknown key 'prot' (have: port, baud, board, cup, db, dashboard_token)"),
    ('baud = "fast"\n', "baud must be a whole number"),
    ('port = \n', "not valid TOML"),
])
def test_a_bad_config_file_is_one_line_naming_it(home, device, capsys, text, message):
    (home / "config.toml").write_text(text)
    code, err = status(capsys)
    assert code == 1 and err.startswith("cupctl session: error: %s: " % (home / "config.toml"))
    assert message in err and err.count("\n") == 1


def test_a_bad_environment_value_is_one_line_naming_it(home, device, capsys, monkeypatch):
    monkeypatch.setenv("CUPCTL_BAUD", "fast")
    code, err = status(capsys)
    assert code == 1 and "CUPCTL_BAUD='fast': must be a whole number" in err


def test_verbs_without_a_port_and_help_ignore_a_broken_config(home, capsys):
    (home / "config.toml").write_text("this is not toml")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["monitor", "--help"])
    assert exit_info.value.code == 0
    assert cli.main(["boards"]) == 0
