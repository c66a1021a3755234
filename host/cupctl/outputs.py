"""Output files and folders are checked before any work starts, so a bad path costs nothing.

A session, recording or simulation that fails at its end because ``-o`` pointed at /proc, a folder
or a read-only place would lose the work; these checks refuse such a path in one line first.
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path


class OutputError(ValueError):
    """An output file or folder that cannot be written; raised before any work starts."""


def check_file(path: str, what: str) -> None:
    """Refuse an output file that cannot be written, before a session, recording or simulation starts.

    The file's folder is created (the writers would create it anyway); the file itself is left as it was.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError("%s %s is a folder: give a file name, e.g. %s" % (what, path, target / ("out" + (
            ".png" if what == "plot" else ".csv"))))
    existed = target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a"):
            pass
        if not existed:
            target.unlink()
    except OSError as e:
        raise OutputError("cannot write %s %s: %s" % (what, path, _why(e, target.parent)))


def check_folder(path: str, what: str) -> None:
    """Refuse an output folder that cannot be created or written into."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputError("%s %s is a file, not a folder" % (what, path))
    try:
        target.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=target).close()
    except OSError as e:
        raise OutputError("cannot write %s %s: %s" % (what, path, _why(e, target)))


def _why(error: OSError, folder: Path) -> str:
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "no permission to write in %s" % folder
    if error.errno == errno.ENOENT:  # /proc, /sys and the like: the folder exists but takes nothing new
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        return "%s does not take new files or folders" % existing
    return error.strerror or str(error)
