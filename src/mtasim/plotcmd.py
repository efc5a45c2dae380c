"""``mtasim plot KIND RESULTS_DIR [RESULTS_DIR ...] --out FILE``: figures from the files other commands
wrote, read with the standard library (csv, json) and NumPy.

=========  ==============================================================================================
kind       reads (from RESULTS_DIR)
=========  ==============================================================================================
curve      ``curve.csv`` (series,expiry_s,...,fraction,ci_low,ci_high); title and each series' own window
           (``windows``, marked) from ``curve.json``
heatmap    ``curve.csv`` (rows: its series, e.g. outage=36h; columns: expiry_s), or ``sweep.csv`` (two
           parameter columns chosen with --rows/--cols; cells: mean fraction_delivered)
latency    ``messages.csv`` of each RESULTS_DIR, one line each, labelled by its ``summary.json``; over all
           messages, so mail never delivered keeps a line below 1
timeline   ``messages.csv`` (its ``warned_s``: each message's first delay warning, marked), ``attempts.csv``,
           ``outages.csv`` (optional) and ``summary.json``
pareto     ``pareto.csv`` (label,...,mean_attempts,recovery_lag_p95_s,...,on_front) and ``pareto.json``
           (its ``lag_percentile`` 99 or 100 reads recovery_lag_p99_s or recovery_lag_max_s instead)
queue      ``queue.csv`` (time_s,destination,queued,...), ``outages.csv`` (optional) and ``summary.json``
           (title, start for the wall clock, the exact peak)
burst      ``attempts.csv`` (message_id,time_s,result) of ``run --attempts``, ``outages.csv`` and
           ``summary.json`` (title, start; recovery_s, else the last outage end; drain_time_s: the span)
mx         ``messages.csv`` of a run with MX hosts (arrival_s,outcome,final_s,via,relayed_s,relay_outcome),
           ``outages.csv`` (its hosts' windows) and ``summary.json``
=========  ==============================================================================================

Every problem with the input raises :class:`PlotInputError`, whose text is one line naming the file and
what was expected; nothing is written then. The figure is written atomically (PNG, or SVG for ``.svg``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from .durations import DurationError, parse_duration, parse_wall_clock
from .inputs import escape, format_bytes, read_text_file, regular_file_size
from .results import Outcome

__all__ = ["KINDS", "PlotInputError", "add_plot_parser", "cmd_plot", "build_figure", "read_results_csv",
           "read_results_json"]

KINDS = ("curve", "heatmap", "latency", "timeline", "pareto", "queue", "burst", "mx")
#: Numbers in plot inputs beyond this are refused (seconds: about 31,700 years; no run writes such a value).
MAX_VALUE = 1e12
#: Message ids beyond this are refused (no run has more messages than mtasim.workload.MAX_MESSAGES).
MAX_ID = 2**53
#: How many messages the timeline shows at most (evenly sampled).
TIMELINE_MESSAGES = 200
OUTPUT_SUFFIXES = (".png", ".svg")

CURVE_COLUMNS = ("series", "expiry_s", "fraction", "ci_low", "ci_high")
SWEEP_COLUMNS = ("point", "replication", "seed", "fraction_delivered")
MESSAGES_COLUMNS = ("id", "arrival_s", "outcome", "final_s")
ATTEMPTS_COLUMNS = ("message_id", "time_s")
OUTAGES_COLUMNS = ("recipient", "start_s", "end_s")
PARETO_COLUMNS = ("label", "mean_attempts", "recovery_lag_p95_s", "on_front")
QUEUE_COLUMNS = ("time_s", "destination", "queued")
BURST_COLUMNS = ("message_id", "time_s", "result")
MX_COLUMNS = ("arrival_s", "outcome", "final_s", "via", "relayed_s", "relay_outcome")
#: plot burst shows attempts from this long before the recovery ...
BURST_BEFORE_S = 3600.0
#: ... to an hour past the drain (summary.json's drain_time_s, in whole hours), at least BURST_MIN_AFTER_S
#: and at most BURST_MAX_AFTER_S; BURST_DEFAULT_AFTER_S when the drain time is unknown.
BURST_MIN_AFTER_S = 2 * 3600.0
BURST_MAX_AFTER_S = 48 * 3600.0
BURST_DEFAULT_AFTER_S = 6 * 3600.0
#: sweep.csv columns that are results, not parameters (parameters sit between ``seed`` and these).
_SUMMARY_FIELDS = frozenset({
    "scenario", "engine", "messages", "delivered", "expired", "bounced", "queued", "attempts",
    "attempts_per_message", "delay_warnings", "horizon_s", "fraction_delivered", "fraction",
})
_SERIES_KIND_TITLES = {"preset": "sender preset", "outage": "outage duration", "scenario": "scenario"}
_WRITTEN_BY = {
    "messages.csv": "written by `mtasim run --out DIR`",
    "attempts.csv": "written by `mtasim run --out DIR --attempts`",
    "queue.csv": "written by `mtasim run --out DIR`",
}


class PlotInputError(ValueError):
    """Missing or malformed plot input; the text is the whole line the CLI shows."""


def add_plot_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``plot`` on the CLI's subparsers; the parsed arguments run :func:`cmd_plot`."""
    p = subparsers.add_parser("plot", help="draw a figure from result files (curve, heatmap, latency, timeline, "
                              "pareto, queue, burst)", description="Draw a figure from the files written by other mtasim "
                              "commands. Writes PNG, or SVG when FILE ends in .svg.")
    p.add_argument("kind", choices=KINDS, metavar="KIND", help="one of: " + ", ".join(KINDS))
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR",
                   help="results folder (latency takes several, one line each)")
    p.add_argument("--out", required=True, metavar="FILE", help="figure file to write (.png or .svg)")
    p.add_argument("--rows", metavar="PARAM", help="heatmap from sweep.csv: parameter for the rows")
    p.add_argument("--cols", metavar="PARAM", help="heatmap from sweep.csv: parameter for the columns")
    p.set_defaults(func=cmd_plot)
    return p


