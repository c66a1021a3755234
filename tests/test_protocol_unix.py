"""Fuzzed command lines into the real firmware on the unix port, over a pipe to its stdin and stdout."""

import os
import re
import signal
import subprocess
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cupctl import boards, mpunix, telemetry
from cupctl.sim.vboard import SIM_DIR, populate_flash

VALID = [b"start static target=20", b"start ramp target=25 rate=2", b"stop", b"ack", b"status", b"hb", b"info",
         b"rate 20", b"start massage site=neck minutes=12", b"start interval high=30 low=40", b"start"]
lines = st.lists(st.one_of(st.binary(max_size=60).filter(lambda b: b"\x03" not in b), st.sampled_from(VALID)),
                 min_size=1, max_size=30)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines)
def test_fuzzed_lines_over_a_pipe(tmp_path_factory, micropython, lines):
    flash = tmp_path_factory.mktemp("flash")
    populate_flash(flash, boards.load("esp32-devkitc")[0])
    env = dict(mpunix.env(), MICROPYPATH=os.pathsep.join([str(mpunix.HOST_DIR), ".frozen"]))
    proc = subprocess.Popen([micropython, str(SIM_DIR / "mp_board.py")], cwd=flash, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.8)  # boot and the ambient measurement
    payload = b"".join(line + b"\n" for line in lines)
    proc.stdin.write(payload)
    proc.stdin.flush()
    time.sleep(0.5 + len(payload) / 6400)  # input is taken 64 bytes per 10 ms tick
    assert proc.poll() is None, "the firmware must survive any input"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    records = [telemetry.parse_line(line) for line in out.split(b"\n")]
    records = [r for r in records if r is not None]
    results = [r for r in records if r.kind == "R"]
    segments = [s for line in lines for s in re.split(rb"[\r\n]", line) if s]
    assert len(results) == len(segments), "one result line per command line"
    started = False
    for record in records:
        if record.kind == "R" and record.text.startswith("ok,started"):
            started = True
        if record.kind == "T" and not started:
            assert record.values[5] == 0 and record.values[6] == 1, "only a valid start may run the pump"
    assert records[-1].kind == "E" and "stopped by Ctrl-C; cup vented" in records[-1].text
