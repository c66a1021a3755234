"""Entry script for jobs on the MicroPython unix port: a JSON job on stdin, CSV lines out.

``{"kind": "sim", "board": {...}, "spec": {...}}`` prints ``E,<event line>``
and ``R,<row>`` lines; ``{"kind": "replay", "board": {...}, "ticks": [...]}``
prints one ``R,<outputs>`` line per tick.
"""

import json
import sys

import boardcfg


def _row(values):
    sys.stdout.write("R," + ",".join([str(v) for v in values]) + "\n")


def _events(lines):
    for line in lines:
        sys.stdout.write("E," + line)


def main():
    job = json.loads(sys.stdin.read())
    board = boardcfg.load(job["board"])
    if job["kind"] == "sim":
        from cupctl.sim import runner

        runner.run(job["spec"], board, _row, _events)
    else:
        from cupctl import replaycore

        replaycore.replay(board, job["ticks"], _row)


main()
