"""Virtual boards on a real broker: Debian's mosquitto with a password file and the ACL of docs/mqtt.md.

Each bridge is the `cupctl bridge` command in its own process, as a clinic runs it; the clinic's side is a
subscriber with the operator's credentials. Every wait is on a condition, with a generous timeout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from cupctl import boards, trace
from cupctl.fleet.broker import Broker
from cupctl.fleet.feed import BrokerFeed
from cupctl.sim.vboard import VirtualBoard, populate_flash
from cupctl.telemetry import parse_line
from tests.broker import Mosquitto
from tests.conftest import ROOT

USERS = {"clinic": "clinic-pw", "cup1": "pw-1", "cup2": "pw-2", "cup3": "pw-3"}
SUMMARY = re.compile(r"bridge: (\d+) telemetry lines and (\d+) events from the board, (\d+) remote commands; "
                     r"(\d+) telemetry lines dropped, (\d+) lines not handed")
RUNNING, IDLE = 2, 0


@pytest.fixture
def broker(tmp_path, mosquitto_exe):
    mosquitto = Mosquitto(tmp_path / "broker", USERS).start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def make_vboard(tmp_path, micropython):
    started = []

    def make():
        flash = tmp_path / ("flash%d" % len(started))
        populate_flash(flash, boards.load(boards.DEFAULT)[0])
        started.append(VirtualBoard(flash).start())
        return started[-1]

    yield make
    for vb in started:
        vb.stop()


def settings(mosquitto, user):
    return Broker("127.0.0.1", mosquitto.port, user, USERS[user])


class Cupctl:
    """A cupctl command in its own process, its output lines collected as they come."""

    def __init__(self, user, *args):
        env = dict(os.environ, CUPCTL_MQTT_PASSWORD=USERS[user])
        self.proc = subprocess.Popen([sys.executable, "-m", "cupctl.cli", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def wait_for(self, text, timeout=60.0):
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None or any(text in line for line in self.lines), self.output()
            assert time.monotonic() < deadline, "no %r within %g s:\n%s" % (text, timeout, self.output())
            time.sleep(0.05)

    def stop(self, timeout=60.0) -> str:
        """Ctrl-C, as an operator would; the whole output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.output()

    def output(self) -> str:
        return "".join(self.lines)


def bridge(mosquitto, device, vb, *extra):
    job = Cupctl(device, "bridge", "--mqtt", mosquitto.url % device, "--port", vb.port, *extra)
    job.wait_for("as cupctl/%s/#" % device)
    return job


def summary(output):
    found = SUMMARY.search(output)
    assert found, output
    telemetry, events, commands, dropped, unsent = map(int, found.groups())
    return {"telemetry": telemetry, "event": events, "command": commands, "dropped": dropped, "unsent": unsent}


class Clinic:
    """The operator's subscriber: every message under cupctl/#, in arrival order."""

    def __init__(self, mosquitto, user="clinic"):
        self.messages: list[tuple[str, bytes]] = []
        self.acks: dict[int, object] = {}
        self.changed = threading.Condition()
        self.settings = settings(mosquitto, user)
        self.client = self.settings.client()
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_ack
        self.client.on_subscribe = self._on_ack
        self.settings.connect(self.client)

    def _on_message(self, client, userdata, message):
        with self.changed:
            self.messages.append((message.topic, message.payload))
            self.changed.notify_all()

    def _on_ack(self, client, userdata, mid, reasons, properties):
        with self.changed:
            self.acks[mid] = reasons
            self.changed.notify_all()

    def _ack(self, mid, timeout=30.0):
        with self.changed:
            assert self.changed.wait_for(lambda: mid in self.acks, timeout), "no ack from the broker"
            return self.acks[mid]

    def subscribe(self, pattern="cupctl/#"):
        """The broker's answer, a reason code per topic: granted QoS or a failure."""
        return self._ack(self.client.subscribe(pattern, qos=1)[1])

    def publish(self, topic, text):
        """Publish at QoS 1 and return the broker's reason code for it (MQTT 5 PUBACK)."""
        return self._ack(self.client.publish(topic, text, qos=1).mid)

    def telemetry(self, device):
        return [parse_line(p) for t, p in self.messages if t == "cupctl/%s/telemetry" % device]

    def events(self, device):
        return [parse_line(p).text for t, p in self.messages if t == "cupctl/%s/event" % device]

    def results(self, device):
        return [json.loads(p) for t, p in self.messages if t == "cupctl/%s/result" % device]

    def wait(self, predicate, what, timeout=60.0):
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self), timeout):
                raise AssertionError("not within %g s: %s" % (timeout, what))

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def gaps(records):
    seqs = [r.values[0] for r in records]
    return [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1]


