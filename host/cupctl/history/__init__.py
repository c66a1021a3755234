"""Session history: every session that cupctl runs or follows, in one SQLite database.

``db`` holds the schema and its migrations, ``recorder`` turns a board's records into session
rows, ``report`` lists, shows and exports them. What is stored (and what is not) is in
docs/history.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# How a session ended. "running" is a session in progress (or one whose process died: the next
# start marks it "interrupted").
OUTCOMES = ("running", "completed", "stopped", "fault", "link_lost", "board_reset", "left_running", "interrupted")
_PATIENT = re.compile(r"[A-Za-z0-9._-]{1,32}")


class HistoryError(ValueError):
    """A history database or query that cannot be used; one line for the user."""


def default_path() -> Path:
    """``$XDG_DATA_HOME/cupctl/history.sqlite`` (``~/.local/share/cupctl/history.sqlite``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cupctl" / "history.sqlite"


def check_patient(reference: str | None) -> str | None:
    """An opaque id or initials, never a name: letters, digits, '.', '_' and '-', at most 32."""
    if reference is None or reference == "":
        return None
    if not _PATIENT.fullmatch(reference):
        raise HistoryError("patient reference %r: use an opaque id or initials (letters, digits, . _ -; at most "
                           "32, no spaces), not a name: cupctl stores no personal data" % reference[:40])
    return reference
