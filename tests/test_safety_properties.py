"""Property-based safety: random plants, command sequences and faults; the invariants always hold."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cupctl import boards, mpunix, telemetry
from cupctl.sim import runner
from tests.safety_props import random_spec, violations

BOARD_DATA, BOARD = boards.load(boards.DEFAULT)


def run_cpython(spec):
    rows, events = [], []

    def on_events(lines):
        for line in lines:
            record = telemetry.parse_line(line.encode())
            events.append((len(rows), record.text))

    runner.run(spec, BOARD, rows.append, on_events)  # an exception escaping the tick fails the test
    return rows, events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_invariants_hold_for_random_sessions(seed):
    spec = random_spec(random.Random(seed))
    rows, events = run_cpython(spec)
    assert len(rows) == spec["duration_ms"] // 10 + 1
    assert violations(rows, events, BOARD) == []


def test_invariants_hold_on_micropython(micropython):
    rng = random.Random(2026)
    for _ in range(16):
        spec = random_spec(rng, duration_ms=20000)
        rows, events = [], []
        for kind, text in mpunix.run_job({"kind": "sim", "board": BOARD_DATA, "spec": spec}):
            if kind == "R":
                rows.append(tuple(int(v) for v in text.split(",")))
            elif kind == "E":
                events.append((len(rows), telemetry.parse_line(text.encode()).text))
        assert len(rows) == 2001
        assert violations(rows, events, BOARD) == []
        assert (rows, events) == run_cpython(spec)


@pytest.mark.parametrize("pump_ul_s", [60000, 100000])
@pytest.mark.parametrize("cup", ["S", "M", "L"])
def test_a_hung_loop_while_a_strong_pump_fills_a_small_cup(pump_ul_s, cup):
    """Once a counter-example (hypothesis, before the dead-man switch): a 500 ms hang of the loop while a
    3x pump filled a 5 ml cup took the true vacuum to 41.2 kPa on a 40 kPa cup. Every start of the hang."""
    for at_ms in range(2000, 12000, 370):
        spec = {"duration_ms": 14000, "plant": {"pump_ul_s": pump_ul_s, "cup_ul": 5000, "cup_diameter_mm": 20},
                "commands": [{"at_ms": 0, "line": "start static target=36 cup=%s" % cup}],
                "faults": [{"kind": "loop_stall", "at_ms": at_ms, "duration_ms": 500}]}
        rows, events = run_cpython(spec)
        assert violations(rows, events, BOARD) == [], "hang at %d ms" % at_ms
