"""cupctl flash against a missing or silent port: one line, few connection attempts, esptool's chatter hidden."""

import pytest
from esptool.util import FatalError

from cupctl import cli
from tests.test_cli import image


@pytest.fixture
def s3_image(tmp_path):
    return str(image(tmp_path / "s3.bin", 9))


def test_a_missing_port_is_one_line_before_esptool_runs(mocker, s3_image, capsys):
    detect = mocker.patch("esptool.cmds.detect_chip")
    code = cli.main(["flash", "--port", "/dev/cupctl-nonexistent", s3_image])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err == ("cupctl flash: error: no serial port /dev/cupctl-nonexistent: is the board plugged in? "
                            "(cupctl boards lists ports)\n")
    detect.assert_not_called()


def test_a_silent_board_is_one_line_after_few_attempts(mocker, s3_image, capsys, tmp_path):
    port = tmp_path / "ttyFAKE"  # exists, but nothing answers on it
    port.touch()

    def silent(port, connect_attempts=7, **kwargs):
        print("Connecting" + "." * 4 * connect_attempts)
        raise FatalError("Failed to connect to Espressif device: No serial data received.\n"
                         "For troubleshooting steps visit: https://docs.espressif.com/...")

    detect = mocker.patch("esptool.cmds.detect_chip", side_effect=silent)
    code = cli.main(["flash", "--port", str(port), s3_image])
    captured = capsys.readouterr()
    assert code == 1
    assert "Connecting" not in captured.out
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert "No serial data received; hold BOOT while pressing RESET" in captured.err
    assert detect.call_args.kwargs["connect_attempts"] <= 3  # esptool's default of 7 takes about 8 s