def cmd_plot(args: argparse.Namespace) -> int:
    """Check the arguments, read the inputs, build the figure, write it; print ``wrote FILE``."""
    out = Path(args.out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise PlotInputError(f"{out}: expected an output file name ending in .png or .svg")
    if out.is_dir():
        raise PlotInputError(f"{out}: is a directory; expected an output file name ending in .png or .svg")
    from .outputs import OutputError, check_output_file
    try:
        check_output_file("--out", out, make_parent=True)     # writable, before any input is read
    except OutputError as exc:
        raise PlotInputError(str(exc)) from None
    dirs = [Path(d) for d in args.results]
    if args.kind != "latency" and len(dirs) > 1:
        raise PlotInputError(f"plot {args.kind}: expected one RESULTS_DIR, got {len(dirs)} "
                             f"({', '.join(map(str, dirs))}); only latency overlays several")
    rows, cols = getattr(args, "rows", None), getattr(args, "cols", None)
    if args.kind != "heatmap" and (rows or cols):
        raise PlotInputError(f"plot {args.kind}: --rows/--cols apply to plot heatmap only")
    for d in dirs:
        if not d.exists():
            raise PlotInputError(f"{d}: no such results directory")
        if not d.is_dir():
            raise PlotInputError(f"{d}: not a directory; expected a results directory")

    from .plots import save_figure

    fig = _BUILDERS[args.kind](dirs, args)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_figure(fig, out)
    except OSError as exc:
        raise PlotInputError(f"{out}: cannot write the figure: {exc.strerror or exc}") from None
    print(f"wrote {out}")
    return 0


# -- one reader per kind ---------------------------------------------------------------------------------
def _curve(dirs: list[Path], args: argparse.Namespace):
    from .plots import curve_figure

    d = dirs[0]
    table = _read_csv(d / "curve.csv", CURVE_COLUMNS)
    meta = _read_json(d / "curve.json")
    series: dict[str, dict[str, list[float]]] = {}
    names = table.text("series")
    columns = {c: table.floats(c, blank=c != "expiry_s") for c in ("expiry_s", "fraction", "ci_low", "ci_high")}
    for k, name in enumerate(names):
        s = series.setdefault(name, {c: [] for c in columns})
        for c, values in columns.items():
            s[c].append(values[k])
    legend_title = _SERIES_KIND_TITLES.get(str(meta.get("series_kind"))) if meta else None
    return curve_figure({n: {c: np.array(v) for c, v in s.items()} for n, s in series.items()},
                        _title(meta, d), legend_title=legend_title, windows=_curve_windows(meta, d, series))


def _finite_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _curve_windows(meta: dict[str, Any] | None, d: Path, series: dict[str, Any]) -> dict[str, dict[str, float]]:
    """curve.json's ``windows`` (each series at its own configured window), checked; none when absent."""
    windows = (meta or {}).get("windows") or {}
    path = d / "curve.json"
    if not isinstance(windows, dict):
        raise PlotInputError(f"{path}: windows: expected an object of series, got {type(windows).__name__}")
    out = {}
    for name, w in windows.items():
        if name not in series:
            raise PlotInputError(f"{path}: windows: {escape(repr(name))} is not a series of curve.csv")
        expiry, fraction = (w.get(k) if isinstance(w, dict) else None for k in ("expiry_s", "fraction"))
        if not (_finite_number(expiry) and _finite_number(fraction) and 0 < expiry <= MAX_VALUE
                and 0 <= fraction <= 1):
            raise PlotInputError(f"{path}: windows: {escape(repr(name))}: expected expiry_s (seconds, > 0) and "
                                 f"fraction (0 to 1), got {escape(repr(w))}")
        out[name] = {"expiry_s": float(expiry), "fraction": float(fraction)}
    return out


def _heatmap(dirs: list[Path], args: argparse.Namespace):
    d = dirs[0]
    curve, sweep = d / "curve.csv", d / "sweep.csv"
    if args.rows or args.cols or (sweep.is_file() and not curve.is_file()):
        return _heatmap_from_sweep(d, sweep, args.rows, args.cols)
    if not curve.is_file():
        raise PlotInputError(f"{d}: no curve.csv or sweep.csv; plot heatmap reads curve.csv (columns "
                             f"{','.join(CURVE_COLUMNS)}) or sweep.csv (columns point,replication,seed,<params>,"
                             f"...,fraction_delivered)")
    from .plots import heatmap_figure

    table = _read_csv(curve, CURVE_COLUMNS)
    meta = _read_json(d / "curve.json")
    names = table.text("series")
    expiry = table.floats("expiry_s")
    fraction = table.floats("fraction", blank=True)
    row_names = list(dict.fromkeys(names))
    col_values = sorted(set(expiry.tolist()))
    grid = _mean_grid([row_names.index(n) for n in names], [col_values.index(e) for e in expiry],
                      fraction, len(row_names), len(col_values))
    keys = {n.partition("=")[0] for n in row_names}
    if len(keys) == 1 and all("=" in n for n in row_names):
        key = keys.pop()
        row_labels = [n.partition("=")[2] for n in row_names]
        row_label = "outage duration" if key == "outage" else key
    else:
        row_labels = row_names
        row_label = _SERIES_KIND_TITLES.get(str(meta.get("series_kind")), "series") if meta else "series"
    return heatmap_figure(row_labels, col_values, grid, _title(meta, d), row_label, "expiry window (hours)")


def _heatmap_from_sweep(d: Path, path: Path, rows: str | None, cols: str | None):
    from .plots import heatmap_figure

    table = _read_csv(path, SWEEP_COLUMNS, expected="columns point,replication,seed,<params>,...,fraction_delivered")
    params = _sweep_params(table.header)
    choosable = [c for c in table.header if c not in SWEEP_COLUMNS]
    for option, name in (("--rows", rows), ("--cols", cols)):
        if name is not None and name not in choosable:
            raise PlotInputError(f"{path}: {option} {name}: no such parameter column; expected one of "
                                 f"{', '.join(params) or '(none found)'}")
    if rows is None or cols is None:
        rest = [p for p in params if p not in (rows, cols)]
        if rows is None and cols is None and len(params) == 2:
            rows, cols = (params[1], params[0]) if "expiry" in params[0] and "expiry" not in params[1] else params
        elif len(params) == 2 and len(rest) == 1:
            rows, cols = (rest[0], cols) if rows is None else (rows, rest[0])
        else:
            raise PlotInputError(f"{path}: {len(params)} parameter column(s) ({', '.join(params) or 'none'}); "
                                 f"choose two with --rows PARAM --cols PARAM")
    if rows == cols:
        raise PlotInputError(f"{path}: --rows and --cols both name {rows}; expected two different parameters")
    fraction = table.floats("fraction_delivered", blank=True)
    row_text, col_text = table.text(rows), table.text(cols)
    row_values, col_values = _ordered(row_text), _ordered(col_text)
    grid = _mean_grid([row_values.index(v) for v in row_text], [col_values.index(v) for v in col_text],
                      fraction, len(row_values), len(col_values))
    meta = _read_json(d / "sweep.json") or {}
    durations = set(meta.get("duration_parameters") or [])
    row_ticks, row_label = _param_ticks(rows, row_values, rows in durations)
    col_ticks, col_label = _param_ticks(cols, col_values, cols in durations)
    replications = len(set(table.text("replication")))
    others = [p for p in params if p not in (rows, cols)]
    subtitle = f"mean fraction delivered over {replications} replication{'s' if replications != 1 else ''}"
    if others:
        subtitle += f" and every {', '.join(others)}"
    return heatmap_figure(row_ticks, col_ticks, grid, _title(meta or None, d), row_label, col_label,
                          subtitle=subtitle)


def _latency(dirs: list[Path], args: argparse.Namespace):
    from .plots import latency_figure

    labels, latencies, never, paths = [], [], [], []
    for d in dirs:
        path = d / "messages.csv"
        table = _read_csv(path, MESSAGES_COLUMNS)
        arrival = table.floats("arrival_s", blank=True)     # blank: a replayed log began after it arrived
        known = ~np.isnan(arrival)
        delivered = np.array([o == "delivered" for o in table.text("outcome")], dtype=bool) & known
        final = table.floats("final_s", blank=True)
        latencies.append(final[delivered] - arrival[delivered])
        never.append(int(np.count_nonzero(known & ~delivered)))      # expired, bounced or still queued
        unknown = int(np.count_nonzero(~known))
        left_out = f" ({unknown:,} whose arrival is not known left out)" if unknown else ""
        labels.append(_title(_read_json(d / "summary.json"), d) + left_out)
        paths.append(path)
    if not any(len(v) for v in latencies):
        raise PlotInputError(f"{paths[0]}: no delivered messages; expected at least one row with outcome "
                             f"delivered to plot a latency distribution")
    labels = _distinct(labels, [_dir_name(d) for d in dirs])       # the same scenario twice: add the folder
    labels = _distinct(labels, [str(d) for d in dirs], again=True)   # the same folder name too: its path
    title = labels[0] if len(dirs) == 1 else "delivery latency: the share of all messages delivered within a time"
    return latency_figure(dict(zip(labels, latencies)), title, undelivered=dict(zip(labels, never)))


def _timeline(dirs: list[Path], args: argparse.Namespace):
    from .plots import timeline_figure_from_data, with_wall_clock

    d = dirs[0]
    messages = _read_csv(d / "messages.csv", MESSAGES_COLUMNS)
    attempts = _read_csv(d / "attempts.csv", ATTEMPTS_COLUMNS)
    ids = messages.ints("id")
    outcome = np.array([_outcome(messages, k, text) for k, text in enumerate(messages.text("outcome"))])
    final = messages.floats("final_s", blank=True)
    attempt_ids = attempts.ints("message_id")
    known = np.isin(attempt_ids, ids)
    if not known.all():
        k = int(np.flatnonzero(~known)[0])
        raise PlotInputError(f"{attempts.path}: line {attempts.lines[k]}: message_id {attempt_ids[k]} is not an id "
                             f"in {messages.path}")
    if np.array_equal(ids, np.arange(len(ids))):
        outcome_of: Any = outcome
        final_of: Any = final
    else:
        outcome_of = dict(zip(ids.tolist(), outcome.tolist()))
        final_of = dict(zip(ids.tolist(), final.tolist()))
    outages = _outages(d, hosts=False)      # the windows each message's domain failed in, by domain
    label_of = dict(zip(ids.tolist(), (f"outage at {r}" for r in messages.text("recipient"))))
    warnings = None
    if "warned_s" in messages.header:        # the first delay warning of each message (messages.csv has no more)
        warned = messages.floats("warned_s", blank=True)
        warnings = (ids[np.isfinite(warned)], warned[np.isfinite(warned)])
    meta = _read_json(d / "summary.json") or {}
    fig = timeline_figure_from_data(_title(meta, d), ids, attempt_ids,
                                    attempts.floats("time_s"), outcome_of, final_of, outages,
                                    max_messages=TIMELINE_MESSAGES, outage_label_per_message=label_of,
                                    attempt_suspended=[r == "suspended" for r in attempts.text("result")],
                                    warnings=warnings, warnings_label="first delay warning sent")
    start = _start(meta, d)
    return with_wall_clock(fig, start) if start is not None else fig


def _pareto(dirs: list[Path], args: argparse.Namespace):
    from .plots import pareto_figure

    d = dirs[0]
    table = _read_csv(d / "pareto.csv", PARETO_COLUMNS)
    meta = _read_json(d / "pareto.json")
    on_front = np.array([_flag(table, k, text) for k, text in enumerate(table.text("on_front"))], dtype=bool)
    max_lag = meta.get("max_recovery_lag_s") if meta else None
    if max_lag is not None and (isinstance(max_lag, bool) or not isinstance(max_lag, (int, float))
                                or not math.isfinite(max_lag)):
        raise PlotInputError(f"{d / 'pareto.json'}: max_recovery_lag_s: expected a number of seconds or null, "
                             f"got {max_lag!r}")
    percentile = meta.get("lag_percentile", 95) if meta else 95
    if percentile not in (95, 99, 100) or isinstance(percentile, bool):
        raise PlotInputError(f"{d / 'pareto.json'}: lag_percentile: expected 95, 99 or 100, got {percentile!r}")
    column = "recovery_lag_max_s" if percentile == 100 else f"recovery_lag_p{percentile}_s"
    if column not in table.header:
        raise PlotInputError(f"{table.path}: missing column {column}; expected it as pareto.json's "
                             f"lag_percentile is {percentile}")
    points = {"mean_attempts": table.floats("mean_attempts", blank=True),
              "recovery_lag_s": table.floats(column, blank=True),
              "on_front": on_front, "labels": table.text("label")}
    return pareto_figure(points, _title(meta, d), None if max_lag is None else float(max_lag),
                         lag_percentile=percentile)


def _queue(dirs: list[Path], args: argparse.Namespace):
    from .plots import queue_figure

    d = dirs[0]
    table = _read_csv(d / "queue.csv", QUEUE_COLUMNS)
    times, queued = table.floats("time_s"), table.floats("queued")
    names = np.array(table.text("destination"), dtype=object)
    blocks = {name: np.flatnonzero(names == name) for name in dict.fromkeys(names.tolist())}
    total_rows = blocks.pop("*", None)
    first = total_rows if total_rows is not None else next(iter(blocks.values()))
    for name, rows in blocks.items():
        if not np.array_equal(times[rows], times[first]):
            raise PlotInputError(f"{table.path}: destination {name}: expected the same time_s rows as every other "
                                 f"destination block")
    total = queued[total_rows] if total_rows is not None else sum(queued[r] for r in blocks.values())
    meta = _read_json(d / "summary.json") or {}
    peak = None
    if isinstance(meta.get("peak_queue"), int) and isinstance(meta.get("peak_queue_s"), (int, float)):
        peak = (int(meta["peak_queue"]), float(meta["peak_queue_s"]))
    t = times[first]
    interval = float(t[1] - t[0]) if len(t) > 1 else None
    return queue_figure(t, total, _title(meta, d), destinations={n: queued[r] for n, r in blocks.items()},
                        interval_s=interval, outages=_outages(d), start=_start(meta, d), peak=peak)


def _burst(dirs: list[Path], args: argparse.Namespace):
    from .plots import burst_figure

    d = dirs[0]
    path = d / "attempts.csv"
    if not path.is_file():
        raise PlotInputError(f"{path}: no such file; plot burst needs the time of every attempt: run "
                             f"`mtasim run SCENARIO --out {d} --attempts` first")
    outages = _outages(d)
    if not outages:
        raise PlotInputError(f"{d / 'outages.csv'}: no outage windows; plot burst shows the attempts around the "
                             f"end of the last outage")
    meta = _read_json(d / "summary.json") or {}
    recovery = meta.get("recovery_s")           # the last outage end that held mail back (queue_view)
    if isinstance(recovery, bool) or not isinstance(recovery, (int, float)) or not math.isfinite(recovery):
        recovery = max(end for _, _, end in outages)
    drain = meta.get("drain_time_s")
    after = BURST_DEFAULT_AFTER_S
    if isinstance(drain, (int, float)) and not isinstance(drain, bool) and math.isfinite(drain):
        after = min(BURST_MAX_AFTER_S, max(BURST_MIN_AFTER_S, math.ceil((drain + 3600.0) / 3600.0) * 3600.0))
    edges = recovery - BURST_BEFORE_S + 60.0 * np.arange(int((BURST_BEFORE_S + after) / 60.0) + 1)
    table = _read_csv(path, BURST_COLUMNS, allow_empty=True)
    times = table.floats("time_s")
    results = np.array(table.text("result"), dtype=object)
    inside = (times >= edges[0]) & (times < edges[-1])
    minute = ((times[inside] - edges[0]) // 60.0).astype(np.int64)
    kinds = {"delivered": results[inside] == "delivered", "held back": results[inside] == "suspended"}
    kinds = {"delivered": kinds["delivered"], "failed": ~(kinds["delivered"] | kinds["held back"]),
             "held back": kinds["held back"]}
    counts = {k: np.bincount(minute[sel], minlength=len(edges) - 1)[: len(edges) - 1] for k, sel in kinds.items()}
    return burst_figure(edges, counts, recovery, _title(meta, d), outages=outages, start=_start(meta, d))


def _mx(dirs: list[Path], args: argparse.Namespace):
    from .plots import mx_figure

    d = dirs[0]
    table = _read_csv(d / "messages.csv", MX_COLUMNS,
                      expected="the MX columns via, relayed_s, relay_outcome (a run whose recipient lists mx)")
    outcome = np.array(table.text("outcome"), dtype=object)
    final = table.floats("final_s", blank=True)
    relayed = table.floats("relayed_s", blank=True)
    if not any(table.text("via")):
        raise PlotInputError(f"{table.path}: no message names the MX host that took it (column via); plot mx "
                             f"needs a run whose recipients list mx hosts")
    meta = _read_json(d / "summary.json") or {}
    by_backup = np.array(table.text("relay_outcome"), dtype=object) != ""     # only a backup MX relays
    delivered = outcome == "delivered"
    mailbox = np.where(by_backup, relayed, np.where(delivered, final, np.nan))
    return mx_figure(table.floats("arrival_s"), np.where(delivered, final, np.nan), by_backup & delivered, mailbox,
                     np.where(outcome == "expired", final, np.nan), _title(meta, d), outages=_outages(d),
                     start=_start(meta, d))


def _outages(d: Path, hosts: bool = True) -> list[tuple[str, float, float]]:
    """``(label, start_s, end_s)`` per row of the folder's outages.csv (an MX host's windows labelled by the
    host, or left out with ``hosts=False``); none when it is absent."""
    if not (d / "outages.csv").exists():
        return []
    table = _read_csv(d / "outages.csv", OUTAGES_COLUMNS, allow_empty=True)
    names = table.text("host") if "host" in table.header else [""] * len(table.rows)
    return [(f"outage at {h or r}", s, e) for r, h, s, e in
            zip(table.text("recipient"), names, table.floats("start_s"), table.floats("end_s")) if hosts or not h]


def _start(meta: dict[str, Any], d: Path):
    """The wall-clock time of t = 0 as an aware datetime when the scenario set ``start:`` (summary.json's
    ``setup.start``, null without one; folders without ``setup`` give ``start``), else None."""
    setup = meta.get("setup")
    text = setup.get("start") if isinstance(setup, dict) else meta.get("start")
    if text is None:
        return None
    try:
        return parse_wall_clock(text)
    except ValueError:
        raise PlotInputError(f"{d / 'summary.json'}: start: expected an ISO 8601 date and time such as "
                             f"2026-01-01T00:00:00+00:00, got {text!r}") from None


_BUILDERS: dict[str, Callable[[list[Path], argparse.Namespace], Any]] = {
    "curve": _curve, "heatmap": _heatmap, "latency": _latency, "timeline": _timeline, "pareto": _pareto,
    "queue": _queue, "burst": _burst, "mx": _mx,
}


def build_figure(kind: str, dirs: Sequence[Path], rows: str | None = None, cols: str | None = None) -> Any:
    """The figure ``mtasim plot KIND DIRS`` draws, without writing it (mtasim.report inlines it); the
    same reading and the same PlotInputError for bad input."""
    return _BUILDERS[kind]([Path(d) for d in dirs], argparse.Namespace(rows=rows, cols=cols))


def read_results_csv(path: Path, required: Sequence[str], *, allow_empty: bool = False) -> Any:
    """A result CSV read as ``plot`` reads it (header, rows with line numbers, typed columns on demand:
    ``.text(c)``, ``.floats(c, blank=...)``, ``.ints(c)``); PlotInputError for a missing, short or torn
    file."""
    return _read_csv(Path(path), required, allow_empty=allow_empty)


def read_results_json(path: Path) -> dict[str, Any] | None:
    """A result JSON object as ``plot`` reads it: None when absent, PlotInputError when not an object."""
    return _read_json(Path(path))


# -- reading files ---------------------------------------------------------------------------------------
class _Table:
    """A CSV file's header and data rows (with their line numbers), read as text; typed columns on demand."""

    def __init__(self, path: Path, header: list[str], rows: list[list[str]], lines: list[int]):
        self.path, self.header, self.rows, self.lines = path, header, rows, lines

    def text(self, column: str) -> list[str]:
        i = self.header.index(column)
        return [row[i].strip() for row in self.rows]

    def floats(self, column: str, *, blank: bool = False) -> np.ndarray:
        """The column as finite floats of magnitude at most MAX_VALUE; ``blank=True`` reads empty cells as
        NaN, otherwise they are errors (so are nan, inf and numbers no run writes: a hand-edited 1e300
        seconds would ask the figure for billions of ticks)."""
        values = self.text(column)
        try:
            out = np.array(values, dtype=float)
        except ValueError:
            out = np.empty(len(values))
            for k, text in enumerate(values):
                if text == "" and blank:
                    out[k] = math.nan
                    continue
                try:
                    out[k] = float(text)
                except ValueError:
                    raise PlotInputError(f"{self.path}: line {self.lines[k]}, column {column}: expected a number, "
                                         f"got {escape(repr(text))}") from None
        wrong = ~(np.abs(out) <= MAX_VALUE) & ~(np.isnan(out) & np.array([v == "" for v in values], dtype=bool))
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            raise PlotInputError(f"{self.path}: line {self.lines[k]}, column {column}: expected a finite number of "
                                 f"at most {MAX_VALUE:g} in size, got {escape(repr(values[k]))}")
        return out

    def ints(self, column: str) -> np.ndarray:
        values = self.text(column)
        out = np.empty(len(values), dtype=np.int64)
        for k, text in enumerate(values):
            try:
                value = int(text)
            except ValueError:
                value = None
            if value is None or not 0 <= value <= MAX_ID:
                raise PlotInputError(f"{self.path}: line {self.lines[k]}, column {column}: expected a whole "
                                     f"number from 0 to {MAX_ID:,}, got {escape(repr(text))}")
            out[k] = value
        return out


def _read_csv(path: Path, required: Sequence[str], *, expected: str | None = None,
              allow_empty: bool = False) -> _Table:
    """Read a CSV with a header row; raise PlotInputError unless it exists, has ``required`` columns and
    (unless ``allow_empty``) at least one data row."""
    expected = expected or f"columns {','.join(required)}"
    try:
        size = regular_file_size(path)
    except FileNotFoundError:
        where = f" {_WRITTEN_BY[path.name]}" if path.name in _WRITTEN_BY else ""
        raise PlotInputError(f"{path}: no such file; expected {path.name}{where} with {expected}") from None
    _check_fits(path, size)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows, lines = [], []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise PlotInputError(f"{path}: line {reader.line_num}: expected {len(header)} fields as in "
                                         f"the header, got {len(row)}")
                rows.append(row)
                lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PlotInputError(f"{path}: cannot read: {exc}") from None
    if not header:
        raise PlotInputError(f"{path}: empty file; expected a header row with {expected}")
    missing = [c for c in required if c not in header]
    if missing:
        raise PlotInputError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                             f"expected {expected}")
    if not rows and not allow_empty:
        raise PlotInputError(f"{path}: no data rows; expected at least one row under the header")
    return _Table(path, header, rows, lines)


#: Memory a CSV takes once read, per byte of the file (rows of Python strings; measured: 6.0 for messages.csv
#: and attempts.csv, 820 and 540 B per row).
CSV_MEMORY_PER_BYTE = 7


def _check_fits(path: Path, size: int) -> None:
    """Refuse, before reading it, a CSV that would not fit in the memory still available (the files read
    before it already hold theirs): a hand-made or enormous messages.csv must not run the machine out of
    memory."""
    from .engine.memory import available_memory_bytes

    need, have = size * CSV_MEMORY_PER_BYTE, available_memory_bytes()
    if have is not None and need > have:
        raise PlotInputError(f"{path}: {format_bytes(size)} would need about {format_bytes(need)} of memory to "
                             f"read ({CSV_MEMORY_PER_BYTE} times its size); {format_bytes(have)} is available: "
                             f"plot a smaller run")


def _read_json(path: Path) -> dict[str, Any] | None:
    """An optional JSON object: None when the file is absent, PlotInputError when it is not an object (or
    not a regular file of at most MAX_FILE_BYTES: mtasim.inputs.read_text_file)."""
    if not path.exists():
        return None
    try:
        data = json.loads(read_text_file(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlotInputError(f"{path}: expected a JSON object, could not read it: {exc}") from None
    if not isinstance(data, dict):
        raise PlotInputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _title(meta: dict[str, Any] | None, d: Path) -> str:
    name = meta.get("scenario") if meta else None
    return str(name) if name not in (None, "") else _dir_name(d)


def _distinct(labels: list[str], suffixes: list[str], *, again: bool = False) -> list[str]:
    """Append ``(suffix)`` to every label that occurs more than once (``again``: replace the one added)."""
    out = []
    for label, suffix in zip(labels, suffixes):
        if labels.count(label) > 1:
            label = f"{label.rsplit(' (', 1)[0] if again else label} ({suffix})"
        out.append(label)
    return out


def _dir_name(d: Path) -> str:
    return d.name or d.resolve().name


def _outcome(table: _Table, k: int, text: str) -> int:
    try:
        return int(Outcome[text.upper()])
    except KeyError:
        raise PlotInputError(f"{table.path}: line {table.lines[k]}, column outcome: expected delivered, expired, "
                             f"bounced or queued, got {text!r}") from None


def _flag(table: _Table, k: int, text: str) -> bool:
    value = text.lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise PlotInputError(f"{table.path}: line {table.lines[k]}, column on_front: expected true or false, "
                         f"got {text!r}")


# -- sweep parameters --------------------------------------------------------------------------------------
def _sweep_params(header: list[str]) -> list[str]:
    """The parameter columns: those after ``seed`` up to the first summary field."""
    start = header.index("seed") + 1
    params = []
    for name in header[start:]:
        if name in _SUMMARY_FIELDS or name.startswith(("delivery_latency", "latency")):
            break
        params.append(name)
    return params


def _ordered(values: list[str]) -> list[str]:
    """Distinct values, sorted by number or duration when they all read as one, else in file order."""
    distinct = list(dict.fromkeys(values))
    for key in (float, _seconds):
        try:
            return sorted(distinct, key=key)
        except (ValueError, DurationError):
            continue
    return distinct


def _seconds(text: str) -> float:
    return parse_duration(text, allow_zero=True)


#: What a swept key path's last part means, in words, and the unit its hours are counted in.
_PARAM_WORDS = {
    "end": ("outage end", "hours since the start"), "start": ("outage start", "hours since the start"),
    "expiry": ("expiry window", "hours"), "duration": ("outage duration", "hours"),
}


def _param_ticks(name: str, values: list[str], is_duration: bool = False) -> tuple[list[Any], str]:
    """Tick values and axis label for a parameter: durations (sweep.json's duration_parameters, or
    ``*_s`` columns) are in seconds and shown in hours. A key path whose meaning is known says it in
    words above the path (an outage's ``end`` is the moment it ends, not its length)."""
    if is_duration:
        try:
            ticks = [float(v) for v in values]
        except ValueError:
            pass
        else:
            leaf = name.rsplit(".", 1)[-1]
            if leaf in _PARAM_WORDS and (leaf not in ("end", "start") or "outages[" in name):
                words, unit = _PARAM_WORDS[leaf]
                return ticks, f"{words} ({unit})\n{name}"
            return ticks, f"{name} (hours)"
    if name.endswith("_s"):
        try:
            return [float(v) for v in values], f"{name[:-2].replace('_', ' ')} (hours)"
        except ValueError:
            pass
    return list(values), name


def _mean_grid(row_index: Sequence[int], col_index: Sequence[int], values: np.ndarray, n_rows: int,
               n_cols: int) -> np.ndarray:
    """Mean of ``values`` per (row, column) cell, ignoring NaN; NaN where a cell has no value."""
    total = np.zeros((n_rows, n_cols))
    count = np.zeros((n_rows, n_cols))
    ok = np.isfinite(values)
    np.add.at(total, (np.asarray(row_index)[ok], np.asarray(col_index)[ok]), values[ok])
    np.add.at(count, (np.asarray(row_index)[ok], np.asarray(col_index)[ok]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