def test_three_boards_every_line_arrives_a_stop_stops_one_and_credentials_stay_with_their_device(
        broker, make_vboard):
    clinic = Clinic(broker)
    assert clinic.subscribe()[0].value == 1  # granted at QoS 1: the operator reads everything
    devices = ("cup1", "cup2", "cup3")
    jobs = {}
    try:
        for device in devices:
            jobs[device] = bridge(broker, device, make_vboard(), "--allow-remote-start", "--rate", "50")
        for device in devices:
            assert clinic.publish("cupctl/%s/cmd" % device, "start static target=20 minutes=1").value == 0
        for device in devices:
            clinic.wait(lambda c, d=device: any(r.values[7] == RUNNING for r in c.telemetry(d)) and c.results(d),
                        "%s runs" % device)
        assert [r["ok"] for d in devices for r in clinic.results(d)] == [True] * 3

        # cup1's credentials reach neither cup2's commands nor anyone's lines (mosquitto grants the
        # subscription and then delivers nothing the ACL does not let it read)
        rogue = Clinic(broker, "cup1")
        try:
            assert str(rogue.publish("cupctl/cup2/cmd", "stop")) == "Not authorized"
            rogue.subscribe("cupctl/#")
            seen = len(clinic.telemetry("cup2"))
            clinic.wait(lambda c: len(c.telemetry("cup2")) >= seen + 100, "100 more lines from cup2")
            assert rogue.messages == []
        finally:
            rogue.close()

        assert clinic.publish("cupctl/cup2/cmd", "stop").value == 0
        clinic.wait(lambda c: len(c.results("cup2")) == 2, "cup2 answers the stop")
        assert clinic.results("cup2")[1] == {"cmd": "stop", "ok": True, "text": "stopped, cup vented"}
        stopped_at = {d: len(clinic.telemetry(d)) for d in devices}
        clinic.wait(lambda c: all(len(c.telemetry(d)) >= stopped_at[d] + 100 for d in devices),
                    "100 more lines from each board")
        after = {d: clinic.telemetry(d)[stopped_at[d] + 50:] for d in devices}  # the stop has taken effect
        assert all(r.values[7] == IDLE and r.values[6] == 1 for r in after["cup2"])  # idle, vented
        assert all(r.values[7] == RUNNING for d in ("cup1", "cup3") for r in after[d])
        assert not any("cmd,stop" in e for d in ("cup1", "cup3") for e in clinic.events(d))
    finally:
        outputs = {device: job.stop() for device, job in jobs.items()}

    for device in devices:
        counts = summary(outputs[device])
        assert counts["dropped"] == counts["unsent"] == 0
        clinic.wait(lambda c, d=device, n=counts["telemetry"]: len(c.telemetry(d)) >= n, "%s's last line" % device)
        lines = clinic.telemetry(device)
        assert len(lines) == counts["telemetry"] and gaps(lines) == []
        assert len(clinic.events(device)) == counts["event"]
    clinic.close()


