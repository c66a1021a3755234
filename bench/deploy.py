"""``cupctl deploy`` against mpremote on one virtual board paced like a 115200-baud UART, in one run.

Both sides copy exactly the files ``cupctl deploy`` writes (compiled .mpy, boot.py, main.py,
board.json) to the same paths, and both end with the board running the firmware and answering
``info``. mpremote's default ``cp`` skips files whose SHA-256 matches (it hashes them one by one on the
board); ``cp --force`` copies everything. While the firmware runs, its armed watchdog would cut
mpremote off, so the mpremote side first asks it into maintenance mode (cupctl's own
``enter_maintenance``), then runs ``mpremote connect PORT cp -r FILES : + reset`` (the package in
lib/cupfw/ included), then the same wait
for ``info``. Both go through their command line, Python start-up included.

Cases: nothing changed; one file changed (board.json, alternating telemetry_hz 50/25); first deploy
to an empty board (a fresh board with an empty flash sits at its REPL).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ratio
from cupctl import boards
from cupctl.deploy import build, enter_maintenance, mpy_cross_version, verify
from cupctl.sim.vboard import VirtualBoard, populate_flash

REPEATS = 3
LINK = "uart115200"


class Bench:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        board_data = boards.load(boards.DEFAULT)[0]
        version = mpy_cross_version()
        mpy = version.rsplit("mpy v", 1)[-1].strip() if version else None
        self.variants = []  # (board file for cupctl, folder of the same files for mpremote)
        for hz in (50, 25):
            variant = dict(board_data, telemetry_hz=hz)
            path = tmp / ("board-%d.json" % hz)
            path.write_text(json.dumps(variant))
            files = tmp / ("files-%d" % hz)
            files.mkdir()
            for name, content in build(variant, mpy, tmp / "mpremote-build").files.items():
                (files / name).parent.mkdir(parents=True, exist_ok=True)  # lib/cupfw/ as on the board
                (files / name).write_bytes(content)
            self.variants.append((str(path), sorted(str(p) for p in files.iterdir())))
        self.flash = tmp / "flash"
        self.board_data = board_data

    def cupctl(self, vb: VirtualBoard, variant: int) -> tuple[float, int]:
        before = vb.bytes_from_host
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cupctl.cli", "deploy", "--port", vb.port, "--board",
                        self.variants[variant][0]], check=True, capture_output=True, cwd=self.tmp)
        return time.perf_counter() - started, vb.bytes_from_host - before

    def mpremote(self, vb: VirtualBoard, variant: int, force: bool = False,
                 running: bool = True) -> tuple[float, int]:
        before = vb.bytes_from_host
        started = time.perf_counter()
        if running:
            enter_maintenance(vb.port, log=lambda text: None)
        copy = ["cp", "-r", *(["--force"] if force else []), *self.variants[variant][1], ":"]
        subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, *copy, "+", "reset"], check=True,
                       capture_output=True)
        verify(vb.port)
        return time.perf_counter() - started, vb.bytes_from_host - before

    def fresh_board(self, empty: bool) -> VirtualBoard:
        shutil.rmtree(self.flash, ignore_errors=True)
        self.flash.mkdir()
        if not empty:
            populate_flash(self.flash, self.board_data)
        return VirtualBoard(self.flash, link=LINK).start()


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        results: dict[str, list[tuple[float, int]]] = {}

        def add(case, measured):
            results.setdefault(case, []).append(measured)

        vb = bench.fresh_board(empty=False)
        try:
            bench.cupctl(vb, 0)  # the board holds variant 0; the compile cache is warm
            for _ in range(REPEATS):
                add("cupctl unchanged", bench.cupctl(vb, 0))
                add("mpremote unchanged", bench.mpremote(vb, 0))
                add("cupctl one changed", bench.cupctl(vb, 1))
                add("mpremote one changed", bench.mpremote(vb, 0))
                add("mpremote --force", bench.mpremote(vb, 0, force=True))
        finally:
            vb.stop()
        for _ in range(REPEATS):
            for who in ("cupctl", "mpremote"):
                vb = bench.fresh_board(empty=True)
                try:
                    add("%s empty board" % who, bench.cupctl(vb, 0) if who == "cupctl" else
                        bench.mpremote(vb, 0, running=False))
                finally:
                    vb.stop()
    median = {case: (statistics.median(t for t, _ in runs), statistics.median(b for _, b in runs))
              for case, runs in results.items()}
    for case, goal in (("unchanged", "report"), ("one changed", "<= 0.5"), ("empty board", "report")):
        ours, theirs = median["cupctl " + case], median["mpremote " + case]
        ratio("deploy %s, time" % case, ours[0], theirs[0], goal, detail="vs mpremote cp (hash skip), %s link" % LINK)
        ratio("deploy %s, bytes to board" % case, ours[1], theirs[1], goal, unit="B")
    ours, forced = median["cupctl one changed"], median["mpremote --force"]
    ratio("deploy one changed vs forced, time", ours[0], forced[0], "<= 0.3", detail="vs mpremote cp --force")
    ratio("deploy one changed vs forced, bytes", ours[1], forced[1], "<= 0.3", unit="B")
