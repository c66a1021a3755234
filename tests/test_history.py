"""Session history: each way a session ends, the figures, the schema's migrations, filters and exports.

The record streams are the firmware's own: scenarios run in virtual time through the firmware core,
their traces replayed into the recorder as the telemetry and events a link would deliver.
"""

import csv
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import time

import pytest

from cupctl import checklist, cli, trace
from cupctl.history import HistoryError, check_patient
from cupctl.history.db import SCHEMA_VERSION, HistoryDB
from cupctl.history.recorder import SessionLog, device_of
from cupctl.sim import scenario, virtual_time
from cupctl.telemetry import FIELDS, Record
from tests.conftest import ROOT

INFO = {"version": "0.1.0", "board": "esp32-devkitc", "chip": "esp32",
        "cups": "M:40mm:50000;S:30mm:60000;L:55mm:40000"}
SCENARIOS = ROOT / "examples" / "scenarios"


def records_of(path):
    """A trace as the records a link would have delivered, events where they arrived."""
    data = trace.read(path)
    columns = [data.columns.index(name) if name in data.columns else None for name in FIELDS]
    events = iter(data.events)
    event = next(events, None)
    for index, row in enumerate(data.rows):
        while event is not None and event[0] <= index:
            yield Record("E", text=event[1])
            event = next(events, None)
        yield Record("T", tuple(index + 1 if c is None else row[c] for c in columns))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Run a scenario (a file in examples/, or TOML text) once per module; its records."""
    folder = tmp_path_factory.mktemp("sims")
    done = {}

    def run(name, text=None):
        if name not in done:
            source = SCENARIOS / name
            if text is not None:
                source = folder / name
                source.write_text(text)
            out = folder / (name + ".csv")
            virtual_time.run(scenario.load(str(source)), out)
            done[name] = list(records_of(out))
        return done[name]

    return run


@pytest.fixture
def db(tmp_path):
    with HistoryDB(tmp_path / "history.sqlite") as opened:
        yield opened


def log_for(db, **kwargs):
    return SessionLog(db, device_of("/dev/ttyUSB0", INFO), "session", **kwargs)


def feed(log, records, until=None):
    for record in records:
        log.add(record)
        if until is not None and until(record):
            return


def only(db):
    rows = db.sessions()
    assert len(rows) == 1
    return rows[0]


def test_a_completed_session_its_figures_and_its_own_trace(db, simulated):
    log = log_for(db, patient="P-0042")
    log.expect(checklist=json.dumps(checklist.answers(list(checklist.ABSOLUTE), [])), confirmed_by="anna")
    feed(log, simulated("static.toml"))
    log.close()
    row = only(db)
    assert row["outcome"] == "completed" and row["fault_code"] is None and row["ended_at"] > row["started_at"]
    assert (row["program"], row["cup"], row["tissue"], row["hard_limit_pa"]) == ("static", "M", "normal", 50000)
    assert json.loads(row["params"]) == {"target": "30", "minutes": "1", "tissue": "normal"}
    assert row["start_line"] == "start static target=30 minutes=1 tissue=normal cup=M hb=0"
    assert (row["board"], row["chip"], row["firmware"], row["port"]) == ("esp32-devkitc", "esp32", "0.1.0",
                                                                         "/dev/ttyUSB0")
    assert row["patient"] == "P-0042" and row["confirmed_by"] == "anna"
    assert json.loads(row["checklist"])["absolute_absent"] == list(checklist.ABSOLUTE)
    # one minute at 30 kPa after a 4 kPa/s soft ramp: the figures say so
    assert 59000 <= row["running_ms"] <= 61000
    assert 50000 <= row["time_at_target_ms"] <= row["running_ms"]
    assert 29000 <= row["peak_vacuum_pa"] <= 31500 and 25000 <= row["mean_vacuum_pa"] <= 30500
    own = trace.read(row["trace_path"])  # the session's own trace, beside the database
    assert own.column("state")[0] in (0, 1) and 2 in own.column("state")
    assert row["trace_path"].startswith(str(db.path.parent / "traces"))
    with open(row["trace_path"], "rb") as f:
        assert row["trace_sha256"] == hashlib.sha256(f.read()).hexdigest()
    kinds = [(e["kind"], e["detail"].split()[0]) for e in db.events(row["id"])]
    assert kinds[0] == ("cmd", "start") and ("state", "running") in kinds and kinds[-1] == ("state", "idle")


def test_a_fault_ends_the_session_with_its_code(db, simulated):
    log = log_for(db)
    feed(log, simulated("fault-cup-off.toml"))
    log.close()
    row = only(db)
    assert (row["outcome"], row["fault_code"], row["fault_name"]) == ("fault", 20, "vacuum_lost")


STOPPED = """board = "esp32-devkitc"
duration_s = 14
[program]
name = "static"
target = 20
minutes = 1
[[command]]
at_s = 12
line = "stop"
"""


def test_a_stopped_session(db, simulated):
    log = log_for(db)
    feed(log, simulated("stopped.toml", STOPPED))
    log.close()
    row = only(db)
    assert row["outcome"] == "stopped" and 8000 <= row["running_ms"] <= 11000
    assert [e["detail"] for e in db.events(row["id"]) if e["kind"] == "cmd"][-1] == "stop"


def test_a_board_that_resets_mid_session_ends_it_with_the_fault_it_latches(db, simulated):
    log = log_for(db)
    feed(log, simulated("hazard-reset-mid-session.toml"))  # then acknowledged and started again
    log.close()
    first, second = sorted(db.sessions(), key=lambda row: row["id"])
    assert (first["outcome"], first["fault_name"]) == ("fault", "unexpected_reset")
    assert any(e["kind"] == "boot" for e in db.events(first["id"]))
    assert second["outcome"] == "left_running"  # the scenario ends while the second one runs


POWER_LOSS = """board = "esp32-devkitc"
duration_s = 12
[program]
name = "static"
target = 20
minutes = 1
[[fault]]
kind = "reset"
at_s = 8
value = 1
"""


def test_a_power_loss_mid_session_is_a_board_reset(db, simulated):
    """A brownout boots as power-on: nothing latched, the session is simply gone."""
    log = log_for(db)
    feed(log, simulated("power-loss.toml", POWER_LOSS))
    log.close()
    assert only(db)["outcome"] == "board_reset"


def test_a_lost_link_and_a_command_that_stops_following(db, simulated):
    records = simulated("static.toml")
    log = log_for(db)
    feed(log, records, until=lambda r: r.kind == "T" and r.values[FIELDS.index("t_ms")] >= 20000)
    assert only(db)["outcome"] == "running"  # written at the start, before the end
    log.link_lost("cable pulled")
    row = only(db)
    assert row["outcome"] == "link_lost" and 15000 <= row["running_ms"] <= 18000
    assert db.events(row["id"])[-1] == {"t_ms": None, "kind": "host", "detail": "link lost: cable pulled"}

    log = log_for(db)
    feed(log, records, until=lambda r: r.kind == "T" and r.values[FIELDS.index("t_ms")] >= 20000)
    log.close()  # --detach, or monitor's --duration: the board goes on without us
    assert db.sessions()[0]["outcome"] == "left_running"


def test_a_session_joined_while_running_is_marked_so(db, simulated):
    records = simulated("static.toml")
    start = next(i for i, r in enumerate(records) if r.kind == "T" and r.values[FIELDS.index("t_ms")] >= 30000)
    log = log_for(db)
    log.join({"state": "running", "program": "static target=30 minutes=1 tissue=normal"})
    feed(log, records[start:])
    log.close()
    row = only(db)
    assert row["joined"] == 1 and row["outcome"] == "completed" and row["program"] == "static"
    assert row["cup"] is None and row["start_line"] is None  # status does not say which cup
    log = log_for(db)
    log.join({"state": "idle", "program": "none"})
    log.join({"state": "prepare", "program": "none"})  # the zero a board takes after it boots
    log.close()
    assert len(db.sessions()) == 1  # nothing under way, nothing joined


def test_a_callers_trace_is_hashed_when_it_is_closed(db, simulated, tmp_path):
    own = tmp_path / "mine.csv"
    own.write_text("first part\n")
    log = log_for(db, trace=own)
    feed(log, simulated("fault-cup-off.toml"))
    with open(own, "a") as f:
        f.write("the rest of the recording\n")
    log.close()
    row = only(db)
    assert row["trace_path"] == str(own) and row["trace_sha256"] == hashlib.sha256(own.read_bytes()).hexdigest()


def test_rows_left_running_by_a_dead_process_become_interrupted_and_a_live_ones_do_not(db):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = db.open_session({"source": "session", "program": "static", "pid": gone.pid})
    alive = db.open_session({"source": "dashboard", "program": "static"})  # this process: alive
    assert db.mark_interrupted() == 1
    assert db.session(dead)["outcome"] == "interrupted" and db.session(dead)["ended_at"]
    assert db.session(alive)["outcome"] == "running"


V1 = """
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, updated_at TEXT NOT NULL, ended_at TEXT,
    outcome TEXT NOT NULL, fault_code INTEGER, fault_name TEXT, patient TEXT,
    board TEXT, chip TEXT, firmware TEXT, port TEXT, source TEXT NOT NULL,
    program TEXT, params TEXT, cup TEXT, hard_limit_pa INTEGER, tissue TEXT, heartbeat_ms INTEGER,
    start_line TEXT, checklist TEXT, confirmed_by TEXT,
    peak_vacuum_pa INTEGER, mean_vacuum_pa INTEGER, time_at_target_ms INTEGER, running_ms INTEGER,
    trace_path TEXT, trace_sha256 TEXT, pid INTEGER, host TEXT);
