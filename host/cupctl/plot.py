"""Plot a trace: vacuum and target, pump duty, valve and state, with fault markers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cupctl.trace import Trace  # noqa: E402
from cupfw import faults
from cupfw.controller import FAULT, IDLE, STATE_NAMES


def plot(trace: Trace, out: str | Path, hard_limit_pa: int | None = None) -> Path:
    times = trace.column("t_ms")
    t = [(v - times[0]) / 1000 for v in times]
    fig, (ax_vac, ax_duty, ax_state) = plt.subplots(
        3, 1, sharex=True, figsize=(11, 7), gridspec_kw={"height_ratios": [3, 1.3, 1]})
    ax_vac.plot(t, [v / 1000 for v in trace.column("vacuum_pa")], label="vacuum (measured)", lw=1.2)
    ax_vac.plot(t, [v / 1000 for v in trace.column("target_pa")], label="target", lw=1, ls="--")
    if "plant_vacuum_pa" in trace.columns:
        ax_vac.plot(t, [v / 1000 for v in trace.column("plant_vacuum_pa")], label="vacuum (plant)",
                    lw=0.8, alpha=0.6)
    if hard_limit_pa:
        ax_vac.axhline(hard_limit_pa / 1000, color="red", lw=0.8, ls=":", label="hard limit")
    ax_vac.set_ylabel("vacuum (kPa)")
    ax_vac.legend(loc="upper right", fontsize=8)
    ax_vac.grid(alpha=0.3)
    ax_duty.plot(t, [d / 10 for d in trace.column("pump_duty")], color="tab:green", lw=0.8)
    ax_duty.set_ylabel("pump duty (%)")
    ax_duty.set_ylim(-5, 105)
    ax_duty.grid(alpha=0.3)
    ax_state.step(t, trace.column("state"), where="post", color="tab:purple", label="state")
    ax_state.fill_between(t, trace.column("valve_open"), step="post", alpha=0.2, color="tab:gray",
                          label="valve vented")
    ax_state.set_yticks(range(len(STATE_NAMES)), STATE_NAMES, fontsize=8)
    ax_state.set_xlabel("time since the first row (s)")
    ax_state.legend(loc="upper right", fontsize=8)
    previous = 0
    for time_s, fault in zip(t, trace.column("fault")):
        if fault and fault != previous:
            for ax in (ax_vac, ax_duty, ax_state):
                ax.axvline(time_s, color="red", lw=1)
            ax_vac.annotate("fault: " + faults.NAMES.get(fault, str(fault)), (time_s, ax_vac.get_ylim()[1]),
                            color="red", fontsize=8, va="top", ha="left", rotation=90)
        previous = fault
    fig.suptitle("%s  %s" % (trace.meta.get("board", ""), _program(trace)), fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _program(trace: Trace) -> str:
    """The first session started in the trace (from its cmd events) and how it went, else the metadata's.

    The program's own ``minutes=`` is what was asked for; the title also says how long it ran and how
    it ended, so a session stopped after 19 s is not read as a minute-long one.
    """
    for row, text in trace.events:
        parts = text.split(",", 2)
        if len(parts) == 3 and parts[1] == "cmd" and parts[2].startswith("start "):
            return parts[2] + _outcome(trace, row)
    return trace.meta.get("program", "")


def _outcome(trace: Trace, start_row: int) -> str:
    """ "  (ran 19.0 s, stopped)": the time from the start command to the first idle or fault row after it."""
    states, times = trace.column("state"), trace.column("t_ms")
    stops = {row for row, text in trace.events if text.split(",")[1:2] == ["cmd"] and text.endswith(",stop")}
    began = False
    for i in range(start_row, len(states)):
        if states[i] not in (IDLE, FAULT):
            began = True
        elif began:
            how = "fault " + faults.NAMES.get(trace.column("fault")[i], "?") if states[i] == FAULT else (
                "stopped" if any(start_row < row <= i for row in stops) else "completed")
            return "  (ran %.1f s, %s)" % ((times[i] - times[start_row]) / 1000, how)
    if start_row >= len(times):
        return ""
    return "  (%.1f s recorded, still running)" % ((times[-1] - times[start_row]) / 1000)
