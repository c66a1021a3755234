"""Replay refuses what it cannot vouch for: rows missing (a gap, not a divergence) and edited headers."""

import pytest

from cupctl import cli
from cupctl.sim import scenario, virtual_time
from tests.conftest import ROOT

RECORDED = ROOT / "tests" / "traces" / "program-static.csv"  # from the virtual board: has seq


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A simulated trace: no seq column, exact ticks."""
    path = tmp_path_factory.mktemp("sim") / "static.csv"
    virtual_time.run(scenario.load(ROOT / "examples" / "scenarios" / "static.toml"), path)
    return path


def edit(source, tmp_path, change):
    lines = source.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("t_ms"))
    edited = tmp_path / ("edited-" + source.name)
    edited.write_text("\n".join(change(lines, header)) + "\n")
    return edited


def replay(capsys, path):
    code = cli.main(["replay", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def session_row(lines, header, after=600):
    """Index of a row well inside the session (state running), ``after`` rows past the column row."""
    columns = lines[header].split(",")
    state = columns.index("state")
    rows = [i for i in range(header + after, len(lines))
            if not lines[i].startswith("#") and lines[i].split(",")[state] == "2"]
    return rows[0]


@pytest.mark.parametrize("source,column", [(RECORDED, "seq"), (None, "t_ms")])
def test_deleted_rows_are_reported_as_a_gap_not_a_divergence(source, column, simulated, tmp_path, capsys):
    source = source or simulated
    assert replay(capsys, source)[0] == 0
    cut = {}

    def delete_three_rows(lines, header):
        at = session_row(lines, header)
        cut["line"] = at + 1  # 1-based line of the first row after the deleted ones, once they are gone
        return lines[:at] + lines[at + 3:]

    code, out, _ = replay(capsys, edit(source, tmp_path, delete_three_rows))
    assert code == 1
    assert "GAP in %s" % column in out and ":%d: GAP" % cut["line"] in out
    assert "DIVERGES" not in out and "pump_duty" not in out


@pytest.mark.parametrize("header,value,message", [
    ("limits", lambda v: v.replace("max_target_pa=40000", "max_target_pa=60000"), "max_target_pa=60000"),
    ("limits", lambda v: v.replace("M:40mm:50000", "M:40mm:70000"), "cups="),
    ("board", lambda v: "esp32-s3-devkitc-1", "board=esp32-s3-devkitc-1"),
])
def test_an_edited_board_or_limits_header_is_refused(header, value, message, tmp_path, capsys):
    def tamper(lines, _):
        return [("# %s: %s" % (header, value(line.split(": ", 1)[1])) if line.startswith("# %s:" % header)
                 else line) for line in lines]

    edited = edit(RECORDED, tmp_path, tamper)
    assert edited.read_text() != RECORDED.read_text()
    code, out, err = replay(capsys, edited)
    assert code == 1 and out == ""
    assert err.startswith("cupctl replay: error: %s: the trace header says " % edited) and message in err
    assert "refusing to replay" in err


def test_a_recording_begun_mid_session_says_where_replay_starts(tmp_path, capsys):
    def start_mid_session(lines, header):
        at = session_row(lines, header, after=300)
        return lines[: header + 1] + [line for line in lines[at:] if not line.startswith("# event: 0,")]

    code, out, _ = replay(capsys, edit(RECORDED, tmp_path, start_mid_session))
    assert code == 0 and "the recording began mid-session" in out


def test_record_help_says_what_a_recording_begun_mid_session_can_replay(capsys):
    with pytest.raises(SystemExit):
        cli.main(["record", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "A recording started during a session cannot replay that session" in out
    assert "session start ... --record FILE" in out