CREATE INDEX sessions_started ON sessions(started_at);
INSERT INTO sessions VALUES (1, '2025-03-14T09:00:00.000+00:00', '2025-03-14T09:20:00.000+00:00',
    '2025-03-14T09:20:00.000+00:00', 'completed', NULL, NULL, 'AB', 'esp32-devkitc', 'esp32', '0.1.0',
    '/dev/ttyUSB0', 'session', 'static', '{"target": "30"}', 'M', 50000, 'normal', 0, NULL, NULL, 'anna',
    30100, 29000, 1150000, 1200000, NULL, NULL, 4242, 'clinic-pc');
PRAGMA user_version = 1;
"""


def test_a_database_of_schema_1_opens_and_is_upgraded(tmp_path):
    """Schema 1 as it shipped, written by hand here so that a change to migration 1 cannot hide."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(V1)
    with HistoryDB(path) as upgraded:
        assert upgraded.version == SCHEMA_VERSION == 2
        row = upgraded.session(1)
        assert (row["patient"], row["outcome"], row["peak_vacuum_pa"], row["joined"]) == ("AB", "completed", 30100, 0)
        upgraded.add_event(1, 5, "cmd", "stop")  # the table migration 2 added
        assert upgraded.events(1) == [{"t_ms": 5, "kind": "cmd", "detail": "stop"}]
        assert [r["id"] for r in upgraded.sessions(patient="AB")] == [1]
    with HistoryDB(path) as again:  # a second open migrates nothing
        assert again.version == 2


