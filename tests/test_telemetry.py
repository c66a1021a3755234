"""The host's serial line parser against lines the firmware's own encoder and framer produce."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cupctl import telemetry
from cupfw import protocol


def telemetry_line(seq, counts=7300000, vacuum=29000):
    encoder = protocol.TelemetryEncoder()
    return bytes(encoder.encode(seq, seq * 10, counts, vacuum, 30000, 500, 0, 2, 0))


@pytest.mark.parametrize("text", ["ok,R1,", "err,unknown command 'E1,x'", "ok,echo T1,00*00", "ok,a*b R1,ok,x*41"])
def test_a_reply_whose_text_holds_a_record_marker_is_kept_whole(text):
    line = protocol.frame(protocol.RESULT, text).encode()
    record = telemetry.parse_line(b"REPL noise >>> " + line)
    assert record == telemetry.Record("R", text=text)


def test_an_event_that_quotes_a_telemetry_marker_is_kept_whole():
    line = protocol.frame(protocol.EVENT, "120,cmd,start static T1,target=30").encode()
    assert telemetry.parse_line(line).text == "120,cmd,start static T1,target=30"


def test_a_corrupt_record_after_noise_that_looks_like_a_marker_is_dropped():
    line = bytearray(protocol.frame(protocol.RESULT, "ok,R1,fine").encode())
    line[5] ^= 1
    assert telemetry.parse_line(bytes(line)) is None


def test_telemetry_values_come_back_as_encoded():
    record = telemetry.parse_line(telemetry_line(7, counts=-3, vacuum=-120))
    assert record.kind == "T"
    assert record.values == (7, 70, -3, -120, 30000, 500, 0, 2, 0)


@given(st.lists(st.tuples(st.integers(0, 99_999_999), st.integers(-99_999_999, 99_999_999),
                          st.integers(-999_999, 999_999), st.sampled_from(["whole", "flip", "cut", "reply", "noise"]),
                          st.integers(0, 61)), max_size=30))
def test_many_lines_at_once_parse_as_one_at_a_time(cases):
    lines = []
    for seq, counts, vacuum, how, at in cases:
        line = bytearray(telemetry_line(seq, counts, vacuum)[:-1])
        if how == "flip":
            line[at] ^= 0x10
        elif how == "cut":
            line = line[at:]
        elif how == "reply":
            line = bytearray(protocol.frame(protocol.RESULT, "ok,T1,%d" % seq).encode()[:-1])
        elif how == "noise":
            line = bytearray(b">>> " + line)
        lines.append(bytes(line))
    assert telemetry.parse_lines(lines) == [telemetry.parse_line(line) for line in lines]


def test_bulk_decoding_flags_each_bad_line():
    good = telemetry_line(1)[:-1]
    bad_digit = good[:5] + b"x" + good[6:]
    bad_sign = good.replace(b"+07300000", b"*07300000")
    values, ok = telemetry.decode_telemetry([good, bad_digit, bad_sign, good])
    assert ok.tolist() == [True, False, False, True]
    assert values[3].tolist() == [1, 10, 7300000, 29000, 30000, 500, 0, 2, 0]
