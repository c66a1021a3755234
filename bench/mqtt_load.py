"""How many boards at 50 Hz one bridge process and one mosquitto carry here, and the CPU per board.

Two measurements (``.venv/bin/python -m bench.mqtt_load [SECONDS]``; BENCHMARKS.md has the figures):

- **virtual boards**: 3 virtual boards (the firmware on the unix port), each with its own ``cupctl bridge``
  process at 50 Hz, as a clinic runs them; CPU per bridge process and of the broker, and whether every
  line arrived. The machine has 2 cores and each virtual board is a unix-port process plus a relay
  thread, so this does not scale far here: it gives the per-board cost of the real thing.
- **synthetic boards**: one process plays N boards on N pseudo-terminals (it answers ``info`` and
  ``rate`` and writes a telemetry line every 20 ms, its ``t_ms`` the system's monotonic clock), one
  process runs N bridges (the same ``Bridge`` class, one thread each), one subscriber takes every line
  from the broker at QoS 1. N grows until lines are dropped or more than 1 % arrive late (over 100 ms,
  five periods, from the source writing the line to the subscriber receiving it).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

from bench.common import ROOT, machine
from cupctl.fleet.broker import Broker
from cupctl.telemetry import parse_line
from cupfw import protocol
from tests.broker import Mosquitto

HZ = 50
LATE_MS = 100
USER, PASSWORD = "bench", "bench-pw"
ACL = "user %s\ntopic readwrite cupctl/#\n" % USER
WRAP = 1 << 30
INFO = "ok,version=0.1.0 protocol=1 board=esp32-devkitc chip=esp32 loop_hz=100 max_target_pa=40000"
STEPS = tuple(int(n) for n in os.environ.get("CUPCTL_BENCH_BOARDS", "1 10 20 30 40 50 75 100").split())


def now_ms() -> int:
    return int(time.monotonic() * 1000) % WRAP


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (/proc/PID/stat)."""
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the synthetic boards (a process of their own) ---

def serve_boards(count: int) -> None:
    """N boards on N ptys: print their names, then a telemetry line each every 1/HZ s until killed."""
    masters, names = [], []
    for _ in range(count):
        master, slave = pty.openpty()
        tty.setraw(slave)
        fcntl.fcntl(master, fcntl.F_SETFL, os.O_NONBLOCK)
        masters.append(master)
        names.append(os.ttyname(slave))  # the slave stays open: the bridge's close must not hang up the pty
    print(" ".join(names), flush=True)
    encoder = protocol.TelemetryEncoder()
    seqs = [0] * count
    pending = [b""] * count
    next_tick = time.monotonic()
    while True:
        wait = max(0.0, next_tick - time.monotonic())
        for master in select.select(masters, [], [], wait)[0]:
            i = masters.index(master)
            pending[i] += os.read(master, 4096)
            *lines, pending[i] = pending[i].split(b"\n")
            for line in lines:
                verb = line.strip().split(b" ")[0]
                if verb == b"info":
                    os.write(master, protocol.frame(protocol.RESULT, INFO).encode())
                elif verb == b"rate":
                    os.write(master, protocol.frame(protocol.RESULT, "ok,rate=%d" % HZ).encode())
        if time.monotonic() >= next_tick:
            stamp = int(next_tick * 1000) % WRAP  # when it was due: a starved source counts as late too
            next_tick += 1 / HZ
            for i, master in enumerate(masters):
                seqs[i] += 1
                try:
                    os.write(master, bytes(encoder.encode(seqs[i], stamp, 9567000, 20000, 20000, 300, 0, 2, 0)))
                except BlockingIOError:
                    pass  # the bridge does not read: the board's outbox would drop it too (a gap, counted)


# --- N bridges in one process ---

