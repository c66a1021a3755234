"""A long session keeps the heap flat, checked in virtual time so that no machine is too slow for it.

Timing-dependent soak figures (telemetry gaps and late loop periods on the virtual board, accelerated)
are measured by ``make bench`` (bench/soak.py), not asserted here.
"""

import json

from cupfw import controller
from tests.conftest import DEFAULT_BOARD


def test_a_ten_minute_session_keeps_the_heap_flat_on_the_unix_port(run_mp):
    out = run_mp(["tests/mpcases/soak_heap.py", str(DEFAULT_BOARD), "10"], timeout=600)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ticks"] >= 60000 and result["fault"] == 0
    assert result["states"] == [controller.RUNNING] * 10, "the session runs through every sample"
    free = result["mem_free"]
    assert len(free) == 10 and min(free) > 0
    # One leaked object per minute would show as 9 x 16 bytes or more.
    assert max(free) - min(free) <= 64, "the heap kept after a collection must not shrink: %s" % free
