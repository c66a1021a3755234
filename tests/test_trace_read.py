"""trace.read: the bulk path gives exactly what a line-by-line reading gives, and names bad lines."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cupctl import trace

COLUMNS = trace.TRACE_COLUMNS


def write(path, rows, events=(), tail="\n"):
    """A trace with ``events`` ((row index, text)) placed before their rows."""
    lines = [trace.MAGIC, "# board: x", ",".join(COLUMNS)]
    for i, row in enumerate(rows):
        lines += ["# event: %s" % text for at, text in events if at == i]
        lines.append(row if isinstance(row, str) else ",".join(map(str, row)))
    lines += ["# event: %s" % text for at, text in events if at >= len(rows)]
    path.write_text("\n".join(lines) + tail)
    return path


def line_by_line(path):
    expected = trace.Trace({"board": "x"}, COLUMNS)
    trace._read_rows(expected, path.read_text().splitlines()[3:], 4, path)
    return expected


rows_st = st.lists(st.tuples(*[st.integers(-10**12, 10**12)] * len(COLUMNS)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, events=st.lists(st.tuples(st.integers(0, 45), st.text("abc,=: ", min_size=1)), max_size=5),
       tail=st.sampled_from(["\n", ""]))
def test_bulk_reading_matches_line_by_line(tmp_path_factory, rows, events, tail):
    path = write(tmp_path_factory.mktemp("t") / "t.csv", rows, sorted(events), tail)
    got = trace.read(path)
    expected = line_by_line(path)
    assert got.rows == expected.rows == [tuple(r) for r in rows]
    assert got.events == expected.events
    assert got.line_numbers == expected.line_numbers


@pytest.mark.parametrize("bad, message", [
    ("1,2,3", "expected 8 fields, got 3"),
    ("", "expected 8 fields, got 1"),
    ("1,2,3,4,5,6,7,x", "fields must be integers"),
    ("1,2,3,4,5,6,7,1.5", "fields must be integers"),
    ("1,2,3,4,5,6,7,8,9", "expected 8 fields, got 9"),
    ("# note: not an event", "expected 8 fields"),
    ("1,2,3,4,5,6,7,#8", "fields must be integers"),
])
def test_a_bad_row_is_named_by_its_line(tmp_path, bad, message):
    good = (1, 2, 3, 4, 5, 6, 7, 8)
    path = write(tmp_path / "t.csv", [good, good, bad, good], events=[(1, "10,cmd,stop")])
    with pytest.raises(trace.TraceError, match=r"t\.csv:7: %s" % message):
        trace.read(path)
