"""``mtasim report RESULTS_DIR... --out report.html``: one self-contained HTML page a person can read
and pass on: what was simulated, the outcome table, the outcomes per day (or hour), the figures as inline
SVG, and the assumptions behind the numbers. No scripts, no fonts, no images from anywhere else: the file
opens offline and shows the same everywhere.

A results folder is what one command wrote (detected by its files):

=======  ========================================================================================
run      ``summary.json`` (counts, latency, the ``setup`` record of the scenario), ``messages.csv``
         (the per-day and per-recipient tables), ``queue.csv``, ``attempts.csv`` (figures, when present)
curve    ``curve.csv`` and ``curve.json``: the figure and the shortest windows for 50/90/99/100 %
sweep    ``sweep.csv`` and ``sweep.json``: the heatmap (two parameters) and, when one parameter is an
         expiry window, the shortest windows for 50/90/99/100 % per value of the others
=======  ========================================================================================

Bad input (not a results folder, a folder an older mtasim wrote, a truncated or garbled file) raises
:class:`ReportError`, one line naming the file and what was expected; nothing is written then.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .curve import LEVELS, shortest_windows
from .durations import format_duration, format_hms, parse_wall_clock
from .plotcmd import CURVE_COLUMNS, PlotInputError, build_figure, read_results_csv, read_results_json
from .results import OUTCOME_LABELS, Outcome, atomic_write
from .tables import PeriodTable, RecipientRow, period_table, recipient_table

__all__ = ["ReportError", "build_report", "write_report"]

#: The delivered fractions whose shortest expiry window a curve or sweep section lists.
#: messages.csv columns the report reads.
MESSAGES_COLUMNS = ("id", "recipient", "outcome", "final_s")
OUTPUT_SUFFIXES = (".html", ".htm")
_COUNT_KEYS = ("messages", "delivered", "expired", "bounced", "queued")


class ReportError(ValueError):
    """Bad report input; the text is the whole line the CLI shows."""


def write_report(dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Read every folder, build the page, then write it atomically (nothing is written on bad input)."""
    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ReportError(f"--out {out}: expected a file name ending in .html")
    page = build_report(dirs)
    return atomic_write(out, lambda f: f.write(page))


def build_report(dirs: Sequence[str | Path]) -> str:
    """The whole HTML page for ``dirs``, one section per folder."""
    sections = []
    for k, d in enumerate(Path(d) for d in dirs):
        try:
            sections.append(_section(d, k))
        except PlotInputError as exc:       # the plot readers' one-line errors about the same files
            raise ReportError(str(exc)) from None
    titles = [s[0] for s in sections]
    title = titles[0] if len(titles) == 1 else f"mtasim report: {len(titles)} results"
    body = "\n".join(s[1] for s in sections)
    return _PAGE.format(title=_e(title), css=_CSS, body=body)


def _section(d: Path, k: int) -> tuple[str, str]:
    if not d.exists():
        raise ReportError(f"{d}: no such results folder")
    if not d.is_dir():
        raise ReportError(f"{d}: not a folder; expected a results folder written by mtasim run, curve or sweep --out")
    if (d / "summary.json").is_file():
        return _run_section(d, k)
    if (d / "curve.csv").is_file():
        return _curve_section(d, k)
    if (d / "sweep.csv").is_file():
        return _sweep_section(d, k)
    raise ReportError(f"{d}: not a results folder; expected summary.json (mtasim run --out), curve.csv "
                      f"(mtasim curve --out) or sweep.csv (mtasim sweep --out) in it")


