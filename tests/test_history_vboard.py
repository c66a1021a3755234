"""The history from the CLI against a virtual board: a session to its fault, a killed process, a joined session."""

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time

CLI = [sys.executable, "-m", "cupctl.cli"]
PUMP_STALLED = {"faults": [{"kind": "pump_stall", "at_ms": 0, "duration_ms": 0}]}


def cupctl(*argv, timeout=90):
    return subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def sessions(db):
    out = cupctl("history", "--db", str(db), "--json")
    assert out.returncode == 0, out.stderr
    return sorted(json.loads(out.stdout), key=lambda row: row["id"])


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_a_session_that_faults_is_recorded_with_its_trace(host_vboards, tmp_path):
    vb = host_vboards(PUMP_STALLED)  # the pump runs, the vacuum never rises: the leak rule trips
    db, record = tmp_path / "h.sqlite", tmp_path / "session.csv"
    out = cupctl("session", "start", "static", "target=20", "minutes=1", "--yes", "--port", vb.port, "--db", str(db),
                 "--record", str(record), "--patient", "AB", "--operator", "anna")
    assert out.returncode == 1 and "session ended: fault leak" in out.stdout, out.stdout[-500:] + out.stderr
    row, = sessions(db)
    assert (row["outcome"], row["fault_name"], row["source"], row["patient"]) == ("fault", "leak", "session", "AB")
    assert row["confirmed_by"] == "anna" and json.loads(row["checklist"]) == {"skipped": "--yes"}
    assert row["trace_path"] == str(record.resolve()) and row["trace_sha256"] == sha256(record)
    assert row["port"] == vb.port and row["board"] == "esp32-devkitc" and row["hard_limit_pa"] == 50000


def test_a_killed_process_leaves_an_intact_database_and_its_session_interrupted(host_vboards, tmp_path):
    vb = host_vboards()
    db = tmp_path / "h.sqlite"
    proc = subprocess.Popen([*CLI, "session", "start", "static", "target=20", "minutes=1", "--yes", "--port", vb.port,
                             "--db", str(db), "--patient", "P-9"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        row = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10) as conn:
                    conn.row_factory = sqlite3.Row
                    row = conn.execute("SELECT * FROM sessions").fetchone()
            except sqlite3.OperationalError:  # not made yet, or its first migration not yet committed
                row = None
            if row is not None and row["peak_vacuum_pa"]:  # running, and its figures checkpointed once
                break
            time.sleep(0.2)
        assert row is not None and row["outcome"] == "running" and row["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    row, = sessions(db)  # the next start of cupctl marks it
    assert row["outcome"] == "interrupted" and row["ended_at"] and row["patient"] == "P-9"
    assert row["peak_vacuum_pa"] > 5000 and row["trace_sha256"] == sha256(row["trace_path"])
    assert cupctl("session", "stop", "--port", vb.port).returncode == 0  # the board still ran it: vent


def test_monitor_joins_a_session_already_running(host_vboards, tmp_path):
    vb = host_vboards()
    db = tmp_path / "h.sqlite"
    out = cupctl("session", "start", "static", "target=15", "minutes=1", "--yes", "--detach", "--port", vb.port,
                 "--db", str(db))
    assert out.returncode == 0, out.stderr
    time.sleep(0.5)
    out = cupctl("monitor", "--duration", "3", "--json", "--port", vb.port, "--db", str(db), "--patient", "P-3")
    assert out.returncode == 0, out.stderr
    assert cupctl("session", "stop", "--port", vb.port).returncode == 0
    started, followed = sessions(db)
    assert started["outcome"] == "left_running" and started["joined"] == 0 and started["source"] == "session"
    assert followed["outcome"] == "left_running" and followed["joined"] == 1 and followed["source"] == "monitor"
    assert followed["patient"] == "P-3" and followed["program"] == "static"
    assert json.loads(followed["params"])["target"] == "15"
