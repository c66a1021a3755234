"""A short soak on the virtual board in accelerated time (the 40-minute run is bench/soak.py)."""

from cupctl.sim import soak


def test_short_soak_keeps_memory_flat_and_telemetry_whole(micropython):
    report = soak.run(1.5, scale=10, status_every_s=15)
    assert report.virtual_s >= 90
    assert report.lines >= 8900  # one line per 10 ms tick
    assert report.gaps == 0
    free = report.mem_free
    assert len(free) >= 5 and max(free) - min(free) <= 1024, "the heap must not shrink over the run"
    assert report.missed <= report.lines // 1000, "at most 0.1 % late loop periods on a shared machine"
