"""Every figure mtasim draws. The only module that imports matplotlib. Figures are built outside
pyplot, so importing this module chooses no backend: saving works without a display, and a notebook
shows a returned figure inline.

The builders take plain data (NumPy arrays, lists, dicts) and return a :class:`Figure`; they never read
files (``plotcmd.py`` does that). Times come in seconds and are shown in hours (recovery lags in minutes).
:func:`save_figure` writes a figure atomically as PNG, or SVG when the name ends in ``.svg``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .outputs import prepare_matplotlib

prepare_matplotlib()        # a writable cache folder for matplotlib, before it is imported

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    MultipleLocator,
    NullFormatter,
    PercentFormatter,
)
from matplotlib.transforms import Bbox

from .recipients import AttemptResult
from .results import Outcome, SimulationResult, atomic_write

__all__ = [
    "curve_figure", "heatmap_figure", "latency_figure", "pareto_figure", "timeline_figure",
    "timeline_figure_from_data", "queue_figure", "burst_figure", "mx_figure", "save_figure", "figure_svg",
    "OUTCOME_COLOURS",
]

OUTCOME_COLOURS = {
    Outcome.DELIVERED: "#1a9850",
    Outcome.EXPIRED: "#d73027",
    Outcome.BOUNCED: "#7b3294",
    Outcome.QUEUED: "#878787",
}
_OUTAGE_COLOURS = ("#fdae61", "#abd9e9", "#fee090", "#c2a5cf")
#: Size of every figure except the timeline (which keeps its wider shape for the legend beside it).
FIGSIZE = (9, 5.5)
_TITLE_SIZE = 12
_FRONT_COLOUR = "#d95f02"
_WARNING_COLOUR = "#2166ac"


# -- fraction delivered against the expiry window --------------------------------------------------
def curve_figure(series: Mapping[str, Mapping[str, Any]], title: str, *,
                 legend_title: str | None = None, windows: Mapping[str, Mapping[str, float]] | None = None
                 ) -> Figure:
    """Fraction delivered against the expiry window, one line per series with its confidence band.

    ``series`` maps a name to arrays ``expiry_s``, ``fraction``, ``ci_low``, ``ci_high`` (NaN in a
    bound: no band there). Names of the form ``key=value`` (``outage=36h``) are shown as ``value`` under
    a legend titled ``key``, unless ``legend_title`` says otherwise. ``windows`` maps a series name to
    its own configured window (``expiry_s``) and the fraction delivered there (``fraction``): each is
    marked with a diamond, a dotted drop line and its value, so the MTA as configured can be read off.
    """
    if not series:
        raise ValueError("curve_figure needs at least one series")
    labels, common_key = _split_keyed(list(series))
    fig, ax = _figure(figsize=FIGSIZE, layout="constrained")
    colours = _colours(len(series))
    max_h = 0.0
    for s, label, colour in zip(series.values(), labels, colours):
        x = np.asarray(s["expiry_s"], dtype=float) / 3600.0
        order = np.argsort(x, kind="stable")
        x = x[order]
        y, lo, hi = (np.asarray(s[k], dtype=float)[order] for k in ("fraction", "ci_low", "ci_high"))
        band = np.isfinite(lo) & np.isfinite(hi)
        if band.any():
            ax.fill_between(x, np.where(band, lo, np.nan), np.where(band, hi, np.nan), color=colour, alpha=0.2,
                            lw=0, zorder=1)
        ax.plot(x, y, color=colour, lw=1.8, marker="o", ms=3.5 if len(x) <= 150 else 0, label=label, zorder=2)
        if len(x):
            max_h = max(max_h, float(np.nanmax(x)))
    marks = [(name, label, colour, windows[name]) for name, label, colour in zip(series, labels, colours)
             if windows and name in windows]
    for _, _, colour, w in marks:
        wx, wy = float(w["expiry_s"]) / 3600.0, float(w["fraction"])
        ax.plot([wx, wx], [-0.02, wy], color=colour, ls=":", lw=1.2, zorder=1)
        ax.plot([wx], [wy], ls="", marker="D", ms=8, mfc=colour, mec="black", mew=0.9, zorder=4)
        max_h = max(max_h, wx)
    _hour_ticks(ax.xaxis, max_h)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("expiry window (hours)")
    ax.set_ylabel("fraction delivered")
    ax.set_title(title, fontsize=_TITLE_SIZE)
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if marks:
        handles.append(Line2D([], [], ls="", marker="D", ms=7, mfc="#bdbdbd", mec="black", mew=0.9,
                              label="its own window (configured expiry)"))
    legend = ax.legend(handles=handles, title=legend_title if legend_title is not None else common_key,
                       loc="lower right" if marks else "best", fontsize=9, title_fontsize=9, framealpha=0.9)
    if marks:
        named = [f"{common_key} {label}" if common_key else label for _, label, _, _ in marks]
        texts = [(f"{name}: " if len(series) > 1 else "") + f"{float(w['fraction']):.1%} at "
                 f"{_window_text(float(w['expiry_s']))}" for name, (*_, w) in zip(named, marks)]
        order = np.argsort([float(w["expiry_s"]) for *_, w in marks], kind="stable")
        _place_labels(fig, ax, np.array([float(marks[k][3]["expiry_s"]) / 3600.0 for k in order]),
                      np.array([float(marks[k][3]["fraction"]) for k in order]), [texts[k] for k in order],
                      avoid=[legend], joined=False)
    return fig


def _window_text(seconds: float) -> str:
    """``24 h``, ``5 d``, ``4 d 1 s``: a window as its configuration reads."""
    from .durations import format_duration
    return format_duration(seconds)


# -- fraction delivered over two parameters ----------------------------------------------------------
def heatmap_figure(rows: Sequence[Any], cols: Sequence[Any], values: Any, title: str,
                   row_label: str = "outage duration", col_label: str = "expiry window (hours)", *,
                   subtitle: str | None = None) -> Figure:
    """A grid of fractions delivered, each cell annotated as a percentage (one decimal).

    ``rows`` and ``cols`` are the tick labels; numbers among them are seconds, shown in hours (so the
    default ``col_label`` reads "expiry window (hours)"), text is shown as it is. ``values`` has one row
    per row label; NaN cells are grey and marked "–".
    """
    grid = np.asarray(values, dtype=float)
    if grid.shape != (len(rows), len(cols)):
        raise ValueError(f"heatmap values have shape {grid.shape}, expected ({len(rows)}, {len(cols)})")
    if grid.size == 0:
        raise ValueError("heatmap_figure needs at least one row and one column")
    n_rows, n_cols = grid.shape
    # Wide or tall grids get a bigger canvas so each cell keeps room for its "99.9%".
    width = min(16.0, max(FIGSIZE[0], 2.8 + 0.55 * n_cols))
    height = min(12.0, max(FIGSIZE[1], 1.6 + 0.45 * n_rows))
    fig, ax = _figure(figsize=(width, height), layout="constrained")
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(range(len(cols)), [_tick_text(c) for c in cols])
    ax.set_yticks(range(len(rows)), [_tick_text(r) for r in rows])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    cell_w_pt, cell_h_pt = (width - 2.8) * 72 / n_cols, (height - 1.6) * 72 / n_rows
    size = next((pt for pt, room in ((9, 45), (8, 36), (7, 30)) if cell_w_pt >= room), None)
    if size is not None and cell_h_pt >= 11:            # else too small to annotate: the colours speak
        for i in range(n_rows):
            for j in range(n_cols):
                v = grid[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.1%}", ha="center", va="center", fontsize=size,
                            color=_text_colour(cmap(float(np.clip(v, 0.0, 1.0)))))
                else:
                    ax.text(j, i, "–", ha="center", va="center", fontsize=size, color="#555555")
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label("fraction delivered")
    bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title if subtitle is None else f"{title}\n{subtitle}", fontsize=_TITLE_SIZE)
    return fig


# -- delivery latency ------------------------------------------------------------------------------
def latency_figure(series: Mapping[str, Any], title: str, *,
                   undelivered: Mapping[str, int] | None = None) -> Figure:
    """Empirical CDF of delivery latency (seconds in, hours shown), one step line per series.

    Non-finite latencies are ignored. With ``undelivered`` (per series, how many messages were never
    delivered: expired, bounced or still queued) the y axis is the fraction of *all* messages delivered
    within a time: each line levels off at its delivered fraction and the gap up to 1 is marked with that
    share, so a sender that gave up on mail does not look fast. Without it, the fraction of delivered
    messages; the legend gives each series' counts.
    """
    if not series:
        raise ValueError("latency_figure needs at least one series")
    data = {}
    for name, values in series.items():
        v = np.asarray(values, dtype=float)
        data[name] = np.sort(v[np.isfinite(v)]) / 3600.0
    max_h = max((float(v[-1]) for v in data.values() if len(v)), default=1.0) or 1.0
    right = max_h * 1.02
    fig, ax = _figure(figsize=FIGSIZE, layout="constrained")
    gaps: list[tuple[float, str]] = []
    for (name, v), colour in zip(data.items(), _colours(len(data))):
        n = len(v)
        never = int(undelivered.get(name, 0)) if undelivered is not None else 0
        total = n + never
        if undelivered is None:
            label = f"{name} (n={n:,})" if n else f"{name} (n=0, nothing delivered)"
        else:
            label = f"{name}: {n:,} of {total:,} delivered, {never / total if total else 0:.1%} never"
        if n == 0:
            ax.plot([0.0, right], [0.0, 0.0], color=colour, lw=1.8, label=label)
        else:
            ranks = np.arange(n) if n <= 4000 else np.unique(np.linspace(0, n - 1, 4000).astype(np.int64))
            x = np.concatenate([[0.0], v[ranks], [right]])
            y = np.concatenate([[0.0], (ranks + 1) / total, [n / total]])
            ax.step(x, y, where="post", color=colour, lw=1.8, label=label)
        if never:
            level = n / total
            ax.plot([right, right], [level, 1.0], color=colour, lw=6, alpha=0.4, solid_capstyle="butt", zorder=1)
            gaps.append((level, f"{never / total:.1%} never delivered"))
    if undelivered is not None:
        ax.axhline(1.0, color="#555555", ls="--", lw=0.9, zorder=0, label="all messages")
    _hour_ticks(ax.xaxis, max_h)
    ax.set_xlim(0, right + (max_h * 0.015 if gaps else 0.0))     # room for the never-delivered bars
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("delivery latency (hours)")
    ax.set_ylabel("fraction of all messages delivered" if undelivered is not None
                  else "fraction of delivered messages")
    ax.set_title(title, fontsize=_TITLE_SIZE)
    ax.grid(alpha=0.3)
    legend = ax.legend(loc="upper left" if undelivered is not None else "lower right", fontsize=9, framealpha=0.9)
    if gaps:
        order = np.argsort([level for level, _ in gaps], kind="stable")
        _place_labels(fig, ax, np.full(len(gaps), right), np.array([(gaps[k][0] + 1.0) / 2 for k in order]),
                      [gaps[k][1] for k in order], avoid=[legend], joined=False)
    return fig


# -- retry schedules: attempts against recovery lag ------------------------------------------------------
def pareto_figure(points: Mapping[str, Any], title: str, max_recovery_lag_s: float | None = None, *,
                  lag_percentile: int = 95) -> Figure:
    """Every candidate schedule as a grey dot (mean attempts per message, recovery lag in minutes at
    ``lag_percentile``: 95, 99 or 100 for the slowest), the Pareto front as a connected, labelled line,
    and the allowed recovery lag as a dashed line.

    ``points`` holds arrays ``mean_attempts``, ``recovery_lag_s`` (or ``recovery_lag_p95_s``),
    ``on_front`` (bool) and a list ``labels``; candidates without a finite value are left out (the
    legend says how many).
    """
    lag_text = "max" if lag_percentile == 100 else f"p{lag_percentile}"
    x = np.asarray(points["mean_attempts"], dtype=float)
    y = np.asarray(points["recovery_lag_s"] if "recovery_lag_s" in points else points["recovery_lag_p95_s"],
                   dtype=float) / 60.0
    on = np.asarray(points["on_front"], dtype=bool)
    labels = [str(t) for t in points["labels"]]
    if not (len(x) == len(y) == len(on) == len(labels)):
        raise ValueError("pareto points: mean_attempts, recovery_lag_p95_s, on_front and labels differ in length")
    finite = np.isfinite(x) & np.isfinite(y)
    fig, ax = _figure(figsize=FIGSIZE, layout="constrained")
    left_out = int(np.count_nonzero(~finite))
    note = f"; {left_out} without a value not shown" if left_out else ""
    ax.scatter(x[finite], y[finite], s=16, color="#9e9e9e", alpha=0.75, linewidths=0, zorder=2,
               label=f"candidates ({len(x):,}{note})")
    front = np.flatnonzero(on & finite)
    front = front[np.lexsort((y[front], x[front]))]
    if len(front):
        ax.plot(x[front], y[front], color=_FRONT_COLOUR, lw=1.6, marker="o", ms=6, zorder=3,
                label=f"Pareto front ({len(front)})")
    if max_recovery_lag_s is not None:
        ax.axhline(max_recovery_lag_s / 60.0, color="#333333", ls="--", lw=1.1, zorder=1,
                   label=f"allowed {lag_text} recovery lag ({_minutes_text(max_recovery_lag_s)})")
    if finite.any():
        lo, hi = float(x[finite].min()), float(x[finite].max())
        if lo > 0 and hi / lo > 20:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)
    ax.set_xlabel("mean attempts per message")
    ax.set_ylabel(f"{lag_text} recovery lag (minutes)")
    ax.set_title(title, fontsize=_TITLE_SIZE)
    ax.grid(alpha=0.3)
    legend = ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
    if len(front):
        _place_labels(fig, ax, x[front], y[front], [labels[i] for i in front], avoid=[legend])
    return fig


# -- each message's attempts ---------------------------------------------------------------------------
def timeline_figure(result: SimulationResult, max_messages: int = 200) -> Figure:
    """Each sampled message's attempts as dots on its own row (labelled by message id) over the shaded
    outage windows.

    Dots are coloured by the message's outcome; a cross marks where a message expired or bounced, a
    triangle each delay warning it was sent.
    """
    if result.attempts is None:
        raise ValueError("the timeline needs recorded attempts (simulate with attempts=True or an int)")
    m, a = result.messages, result.attempts
    recipients = getattr(result, "domains", None) or result.scenario.recipients
    outages = [(f"outage at {r.domain}", o.start_s, o.end_s) for r in recipients for o in r.outages]
    labels = [f"outage at {r.domain}" for r in recipients]
    return timeline_figure_from_data(result.scenario.name, np.arange(len(m)), a.message_id, a.time_s, m.outcome,
                                     m.final_s, outages, max_messages=max_messages,
                                     outage_label_per_message=[labels[k] for k in m.recipient],
                                     attempt_suspended=a.result == AttemptResult.SUSPENDED,
                                     warnings=getattr(result, "warnings", None))


def timeline_figure_from_data(title: str, message_ids: Any, attempt_message_id: Any, attempt_time_s: Any,
                              outcome_per_message: Mapping[int, int] | Any,
                              final_s_per_message: Mapping[int, float] | Any,
                              outages: Sequence[tuple[str, float, float]], *, max_messages: int = 200,
                              outage_label_per_message: Mapping[int, str] | Sequence[str] | None = None,
                              attempt_suspended: Any = None, warnings: tuple[Any, Any] | None = None,
                              warnings_label: str = "delay warning sent") -> Figure:
    """The timeline from plain data.

    ``message_ids`` are all messages of the run (the counts in the legend are over these); the rows are
    the messages with recorded attempts, at most ``max_messages`` of them sampled evenly.
    ``outcome_per_message`` (:class:`Outcome` values) and ``final_s_per_message`` (NaN: still queued) are
    dicts or arrays indexed by message id. ``outages`` are ``(label, start_s, end_s)``; windows with the
    same label share a colour and a legend entry. With more outage labels than colours and
    ``outage_label_per_message`` (each message's outage label, i.e. its domain), each row shows its own
    domain's outages as a bar instead, and the time axis ends with the last attempt.
    ``attempt_suspended`` (per attempt, optional) draws passes that host-level state held back without a
    connection as hollow dots. ``warnings`` are ``(message ids, times_s)`` of delay warnings, drawn as
    triangles under ``warnings_label``. Rows are labelled with message ids.
    """
    ids = np.asarray(message_ids, dtype=np.int64)
    outcome_of = _by_id(outcome_per_message, ids, np.int64)
    final_of = _by_id(final_s_per_message, ids, float)
    attempt_ids = np.asarray(attempt_message_id, dtype=np.int64)
    attempt_t = np.asarray(attempt_time_s, dtype=float)

    recorded = np.unique(attempt_ids)
    if len(recorded) > max_messages:
        recorded = recorded[np.linspace(0, len(recorded) - 1, max_messages).astype(int)]
    keep = np.isin(attempt_ids, recorded)
    rows = np.searchsorted(recorded, attempt_ids[keep])
    times_h = attempt_t[keep] / 3600.0
    outcomes = outcome_of(attempt_ids[keep])

    fig, ax = _figure(figsize=(11, 6.5), layout="constrained")
    outage_labels = list(dict.fromkeys(label for label, _, _ in outages))
    many = len(outage_labels) > len(_OUTAGE_COLOURS)
    # Many domains: one colour, faint enough that the fully overlapped windows reach 50 % opacity.
    alpha = 1 - 0.5 ** (1 / len(outages)) if many else 0.35
    per_row = many and outage_label_per_message is not None
    if per_row:
        by_label: dict[str, list[tuple[float, float]]] = {}
        for label, start_s, end_s in outages:
            by_label.setdefault(label, []).append((start_s / 3600, (end_s - start_s) / 3600))
        label_of = outage_label_per_message
        for row, mid in enumerate(recorded):
            windows = by_label.get(label_of[int(mid)], [])
            if windows:
                ax.broken_barh(windows, (row - 0.4, 0.8), color=_OUTAGE_COLOURS[0], alpha=0.6, lw=0, zorder=0)
    else:
        for label, start_s, end_s in outages:
            colour = _OUTAGE_COLOURS[0 if many else outage_labels.index(label)]
            ax.axvspan(start_s / 3600, end_s / 3600, color=colour, alpha=alpha, lw=0, zorder=0)
    size = 10 if len(recorded) <= 60 else 5
    held = (np.asarray(attempt_suspended, dtype=bool)[keep] if attempt_suspended is not None
            else np.zeros(len(rows), dtype=bool))
    for outcome, colour in OUTCOME_COLOURS.items():
        sel = (outcomes == outcome) & ~held
        if sel.any():
            ax.scatter(times_h[sel], rows[sel], s=size, color=colour, zorder=2, linewidths=0)
        sel = (outcomes == outcome) & held
        if sel.any():
            ax.scatter(times_h[sel], rows[sel], s=size, facecolors="none", edgecolors=colour, zorder=2,
                       linewidths=0.6)
    ended = recorded[np.isin(outcome_of(recorded), (Outcome.EXPIRED, Outcome.BOUNCED))]
    if len(ended):
        ax.scatter(final_of(ended) / 3600, np.searchsorted(recorded, ended), marker="x", s=size * 3,
                   color="black", zorder=3, linewidths=0.8)
    warned = all_warnings = 0
    if warnings is not None:
        w_ids, w_t = np.asarray(warnings[0], dtype=np.int64), np.asarray(warnings[1], dtype=float)
        shown = np.isin(w_ids, recorded) & np.isfinite(w_t)
        warned, all_warnings = int(np.count_nonzero(shown)), int(np.count_nonzero(np.isfinite(w_t)))
        if warned:
            ax.scatter(w_t[shown] / 3600, np.searchsorted(recorded, w_ids[shown]) + 0.3, marker="v",
                       s=size * 2.5, color=_WARNING_COLOUR, edgecolors="black", linewidths=0.3, zorder=3)

    all_outcomes = outcome_of(ids)
    counts = {o: int(np.count_nonzero(all_outcomes == o)) for o in Outcome}
    ms = math.sqrt(size) + 1.5                      # legend markers a little larger than the dots they stand for
    handles: list[Any] = [Line2D([], [], ls="", marker="o", ms=ms, color=OUTCOME_COLOURS[o], label=f"attempt of a "
                                 f"message {o.label} ({counts[o]:,})") for o in Outcome if counts[o]]
    labels = [h.get_label() for h in handles]
    if held.any():
        # As drawn: hollow, in the colours of the outcomes whose messages had passes held back.
        held_outcomes = [o for o in Outcome if ((outcomes == o) & held).any()]
        handles.append(tuple(Line2D([], [], ls="", marker="o", ms=ms, markerfacecolor="none",
                                    markeredgecolor=OUTCOME_COLOURS[o]) for o in held_outcomes))
        labels.append("pass held back by host state (no connection)")
    if warned:
        handles.append(Line2D([], [], ls="", marker="v", ms=ms + 1, color=_WARNING_COLOUR, markeredgecolor="black",
                              markeredgewidth=0.3))
        labels.append(f"{warnings_label} ({all_warnings:,})" if warned == all_warnings
                      else f"{warnings_label} ({all_warnings:,}; {warned:,} on the rows shown)")
    if len(ended):
        handles.append(Line2D([], [], ls="", marker="x", ms=ms + 1, color="black"))
        labels.append("gave up (expired / bounced)")
    if per_row:
        handles.append(Patch(color=_OUTAGE_COLOURS[0], alpha=0.6))
        labels.append(f"outage of the message's domain ({len(outage_labels):,} domains)")
    elif many:
        handles.append(Patch(color=_OUTAGE_COLOURS[0], alpha=0.35))
        labels.append(f"outages ({len(outage_labels):,} domains; darker: more at once)")
    else:
        handles += [Patch(color=_OUTAGE_COLOURS[k], alpha=0.35) for k in range(len(outage_labels))]
        labels += outage_labels
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9,
              handler_map={tuple: HandlerTuple(ndivide=None, pad=0.1)})
    ax.set_xlabel("time since scenario start (hours)")
    ax.set_ylabel("message id (in arrival order)")
    if 0 < len(recorded) <= 30:     # few rows: each labelled with its message id
        ax.set_yticks(np.arange(len(recorded)), [f"{int(t):,}" for t in recorded])
    elif len(recorded):             # sampled rows: ticks at round message ids, where their rows are
        nice = [t for t in MaxNLocator(nbins=10, integer=True).tick_values(float(recorded[0]), float(recorded[-1]))
                if recorded[0] <= t <= recorded[-1]]
        ax.set_yticks(np.interp(nice, recorded, np.arange(len(recorded))), [f"{int(t):,}" for t in nice])
    shown = f"{len(recorded)} of {len(ids):,} messages" if len(recorded) < len(ids) else f"{len(ids):,} messages"
    ax.set_title(f"{title}\nattempts per message ({shown}), coloured by outcome", fontsize=11)
    ax.set_ylim(-1, max(len(recorded), 1))
    if per_row and len(attempt_t[keep]):
        last = np.nanmax(np.concatenate([times_h, final_of(recorded) / 3600]))
        ax.set_xlim(0, last * 1.04 if last > 0 else 1)
    else:
        ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    return fig

def with_wall_clock(fig: Figure, start: datetime) -> Figure:
    """A figure whose x axis is hours since the start (the timeline) with the wall clock of ``start`` above
    it (``Sat 06:00``), so that a run with ``start:`` reads in the days and hours people know."""
    _wall_clock_axis(fig.axes[0], start, lambda x: x * 3600.0)
    return fig


# -- the queue over time ---------------------------------------------------------------------------------
def queue_figure(times_s: Any, total: Any, title: str, *, destinations: Mapping[str, Any] | None = None,
                 interval_s: float | None = None, outages: Sequence[tuple[str, float, float]] = (),
                 start: datetime | None = None, peak: tuple[int, float] | None = None) -> Figure:
    """Messages in the queue over time: the total as a thick line, one line per destination (recipient
    entry) when there are several, outage windows shaded, hours since the start below and, with
    ``start``, the wall clock above.

    ``times_s`` are the intervals' starts and ``total``/``destinations[name]`` the messages queued at
    each (queue.csv); each value holds until the next interval (``interval_s``: the last one's length).
    ``outages`` are ``(label, start_s, end_s)``; ``peak`` is the exact ``(messages, time_s)``, marked.
    """
    t = np.asarray(times_s, dtype=float)
    if len(t) == 0:
        raise ValueError("queue_figure needs at least one interval")
    step = interval_s if interval_s else (float(t[1] - t[0]) if len(t) > 1 else 3600.0)
    edges_h = np.append(t, t[-1] + step) / 3600.0
    fig, ax = _figure(figsize=FIGSIZE, layout="constrained")
    handles = _shade_outages(ax, outages)
    many = dict(destinations or {})
    total_label = "all destinations" if len(many) > 1 else (f"{next(iter(many))}" if many else "queued")
    # The total underneath, wide and grey, so a destination holding every message still shows on top.
    ax.stairs(np.asarray(total, dtype=float), edges_h, color="#555555" if len(many) > 1 else "black",
              alpha=0.45 if len(many) > 1 else 1.0, lw=4 if len(many) > 1 else 2, label=total_label, zorder=2)
    if len(many) > 1:
        for (name, values), colour in zip(many.items(), _colours(len(many))):
            ax.stairs(np.asarray(values, dtype=float), edges_h, color=colour, lw=1.5, label=name, zorder=3)
    if peak is not None and peak[0] > 0:
        ax.plot([peak[1] / 3600.0], [peak[0]], ls="", marker="o", ms=7, mfc="white", mec="#d73027", mew=2,
                zorder=4, label=f"peak: {peak[0]:,} messages at {_hms(peak[1])} (exact)")
    line_handles, _ = ax.get_legend_handles_labels()
    entries = line_handles + handles            # below the axes: never over the curves
    ax.legend(handles=entries, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=min(3, len(entries)),
              fontsize=9, frameon=False)
    max_h = float(edges_h[-1])
    ax.set_xlim(0, max_h)
    top = max(float(np.nanmax(np.asarray(total, dtype=float))), 1.0) * 1.04
    ax.set_ylim(-0.012 * top, top)                  # a line at zero stays visible above the axis
    _hour_ticks(ax.xaxis, max_h)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("time since scenario start (hours)")
    ax.set_ylabel("messages in the queue")
    every = f", sampled every {_minutes_text(step)}" if interval_s or len(t) > 1 else ""
    ax.set_title(f"{title}\nmessages waiting in the queue (arrived, not yet delivered, expired or bounced){every}",
                 fontsize=11)
    ax.grid(alpha=0.3)
    if start is not None:
        _wall_clock_axis(ax, start, lambda x: x * 3600.0)
    return fig


def burst_figure(edges_s: Any, counts: Mapping[str, Any], recovery_s: float, title: str, *,
                 outages: Sequence[tuple[str, float, float]] = (), start: datetime | None = None) -> Figure:
    """Attempts per minute around a recovery (the end of an outage), stacked by what they got.

    ``edges_s`` are the minute bins' edges (seconds since the start, one more than each count array);
    ``counts`` maps a label (``delivered``, ``failed``, ``held back``) to attempts per bin. The x axis is
    hours relative to ``recovery_s``; with ``start`` the wall clock is shown above.
    """
    edges = np.asarray(edges_s, dtype=float)
    x = (edges - recovery_s) / 3600.0
    fig, ax = _figure(figsize=FIGSIZE, layout="constrained")
    shifted = [(label, s - recovery_s, e - recovery_s) for label, s, e in outages]
    handles = _shade_outages(ax, shifted, clip=(float(edges[0] - recovery_s), float(edges[-1] - recovery_s)))
    colours = {"delivered": OUTCOME_COLOURS[Outcome.DELIVERED], "failed": OUTCOME_COLOURS[Outcome.EXPIRED],
               "held back": "#9e9e9e"}
    base = np.zeros(len(edges) - 1)
    peak_rate = 0.0
    for label, values in counts.items():
        v = np.asarray(values, dtype=float)
        if not v.any():
            continue
        ax.stairs(base + v, x, baseline=base.copy(), fill=True, color=colours.get(label, "#4575b4"), alpha=0.85,
                  lw=0, label=_BURST_LABELS.get(label, label), zorder=2)
        base = base + v
        peak_rate = max(peak_rate, float(base.max()))
    ax.axvline(0, color="black", ls="--", lw=1.2, zorder=3,
               label=f"outage ended ({_hms(recovery_s)} since start)")
    line_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=line_handles + handles, loc="upper right", fontsize=9, framealpha=0.9)
    ax.set_xlim(float(x[0]), float(x[-1]))
    ax.set_ylim(0, max(peak_rate * 1.4, 1))              # headroom for the legend above the bars
    span = float(x[-1] - x[0])
    ax.xaxis.set_major_locator(MultipleLocator(0.5 if span <= 8 else 1 if span <= 16 else 3 if span <= 40 else 6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+g}" if v else "0"))
    ax.set_xlabel("time since the outage ended (hours)")
    ax.set_ylabel("attempts per minute")
    ax.set_title(f"{title}\nattempts per minute around the recovery (the end of the last outage mail waited "
                 f"for)", fontsize=11)
    ax.grid(alpha=0.3)
    if start is not None:
        _wall_clock_axis(ax, start, lambda v: recovery_s + v * 3600.0,
                         MultipleLocator(1 if span <= 8 else 2 if span <= 16 else 6 if span <= 40 else 12))
    return fig


def mx_figure(arrival_s: Any, accepted_s: Any, via_backup: Any, mailbox_s: Any, expired_s: Any, title: str, *,
              outages: Sequence[tuple[str, float, float]] = (), start: datetime | None = None) -> Figure:
    """Where the mail went when a domain has a backup MX: messages sent, accepted (as the sending MTA sees
    it: by a primary host, or by the backup), in the recipient's mailbox (a primary's acceptance, or the
    backup's relay) and expired at the sender, each counted over time. The gap between "accepted" and "in
    the mailbox" is what the backup holds. Times are seconds since the start; NaN where a message never
    got there."""
    arrival = np.asarray(arrival_s, dtype=float)
    accepted, mailbox = np.asarray(accepted_s, dtype=float), np.asarray(mailbox_s, dtype=float)
    backup, expired = np.asarray(via_backup, dtype=bool), np.asarray(expired_s, dtype=float)
    ends = [v[np.isfinite(v)].max() for v in (arrival, accepted, mailbox, expired) if np.isfinite(v).any()]
    end_h = max(ends) / 3600.0 * 1.03 if ends else 1.0
    fig, ax = _figure(figsize=FIGSIZE, layout="constrained")
    handles = _shade_outages(ax, outages, clip=(0.0, end_h * 3600.0))

    def cumulative(times: np.ndarray, label: str, colour: str, style: str = "-", lw: float = 2.0) -> None:
        t = np.sort(times[np.isfinite(times)]) / 3600.0
        if len(t):
            ax.step(np.concatenate([[0.0], t, [end_h]]), np.concatenate([[0], np.arange(1, len(t) + 1), [len(t)]]),
                    where="post", color=colour, ls=style, lw=lw, label=f"{label} ({len(t):,})",
                    zorder=4 if style == "--" else 3)

    cumulative(arrival, "sent", "#4d4d4d", "--", 1.5)
    cumulative(accepted, "accepted by an MX host (the sender's delivery)", OUTCOME_COLOURS[Outcome.DELIVERED])
    cumulative(np.where(backup, accepted, np.nan), "of which accepted by the backup MX", "#2166ac", ":", 2.0)
    cumulative(mailbox, "in the recipient's mailbox", "#762a83")
    cumulative(expired, "expired at the sender", OUTCOME_COLOURS[Outcome.EXPIRED])
    line_handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=line_handles + handles, loc="upper left", fontsize=9, framealpha=0.9)
    ax.set_xlim(0, end_h)
    ax.set_ylim(0, max(len(arrival), 1) * 1.05)
    _hour_ticks(ax.xaxis, end_h)
    ax.set_xlabel("time since the start (hours)")
    ax.set_ylabel("messages (cumulative)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_title(f"{title}\nwhere the mail went: accepted by the MX hosts, and when it reached the mailbox",
                 fontsize=11)
    ax.grid(alpha=0.3)
    if start is not None:
        _wall_clock_axis(ax, start, lambda v: v * 3600.0)
    return fig


_BURST_LABELS = {"delivered": "delivered", "failed": "failed (deferred, refused, timed out, rejected)",
                 "held back": "held back by host state (no connection)"}


def _shade_outages(ax, outages: Sequence[tuple[str, float, float]], clip: tuple[float, float] | None = None
                   ) -> list:
    """Shade ``(label, start_s, end_s)`` windows (x in hours); returns the legend handles. Windows with one
    label share a colour. With more labels (domains) than colours, a right-hand axis shows instead how
    many domains are in an outage at each moment (thousands of faint shades would vanish)."""
    labels = list(dict.fromkeys(label for label, _, _ in outages))
    if len(labels) > len(_OUTAGE_COLOURS):
        return [_outages_down(ax, outages, clip, len(labels))]
    for label, start_s, end_s in outages:
        lo, hi = (start_s, end_s) if clip is None else (max(start_s, clip[0]), min(end_s, clip[1]))
        if hi > lo:
            ax.axvspan(lo / 3600, hi / 3600, color=_OUTAGE_COLOURS[labels.index(label)], alpha=0.35, lw=0, zorder=0)
    return [Patch(color=_OUTAGE_COLOURS[k], alpha=0.35, label=label) for k, label in enumerate(labels)]


def _outages_down(ax, outages: Sequence[tuple[str, float, float]], clip: tuple[float, float] | None,
                  domains: int) -> Patch:
    """The number of domains in an outage over time, filled, on a right-hand axis behind ``ax``."""
    starts = np.array([s for _, s, _ in outages], dtype=float)
    ends = np.array([e for _, _, e in outages], dtype=float)
    t = np.concatenate([starts, ends])
    order = np.argsort(t, kind="stable")
    t, down = t[order], np.cumsum(np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])[order])
    lo, hi = clip if clip is not None else (min(0.0, float(t[0])), float(t[-1]))
    before = down[np.searchsorted(t, lo, side="right") - 1] if t[0] <= lo else 0.0
    inside = (t > lo) & (t < hi)
    x = np.concatenate([[lo], t[inside], [hi]]) / 3600.0
    y = np.concatenate([[before], down[inside], [down[inside][-1] if inside.any() else before]])
    right = ax.twinx()
    right.fill_between(x, y, step="post", color=_OUTAGE_COLOURS[0], alpha=0.45, lw=0)
    right.set_ylim(0, max(float(y.max()), 1.0) * 1.05)
    right.set_ylabel("domains in an outage", color="#b35806")
    right.tick_params(axis="y", colors="#b35806")
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_zorder(right.get_zorder() + 1)           # the data in front of the shading
    ax.patch.set_visible(False)
    return Patch(color=_OUTAGE_COLOURS[0], alpha=0.45, label=f"domains in an outage, of {domains:,} (right axis)")


def _wall_clock_axis(ax, start: datetime, seconds_of, locator=None) -> None:
    """A top axis labelled on the wall clock (``Sat 06:00``) at the bottom axis's ticks (or ``locator``'s),
    where ``seconds_of(x)`` turns an x value into seconds since ``start``."""
    top = ax.secondary_xaxis("top")
    top.xaxis.set_major_locator(locator if locator is not None else ax.xaxis.get_major_locator())

    def label(x, _):
        try:
            when = start + timedelta(seconds=float(seconds_of(x)))
        except (OverflowError, ValueError):          # past the calendar: no wall-clock label there
            return ""
        return when.strftime("%a %H:%M")

    top.xaxis.set_major_formatter(FuncFormatter(label))
    top.tick_params(labelsize=8)
    zone = start.strftime("%Z") or start.strftime("%z")
    top.set_xlabel(f"wall clock ({zone})" if zone else "wall clock", fontsize=9)


def _hms(seconds: float) -> str:
    from .durations import format_hms
    return format_hms(round(seconds))


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save as PNG, or SVG when the name ends in .svg, atomically (figures live outside pyplot, so
    nothing needs closing)."""
    path = Path(path)
    fmt = "svg" if path.suffix.lower() == ".svg" else "png"
    with _no_glyph_warnings():
        return atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=130), binary=True)