# -- a run folder -------------------------------------------------------------------------------------
def _run_section(d: Path, k: int) -> tuple[str, str]:
    summary = _summary(d / "summary.json")
    setup = summary["setup"]
    start = _start(setup.get("start"), d / "summary.json")
    table = read_results_csv(d / "messages.csv", MESSAGES_COLUMNS, allow_empty=True)
    if len(table.rows) != summary["messages"]:
        raise ReportError(f"{table.path}: {len(table.rows):,} rows, expected {summary['messages']:,} (summary.json's "
                          f"messages): the file is truncated or from another run")
    outcome = np.array([_outcome(table, i, text) for i, text in enumerate(table.text("outcome"))], dtype=np.int8)
    final = table.floats("final_s", blank=True)
    unfinished = np.isnan(final) & (outcome != Outcome.QUEUED)
    if unfinished.any():
        i = int(np.flatnonzero(unfinished)[0])
        raise ReportError(f"{table.path}: line {table.lines[i]}, column final_s: expected a time for a "
                          f"{OUTCOME_LABELS[outcome[i]]} message, got an empty cell")
    for o in Outcome:
        seen = int(np.count_nonzero(outcome == o))
        if seen != summary[o.label]:
            raise ReportError(f"{table.path}: {seen:,} {o.label} messages, expected {summary[o.label]:,} as "
                              f"summary.json says: the files are from different runs")
    names = table.text("recipient")
    domains = list(dict.fromkeys(names))
    index = {n: i for i, n in enumerate(domains)}
    per_period = period_table(final, outcome, start)
    per_recipient = recipient_table(np.array([index[n] for n in names], dtype=np.int64), domains, outcome)

    title = str(summary.get("scenario") or d.name)
    parts = [f'<section class="run" id="r{k}">', f"<h1>{_e(title)}</h1>",
             f'<p class="folder">results folder <code>{_e(str(d))}</code>: '
             + (f'seed {_e(summary["seed"])}, ' if summary.get("seed") is not None else "")   # a replay has none
             + f'engine {_e(summary.get("engine"))}</p>',
             "<h2>What was simulated</h2>", _scenario_words(setup, start),
             '<div class="cols">', "<div><h2>Outcomes</h2>", _outcome_table(summary), "</div>",
             f"<div><h2>Outcomes per {per_period.unit}</h2>", _period_html(per_period, start), "</div></div>",
             _numbers_list(summary, start is not None)]
    if len(per_recipient) > 1:
        parts += ["<h2>Outcomes per recipient</h2>", _recipient_html(per_recipient)]
    parts += ["<h2>Figures</h2>", _run_figures(d, k, summary)]
    parts += ["<h2>Assumptions that matter</h2>", _assumptions(setup)]
    parts.append("</section>")
    return title, "\n".join(parts)


def _summary(path: Path) -> dict[str, Any]:
    data = read_results_json(path)
    if data is None:
        raise ReportError(f"{path}: no such file")
    if "setup" not in data:
        raise ReportError(f"{path}: no 'setup' record: written by an older mtasim (before `mtasim report`); "
                          f"expected the folder of a current `mtasim run SCENARIO --out DIR`: run it again")
    for key in _COUNT_KEYS:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ReportError(f"{path}: {key}: expected a whole number >= 0, got {value!r}")
    if sum(data[o] for o in OUTCOME_LABELS) != data["messages"]:
        raise ReportError(f"{path}: delivered + expired + bounced + queued is "
                          f"{sum(data[o] for o in OUTCOME_LABELS):,}, expected messages ({data['messages']:,})")
    setup = data["setup"]
    if not isinstance(setup, dict) or not all(isinstance(setup.get(k), list) for k in ("sender", "recipients")):
        raise ReportError(f"{path}: setup: expected an object with lists 'sender' and 'recipients', "
                          f"got {type(setup).__name__}")
    return data


def _start(text: Any, path: Path) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_wall_clock(text)
    except ValueError:
        raise ReportError(f"{path}: setup.start: expected an ISO 8601 date and time such as "
                          f"2026-11-27T00:00:00+00:00 or null, got {text!r}") from None


def _outcome(table: Any, i: int, text: str) -> int:
    try:
        return OUTCOME_LABELS.index(text)
    except ValueError:
        raise ReportError(f"{table.path}: line {table.lines[i]}, column outcome: expected delivered, expired, "
                          f"bounced or queued, got {text!r}") from None


