"""`make sim`, end to end: the README's main job on the virtual board."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cupctl import replay, trace
from tests.conftest import ROOT


def processes_in(folder: Path) -> list[str]:
    """PIDs whose working directory is inside ``folder`` (the virtual board's flash)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(folder) in os.readlink(proc / "cwd"):
                found.append(proc.name)
        except OSError:
            continue
    return found


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_sim_records_plots_and_cleans_up(tmp_path, micropython):
    out = tmp_path / "sim"
    proc = subprocess.run(["make", "--no-print-directory", "sim", "SIM_OUT=%s" % out], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"virtual board running on /\S+/ttyVB0", proc.stdout)
    assert "vacuum" in proc.stdout and "target" in proc.stdout and "duty" in proc.stdout  # live progress
    assert "trace: %s" % (out / "demo.csv") in proc.stdout and "plot:  %s" % (out / "demo.png") in proc.stdout
    assert (out / "demo.png").read_bytes()[:4] == b"\x89PNG"
    data = trace.read(out / "demo.csv")
    assert 1500 < len(data.rows) < 3000  # ~20 s at 100 Hz
    assert max(data.column("vacuum_pa")) > 28000 and data.column("valve_open")[-1] == 1
    assert replay.replay(data).ok
    assert processes_in(out) == [], "the virtual board left processes behind"
