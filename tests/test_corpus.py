"""The trace corpus recorded from the virtual board replays bit-exact on both runtimes."""

import pytest

from cupctl import replay, trace
from cupctl.sim.injection import FAULT_KINDS
from tests.conftest import ROOT

TRACES = sorted((ROOT / "tests" / "traces").glob("*.csv"))


def test_corpus_covers_every_program_and_fault():
    from cupfw import programs

    names = {p.stem for p in TRACES}
    assert len(TRACES) >= 10
    assert {"program-" + name for name in programs.TABLE} <= names
    assert {"fault-" + kind.replace("_", "-") for kind in FAULT_KINDS} <= names


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_trace_metadata_says_where_it_came_from(path):
    meta = trace.read(path).meta
    assert meta["source"].startswith("recorded from the virtual board")
    for key in ("firmware", "board", "limits", "board_file"):
        assert meta[key]


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_replay_bit_exact_on_cpython(path):
    report = replay.replay(trace.read(path))
    assert report.ok, report
    assert report.ticks > 1000


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_replay_bit_exact_on_micropython(path, micropython):
    report = replay.replay(trace.read(path), "micropython")
    assert report.ok, report