def _scenario_words(setup: dict[str, Any], start: datetime | None) -> str:
    preset = setup.get("preset")
    sender = f"the <b>{_e(preset)}</b> preset" if preset else "a custom sender"
    window = _window_words(setup)
    clock = (f"Times are on the wall clock from {_e(start.strftime('%a %Y-%m-%d %H:%M %z'))}."
             if start is not None else "The scenario sets no start date: times count from its start, day 1 "
             "being its first 24 hours.")
    recipients = "".join(f"<li>{_e(r)}</li>" for r in setup["recipients"])
    lines = "".join(f"<li>{_e(s)}</li>" for s in setup["sender"])
    return (f"<p>{_e(setup.get('messages', ''))}, sent by {sender}{window}. {clock}</p>"
            f"<div class=\"cols\"><div><h3>Sender</h3><ul>{lines}</ul></div>"
            f"<div><h3>Recipients</h3><ul>{recipients}</ul></div></div>")


def _window_words(setup: dict[str, Any]) -> str:
    expiry = setup.get("expiry_s")
    if not isinstance(expiry, (int, float)) or isinstance(expiry, bool) or not math.isfinite(expiry):
        return ""
    return f", which gives up on a message after {_e(format_duration(float(expiry)))} ({_e(setup.get('give_up'))})"