@contextlib.contextmanager
def _no_glyph_warnings():
    """A scenario name or domain may hold a character the font lacks: matplotlib draws a box for it and
    warns on stderr, which is not the user's business (and would break the one-line error contract)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        yield


def figure_svg(fig: Figure, prefix: str = "fig-") -> str:
    """The figure as an ``<svg>`` element to inline in an HTML page (mtasim.report): text kept as text (so
    the page's numbers can be searched and read by a browser), no XML prolog or DOCTYPE, scaled to the
    width of its container. Every id gets ``prefix``, so several figures (each with its own prefix) can
    share one page; the same figure and prefix give the same text."""
    import io
    import re

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "mtasim"}), _no_glyph_warnings():
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 width="100%"', text, count=1)
    # matplotlib's own ids (clip paths, patches) repeat from figure to figure: prefix them
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    return re.sub(r'url\(#([^)]+)\)|(xlink:href|href)="#([^"]+)"',
                  lambda m: f"url(#{prefix}{m.group(1)})" if m.group(1) else f'{m.group(2)}="#{prefix}{m.group(3)}"',
                  text)


# -- helpers -------------------------------------------------------------------------------------------
def _figure(figsize: tuple[float, float], layout: str = "constrained"):
    """A figure outside pyplot: no global state, no backend chosen for the caller (saving uses Agg;
    Jupyter shows a returned figure with its own formatter)."""
    fig = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(fig)            # a canvas of its own: text extents for label placement, PNG output
    return fig, fig.subplots()


def _by_id(values: Mapping[int, Any] | Any, ids: np.ndarray, dtype: Any):
    """A lookup ``f(id array) -> value array`` over a dict or an array indexed by message id."""
    if isinstance(values, Mapping):
        table = dict(values)
        return lambda q: np.array([table[int(i)] for i in np.asarray(q).ravel()], dtype=dtype)
    arr = np.asarray(values, dtype=dtype)
    return lambda q: arr[np.asarray(q, dtype=np.int64)]


def _split_keyed(names: list[str]) -> tuple[list[str], str | None]:
    """``["outage=6h", "outage=12h"]`` -> (``["6h", "12h"]``, ``"outage"``); other names unchanged."""
    keys = {n.partition("=")[0] for n in names if "=" in n}
    if len(keys) == 1 and all("=" in n for n in names):
        return [n.partition("=")[2] for n in names], keys.pop()
    return list(names), None


def _colours(n: int) -> list:
    if n <= 10:
        return [matplotlib.colormaps["tab10"](k) for k in range(n)]
    return [matplotlib.colormaps["viridis"](k / max(n - 1, 1) * 0.9) for k in range(n)]


def _hour_ticks(axis, max_h: float) -> None:
    """Major ticks at a whole number of hours (1, 2, 3, 6, 12, 24, 48 or a week), at most about 12."""
    if max_h < 4:
        return
    for step in (1, 2, 3, 6, 12, 24, 48, 168):
        if max_h / step <= 12:
            break
    else:                                   # beyond 12 weeks: whole weeks, still about 12 ticks
        step = 168 * math.ceil(max_h / 168 / 12)
    axis.set_major_locator(MultipleLocator(step))


def _tick_text(value: Any) -> str:
    """Numbers are seconds, shown as hours; anything else as text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return f"{float(value) / 3600:g}"
    return str(value)


# Where a label may go relative to its point (offset in points, alignment), nearest first.
_LABEL_SPOTS = [(dx * r, dy * r, "left" if dx > 0 else "right" if dx < 0 else "center",
                 "bottom" if dy > 0 else "top" if dy < 0 else "center")
                for r in (1, 2, 3.5, 5, 7)
                for dx, dy in ((7, 5), (7, -5), (-7, 5), (-7, -5), (0, 9), (0, -9), (9, 0), (-9, 0))]


_SAME_SPOT_PX = 14


def _place_labels(fig: Figure, ax, xs: np.ndarray, ys: np.ndarray, texts: list[str], avoid=(),
                  joined: bool = True) -> None:
    """Annotate each point, trying nearby spots until the label overlaps no other label, marker, the
    line joining the points (``joined``) or an ``avoid`` artist and stays inside the axes; far spots get a
    leader."""
    fig.canvas.draw()                            # settle the layout so display coordinates hold
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    blocked = [Bbox.from_bounds(px - 5, py - 5, 10, 10) for px, py in pts]
    for (x0, y0), (x1, y1) in (zip(pts[:-1], pts[1:]) if joined else ()):
        steps = max(2, int(np.hypot(x1 - x0, y1 - y0) / 6))
        blocked += [Bbox.from_bounds(px - 1.5, py - 1.5, 3, 3)
                    for px, py in zip(np.linspace(x0, x1, steps)[1:-1], np.linspace(y0, y1, steps)[1:-1])]
    blocked += [a.get_window_extent(renderer) for a in avoid]
    # Points closer than about two markers share one label (their names stacked, left to right).
    groups: list[list[int]] = []
    for k in range(len(pts)):
        if groups and np.hypot(*(pts[k] - pts[groups[-1][-1]])) < _SAME_SPOT_PX:
            groups[-1].append(k)
        else:
            groups.append([k])
    anchors = ax.transData.inverted().transform(np.array([pts[g].mean(axis=0) for g in groups]))
    for (x, y), text in zip(anchors, ["\n".join(dict.fromkeys(texts[k] for k in g)) for g in groups]):
        for dx, dy, ha, va in _LABEL_SPOTS:
            ann, box = _label(ax, renderer, text, x, y, dx, dy, ha, va)
            inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1)
            if inside and not any(box.overlaps(b) for b in blocked):
                break
            ann.remove()
        else:                                    # nowhere free: the nearest spot, overlapping
            ann, box = _label(ax, renderer, text, x, y, *_LABEL_SPOTS[0])
        blocked.append(box)


def _label(ax, renderer, text: str, x: float, y: float, dx: float, dy: float, ha: str, va: str):
    """Annotate (x, y) with ``text`` offset by (dx, dy) points (a leader line when far); returns the
    annotation and the display box of its text."""
    leader = dict(arrowstyle="-", color="#777777", lw=0.6, shrinkA=0, shrinkB=4) if max(abs(dx), abs(dy)) > 10 \
        else None
    ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=8,
                      multialignment="left", zorder=4, annotation_clip=False, arrowprops=leader,
                      bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    ann.set_in_layout(False)                     # labels never change the layout the spots were chosen in
    ann.update_positions(renderer)
    return ann, Text.get_window_extent(ann, renderer).padded(2)     # the text and its box, not the leader


def _text_colour(rgba) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"


def _minutes_text(seconds: float) -> str:
    minutes = seconds / 60.0
    return f"{minutes:g} min" if minutes < 120 else f"{minutes / 60:g} h"