def test_a_broker_restart_loses_nothing_and_the_bridge_reconnects_by_itself(broker, make_vboard):
    got, states = [], []
    feed = BrokerFeed(settings(broker, "clinic"), "cup1", durable=True,  # the subscriber API, at QoS 1
                      on_status=lambda status: states.append(status["state"]))
    vb = make_vboard()
    job = bridge(broker, "cup1", vb, "--rate", "50")
    reader = threading.Thread(target=lambda: got.extend(feed.records(timeout=30)), daemon=True)
    reader.start()
    try:
        wait_until(lambda: len(got) >= 20, "lines through the broker")
        broker.stop()
        job.wait_for("broker away")
        vb.press_reset()  # events while the broker is away: boot, state
        job.wait_for("the board rebooted")
        broker.start()
        job.wait_for("broker back")
        wait_until(lambda: any("boot" in r.text for r in got if r.kind == "E"), "the boot event")
        wait_until(lambda: len(got) >= 200, "lines after the restart")
    finally:
        output = job.stop()
    counts = summary(output)
    assert counts["dropped"] == counts["unsent"] == 0
    wait_until(lambda: sum(r.kind == "T" for r in got) >= counts["telemetry"], "every line")
    telemetry = [r for r in got if r.kind == "T"]
    events = [r.text for r in got if r.kind == "E"]
    assert len(telemetry) == counts["telemetry"] and len(events) == counts["event"]
    jumps = gaps(telemetry)
    assert len(jumps) == 1 and jumps[0][1] < jumps[0][0]  # the only break: the sequence starting again at boot
    assert any(",boot," in "," + e for e in events) and any(e.split(",")[1] == "state" for e in events)
    wait_until(lambda: states[-1:] == ["offline"], "the bridge's last status")
    feed.close()


def test_beyond_its_buffer_the_bridge_drops_the_oldest_lines_and_says_which(broker, make_vboard):
    got, states = [], []
    feed = BrokerFeed(settings(broker, "clinic"), "cup1", durable=True,
                      on_status=lambda status: states.append(status))
    reader = threading.Thread(target=lambda: got.extend(feed.records(timeout=30)), daemon=True)
    reader.start()
    vb = make_vboard()
    job = bridge(broker, "cup1", vb, "--rate", "50", "--buffer", "20")
    try:
        wait_until(lambda: len(got) >= 20, "lines through the broker")
        broker.stop()
        job.wait_for("broker away")
        vb.press_reset()  # a boot event while away: kept, however full the buffer
        job.wait_for("the board rebooted")
        sent = vb.bytes_to_host
        wait_until(lambda: vb.bytes_to_host > sent + 60 * 63, "60 more lines from the board: 40 too many")
        broker.start()
        job.wait_for("dropped telemetry seq")
        wait_until(lambda: states and states[-1].get("dropped", 0) > 0, "the drops in the retained status")
    finally:
        output = job.stop()
    runs, total = re.search(r"dropped telemetry seq ([\d., ]+) while the broker was away \((\d+) dropped in all\)",
                            output).groups()
    total = int(total)
    assert sum(int(b) - int(a) + 1 for a, b in (run.split("..") for run in runs.split(", "))) == total
    counts = summary(output)
    assert counts["dropped"] == total == states[-1]["dropped"] > 0 and counts["unsent"] == 0
    wait_until(lambda: sum(r.kind == "T" for r in got) >= counts["telemetry"] - total, "every line kept")
    assert sum(r.kind == "T" for r in got) == counts["telemetry"] - total  # exactly the dropped ones are missing
    assert any(",boot," in "," + r.text for r in got if r.kind == "E")
    feed.close()


def test_a_recording_through_the_broker_replays_bit_exact(broker, make_vboard, tmp_path):
    vb = make_vboard()
    job = bridge(broker, "cup1", vb, "--allow-remote-start")  # the loop rate: one row per tick
    out = tmp_path / "through-broker.csv"
    recorder = Cupctl("clinic", "record", "--mqtt", broker.url % "clinic", "--device", "cup1", "-o", str(out))
    monitor = Cupctl("clinic", "monitor", "--mqtt", broker.url % "clinic", "--json")  # the only device: found
    clinic = Clinic(broker)
    clinic.subscribe("cupctl/cup1/#")
    try:
        recorder.wait_for("recording cup1")
        clinic.wait(lambda c: len(c.telemetry("cup1")) >= 50, "idle rows first")
        clinic.publish("cupctl/cup1/cmd", "start static target=20 minutes=1")
        clinic.wait(lambda c: sum(r.values[7] == RUNNING for r in c.telemetry("cup1")) >= 150, "a running session")
        clinic.publish("cupctl/cup1/cmd", "stop")
        clinic.wait(lambda c: c.telemetry("cup1")[-1].values[7] == IDLE and len(c.results("cup1")) == 2,
                    "back to idle")
    finally:
        recorded = recorder.stop()
        shown = monitor.stop()
        job.stop()
        clinic.close()
    assert "recorded" in recorded and "(0 sequence gaps)" in recorded, recorded
    data = trace.read(out)
    assert data.meta["board"] == "esp32-devkitc" and "board_file" in data.meta
    assert any(",cmd,start static" in text for _, text in data.events)
    replayed = subprocess.run([sys.executable, "-m", "cupctl.cli", "replay", str(out)], capture_output=True,
                              text=True, cwd=ROOT, timeout=120)
    assert replayed.returncode == 0 and "bit-exact" in replayed.stdout, replayed.stdout + replayed.stderr
    rows = [line for line in shown.splitlines() if line.startswith('{"seq"')]
    assert len(rows) > 10 and '"status"' in shown, shown[-2000:]