def run_bridges(url: str, ports: list[str]) -> None:
    from cupctl.fleet.bridge import Bridge

    broker = Broker.from_url(url)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    jobs = [Bridge(broker, "syn%03d" % i, port, rate=HZ, log=lambda text: None) for i, port in enumerate(ports)]
    threads = [threading.Thread(target=job.run, args=(stop,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    print("bridging %d" % len(jobs), flush=True)
    stop.wait()
    for thread in threads:
        thread.join(30)


# --- the subscriber: every line, its seq and how late ---

class Counter:
    def __init__(self, broker: Broker):
        self.lock = threading.Lock()
        self.last: dict[str, int] = {}
        self.lines = self.gaps = self.late = 0
        self.delays: list[int] = []
        self.counting = False
        self.client = broker.client()
        self.client.on_message = self.on_message
        self.client.on_connect = lambda c, *_: c.subscribe("cupctl/+/telemetry", qos=1)
        broker.connect(self.client)

    def on_message(self, client, userdata, message):
        arrived = now_ms()
        record = parse_line(message.payload)
        device = message.topic.split("/")[1]
        seq, t_ms = record.values[0], record.values[1]
        with self.lock:
            last = self.last.get(device)
            self.last[device] = seq
            if not self.counting:
                return
            self.lines += 1
            if last is not None and seq != last + 1:
                self.gaps += 1
            delay = (arrived - t_ms) % WRAP
            self.delays.append(delay)
            if delay > LATE_MS:
                self.late += 1

    def window(self, on: bool) -> None:
        with self.lock:
            self.counting = on
            if on:
                self.lines = self.gaps = self.late = 0
                self.delays = []

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def synthetic_step(mosquitto: Mosquitto, counter: Counter, count: int, seconds: float) -> dict:
    url = "mqtt://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, mosquitto.port)
    source = subprocess.Popen([sys.executable, "-m", "bench.mqtt_load", "boards", str(count)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    ports = source.stdout.readline().split()
    bridges = subprocess.Popen([sys.executable, "-m", "bench.mqtt_load", "bridges", url, *ports], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        bridges.stdout.readline()
        deadline = time.monotonic() + 60
        while len([d for d in counter.last if int(d[3:]) < count]) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # warm-up
        cpu = {name: cpu_s(pid) for name, pid in (("bridge", bridges.pid), ("broker", mosquitto.proc.pid),
                                                  ("source", source.pid), ("subscriber", os.getpid()))}
        counter.window(True)
        started = time.monotonic()
        time.sleep(seconds)
        counter.window(False)
        wall = time.monotonic() - started
        cpu = {name: (cpu_s(pid) - cpu[name]) / wall * 100 for name, pid in (
            ("bridge", bridges.pid), ("broker", mosquitto.proc.pid), ("source", source.pid),
            ("subscriber", os.getpid()))}
        expected = count * HZ * wall
    finally:
        bridges.send_signal(signal.SIGINT)
        bridges.wait(60)
        source.kill()
        source.wait()
        counter.last.clear()
    delays = sorted(counter.delays) or [0]
    return {"boards": count, "lines": counter.lines, "expected": expected, "gaps": counter.gaps,
            "late": counter.late, "cpu": cpu, "p50": delays[len(delays) // 2], "p99": delays[len(delays) * 99 // 100]}


def synthetic(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="cupctl-bench-mqtt-") as folder, \
            Mosquitto(Path(folder), {USER: PASSWORD}, acl=ACL) as mosquitto:
        counter = Counter(Broker("127.0.0.1", mosquitto.port, USER, PASSWORD))
        carried = 0
        try:
            for count in STEPS:
                step = synthetic_step(mosquitto, counter, count, seconds)
                late = 100 * step["late"] / max(1, step["lines"])
                missing = max(0, round(step["expected"]) - step["lines"])
                cpu = step["cpu"]
                print("synthetic %3d boards x %d Hz: %6d lines in %g s (%.0f expected), %d seq gaps, %.2f %% late "
                      "(> %d ms; delay p50 %d ms, p99 %d ms); CPU %% of one core: bridge %.1f (%.2f per board), "
                      "broker %.1f (%.2f per board), source %.1f, subscriber %.1f" % (
                          count, HZ, step["lines"], seconds, step["expected"], step["gaps"], late, LATE_MS, step["p50"],
                          step["p99"],
                          cpu["bridge"], cpu["bridge"] / count, cpu["broker"], cpu["broker"] / count, cpu["source"],
                          cpu["subscriber"]), flush=True)
                if step["gaps"] or late > 1 or missing > step["expected"] * 0.01:
                    break
                carried = count
        finally:
            counter.close()
        print("synthetic: one bridge process and one broker carried %d boards at %d Hz with no gap and <= 1 %% "
              "late lines" % (carried, HZ))


def virtual(seconds: float, count: int = 3) -> None:
    from cupctl import boards
    from cupctl.sim.vboard import VirtualBoard, populate_flash

    with tempfile.TemporaryDirectory(prefix="cupctl-bench-mqtt-") as folder, \
            Mosquitto(Path(folder) / "broker", {USER: PASSWORD}, acl=ACL) as mosquitto:
        vbs = []
        for i in range(count):
            populate_flash(Path(folder) / ("flash%d" % i), boards.load(boards.DEFAULT)[0])
            vbs.append(VirtualBoard(Path(folder) / ("flash%d" % i)).start())
        counter = Counter(Broker("127.0.0.1", mosquitto.port, USER, PASSWORD))
        env = dict(os.environ, CUPCTL_MQTT_PASSWORD=PASSWORD)
        jobs = [subprocess.Popen([sys.executable, "-m", "cupctl.cli", "bridge", "--mqtt", "mqtt://%s@127.0.0.1:%d" % (
            USER, mosquitto.port), "--device", "vb%d" % i, "--port", vb.port, "--rate", str(HZ)], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL) for i, vb in enumerate(vbs)]
        try:
            deadline = time.monotonic() + 60
            while len(counter.last) < count and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2)
            pids = {"bridges": [job.pid for job in jobs], "broker": [mosquitto.proc.pid],
                    "firmware": [vb._child.pid for vb in vbs]}
            before = {name: sum(map(cpu_s, group)) for name, group in pids.items()}
            counter.window(True)
            started = time.monotonic()
            time.sleep(seconds)
            counter.window(False)
            wall = time.monotonic() - started
            cpu = {name: (sum(map(cpu_s, group)) - before[name]) / wall * 100 for name, group in pids.items()}
        finally:
            for job in jobs:
                job.send_signal(signal.SIGINT)
            for job in jobs:
                try:
                    job.wait(60)
                except subprocess.TimeoutExpired:  # never leave a bridge holding a port after the run
                    job.kill()
                    raise
            for vb in vbs:
                vb.stop()
            counter.close()
        print("virtual %d boards x %d Hz, a `cupctl bridge` process each: %d lines in %g s (%.0f expected), %d seq "
              "gaps; CPU %% of one core per board: bridge %.2f, broker %.2f, the firmware on the unix port %.2f" % (
                  count, HZ, counter.lines, seconds, count * HZ * wall, counter.gaps, cpu["bridges"] / count,
                  cpu["broker"] / count, cpu["firmware"] / count))


def main(seconds: float = 10.0) -> None:
    virtual(seconds)
    synthetic(seconds)


if __name__ == "__main__":
    if sys.argv[1:2] == ["boards"]:
        serve_boards(int(sys.argv[2]))
    elif sys.argv[1:2] == ["bridges"]:
        run_bridges(sys.argv[2], sys.argv[3:])
    else:
        print("machine: %s" % machine(), flush=True)
        main(*(float(a) for a in sys.argv[1:2]))
