"""Streaming a replay to the unix port gives the same outputs as sending it as one job."""

import json
from pathlib import Path

from cupctl import mpunix, replay, trace

TRACE = Path(__file__).resolve().parent / "traces" / "program-interval.csv"


def test_a_streamed_replay_matches_the_one_job_replay_and_the_recording(micropython):
    data = trace.read(TRACE)
    start = replay.first_replayable_row(data)
    board = json.loads(data.meta["board_file"])
    ticks = list(replay.ticks_of(data, start, len(data.rows)))
    whole = list(mpunix.run_job({"kind": "replay", "board": board, "ticks": ticks}))
    streamed = list(mpunix.stream_job({"kind": "replay", "board": board}, ticks))
    assert streamed == whole
    outputs = [tuple(int(v) for v in text.split(",")) for kind, text in streamed if kind == "R"]
    assert len(outputs) == len(data.rows) - start
    assert replay.compare(data, start, len(data.rows), outputs, replay.board_of(data)).ok
