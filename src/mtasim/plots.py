"""Every figure mtasim draws. The only module that imports matplotlib (with the non-interactive Agg
backend, so plotting works on machines without a display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .results import Outcome, SimulationResult, atomic_write  # noqa: E402

__all__ = ["timeline_figure", "save_figure", "OUTCOME_COLOURS"]

OUTCOME_COLOURS = {
    Outcome.DELIVERED: "#1a9850",
    Outcome.EXPIRED: "#d73027",
    Outcome.BOUNCED: "#7b3294",
    Outcome.QUEUED: "#878787",
}
_OUTAGE_COLOURS = ("#fdae61", "#abd9e9", "#fee090", "#c2a5cf")


def timeline_figure(result: SimulationResult, max_messages: int = 200) -> Figure:
    """Each sampled message's attempts as dots on its own row over the shaded outage windows.

    Dots are coloured by the message's outcome; a cross marks where a message expired or bounced.
    """
    if result.attempts is None:
        raise ValueError("the timeline needs recorded attempts (simulate with attempts=True or an int)")
    m, a = result.messages, result.attempts
    recorded = np.unique(a.message_id)
    if len(recorded) > max_messages:
        recorded = recorded[np.linspace(0, len(recorded) - 1, max_messages).astype(int)]
    row_of = {int(mid): row for row, mid in enumerate(recorded)}
    keep = np.isin(a.message_id, recorded)
    rows = np.array([row_of[int(i)] for i in a.message_id[keep]])
    times_h = a.time_s[keep] / 3600.0
    outcomes = m.outcome[a.message_id[keep]]

    fig, ax = plt.subplots(figsize=(11, 6.5), layout="constrained")
    for k, recipient in enumerate(result.scenario.recipients):
        for outage in recipient.outages:
            ax.axvspan(outage.start_s / 3600, outage.end_s / 3600, color=_OUTAGE_COLOURS[k % 4], alpha=0.35,
                       lw=0, zorder=0)
    size = 10 if len(recorded) <= 60 else 5
    for outcome, colour in OUTCOME_COLOURS.items():
        sel = outcomes == outcome
        if sel.any():
            ax.scatter(times_h[sel], rows[sel], s=size, color=colour, zorder=2, linewidths=0)
    ended = recorded[np.isin(m.outcome[recorded], (Outcome.EXPIRED, Outcome.BOUNCED))]
    if len(ended):
        ax.scatter(m.final_s[ended] / 3600, [row_of[int(i)] for i in ended], marker="x", s=size * 3,
                   color="black", zorder=3, linewidths=0.8)

    counts = result.counts()
    handles = [Line2D([], [], ls="", marker="o", color=OUTCOME_COLOURS[o], label=f"attempt of a message "
                      f"{o.label} ({counts[o.label]:,})") for o in Outcome if counts[o.label]]
    if len(ended):
        handles.append(Line2D([], [], ls="", marker="x", color="black", label="gave up (expired / bounced)"))
    for k, recipient in enumerate(result.scenario.recipients):
        if recipient.outages:
            handles.append(Patch(color=_OUTAGE_COLOURS[k % 4], alpha=0.35, label=f"outage at {recipient.domain}"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    ax.set_xlabel("time since scenario start (hours)")
    ax.set_ylabel("message (in arrival order)")
    shown = f"{len(recorded)} of {len(m):,} messages" if len(recorded) < len(m) else f"{len(m):,} messages"
    ax.set_title(f"{result.scenario.name}\nattempts per message ({shown}), coloured by outcome", fontsize=11)
    ax.set_ylim(-1, max(len(recorded), 1))
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save as PNG, or SVG when the name ends in .svg; atomically, then free the figure."""
    path = Path(path)
    fmt = "svg" if path.suffix.lower() == ".svg" else "png"
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=130), binary=True)
    finally:
        plt.close(fig)
