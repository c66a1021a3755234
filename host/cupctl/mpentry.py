"""Entry script for jobs on the MicroPython unix port: a JSON job on stdin, CSV lines out.

``{"kind": "sim", "board": {...}, "spec": {...}}`` prints ``E,<event line>``
and ``R,<row>`` lines; ``{"kind": "replay", "board": {...}, "ticks": [...]}``
prints one ``R,<outputs>`` line per tick. With ``"stream": true`` the job is
the first line and the ticks follow one JSON line each (mpunix.stream_job).
"""

import json
import sys

from cupfw import boardcfg


def _row(values):
    sys.stdout.write("R," + ",".join([str(v) for v in values]) + "\n")


def _events(lines):
    for line in lines:
        sys.stdout.write("E," + line)


def _streamed():
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        yield json.loads(line)


def main():
    first = sys.stdin.readline()
    job = json.loads(first if first.endswith("\n") else first + sys.stdin.read())
    board = boardcfg.load(job["board"])
    if job["kind"] == "sim":
        from cupctl.sim import runner

        runner.run(job["spec"], board, _row, _events)
    else:
        from cupctl import replaycore

        replaycore.replay(board, _streamed() if job.get("stream") else job["ticks"], _row)


main()
