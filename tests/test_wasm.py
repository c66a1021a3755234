"""The firmware core on a 32-bit MicroPython (the WebAssembly port): small ints end at 2**30, as on the ESP32.

The unix port's 62-bit small ints hide an intermediate that outgrows 2**30 and
allocates a long int on the board; here it allocates, and under
``micropython.heap_lock()`` it raises MemoryError.
"""

import json

import pytest
import rules

from cupctl import replay, trace
from cupfw import boardcfg, faults
from cupfw.mprls import COUNTS_MAX, COUNTS_MIN
from tests import board_extremes
from tests import test_small_ints as small_ints
from tests.conftest import DEFAULT_BOARD
from tests.test_corpus import TRACES

VARIANTS = board_extremes.one_key()
FULL_TOURS = [("default", board_extremes.DEFAULT)] + board_extremes.all_at_once()


def test_small_ints_end_at_2_to_the_30_on_wasm_not_on_the_unix_port(run_wasm, run_mp):
    wasm = json.loads(run_wasm(["tests/mpcases/small_ints.py"]))
    unix = json.loads(run_mp(["tests/mpcases/small_ints.py"]))
    assert wasm == {"largest_small": False, "two_to_the_30": True, "product": True}
    # What the unix port cannot see: the regulator's former ki * error * period_ms fits there.
    assert unix == {"largest_small": False, "two_to_the_30": False, "product": False}


def test_steady_tick_allocates_nothing_on_wasm(run_wasm):
    out = run_wasm(["tests/mpcases/alloc_tick.py", str(DEFAULT_BOARD), "3000"])
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ticks"] == 3000 and result["state"] == 2 and result["fault"] == 0
    assert 0 < result["duty"] < 1000


def _run_tours(run_wasm, cases):
    out = run_wasm(["tests/mpcases/alloc_extremes.py"], timeout=900, input=json.dumps(cases))
    return {r["name"]: r for r in map(json.loads, out.strip().splitlines())}


@pytest.fixture(scope="module")
def short_tours(run_wasm):
    """One session per one-key variant: soft ramp, hold at the ceiling, cup pulled off."""
    cases, expected = [], {}
    for name, data in VARIANTS:
        job, faults_due, ceiling = board_extremes.case(name, data, board_extremes.SHORT)
        cases.append(job)
        expected[name] = (data, faults_due, ceiling)
    return _run_tours(run_wasm, cases), expected


@pytest.fixture(scope="module")
def full_tours(run_wasm):
    """Every program and sensor fault on the default board and the all-at-once extremes."""
    cases, expected = [], {}
    for name, data in FULL_TOURS:
        job, faults_due, ceiling = board_extremes.case(name, data, board_extremes.FULL)
        cases.append(job)
        expected[name] = (data, faults_due, ceiling)
    return _run_tours(run_wasm, cases), expected


def _check_tour(result, data, faults_due, ceiling):
    assert result["error"] is None, "allocation under heap_lock: " + result["error"]
    assert result["ticks"] > 0
    if not board_extremes.can_run_sessions(data):
        assert result["running"] == 0, "no program can start on this board"
        if not board_extremes.sensor_reads_ambient(data):  # it reads nonsense: ambient or plausibility trips
            assert result["faults"] & ~(1 << faults.NONE), "a sensor that cannot read ambient must latch a fault"
        return
    board = boardcfg.load(data)
    cup = board_extremes.session_cup(board)
    assert result["running"] > 0 and result["ramp"] > 0, "the session must run its soft ramp"
    assert result["peak_target"] == ceiling, "the target must reach the board's ceiling"
    assert result["max_error"] > ceiling // 2, "a cup leaking hard must open a large regulator error"
    full_pump = board_extremes.regulator_pumps(board) and board.pump_max_duty == 1000
    if ceiling == cup.hard_limit_pa - board.cap_band_pa and full_pump:
        assert result["band"] > 0, "at a ceiling set by the cap band the vacuum must work inside the band"
    seen = {code for code in faults.NAMES if result["faults"] & (1 << code)}
    if faults.SENSOR_FROZEN in seen:  # the frozen-counts backstop caught it before the observer did
        seen.add(faults.SENSOR_DISAGREES)
    assert faults_due <= seen, "faults not latched: %s" % [faults.NAMES[c] for c in faults_due - seen]


@pytest.mark.parametrize("name", [name for name, _ in VARIANTS])
def test_tick_allocates_nothing_with_one_limit_at_an_extreme(short_tours, name):
    results, expected = short_tours
    _check_tour(results[name], *expected[name])


@pytest.mark.parametrize("name", [name for name, _ in FULL_TOURS])
def test_tick_allocates_nothing_through_every_program_and_fault(full_tours, name):
    results, expected = full_tours
    _check_tour(results[name], *expected[name])


def test_tick_arithmetic_allocates_nothing_at_the_registry_extremes(run_wasm):
    """Inputs no simulated session reaches: raw readings at 0 and 2**24-1, the largest regulator errors."""
    job = {"boards": [data for _, data in FULL_TOURS],
           "counts": [0, 1, COUNTS_MIN - 1, COUNTS_MIN, COUNTS_MAX, COUNTS_MAX + 1, 2**24 - 1],
           "targets": [0, 1, small_ints.TARGET_MAX],
           "vacuums": [small_ints.VACUUM[0], -1, 0, 1, small_ints.VACUUM[1]]}
    result = json.loads(run_wasm(["tests/mpcases/alloc_units.py"], input=json.dumps(job)))
    assert result["allocations"] == []
    assert result["calls"] > 2000


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_replay_bit_exact_on_wasm(path, wasm):
    report = replay.replay(trace.read(path), "wasm")
    assert report.ok, report
    assert report.ticks > 1000


def test_rules_identical_on_wasm(run_wasm):
    out = run_wasm(["tests/mpcases/rules.py", str(DEFAULT_BOARD)])
    assert json.loads(out.strip().splitlines()[-1]) == rules.run_all(str(DEFAULT_BOARD))