def test_an_older_database_made_by_this_code_upgrades_too(tmp_path):
    with HistoryDB(tmp_path / "h.sqlite", upto=1) as old:
        assert old.version == 1
        old.conn.execute("INSERT INTO sessions (started_at, updated_at, outcome, source) VALUES ('a', 'a', 'stopped', "
                         "'monitor')")
    with HistoryDB(tmp_path / "h.sqlite") as new:
        assert new.version == 2 and new.session(1)["outcome"] == "stopped"


def test_a_newer_or_foreign_database_is_refused_in_one_line(tmp_path):
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="newer cupctl .schema 99; this one knows up to 2"):
        HistoryDB(newer)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(HistoryError, match="not a usable cupctl history database"):
        HistoryDB(junk)


@pytest.mark.parametrize("reference", ["P-0042", "AB", "clinic.7_x"])
def test_patient_references_are_opaque_ids_or_initials(reference):
    assert check_patient(reference) == reference


@pytest.mark.parametrize("reference", ["John Smith", "x" * 33, "anna@example.org", "Zoë"])
def test_a_patient_name_is_refused(reference):
    with pytest.raises(HistoryError, match="not a name"):
        check_patient(reference)


@pytest.fixture
def filled(tmp_path):
    """Four sessions on two boards, two patients, three days, three outcomes."""
    path = tmp_path / "clinic.sqlite"
    with HistoryDB(path) as db:
        for started, patient, board, outcome in (
                ("2025-03-10T09:00:00.000+00:00", "AB", "esp32-devkitc", "completed"),
                ("2025-03-11T09:00:00.000+00:00", "AB", "esp32-s3-devkitc-1", "fault"),
                ("2025-03-11T15:00:00.000+00:00", "CD", "esp32-devkitc", "stopped"),
                ("2025-03-12T09:00:00.000+00:00", "CD", "esp32-devkitc", "completed")):
            session = db.open_session({"source": "session", "program": "static", "params": '{"target": "30"}',
                                       "patient": patient, "board": board, "port": "/dev/ttyUSB0"})
            db.update(session, started_at=started, ended_at=started[:11] + "09:20:00.000+00:00", outcome=outcome,
                      fault_code=7 if outcome == "fault" else None, fault_name="leak" if outcome == "fault" else None)
    return path


