"""Fuzzing every loader: the only outcome allowed is a result or a clear error (no crash, no hang)."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cupctl import telemetry, trace
from cupctl.sim import scenario
from cupfw import boardcfg, protocol
from tests.conftest import DEFAULT_BOARD, ROOT

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)
BOARD = json.loads(DEFAULT_BOARD.read_text())


def leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, path + (i,))
    else:
        yield path


LEAF_PATHS = list(leaves(BOARD))


@FUZZ
@given(st.text(max_size=200))
def test_command_parser(line):
    try:
        verb, args, params = protocol.parse_command(line)
    except protocol.ProtocolError as e:
        assert str(e)
        return
    assert verb in protocol.COMMANDS


@FUZZ
@given(st.binary(max_size=120) | st.builds(
    lambda i, b, pos: bytes(protocol.TelemetryEncoder().encode(i, i, i, i, i, 1, 1, 1, 1))[:pos] + b,
    st.integers(0, 999), st.binary(max_size=8), st.integers(0, 70)))
def test_telemetry_parser(data):
    record = telemetry.parse_line(data)
    assert record is None or record.kind in "TER"


@FUZZ
@given(json_values)
def test_board_loader_on_any_json(data):
    try:
        boardcfg.load(data)
    except boardcfg.BoardError as e:
        assert str(e)


@FUZZ
@given(st.sampled_from(LEAF_PATHS), json_values | st.floats())
def test_board_loader_on_one_field_changed(path, value):
    data = copy.deepcopy(BOARD)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    try:
        board = boardcfg.load(data)
    except boardcfg.BoardError as e:
        assert str(e)
        return
    assert board.cups and all(c.hard_limit_pa <= 85000 for c in board.cups)


@pytest.fixture(scope="module")
def trace_text():
    return (ROOT / "tests" / "traces" / "program-static.csv").read_text()[:6000]


@FUZZ
@given(st.integers(0, 5999), st.text(max_size=20), st.integers(0, 30))
def test_trace_reader_on_damaged_traces(tmp_path_factory, trace_text, at, insert, cut):
    path = tmp_path_factory.mktemp("trace") / "t.csv"
    path.write_text(trace_text[:at] + insert + trace_text[at + cut :])
    try:
        data = trace.read(path)
    except trace.TraceError as e:
        assert "t.csv" in str(e)
        return
    assert data.rows


@FUZZ
@given(st.text(max_size=300))
def test_trace_reader_on_any_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("trace") / "t.csv"
    path.write_text(text)
    with pytest.raises(trace.TraceError):
        trace.read(path)  # nothing random begins with the magic line and a column row


SCENARIO = (ROOT / "examples" / "scenarios" / "fault-weak-pump.toml").read_text()


@FUZZ
@given(st.integers(0, len(SCENARIO)), st.text(max_size=20), st.integers(0, 20))
def test_scenario_loader_on_damaged_files(tmp_path_factory, at, insert, cut):
    path = tmp_path_factory.mktemp("scenario") / "s.toml"
    path.write_text(SCENARIO[:at] + insert + SCENARIO[at + cut :])
    try:
        loaded = scenario.load(path)
    except scenario.ScenarioError as e:
        assert "s.toml" in str(e)
        return
    assert loaded.spec["duration_ms"] > 0