def test_the_bridge_rides_out_an_unplugged_board(broker, make_vboard, tmp_path):
    port = tmp_path / "ttyCUP"  # a stable name, as a udev rule gives a real board
    vb = make_vboard()
    port.symlink_to(vb.port)
    job = Cupctl("cup1", "bridge", "--mqtt", broker.url % "cup1", "--port", str(port))
    clinic = Clinic(broker)
    clinic.subscribe("cupctl/cup1/#")
    try:
        job.wait_for("as cupctl/cup1/#")
        vb.stop()  # unplugged
        job.wait_for("link lost")
        clinic.wait(lambda c: statuses(c)[-1:] == ["link-lost"], "status link-lost")
        clinic.publish("cupctl/cup1/cmd", "stop")
        clinic.wait(lambda c: c.results("cup1"), "an answer while unplugged")
        assert clinic.results("cup1")[0]["ok"] is False and "down" in clinic.results("cup1")[0]["text"]
        before = len(clinic.telemetry("cup1"))
        again = make_vboard()  # plugged in again
        port.unlink()
        port.symlink_to(again.port)
        job.wait_for("board back")
        clinic.wait(lambda c: statuses(c)[-1:] == ["online"] and len(c.telemetry("cup1")) > before + 20,
                    "online again, lines flowing")
        job.proc.kill()  # the bridge itself dies: the broker publishes its last will
        clinic.wait(lambda c: statuses(c)[-1:] == ["offline"], "the last will")
        assert json.loads([p for t, p in clinic.messages if t == "cupctl/cup1/status"][-1])["reason"] == "bridge lost"
    finally:
        job.stop()
        clinic.close()


def statuses(clinic):
    return [json.loads(p)["state"] for t, p in clinic.messages if t == "cupctl/cup1/status"]


def test_a_wrong_password_is_one_line(broker, capsys, monkeypatch):
    from cupctl import cli

    monkeypatch.setenv("CUPCTL_MQTT_PASSWORD", "not-the-password")
    code = cli.main(["bridge", "--mqtt", broker.url % "cup1", "--port", "/dev/null"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("cupctl bridge: error: the broker at mqtt://cup1@127.0.0.1:%d refused" % broker.port)


def wait_until(predicate, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within %g s: %s" % (timeout, what)
        time.sleep(0.05)


def test_tls_with_a_client_certificate_and_a_refused_unknown_ca(tmp_path, mosquitto_exe, make_vboard, capsys,
                                                                 monkeypatch):
    from cupctl import cli

    with Mosquitto(tmp_path / "tls-broker", USERS, tls=True) as mosquitto:
        certs = mosquitto.folder
        url = "mqtts://cup1@127.0.0.1:%d" % mosquitto.tls_port
        monkeypatch.setenv("CUPCTL_MQTT_PASSWORD", USERS["cup1"])
        code = cli.main(["bridge", "--mqtt", url, "--port", "/dev/null"])  # the system's CAs do not know ours
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith("cupctl bridge: error: TLS with the broker at %s failed" % url), err

        clinic = Clinic(mosquitto)  # the operator on the plain listener sees what arrives over TLS
        clinic.subscribe("cupctl/cup1/#")
        job = Cupctl("cup1", "bridge", "--mqtt", url, "--port", make_vboard().port, "--tls-ca", str(certs / "ca.crt"),
                     "--tls-cert", str(certs / "client.crt"), "--tls-key", str(certs / "client.key"))
        try:
            clinic.wait(lambda c: statuses(c)[-1:] == ["online"] and len(c.telemetry("cup1")) >= 20,
                        "lines over TLS")
        finally:
            job.stop()
            clinic.close()