def history(capsys, path, *argv):
    code = cli.main(["history", *argv, "--db", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def ids(capsys, path, *argv):
    code, out, err = history(capsys, path, *argv, "--json")
    assert code == 0, err
    return [row["id"] for row in json.loads(out)]


def test_history_filters_by_patient_device_outcome_and_date(filled, capsys, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")  # the days are local days: pin which
    time.tzset()
    try:
        assert ids(capsys, filled) == [4, 3, 2, 1]  # newest first
        assert ids(capsys, filled, "--patient", "AB") == [2, 1]
        assert ids(capsys, filled, "--device", "esp32-s3-devkitc-1") == [2]
        assert ids(capsys, filled, "--device", "/dev/ttyUSB0") == [4, 3, 2, 1]
        assert ids(capsys, filled, "--outcome", "completed") == [4, 1]
        assert ids(capsys, filled, "--since", "2025-03-11") == [4, 3, 2]
        assert ids(capsys, filled, "--until", "2025-03-11") == [3, 2, 1]
        assert ids(capsys, filled, "--since", "2025-03-11", "--until", "2025-03-11", "--patient", "CD") == [3]
        code, out, _ = history(capsys, filled, "--outcome", "fault")
        assert code == 0 and "fault leak" in out and "esp32-s3-devkitc-1"[:14] in out
    finally:
        monkeypatch.undo()
        time.tzset()


def test_history_export_csv_and_json(filled, capsys, tmp_path):
    out = tmp_path / "sessions.csv"
    code, _, err = history(capsys, filled, "export", "-o", str(out), "--patient", "CD")
    assert code == 0 and "exported 2 sessions" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["id"] for r in rows] == ["4", "3"] and rows[1]["outcome"] == "stopped" and "checklist" in rows[0]
    code, text, _ = history(capsys, filled, "export", "--format", "json", "--outcome", "fault")
    items = json.loads(text)
    assert code == 0 and len(items) == 1 and items[0]["fault_name"] == "leak" and items[0]["params"] == {"target": "30"}
    assert items[0]["events"] == []
    code, _, _ = history(capsys, filled, "export", "-o", str(tmp_path / "s.json"))
    assert code == 0 and len(json.loads((tmp_path / "s.json").read_text())) == 4  # the suffix chooses JSON


def test_history_show_prints_the_session_and_a_plot_of_its_trace(db, simulated, capsys, tmp_path):
    log = log_for(db, patient="P-1")
    feed(log, simulated("static.toml"))
    log.close()
    code, out, err = history(capsys, db.path, "show", "1", "--plot", str(tmp_path / "s.png"))
    assert code == 0, err
    assert "session 1: completed" in out and "patient   P-1" in out and "cup hard limit 50.0 kPa" in out
    assert "= hard limit 50.0 kPa" in out and out.count("*") > 40  # the text plot
    assert "start static target=30" in out and (tmp_path / "s.png").stat().st_size > 10000


@pytest.mark.parametrize("argv,message", [
    (("show",), "history show takes a session number"),
    (("show", "99"), "no session 99"),
    (("list", "--plot", "x.png"), "--plot is not for history list"),
    (("--since", "14/03/2025"), "expected YYYY-MM-DD"),
])
def test_history_mistakes_are_one_line(filled, capsys, argv, message):
    code, _, err = history(capsys, filled, *argv)
    assert code == 1 and message in err and err.count("\n") == 1


def test_history_without_a_database_says_where_it_looked(tmp_path, capsys):
    code, _, err = history(capsys, tmp_path / "none.sqlite")
    assert code == 1 and "no history database at" in err and not (tmp_path / "none.sqlite").exists()


def test_a_database_that_fails_mid_session_costs_the_history_not_the_session(db, simulated, monkeypatch):
    warnings = []
    log = log_for(db, warn=warnings.append)
    records = simulated("static.toml")
    feed(log, records[:400])  # started, and running

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(db, "update", disk_full)
    monkeypatch.setattr(db, "add_event", disk_full)
    feed(log, records[400:])  # no exception reaches the live view
    log.link_lost("cable pulled")
    log.close()
    assert len(warnings) == 1 and "database or disk is full" in warnings[0] and "the session itself goes on" in \
        warnings[0]
    monkeypatch.undo()
    assert only(db)["outcome"] == "running"  # as far as it got; the next start marks it interrupted
