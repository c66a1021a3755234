"""The serial link against a fake device that keeps a line buffer, as the firmware does."""

import pytest
import serial

from cupctl.link import Link, LinkError
from cupfw import protocol


class LineDevice:
    """A pyserial stand-in that buffers input bytes into lines and answers each complete line once.

    ``pending`` is what an earlier client left in the device's line buffer (e.g. mpremote's
    ctrl-E 'A' ctrl-A raw-paste probe, cut off by a reset).
    """

    def __init__(self, pending=b"", answers=None, silent=False):
        self.line = bytearray(pending)
        self.answers = answers or {"info": "version=0.1.0 protocol=1 board=esp32-devkitc chip=esp32",
                                   "status": "state=idle fault=none vacuum_pa=0"}
        self.silent = silent
        self.out = []
        self.lines = []  # every complete line the device received
        self.in_waiting = 0

    def open(self):
        pass

    def close(self):
        pass

    def flush(self):
        pass

    def write(self, data):
        for byte in data:
            if byte in b"\r\n":
                if self.line:
                    self._answer(self.line.decode("latin-1"))
                self.line = bytearray()
            else:
                self.line.append(byte)

    def _answer(self, text):
        self.lines.append(text)
        if self.silent:
            return
        verb = text.split()[0] if text.split() else text
        if verb in self.answers:
            reply = "ok," + self.answers[verb]
        else:
            reply = "err,unknown command %r" % verb
        self.out.append(protocol.frame(protocol.RESULT, reply).encode())

    def read(self, n):
        return self.out.pop(0) if self.out else b""


@pytest.fixture
def link_to(mocker):
    def make(device):
        mocker.patch("serial.Serial", return_value=device)
        return Link("/dev/ttyFAKE")

    return make


@pytest.mark.parametrize("stray", [b"\x05A\x01", b"sta", b"x" * 40])
def test_a_stray_partial_line_does_not_glue_onto_the_first_command(link_to, stray):
    device = LineDevice(pending=stray)
    with link_to(device) as link:
        assert link.command("status") == "state=idle fault=none vacuum_pa=0"
    assert device.lines[-1] == "status"  # the command arrived whole
    assert device.lines[0] == stray.decode("latin-1")  # the stray bytes were ended on their own line


def test_the_resync_happens_once_per_connection_and_keeps_info(link_to):
    device = LineDevice()
    with link_to(device) as link:
        link.command("status")
        link.command("status")
        assert link.info()["board"] == "esp32-devkitc"
    assert device.lines == ["info", "status", "status"]


def test_a_device_that_never_answers_names_the_command(link_to):
    with link_to(LineDevice(silent=True)) as link, pytest.raises(LinkError, match="no answer .* to 'stop'"):
        link.command("stop", timeout=0.2)


def test_a_refusal_after_the_resync_is_still_reported(link_to):
    with link_to(LineDevice(pending=b"\x05A")) as link, pytest.raises(LinkError, match="refused 'launch'"):
        link.command("launch")


def test_opening_does_not_reset_the_board(mocker):
    device = LineDevice()
    mocker.patch("serial.Serial", return_value=device)
    Link("/dev/ttyFAKE").close()
    assert device.dtr is False and device.rts is False and device.out == [] and device.lines == []


@pytest.mark.parametrize("vid_pid,dtr", [((0x303A, 0x4001), True), ((0x239A, 0x8143), True),
                                         ((0x303A, 0x1001), False), ((0x10C4, 0xEA60), False)])
def test_dtr_asserted_only_on_native_usb_cdc(mocker, vid_pid, dtr):
    """TinyUSB CDC sends nothing until DTR is set (MicroPython v1.22-v1.23); elsewhere DTR would reset."""
    device = LineDevice()
    mocker.patch("serial.Serial", return_value=device)
    port = mocker.Mock(device="/dev/ttyACM0", vid=vid_pid[0], pid=vid_pid[1])
    mocker.patch("serial.tools.list_ports.comports", return_value=[port])
    Link("/dev/ttyACM0").close()
    assert device.dtr is dtr and device.rts is False


def test_serial_errors_on_write_are_one_link_error(link_to):
    device = LineDevice()
    device.write = lambda data: (_ for _ in ()).throw(serial.SerialException("write failed"))
    with link_to(device) as link, pytest.raises(LinkError, match="lost /dev/ttyFAKE while sending"):
        link.command("status")


def test_lines_that_arrived_together_outlive_a_caller_that_stopped_after_the_first(link_to):
    """A chunk often holds several lines: stopping after one (follow's duration ends, a command's reply
    comes) must leave the others to the next reader, or a recording loses rows between two calls."""
    device = LineDevice()
    link = link_to(device)
    device.out.append(b"".join(protocol.frame(protocol.EVENT, "%d,state,idle fault=none" % i).encode()
                               for i in range(3)))
    first = next(link.records(timeout=0.2))
    rest = list(link.records(timeout=0.2))
    assert [r.text.split(",")[0] for r in [first] + rest] == ["0", "1", "2"]
