"""`monitor --foxglove`: the records reach a Foxglove WebSocket client on the MCAP export's channels."""

import json
import socket
import struct
import time

from websockets.sync.client import connect

from cupctl import cli, foxglove_live
from cupctl.mcap_export import telemetry_message
from cupctl.telemetry import FIELDS, parse_line
from tests.test_cli import FakeSerial, telemetry

INFO = "version=0.1.0 protocol=1 board=esp32-devkitc chip=esp32 loop_hz=100"


def test_a_foxglove_client_gets_every_record_on_the_export_channels():
    server = foxglove_live.LiveServer(0)
    try:
        with connect(server.url, subprotocols=["foxglove.sdk.v1"], open_timeout=10) as ws:
            channels = {}
            while len(channels) < 2:
                message = json.loads(ws.recv(timeout=10))
                if message["op"] == "advertise":
                    channels.update({c["topic"]: c for c in message["channels"]})
            assert channels["/telemetry"]["schemaName"] == "cupctl.Telemetry"
            assert channels["/telemetry"]["schemaEncoding"] == "jsonschema"
            assert set(json.loads(channels["/telemetry"]["schema"])["required"]) == set(FIELDS)
            ws.send(json.dumps({"op": "subscribe", "subscriptions": [
                {"id": 1, "channelId": channels["/telemetry"]["id"]},
                {"id": 2, "channelId": channels["/event"]["id"]}]}))
            wait_for_subscription(server, ws)
            rows = [parse_line(bytes(telemetry(seq))) for seq in (1, 2, 3)]
            event = parse_line(b"E1,5,state,idle fault=none*" + b"%02X" % _xor(b"E1,5,state,idle fault=none"))
            for record in rows + [event]:
                server.show(record)
            got = {1: [], 2: []}
            while len(got[1]) < 3 or len(got[2]) < 1:
                frame = ws.recv(timeout=10)
                if isinstance(frame, str):
                    continue  # JSON: a status or an advertisement
                opcode, subscription = struct.unpack_from("<BI", frame)
                message = json.loads(frame[13:])  # after opcode, subscription id and a 64-bit time
                assert opcode == 1
                if message.get("seq") != 0:  # probes still on their way
                    got[subscription].append(message)
    finally:
        server.close()
    assert got[1] == [telemetry_message(FIELDS, r.values) for r in rows]
    assert got[2] == [{"t_ms": 5, "kind": "state", "detail": "idle fault=none"}]


def wait_for_subscription(server, ws, timeout=30.0):
    """The server takes a subscription a moment after it is sent: log a probe (seq 0) until one arrives."""
    probe = parse_line(bytes(telemetry(0)))
    deadline = time.monotonic() + timeout
    while True:
        server.show(probe)
        try:
            if isinstance(ws.recv(timeout=0.2), bytes):
                return
        except TimeoutError:
            assert time.monotonic() < deadline, "the Foxglove server never sent a subscribed message"


def _xor(data):
    value = 0
    for byte in data:
        value ^= byte
    return value


def test_a_port_in_use_is_one_line(mocker, capsys):
    mocker.patch("serial.Serial", return_value=FakeSerial([telemetry(1)], {"info": INFO, "status": "state=idle "
                                                                           "fault=none program=none"}))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["monitor", "--port", "/dev/ttyFAKE", "--foxglove", str(port)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("cupctl monitor: error: cannot serve Foxglove on 127.0.0.1:%d" % port), err
