"""What the CLI prints: the same units everywhere (kPa, %), no "-0.0", JSON for scripts, honest plot titles."""

import json

import pytest

from cupctl import cli, live, plot, trace
from cupctl.telemetry import parse_line
from tests.conftest import ROOT
from tests.test_cli import FakeSerial, telemetry

STATUS = ("state=running fault=none vacuum_pa=29012 target_pa=30000 duty=284 ambient_pa=101325 missed=2 "
          "mem_free=52000 program=static target=30 minutes=20 cup=M")
INFO = "version=0.1.0 protocol=1 board=esp32-devkitc chip=esp32 loop_hz=100"


def run(mocker, capsys, *argv, chunks=(), answers=None):
    fake = FakeSerial(list(chunks), {"info": INFO, "status": STATUS, "stop": "stopped, cup vented",
                                     **(answers or {})})
    mocker.patch("serial.Serial", return_value=fake)
    code = cli.main([*argv, "--port", "/dev/ttyFAKE"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_session_status_speaks_kpa_and_percent_like_the_live_view(mocker, capsys):
    code, out, _ = run(mocker, capsys, "session", "status")
    assert code == 0
    assert out == ("running, fault none: vacuum 29.0 kPa, target 30.0 kPa, duty 28.4%, ambient 101.3 kPa; "
                   "program static target=30 minutes=20 cup=M; 2 late ticks, 50 kB free\n")


def test_session_status_json_keeps_the_device_units_as_numbers(mocker, capsys):
    code, out, _ = run(mocker, capsys, "session", "status", "--json")
    fields = json.loads(out)
    assert code == 0 and fields["vacuum_pa"] == 29012 and fields["duty"] == 284
    assert fields["state"] == "running" and fields["program"] == "static target=30 minutes=20 cup=M"


def test_session_stop_json(mocker, capsys):
    code, out, _ = run(mocker, capsys, "session", "stop", "--json")
    assert code == 0 and json.loads(out) == {"result": "stopped, cup vented"}


@pytest.mark.parametrize("pa,text", [(-2, "0.0"), (-49, "0.0"), (-51, "-0.1"), (0, "0.0"), (29960, "30.0"),
                                     (12345, "12.3")])
def test_kpa_never_prints_minus_zero(pa, text):
    assert live.kpa(pa) == text


def vented(seq, vacuum_pa):
    from cupfw import protocol

    return bytes(protocol.TelemetryEncoder().encode(seq, 1000 + seq * 10, 9567000, vacuum_pa, 0, 0, 1, 0, 0))


def test_the_live_view_of_a_vented_cup_is_not_minus_zero(capsys):
    view = live.View(every_s=0)
    for seq, vacuum in enumerate((-3, -1, -4)):
        view.show(parse_line(vented(seq, vacuum)))
    out = capsys.readouterr().out
    assert out.count("vacuum   0.0 kPa  target   0.0") == 3 and "-0.0" not in out


def test_monitor_json_prints_one_object_per_row_and_event(mocker, capsys):
    from cupfw import protocol

    event = protocol.frame(protocol.EVENT, "1234,state,running fault=none").encode()
    rows = [telemetry(1), event, telemetry(2)]
    code, out, _ = run(mocker, capsys, "monitor", "--json", chunks=rows)
    assert code == 1  # the fake cable is pulled after the rows
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("seq") for line in lines] == [1, None, 2]
    assert lines[0]["vacuum_pa"] == 29000 and lines[0]["state_name"] == "running"
    assert lines[1] == {"event": "state", "t_ms": 1234, "detail": "running fault=none"}


def test_boards_json_lists_boards_and_ports(mocker, capsys):
    port = mocker.MagicMock(device="/dev/ttyUSB7", vid=0x10C4, pid=0xEA60)
    mocker.patch("serial.tools.list_ports.comports", return_value=[port])
    assert cli.main(["boards", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert {"name": "esp32-devkitc", "chip": "esp32", "title": "Espressif ESP32-DevKitC"} in listing["boards"]
    assert listing["ports"] == [{"device": "/dev/ttyUSB7", "kind": "Silicon Labs CP210x"}]
    assert cli.main(["boards", "esp32-s3-devkitc-1", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["valid"] is True and one["board"]["chip"] == "esp32s3"


def test_the_plot_title_says_how_long_a_stopped_session_ran():
    data = trace.read(ROOT / "tests" / "traces" / "program-static.csv")  # minutes=1, stopped after 13 s
    title = plot._program(data)
    assert title.startswith("start static target=30 minutes=1 tissue=normal cup=M")
    assert title.endswith("(ran 13.0 s, stopped)")


def test_the_plot_title_names_the_fault_that_ended_a_session():
    data = trace.read(ROOT / "tests" / "traces" / "fault-cup-off.csv")
    assert plot._program(data).endswith(", fault vacuum_lost)")
