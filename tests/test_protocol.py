"""The line protocol: telemetry round trips, framing, command parsing and fuzzing."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cupctl import telemetry
from cupfw import programs, protocol

ints = st.integers


@given(seq=ints(0, 10**8 - 1), t=ints(0, (1 << 30) - 1), counts=ints(-6, (1 << 24) - 1),
       vac=ints(-99999, 999999), target=ints(0, 99999), duty=ints(0, 1000), valve=ints(0, 1),
       state=ints(0, 3), fault=ints(0, 13))
def test_telemetry_round_trip(seq, t, counts, vac, target, duty, valve, state, fault):
    line = bytes(protocol.TelemetryEncoder().encode(seq, t, counts, vac, target, duty, valve, state, fault))
    assert len(line) == protocol.TELEMETRY_LEN
    record = telemetry.parse_line(line)
    assert record.kind == "T"
    assert record.values == (seq, t, counts, vac, target, duty, valve, state, fault)


def test_corrupted_byte_is_rejected():
    line = bytearray(protocol.TelemetryEncoder().encode(1, 2, 3, 4, 5, 6, 1, 2, 0))
    line[20] ^= 0x01
    assert telemetry.parse_line(bytes(line)) is None


def test_noise_before_a_line_is_tolerated():
    line = bytes(protocol.TelemetryEncoder().encode(7, 2, 3, 4, 5, 6, 1, 2, 0))
    assert telemetry.parse_line(b">>> garbage " + line).values[0] == 7


def test_event_and_result_frames_parse():
    record = telemetry.parse_line(protocol.frame(protocol.RESULT, "err,unknown command").encode())
    assert (record.kind, record.text) == ("R", "err,unknown command")


@pytest.mark.parametrize("line,verb,args,params", [
    ("start static target=30", "start", ["static"], {"target": "30"}),
    ("  STOP ", "stop", [], {}),
    ("rate 25", "rate", ["25"], {}),
])
def test_parse_command(line, verb, args, params):
    assert protocol.parse_command(line) == (verb, args, params)


@pytest.mark.parametrize("line,message", [
    ("", "empty"), ("reboot", "unknown command"), ("start static target=", "bad parameter"),
    ("start static a=1 a=2", "parameter a given twice"), ("x" * 200, "too long")])
def test_bad_commands_refused(line, message):
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.parse_command(line)


def test_link_use_at_default_rate_fits_115200_baud():
    bytes_per_s = protocol.TELEMETRY_LEN * 50
    assert bytes_per_s * 10 / 115200 < 0.5  # 10 bits per byte on the UART


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=80), st.sampled_from(
    [b"start static", b"start massage site=neck", b"stop", b"ack", b"status", b"hb", b"rate 5",
     b"start interval high=30 low=10", b"info", b"start ramp rate=0.1"])), max_size=12))
def test_fuzzed_command_lines_never_crash_and_only_start_pumps(board, lines):  # board is read-only
    from tests.mpcases.alloc_tick import build as build_device

    ctl, service, i2c = build_device(board)
    out = []
    service.out.write = lambda data: out.append(bytes(data))
    t = 0
    for line in lines:
        for byte in line + b"\n":
            service.feed(byte)
        started = any(b"R1,ok,started" in o for o in out)
        for _ in range(3):
            ctl.tick(t)
            t += 10
            if not started:
                assert ctl.pump.duty == 0 and ctl.valve.vented
    results = [o for o in out if o.startswith(b"R1,")]
    segments = [s for line in lines for s in re.split(rb"[\r\n]", line) if s]
    assert len(results) == len(segments), "every command line gets exactly one result line"
    for o in results:
        assert telemetry.parse_line(o) is not None


def test_a_line_with_control_bytes_is_dropped_and_the_next_line_counts(board):
    """What mpremote's raw-paste request (Ctrl-E A Ctrl-A) leaves in the line must not glue onto a command."""
    from tests.mpcases.alloc_tick import build as build_device

    ctl, service, _ = build_device(board)
    out = []
    service.out.write = lambda data: out.append(bytes(data))
    for byte in b"\x05A\x01status\nstatus\n":
        service.feed(byte)
    results = [telemetry.parse_line(o) for o in out if o.startswith(b"R1,")]
    assert [r.text.split(",")[0] for r in results] == ["err", "ok"]
    assert "control bytes" in results[0].text and "state=" in results[1].text


@pytest.mark.parametrize("program,params,message", [
    ("static", {"minutes": "-1"}, "static minutes: -1 is outside 1..30 min"),
    ("static", {"target": "30.12345"}, "static target: '30.12345' has more than three decimals"),
    ("static", {"target": "abc"}, "static target: 'abc' is not a number like 30 or 0.5"),
    ("ramp", {"rate": "0"}, "ramp rate: 0 is outside 0.05..5 kPa/s"),
    ("interval", {"high_s": "1"}, "interval high_s: 1 is outside 2..600 s"),
])
def test_value_errors_name_the_parameter_the_rule_and_the_unit(board, program, params, message):
    with pytest.raises(ValueError) as caught:
        programs.build(program, params, board, board.cups[0])
    assert str(caught.value) == message


def test_the_host_refuses_a_parameter_given_twice():
    from cupctl import startline

    with pytest.raises(ValueError, match="parameter target given twice"):
        startline.parse_params(["target=30", "target=20"])
