"""Every supervisor rule fires when it must and stays quiet when it must, on both runtimes."""

import json

import pytest
import rules

from cupfw import faults
from tests.conftest import DEFAULT_BOARD


@pytest.fixture(scope="module")
def cpython_results():
    return rules.run_all(str(DEFAULT_BOARD))


@pytest.mark.parametrize("index", range(len(rules.CASES)), ids=[c[0] for c in rules.CASES])
def test_rule_outcome_on_cpython(cpython_results, index, board):
    name, _, expected = rules.CASES[index]
    result_name, fault, trip_ms, peak_vacuum, duty_after, valve_open_after = cpython_results[index]
    assert result_name == name
    assert fault == expected, "%s: got fault %s" % (name, faults.NAMES[fault])
    if expected:
        assert trip_ms >= 0
        assert duty_after == 0 and valve_open_after == 1, "a trip must stop the pump and vent at once"
    else:
        assert trip_ms == -1
    if name not in ("hard_limit_fires", "pump_runaway_fires"):  # a lying sensor; a pump stuck on in hardware
        assert peak_vacuum <= board.cups[0].hard_limit_pa + 1000


def test_over_duration_fires_only_past_the_session_limit(cpython_results):
    name, at_limit, past_limit = cpython_results[-1]
    assert name == "over_duration"
    assert at_limit == faults.NONE and past_limit == faults.OVER_DURATION


def test_acknowledge_waits_for_the_button_and_never_restarts_the_pump(cpython_results):
    name, outcome = cpython_results[-4]
    assert name == "acknowledge"
    assert outcome == [faults.EMERGENCY, False, True, faults.NONE, 0]


def test_stale_tick_never_pumps(cpython_results):
    name, (fresh, stale) = cpython_results[-3]
    assert name == "stale"
    assert fresh == 200 and stale == 0


def test_duty_cap_tapers_to_zero_at_the_hard_limit(cpython_results, board):
    name, caps = cpython_results[-2]
    assert name == "duty_cap" and board.cap_band_pa == 4000
    # Before the observer has learnt the pump, one tick at the cap may raise the vacuum by at most
    # disagree_kpa at the board's declared pump_rise_kpa_s.
    rate_cap = board.disagree_pa * 1000 // (board.pump_rise_pa_s * 10 // 1000)
    band = [1000, 1000, 500, 0, 0, 0]  # full, band edge, halfway, at and over the limit
    assert caps == [[min(cap, rate_cap), min(cap, rate_cap)] for cap in band]


def test_rules_identical_on_micropython(cpython_results, run_mp):
    out = run_mp(["tests/mpcases/rules.py", str(DEFAULT_BOARD)])
    assert json.loads(out.strip().splitlines()[-1]) == cpython_results
