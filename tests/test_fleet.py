"""The MQTT side without a broker: addresses and credentials, payloads, the outbox's order and drops,
what a remote may command, and the MCAP export read back with the mcap library's own reader."""

from __future__ import annotations

import json

import pytest
from mcap.reader import make_reader

from cupctl import cli, trace
from cupctl.fleet import topics
from cupctl.fleet.bridge import Bridge
from cupctl.fleet.broker import Broker
from cupctl.fleet.outbox import Outbox
from cupctl.mcap_export import export
from cupctl.telemetry import Record, parse_line
from tests.broker import free_port
from tests.conftest import ROOT
from tests.test_cli import telemetry

TRACE = ROOT / "tests" / "traces" / "program-static.csv"


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line(code, err, verb, text):
    assert code == 1 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("cupctl %s: error: " % verb), err
    assert text in err, err


# --- where the broker is, how to log in ---

def test_a_broker_url_gives_host_port_user_and_tls(monkeypatch, tmp_path):
    monkeypatch.setenv("CUPCTL_MQTT_PASSWORD", "from-env")
    plain = Broker.from_url("mqtt://cup1@broker.local")
    assert (plain.host, plain.port, plain.username, plain.password, plain.tls) == (
        "broker.local", 1883, "cup1", "from-env", False)
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    tls = Broker.from_url("mqtts://cup2@broker.local", password_file=str(secret))
    assert (tls.port, tls.password, tls.tls, tls.url) == (8883, "from-file", True, "mqtts://cup2@broker.local:8883")
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    assert Broker.from_url("mqtt://u@h:1884", ca=str(ca)).tls  # a CA turns TLS on