def _outcome_table(summary: dict[str, Any]) -> str:
    n = summary["messages"]
    rows = []
    for key in (*OUTCOME_LABELS, "messages"):
        label = "total" if key == "messages" else key
        frac = summary[key] / n if n else 0.0
        rows.append(f'<tr class="{label}"><th>{label}</th>{_count(key, summary[key])}'
                    f"<td>{frac:.1%}</td></tr>")
    return ('<table class="outcomes"><thead><tr><th>outcome</th><th>messages</th><th>fraction</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


#: Counts of summary.json listed under the outcome table when present: key -> words.
_COUNTS_LISTED = {
    "attempts": "attempts",
    "connections": "connections",
    "held_back": "passes held back by host state (no connection)",
    "non_delivery_reports": "non-delivery reports (expired + bounced)",
    "delay_warnings": "delay warnings",
}


def _numbers_list(summary: dict[str, Any], on_clock: bool) -> str:
    """The other counts, expiry times and latency; wall-clock times only when the scenario set ``start:``."""
    items = []
    for key, words in _COUNTS_LISTED.items():
        value = summary.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            items.append(f'<li>{_e(words)}: <span data-key="{key}" data-value="{value}">{value:,}</span></li>')
    for key, words in (("first_expiry_s", "first expiry"), ("last_expiry_s", "last expiry")):
        value = summary.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            clock = summary.get(key[:-2])
            items.append(f"<li>{words}: {format_hms(round(value))} after the start"
                         + (f" ({_e(clock)})" if on_clock and isinstance(clock, str) else "") + "</li>")
    latency = summary.get("delivery_latency_s")
    quantiles = ("p50", "p90", "p99", "max")
    if isinstance(latency, dict) and all(isinstance(latency.get(q), (int, float)) for q in quantiles):
        items.append("<li>delivery latency of delivered mail: " + ", ".join(
            f"{q} <span data-key=\"latency_{q}\" data-value=\"{latency[q]!r}\">{format_hms(round(latency[q]))}</span>"
            for q in quantiles) + " (h:mm:ss)</li>")
    return f"<ul class=\"numbers\">{''.join(items)}</ul>" if items else ""


def _count(key: str, value: int) -> str:
    return f'<td data-key="{key}" data-value="{value}">{value:,}</td>'


def _period_html(t: PeriodTable, start: datetime | None) -> str:
    heads = list(t.counts)
    rows = []
    for i, label in enumerate(t.labels):
        cells = "".join(f"<td>{t.counts[h][i]:,}</td>" for h in heads)
        rows.append(f"<tr><th>{_e(label)}</th>{cells}</tr>")
    totals = t.totals()
    rows.append('<tr class="total"><th>total</th>'
                + "".join(f'<td data-key="period_{h}" data-value="{totals[h]}">{totals[h]:,}</td>' for h in heads)
                + "</tr>")
    when = "on the wall clock" if start is not None else "counted from the start"
    note = f"<p class=\"note\">Messages by the {t.unit} ({when}) they were delivered, expired or bounced."
    if t.queued:
        note += (f' Still queued at the end: <span data-key="period_queued" data-value="{t.queued}">'
                 f"{t.queued:,}</span>.")
    return (f"{note}</p><table class=\"periods\"><thead><tr><th>{t.unit}</th>"
            + "".join(f"<th>{h}</th>" for h in heads) + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _recipient_html(rows: list[RecipientRow]) -> str:
    heads = ("delivered", "expired", "bounced", "queued", "total")
    body = []
    for r in rows:
        name = r.recipient + (f" ({r.domains:,} domains)" if r.domains > 1 else "")
        values = (r.delivered, r.expired, r.bounced, r.queued, r.messages)
        body.append(f"<tr><th>{_e(name)}</th>" + "".join(f"<td>{v:,}</td>" for v in values) + "</tr>")
    return ('<table class="recipients"><thead><tr><th>recipient</th>' + "".join(f"<th>{h}</th>" for h in heads)
            + f"</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _run_figures(d: Path, k: int, summary: dict[str, Any]) -> str:
    out, missing = [], []
    if (d / "attempts.csv").is_file():
        out.append(_figure("timeline", [d], f"r{k}t-", "Each sampled message's attempts and its outcome."))
    else:
        missing.append("the timeline of attempts (run with <code>--attempts</code>)")
    if (d / "queue.csv").is_file():
        out.append(_figure("queue", [d], f"r{k}q-", "Messages waiting in the queue over time."))
    else:
        missing.append("the queue over time (queue.csv)")
    if summary["delivered"]:
        out.append(_figure("latency", [d], f"r{k}l-", "How long delivered mail took."))
    if missing:
        out.append(f"<p class=\"note\">Not in this folder: {', '.join(missing)}.</p>")
    return "\n".join(out)


def _figure(kind: str, dirs: list[Path], prefix: str, caption: str, **options: Any) -> str:
    from .plots import figure_svg

    svg = figure_svg(build_figure(kind, dirs, **options), prefix)
    return f'<figure class="{kind}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _assumptions(setup: dict[str, Any]) -> str:
    from .giveup import GIVE_UP_RULES
    from .presets import PRESETS

    items = []
    name = setup.get("preset")
    if name:
        preset = PRESETS.get(str(name))
        if preset is None:
            items.append(f"<li>Preset <b>{_e(name)}</b>: not known to this version of mtasim.</li>")
        else:
            items.append(f"<li>Preset <b>{_e(preset.name)}</b>: {_e(preset.summary)}.</li>")
            items.append(f"<li>Confidence: {_e(preset.confidence)}.</li>")
            items.append(f"<li>Sources: {_e(preset.sources)}.</li>")
            items += [f"<li>{_e(note)}</li>" for note in preset.notes]
    else:
        items.append("<li>A custom sender: its schedule, expiry and give-up rule are as the scenario states "
                     "them, not a real MTA's defaults.</li>")
    window = setup.get("expiry_s")
    rule = GIVE_UP_RULES.get(str(setup.get("give_up")))
    if isinstance(window, (int, float)) and not isinstance(window, bool) and math.isfinite(window):
        items.append(f"<li>Window: {_e(format_duration(float(window)))}, give-up rule "
                     f"<b>{_e(setup.get('give_up'))}</b>"
                     + (f": {_e(' '.join((type(rule).__doc__ or '').split(chr(10) * 2)[0].split()))}" if rule else "")
                     + "</li>")
    items.append("<li>An attempt's result is decided by the recipient's state when it starts; outage windows "
                 "are half-open [start, end).</li>")
    return f"<ul class=\"assumptions\">{''.join(items)}</ul>"


# -- a curve folder ------------------------------------------------------------------------------------
def _curve_section(d: Path, k: int) -> tuple[str, str]:
    table = read_results_csv(d / "curve.csv", CURVE_COLUMNS)
    meta = read_results_json(d / "curve.json") or {}
    title = str(meta.get("scenario") or d.name)
    names, expiry, fraction = table.text("series"), table.floats("expiry_s"), table.floats("fraction", blank=True)
    series: dict[str, tuple[list[float], list[float]]] = {}
    for name, e, f in zip(names, expiry.tolist(), fraction.tolist()):
        series.setdefault(name, ([], []))
        series[name][0].append(e)
        series[name][1].append(f)
    windows = {name: shortest_windows(np.array(e), np.array(f)) for name, (e, f) in series.items()}
    what = f"{meta.get('replications', 1)} replication(s), method {meta.get('method', '?')}"
    parts = [f'<section class="curve" id="r{k}">', f"<h1>{_e(title)}</h1>",
             f'<p class="folder">curve folder <code>{_e(str(d))}</code>: {_e(what)}</p>',
             "<h2>Shortest expiry window delivering</h2>",
             _windows_html(windows, str(meta.get("series_kind") or "series"), _own_windows(meta)),
             "<h2>Figure</h2>", _figure("curve", [d], f"r{k}c-", "Fraction delivered against the expiry window.")]
    parts.append("</section>")
    return title, "\n".join(parts)


def _windows_html(windows: dict[str, list[float | None]], row_head: str,
                  own: dict[str, tuple[float, float]] | None = None) -> str:
    """The shortest windows per row; with ``own`` (curve.json's ``windows``: each series' configured window
    and the fraction delivered there) two more columns."""
    heads = "".join(f"<th>{level:.0%}</th>" for level in LEVELS)
    if own:
        heads += "<th>its own window</th><th>delivered there</th>"
    rows = []
    for name, values in windows.items():
        cells = "".join(f'<td data-value="{"" if v is None else v!r}">{_e(_hours(v))}</td>' for v in values)
        if own:
            window, fraction = own.get(name, (None, None))
            cells += (f"<td>{_e(format_duration(window))}</td><td>{fraction:.2%}</td>" if window is not None
                      else "<td>–</td><td>–</td>")
        rows.append(f"<tr><th>{_e(name)}</th>{cells}</tr>")
    unreached = any(v is None for values in windows.values() for v in values)
    return (f'<table class="windows"><thead><tr><th>{_e(row_head)}</th>{heads}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
            + ('<p class="note">A dash: no window tried reaches it.</p>' if unreached else ""))


def _own_windows(meta: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """curve.json's ``windows`` (series -> its configured expiry and the fraction delivered there), the
    well-formed entries only; empty for curves written before it was recorded."""
    out = {}
    entries = meta.get("windows")
    for name, w in (entries.items() if isinstance(entries, dict) else ()):
        if isinstance(w, dict) and all(isinstance(w.get(k), (int, float)) and not isinstance(w.get(k), bool)
                                       and math.isfinite(w[k]) for k in ("expiry_s", "fraction")):
            out[str(name)] = (float(w["expiry_s"]), float(w["fraction"]))
    return out


def _hours(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 3600:g} h"


# -- a sweep folder -------------------------------------------------------------------------------------
def _sweep_section(d: Path, k: int) -> tuple[str, str]:
    from .plotcmd import SWEEP_COLUMNS

    table = read_results_csv(d / "sweep.csv", SWEEP_COLUMNS)
    meta = read_results_json(d / "sweep.json") or {}
    title = str(meta.get("scenario") or d.name)
    params = meta.get("parameters")
    if not isinstance(params, list) or not all(isinstance(p, str) and p in table.header for p in params):
        raise ReportError(f"{d / 'sweep.json'}: parameters: expected the list of sweep.csv's parameter columns, "
                          f"got {params!r}")
    fraction = table.floats("fraction_delivered", blank=True)
    runs = meta.get("runs")
    if isinstance(runs, int) and not isinstance(runs, bool) and len(table.rows) < runs:
        done = f"{len(table.rows):,} of {runs:,} runs (unfinished: `mtasim sweep --resume` completes it)"
    else:
        done = f"{len(table.rows):,} runs"
    parts = [f'<section class="sweep" id="r{k}">', f"<h1>{_e(title)}</h1>",
             f'<p class="folder">sweep folder <code>{_e(str(d))}</code>: {_e(done)} over '
             f"{_e(', '.join(params))}</p>"]
    expiry = [p for p in params if "expiry" in p]
    if expiry:
        e = table.floats(expiry[0])
        others = [p for p in params if p != expiry[0]]
        durations = set(meta.get("duration_parameters") or [])
        groups: dict[tuple[str, ...], dict[float, list[float]]] = {}
        for i, key in enumerate(zip(*(table.text(p) for p in others)) if others else [()] * len(table.rows)):
            groups.setdefault(key, {}).setdefault(float(e[i]), []).append(float(fraction[i]))
        windows = {}
        for key in sorted(groups, key=_sort_key):
            by_e = groups[key]
            label = ", ".join(_param_text(p, v, p in durations, len(others) > 1) for p, v in zip(others, key))
            xs = np.array(sorted(by_e))
            windows[label or "all runs"] = shortest_windows(xs, np.array([np.nanmean(by_e[x]) for x in xs]))
        parts += [f"<h2>Shortest {_e(expiry[0])} delivering (mean over replications)</h2>",
                  _windows_html(windows, ", ".join(others) or "sweep")]
    if len(params) == 2:
        parts += ["<h2>Figure</h2>", _figure("heatmap", [d], f"r{k}h-", "Mean fraction delivered per grid point.")]
    else:
        parts.append(f"<p class=\"note\">{len(params)} parameters: draw a heatmap of two of them with "
                     f"<code>mtasim plot heatmap {_e(str(d))} --rows P --cols Q --out F.png</code>.</p>")
    parts.append("</section>")
    return title, "\n".join(parts)


def _sort_key(values: tuple[str, ...]) -> tuple:
    """Grid points in numeric order where the values are numbers, else as text."""
    out = []
    for v in values:
        try:
            out.append((0, float(v), ""))
        except ValueError:
            out.append((1, 0.0, v))
    return tuple(out)


def _param_text(name: str, value: str, is_duration: bool, named: bool) -> str:
    """A sweep parameter's value as a person reads it: durations (seconds in sweep.csv) in hours."""
    if is_duration:
        try:
            value = _hours(float(value))
        except ValueError:
            pass
    return f"{name} = {value}" if named else value


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #222;
       max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 4em; line-height: 1.45; background: #fff; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
h2 { font-size: 1.2em; margin-top: 1.6em; color: #333; }
h3 { font-size: 1em; margin: .4em 0; }
code { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: .9em; background: #f3f3f3;
       padding: 0 .25em; border-radius: 3px; }
.folder, .note { color: #555; font-size: .92em; }
.cols { display: flex; gap: 2em; flex-wrap: wrap; }
.cols > div { flex: 1 1 20em; }
table { border-collapse: collapse; margin: .6em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25em .9em; border-bottom: 1px solid #e4e4e4; }
td { text-align: right; }
thead th { border-bottom: 2px solid #bbb; text-align: right; }
thead th:first-child, tbody th { text-align: left; font-weight: normal; }
tr.total th, tr.total td { font-weight: bold; border-top: 2px solid #bbb; }
tr.delivered th { color: #1a9850; } tr.expired th { color: #d73027; } tr.bounced th { color: #7b3294; }
figure { margin: 1.2em 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: .92em; }
ul.numbers, ul.assumptions { padding-left: 1.2em; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mtasim report">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
{body}
</body>
</html>
"""
