"""The steady-state tick (and its telemetry) allocates nothing on MicroPython."""

import json

from tests.conftest import DEFAULT_BOARD


def test_tick_allocates_nothing_under_heap_lock(run_mp):
    out = run_mp(["tests/mpcases/alloc_tick.py", str(DEFAULT_BOARD), "10000"])
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ticks"] == 10000
    assert result["state"] == 2 and result["fault"] == 0, "the session must be running, not faulted"
    assert 0 < result["duty"] < 1000, "the regulator must be active during the locked ticks"