@pytest.mark.parametrize("argv, text", [
    (["--mqtt", "http://cup1@h"], "expected mqtt://USER@HOST"),
    (["--mqtt", "mqtt://cup1@h:99999"], "--mqtt 'mqtt://cup1@h:99999'"),
    (["--mqtt", "mqtt://h"], "which device?"),
    (["--mqtt", "mqtt://cup1@"], "expected mqtt://USER@HOST"),
    (["--mqtt", "mqtt://h", "--device", "cup/1"], "device id 'cup/1'"),
    (["--mqtt", "mqtt://cup1@h", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
    (["--mqtt", "mqtt://cup1@h", "--tls-ca", "/nonexistent/ca.crt"], "--tls-ca /nonexistent/ca.crt: no such file"),
    (["--mqtt", "mqtt://cup1@h", "--password-file", "/nonexistent/pw"], "--password-file /nonexistent/pw"),
    (["--mqtt", "mqtt://cup1@h", "--buffer", "0"], "--buffer must be at least 1"),
])
def test_bridge_mistakes_are_one_line(argv, text, capsys):
    code, _, err = run(capsys, "bridge", *argv)
    assert_one_line(code, err, "bridge", text)


def test_an_unreachable_broker_is_one_line(capsys):
    port = free_port()  # nothing listens there
    code, _, err = run(capsys, "bridge", "--mqtt", "mqtt://cup1@127.0.0.1:%d" % port, "--port", "/dev/null")
    assert_one_line(code, err, "bridge", "cannot reach the broker at mqtt://cup1@127.0.0.1:%d" % port)


def test_record_through_the_broker_refuses_serial_only_options(capsys, tmp_path):
    code, _, err = run(capsys, "record", "--mqtt", "mqtt://clinic@h", "-o", str(tmp_path / "t.csv"), "--rate", "50")
    assert_one_line(code, err, "record", "cupctl bridge --rate")


# --- payloads ---

def test_telemetry_and_events_travel_as_the_devices_own_lines():
    line = bytes(telemetry(42, duty=420)).rstrip(b"\n")
    record = parse_line(line)
    assert topics.line_of(record) == line  # rebuilt byte for byte, checksum included
    event = b"E1,994218,cmd,start static target=30 minutes=1 cup=M hb=0*2A"
    assert topics.line_of(parse_line(event)) == event
    assert parse_line(topics.line_of(Record("E", text="5,state,idle fault=none"))).text == "5,state,idle fault=none"


@pytest.mark.parametrize("bad", ["", "a/b", "+", "cup#1", "x" * 65])
def test_a_device_id_is_one_topic_level(bad):
    with pytest.raises(ValueError, match="device id"):
        topics.check_device_id(bad)


# --- the outbox: order, holding, dropping ---

class FakeClient:
    def __init__(self):
        self.published: list[bytes] = []

    def publish(self, topic, payload, qos, retain=False):
        assert qos == 1
        self.published.append(payload)


def test_lines_flow_straight_through_while_the_broker_is_there():
    client = FakeClient()
    box = Outbox(client, capacity=10)
    box.on_connect()
    box.put("t", b"T1", seq=1)
    box.put("e", b"E1")
    assert client.published == [b"T1", b"E1"] and box.held == 0 and box.unacknowledged == 2


def test_while_the_broker_is_away_the_oldest_telemetry_goes_and_events_stay():
    client = FakeClient()
    box = Outbox(client, capacity=3)
    for payload, seq in ((b"T1", 1), (b"E1", None), (b"T2", 2), (b"T3", 3), (b"T4", 4), (b"T5", 5)):
        box.put("x", payload, seq)
    assert client.published == [] and box.held == 4
    assert box.dropped == 2 and box.dropped_runs == [[1, 2]]
    for seq in (1, 2, 3, 4):  # the board rebooted: its sequence starts again
        box.put("x", b"T%d'" % seq, seq)
    assert box.dropped == 6 and box.dropped_runs == [[1, 5], [1, 1]]
    box.on_connect()
    assert box.pump() == 4
    assert client.published == [b"E1", b"T2'", b"T3'", b"T4'"]  # the event first, where it was


def test_after_a_reconnect_nothing_overtakes_what_paho_resends():
    client = FakeClient()
    box = Outbox(client, capacity=100)
    box.on_connect()
    box.put("t", b"T1", seq=1)  # taken by paho, not acknowledged when the connection drops
    box.on_disconnect()
    box.put("t", b"T2", seq=2)
    box.on_connect()
    box.put("t", b"T3", seq=3)
    assert client.published == [b"T1"] and box.held == 2  # T1 is paho's to resend first
    box.on_publish()  # T1 acknowledged
    box.put("t", b"T4", seq=4)
    assert client.published == [b"T1", b"T2", b"T3", b"T4"] and box.held == 0


# --- what a remote may command ---

@pytest.fixture
def bridge():
    return Bridge(Broker("127.0.0.1", 1), "cup1", "/dev/null", log=lambda text: None)


@pytest.mark.parametrize("text, retained, refused", [
    ("stop", False, None),
    ("ack", False, None),
    ("stop", True, "retained"),
    ("start static target=30", False, "--allow-remote-start"),
    ("maint", False, "only stop and ack"),
    ("rate 100", False, "only stop and ack"),
    ("stop\nstart static target=60", False, "one command line"),
    ("", False, "one command line"),
])
def test_a_remote_may_stop_and_ack_only(bridge, text, retained, refused):
    why = bridge._refusal(text, retained)
    assert why is None if refused is None else refused in why


def test_start_passes_only_when_the_bridge_allows_it(bridge):
    bridge.allow_start = True
    assert bridge._refusal("start static target=30", False) is None


def test_a_reboot_answers_what_waited_and_sets_the_rate_again(bridge):
    class Link:
        written: list[str] = []

        def write_line(self, text):
            self.written.append(text)

    results = []
    bridge._result = lambda command, ok, text: results.append((command, ok, text))
    bridge._rate = 100
    bridge._commands.put(("stop", True, None))
    link = Link()
    bridge._send_commands(link)
    bridge._on_record(parse_line(b"E1,5,boot,version=0.1.0 reset=power*" + b"%02X" % _xor(
        b"E1,5,boot,version=0.1.0 reset=power")))
    bridge._send_commands(link)
    assert link.written == ["stop", "rate 100"]
    assert results == [("stop", False, "the board rebooted before answering")]


def _xor(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


# --- MCAP for Foxglove ---

def test_the_mcap_export_carries_every_row_and_event_with_schemas(tmp_path, capsys):
    out = tmp_path / "session.mcap"
    code, stdout, _ = run(capsys, "export", str(TRACE), "--mcap", str(out))
    assert code == 0 and "/telemetry" in stdout
    data = trace.read(TRACE)
    with open(out, "rb") as stream:
        reader = make_reader(stream)
        messages = list(reader.iter_messages())
        metadata = {m.name: m.metadata for m in reader.iter_metadata()}
    rows = [(s, c, m) for s, c, m in messages if c.topic == "/telemetry"]
    events = [(s, c, m) for s, c, m in messages if c.topic == "/event"]
    assert len(rows) == len(data.rows) and len(events) == len(data.events) > 0
    schema, channel, _ = rows[0]
    assert (schema.name, schema.encoding, channel.message_encoding) == ("cupctl.Telemetry", "jsonschema", "json")
    assert set(json.loads(schema.data)["required"]) == set(data.columns)
    decoded = [json.loads(m.data) for _, _, m in rows]
    assert [tuple(d[c] for c in data.columns) for d in decoded] == list(data.rows)
    assert decoded[0]["state_name"] in ("idle", "prepare", "running", "fault")
    times = [m.log_time for _, _, m in rows]
    assert times == sorted(times) and times[-1] - times[0] == (data.rows[-1][0] - data.rows[0][0]) * 1_000_000
    assert [json.loads(m.data)["kind"] for _, _, m in events] == [t.split(",")[1] for _, t in data.events]
    assert json.loads(metadata["cupctl trace"]["board_file"])["cups"]


def test_mcap_times_run_on_across_the_device_clock_wrap_and_a_reboot(tmp_path):
    wrap = 1 << 30
    rows = [(wrap - 20, 0, 0, 0, 0, 1, 0, 0), (wrap - 10, 0, 0, 0, 0, 1, 0, 0), (0, 0, 0, 0, 0, 1, 0, 0),
            (10, 0, 0, 0, 0, 1, 0, 0), (3, 0, 0, 0, 0, 1, 0, 0)]  # the last: the device booted again
    data = trace.Trace({}, trace.TRACE_COLUMNS, rows, [(2, "0,host,note")])
    out = tmp_path / "wrap.mcap"
    export(data, out)
    with open(out, "rb") as stream:
        messages = list(make_reader(stream).iter_messages())
    times = [m.log_time // 1_000_000 for _, c, m in messages if c.topic == "/telemetry"]
    assert times == [0, 10, 20, 30, 30]
    assert [m.log_time // 1_000_000 for _, c, m in messages if c.topic == "/event"] == [20]
