"""Command line: argument parsing and error reporting only; the work happens in the package.

Bad input of any kind ends in one line on stderr (file, key, what was expected) and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from pathlib import Path
import typing
from typing import Any, Sequence


from . import __version__
from .config import ConfigError, Node
from .durations import DurationError, format_duration, format_hms, parse_duration
from .engine import ENGINES, EngineUnavailableError, simulate
from .importers import add_import_parser
from .inputs import escape, limits_enabled, load_yaml_value, set_limits
from .outputs import (
    CURVE_FILES,
    PARETO_FILES,
    RUN_FILES,
    OutputError,
    OutputSet,
    Terminated,
    check_output_dir,
    check_output_file,
    forget_signals,
    install_sigterm,
    is_notice_file,
    raise_if_stopped,
    same_path,
)
from .plotcmd import PlotInputError, add_plot_parser
from .presets import PRESETS, UnknownPresetError, get_preset, sender_from_preset_node
from .queue_view import QueueViewError, parse_moment, qshape_text
from .results import csv_cell
from .rng import Purpose, stream_key, uniform
from .scenario import load_scenario
from .sender import trace_schedule

EXIT_USAGE = 2
#: A bug (an exception that is not about the input): one line, the traceback with MTASIM_DEBUG=1.
EXIT_INTERNAL = 1
#: How many messages the timeline plot shows at most (attempts are recorded for those only).
PLOT_MESSAGES = 200
#: Runs at least this large show a progress bar on a terminal.
PROGRESS_MESSAGES = 200_000


class UsageError(Exception):
    """Bad input found by the CLI itself; the text is the whole line shown."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    install_sigterm()
    limits_were = limits_enabled()
    if getattr(args, "no_limits", False):
        set_limits(False)
    try:
        code = args.func(args)
        raise_if_stopped()              # a Ctrl-C or SIGTERM whose exception library code swallowed
        return code
    except (ConfigError, UsageError, EngineUnavailableError, UnknownPresetError, PlotInputError,
            QueueViewError, OutputError) as exc:
        print(f"mtasim: {escape(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except RecursionError:
        print("mtasim: the input is nested too deeply to read", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("mtasim: ran out of memory: the input asks for more than this machine has (fewer messages, "
              "domains or attempts)", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("mtasim: terminated (SIGTERM); files already written are complete, nothing is half-written",
              file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("mtasim: interrupted; files already written are complete, nothing is half-written",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:            # a bug, not bad input: one line, the traceback on request
        return _internal_error(exc)
    finally:
        set_limits(limits_were)
        forget_signals()


def _internal_error(exc: BaseException) -> int:
    """One line for an exception that is a bug; ``MTASIM_DEBUG=1`` prints the traceback before it."""
    if os.environ.get("MTASIM_DEBUG", "").strip() not in ("", "0"):
        import traceback
        traceback.print_exception(exc, file=sys.stderr)
    text = escape(str(exc))
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(detail) > 300:
        detail = detail[:300] + "..."
    print(f"mtasim: internal error ({detail}); this is a bug in mtasim, please report it; "
          f"MTASIM_DEBUG=1 shows the traceback", file=sys.stderr)
    return EXIT_INTERNAL


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error of every other refusal: ``mtasim: run: argument --seed: ...; see
    mtasim run --help`` and exit status 2 (argparse would print the usage block first). Subcommand
    parsers are of this class too (argparse makes them with the class of their parent)."""

    def _get_values(self, action, arg_strings):
        # argparse drops a lone "--" even from "--out=--", leaving an option an empty list, not a string
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected a value, got '--'")
        return super()._get_values(action, arg_strings)

    def error(self, message: str) -> typing.NoReturn:
        command = self.prog.removeprefix("mtasim").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_USAGE, f"mtasim: {escape(where + message)}; see {escape(self.prog)} --help\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mtasim", description="Simulate a mail server's retry queue: which "
                                "messages survive a recipient outage, which expire with 4.4.7.")
    p.add_argument("--version", action="version", version=f"mtasim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate a scenario file and summarise the outcomes")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--out", metavar="DIR", help="write summary.json, messages.csv, outages.csv, queue.csv and "
                     "timeline.png here (and qshape.txt with --qshape)")
    run.add_argument("--attempts", action="store_true", help="also write attempts.csv (needs --out)")
    run.add_argument("--queue-interval", metavar="DURATION",
                     help="queue.csv's interval, e.g. 15m (default: 5m, coarser for long runs; needs --out)")
    run.add_argument("--qshape", metavar="WHEN",
                     help="print the queue at WHEN as Postfix's qshape does: a duration since the start (30h), "
                     "an ISO timestamp or a weekday and time (\"Sat 06:00\")")
    run.add_argument("--seed", type=_seed, help="override the scenario's seed")
    run.add_argument("--engine", choices=ENGINES, default="auto", help="simulation engine (default auto)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    run.add_argument("--dsn", metavar="DIR", help="write an RFC 3464 notice per delay warning, expiry and bounce")
    run.add_argument("--log", metavar="FILE", help="write the run as the preset's own mail log lines")
    run.set_defaults(func=cmd_run)

    sch = sub.add_parser("schedule", help="attempt times of one message whose recipient never answers")
    sch.add_argument("preset", help="preset name (see `mtasim presets`)")
    sch.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a preset parameter, in the MTA's own name (repeatable)")
    sch.add_argument("--until", metavar="DURATION", help="list attempts up to this age only")
    sch.add_argument("--failure", default="refused",
                     help="what every attempt gets: refused (default), timeout or an SMTP reply")
    sch.add_argument("--seed", type=_seed, default=None,
                     help="draw jitter from this seed (default: nominal jitter, as in the worked examples)")
    sch.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sch.set_defaults(func=cmd_schedule)

    pre = sub.add_parser("presets", help="list the presets and their parameters")
    pre.add_argument("--json", action="store_true", help="print JSON instead of text")
    pre.set_defaults(func=cmd_presets)

    rec = sub.add_parser("recipients", help="list the named recipient behaviours (behaviour: NAME)")
    rec.add_argument("--json", action="store_true", help="print JSON instead of text")
    rec.set_defaults(func=cmd_recipients)

    val = sub.add_parser("validate", help="check a scenario file without running it")
    val.add_argument("scenario", help="scenario YAML file")
    val.set_defaults(func=cmd_validate)

    sma = sub.add_parser("schema", help="print the JSON Schema of the scenario format (for editors)")
    sma.set_defaults(func=cmd_schema)

    cur = sub.add_parser("curve", help="fraction delivered against the expiry window")
    cur.add_argument("scenario", help="scenario YAML file")
    cur.add_argument("--expiry", metavar="RANGE",
                     help="expiry windows: start..end/step or a comma list (default hourly from 1h to 96h, or to "
                     "a day past the longest series' own window)")
    cur.add_argument("--series", metavar="KIND=V1,V2",
                     help="one line per preset=NAME,... or per outage=DURATION,...")
    cur.add_argument("--replications", type=_positive_int, default=1, help="runs per series (seeds seed..seed+N-1)")
    cur.add_argument("--method", choices=("auto", "single-run", "explicit"), default="auto",
                     help="auto: one run per series and replication where valid (default)")
    cur.add_argument("--out", metavar="DIR", required=True, help="write curve.csv, curve.json, curve.png here")
    cur.add_argument("--workers", type=_positive_int, default=1, help="parallel worker processes (default 1)")
    cur.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    cur.set_defaults(func=cmd_curve)

    swp = sub.add_parser("sweep", help="run the scenario's sweep: grid x replications, one row per run")
    swp.add_argument("scenario", help="scenario YAML file with a sweep: section")
    swp.add_argument("--out", metavar="DIR", required=True, help="write sweep.csv and sweep.json here")
    swp.add_argument("--workers", type=_positive_int, default=1, help="parallel worker processes (default 1)")
    swp.add_argument("--resume", action="store_true", help="skip the runs already in DIR/sweep.csv")
    swp.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster: tcp://host:8786, or local")
    swp.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    swp.set_defaults(func=cmd_sweep)

    tun = sub.add_parser("tune", help="shortest expiry for a target, or a schedule Pareto front")
    tsub = tun.add_subparsers(dest="what", required=True, metavar="WHAT")
    te = tsub.add_parser("expiry", help="shortest expiry window delivering --target of the messages")
    te.add_argument("scenario", help="scenario YAML file")
    te.add_argument("--target", type=float, required=True, help="fraction to deliver, in (0, 1]")
    te.add_argument("--replications", type=_positive_int, default=1)
    te.add_argument("--max-expiry", default="30d", metavar="DURATION", help="longest window tried (default 30d)")
    te.add_argument("--json", action="store_true")
    te.set_defaults(func=cmd_tune_expiry)
    ts = tsub.add_parser("schedule", help="Pareto front of attempts against recovery lag over a schedule family")
    ts.add_argument("scenario", help="scenario YAML file")
    ts.add_argument("--family", default="exponential", help="exponential (first, factor, max) or fixed (interval)")
    ts.add_argument("--max-recovery-lag", metavar="DURATION", help="recommend the cheapest schedule within this")
    ts.add_argument("--lag-percentile", type=_lag_percentile, default=95, metavar="95|99|100",
                    help="judge the recovery lag at this percentile of delivered messages (100: the slowest; "
                    "default 95)")
    ts.add_argument("--first", metavar="LIST", help="grid for first, e.g. 1m,5m,15m")
    ts.add_argument("--factor", metavar="LIST", help="grid for factor, e.g. 1.5,2,3")
    ts.add_argument("--max", metavar="LIST", help="grid for max, e.g. 30m,1h,4h")
    ts.add_argument("--interval", metavar="LIST", help="grid for fixed intervals")
    ts.add_argument("--min-delivered", type=float, metavar="FRACTION",
                    help="keep schedules delivering less than this out of the front, e.g. 0.99")
    ts.add_argument("--replications", type=_positive_int, default=1)
    ts.add_argument("--workers", type=_positive_int, default=1)
    ts.add_argument("--out", metavar="DIR", help="write pareto.csv, pareto.json, pareto.png here")
    ts.set_defaults(func=cmd_tune_schedule)

    for command in (run, val, cur, swp, te, ts):
        command.add_argument("--no-limits", action="store_true",
                             help="run even when the estimated work (attempts or delay warnings per message) is "
                             "beyond mtasim's sane bounds (also MTASIM_NO_LIMITS=1)")
    add_plot_parser(sub)
    add_import_parser(sub)
    from .replay import add_replay_parser       # mtasim replay: a real log re-run
    add_replay_parser(sub)

    rep = sub.add_parser("report", help="one self-contained HTML page from results folders (run, curve, sweep)")
    rep.add_argument("results", nargs="+", metavar="RESULTS_DIR", help="folder written by run, curve or sweep --out")
    rep.add_argument("--out", required=True, metavar="FILE", help="HTML file to write, e.g. report.html")
    rep.set_defaults(func=cmd_report)
    return p


def _whole_number(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value
    return parse


_positive_int = _whole_number(1)


def _lag_percentile(text: str) -> int:
    """An argparse type: one of the recovery-lag percentiles tune schedule judges on."""
    if text.strip() not in ("95", "99", "100"):
        raise argparse.ArgumentTypeError(f"expected one of 95, 99, 100, got {text!r}")
    return int(text)
_seed = _whole_number(0)


# ------------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    if args.attempts and not args.out:
        raise UsageError("--attempts writes attempts.csv and needs --out DIR")
    queue_interval = None
    if args.queue_interval is not None:
        if not args.out:
            raise UsageError("--queue-interval sets the interval of queue.csv and needs --out DIR")
        try:
            queue_interval = parse_duration(args.queue_interval)
        except DurationError as exc:
            raise UsageError(f"--queue-interval: {exc}") from None
    if args.qshape is not None and args.json and not args.out:
        raise UsageError("--qshape with --json: the summary is the only thing printed; add --out DIR to get "
                         "qshape.txt")
    out = Path(args.out) if args.out else None
    _check_run_outputs(args)          # every output path, before the scenario is even read
    scenario = load_scenario(args.scenario)
    qshape_at = parse_moment(args.qshape, scenario.start) if args.qshape is not None else None
    record: bool | int = False
    if args.attempts or args.dsn or args.log:
        record = True
    elif args.out:
        record = max(1, math.ceil(scenario.workload.expected_count / PLOT_MESSAGES))
    show_progress = sys.stderr.isatty() and scenario.workload.expected_count >= PROGRESS_MESSAGES
    extra = []
    # Every file of the run (--out, --dsn, --log) is written into scratch folders next to its destination
    # and moved into place together at the end: all of them appear, or none.
    with OutputSet() as outputs:
        out_scratch = outputs.directory("--out", out, RUN_FILES) if out is not None else None
        dsn_scratch = outputs.directory("--dsn", args.dsn, is_notice_file) if args.dsn else None
        log_scratch = (outputs.file("--log", args.log, make_parent=_log_dir_made(
            args, os.path.dirname(os.path.abspath(args.log)))) if args.log else None)
        result = simulate(scenario, args.seed, engine=args.engine, attempts=record, progress=show_progress)
        qshape = qshape_text(result, qshape_at) if qshape_at is not None else None
        if out_scratch is not None:
            _write_outputs(result, out_scratch, args.attempts, queue_interval, qshape)
        if dsn_scratch is not None:
            from .notices import write_dsn
            extra.append(f"{write_dsn(result, dsn_scratch):,} notices in {args.dsn}/")
        if log_scratch is not None:
            from .notices import write_log
            extra.append(f"{write_log(result, log_scratch):,} log lines in {args.log}")
        outputs.commit()
    if args.json:
        print(json.dumps(result.summary(), indent=2))
    else:
        from .tables import clock_start, run_tables_text    # outcomes per day (or hour), per recipient
        start = clock_start(scenario)           # the wall clock of the scenario's start:, None without one
        print(format_summary(result.summary(), outages=outage_windows(result), start=start))
        print(f"\n{run_tables_text(result.messages, start)}")
        if qshape is not None and qshape_at is not None:
            print(f"\nqueue at {_moment_text(qshape_at, scenario.start)}: messages by destination and age in "
                  f"minutes (qshape)")
            print(qshape, end="")
        if out is not None:
            print(f"wrote {out}/: summary.json, messages.csv, outages.csv, queue.csv"
                  + (", attempts.csv" if args.attempts else "") + ", timeline.png"
                  + (", qshape.txt" if qshape is not None else ""))
        for line in extra:
            print(f"wrote {line}")
    return 0


def _write_outputs(result, folder: Path, attempts: bool, queue_interval_s: float | None = None,
                   qshape: str | None = None) -> None:
    """Write run's files into ``folder`` (a scratch folder: :class:`OutputSet` moves them into place)."""
    from .plots import save_figure, timeline_figure, with_wall_clock
    from .results import atomic_write
    from .tables import clock_start

    result.write(folder, attempts=attempts, queue_interval_s=queue_interval_s)
    if qshape is not None:
        atomic_write(folder / "qshape.txt", lambda f: f.write(qshape))
    timeline = timeline_figure(result, max_messages=PLOT_MESSAGES)
    start = clock_start(result.scenario)
    save_figure(with_wall_clock(timeline, start) if start is not None else timeline, folder / "timeline.png")


def _log_dir_made(args: argparse.Namespace, log_dir: str) -> bool:
    return any(d and same_path(d, log_dir) for d in (args.out, args.dsn))


def _check_run_outputs(args: argparse.Namespace) -> None:
    """``run``'s output paths, checked before any work: each writable, none the same as another."""
    if args.out:
        check_output_dir("--out", args.out)
    if args.dsn:
        check_output_dir("--dsn", args.dsn)
    if args.log:
        # the log's folder must exist, unless it is the --out or --dsn folder this run makes
        log_dir = os.path.dirname(os.path.abspath(args.log))
        check_output_file("--log", args.log, make_parent=_log_dir_made(args, log_dir))
        if args.dsn and same_path(args.dsn, args.log):
            raise UsageError(f"--log {args.log}: the same path as --dsn; expected a file outside it")
        if args.out and (same_path(args.out, args.log)
                         or (same_path(args.out, log_dir) and Path(args.log).name in RUN_FILES)):
            raise UsageError(f"--log {args.log}: is a file --out {args.out} writes; choose another name")
        if args.dsn and same_path(args.dsn, log_dir) and is_notice_file(Path(args.log).name):
            raise UsageError(f"--log {args.log}: is a notice file --dsn {args.dsn} writes; choose another name")


def format_summary(s: dict[str, Any], outages: Sequence[tuple[str, float, float]] = (), start=None) -> str:
    """The run summary a person reads. ``outages`` (domain, start_s, end_s) are listed with the first and
    last expiry; ``start`` (the scenario's ``start:``, None when it sets none) adds the wall clock to them."""
    n = s["messages"]
    w = max(9, len(f"{n:,}"))
    lines = [f"{s['scenario']}  (seed {s['seed']}, engine {s['engine']})", "",
             f"{'outcome':<10} {'messages':>{w}} {'fraction':>9}"]
    for key in ("delivered", "expired", "bounced", "queued"):
        frac = s[key] / n if n else 0.0
        lines.append(f"{key:<10} {s[key]:>{w},} {frac:>9.1%}")
    lines.append(f"{'total':<10} {n:>{w},} {1.0 if n else 0.0:>9.1%}")
    lines.append("")
    lines.append(f"attempts              {s['attempts']:,} ({s['attempts_per_message']:.2f} per message)")
    lines.extend(_notice_lines(s))
    lat = s["delivery_latency_s"]
    if lat["p50"] is None:
        lines.append("delivery latency  - (nothing delivered)")
    else:
        lines.append("delivery latency  " + "  ".join(
            f"{k} {format_hms(round(lat[k]))}" for k in ("p50", "p90", "p99", "max")) + "  (h:mm:ss)")
    lag = s.get("recovery_lag_s", {})
    if lag.get("p50") is not None:
        lines.append("recovery lag      " + "  ".join(
            f"{k} {format_hms(round(lag[k]))}" for k in ("p50", "p95", "max"))
            + "  (delivery after the outage ended)")
    if "peak_queue" in s:
        lines.append(_queue_line(s))
    if "accepted_by_backup" in s:
        lines.append(f"backup MX         accepted {s['accepted_by_backup']:,}  relayed {s['relayed']:,}  "
                     f"expired at backup {s['expired_at_backup']:,}  (delivered, for this sender)")
    lines.extend(_time_lines(s, outages, start))
    return "\n".join(lines)


def _notice_lines(s: dict[str, Any]) -> list[str]:
    """Connections, held-back passes, non-delivery reports and delay notices, each in its own words."""
    held = s.get("held_back", 0)
    note = (f"the other {held:,} passes were held back by host state" if held
            else "every attempt tried to connect")
    return [f"connections           {s['connections']:,} ({note})",
            f"non-delivery reports  {s['non_delivery_reports']:,} (expired + bounced)",
            f"delay notices         {s['delay_notices']:,}"]


#: Outage windows the summary lists at most; outages.csv has them all.
SUMMARY_OUTAGES = 3


def _time_lines(s: dict[str, Any], outages: Sequence[tuple[str, float, float]], start) -> list[str]:
    """Outages and the first and last expiry: since the start and, with a ``start``, on its wall clock
    (weekday, date, time, UTC offset)."""
    def when(seconds: float) -> str:
        return _moment_text(round(seconds), start) if start is not None else format_hms(round(seconds))

    lines = []
    for domain, begin, end in sorted(outages, key=lambda o: (o[1], o[0]))[:SUMMARY_OUTAGES]:
        lines.append(f"outage            {domain}: {when(begin)} to {when(end)}")
    if len(outages) > SUMMARY_OUTAGES:
        lines.append(f"                  and {len(outages) - SUMMARY_OUTAGES:,} more outage windows (outages.csv)")
    for key in ("first", "last"):
        if s.get(f"{key}_expiry_s") is not None:
            lines.append(f"{key} expiry{' ' * (11 - len(key))}{when(s[f'{key}_expiry_s'])}")
    return lines


def outage_windows(result) -> list[tuple[str, float, float]]:
    """The windows in which a run's attempts failed, as (domain, start_s, end_s): outages.csv's domain rows
    (an MX host's own windows aside)."""
    return [(domain, o.start_s, o.end_s) for domain, host, o in result.outage_windows() if not host]


def _queue_line(s: dict[str, Any]) -> str:
    """The summary's queue fields in one line: peak (and when), recovery and drain time, expiries after
    recovery."""
    if not s["peak_queue"]:
        parts = ["peak 0 (no message ever waited)"]
    else:
        parts = [f"peak {s['peak_queue']:,} at {format_hms(round(s['peak_queue_s']))}"]
    if s.get("recovery_s") is not None:
        drained = (f"drained {format_hms(round(s['drain_time_s']))} later" if s.get("drain_time_s") is not None
                   else "nothing delivered after it")
        parts.append(f"recovery {format_hms(round(s['recovery_s']))}, {drained}")
    parts.append(f"expired after recovery {s['expired_after_recovery']:,}")
    return "queue             " + "  ".join(parts)


def _moment_text(at_s: float, start) -> str:
    """``30:00:00, Sat 2026-01-03 06:00:00 +0000``: since the start, and on the start's clock."""
    from datetime import timedelta
    when = start + timedelta(seconds=at_s)
    return f"{format_hms(at_s)}, {when.strftime('%a %Y-%m-%d %H:%M:%S %z')}"


# ------------------------------------------------------------------------------------------------
def cmd_schedule(args: argparse.Namespace) -> int:
    preset = get_preset(args.preset)
    data: dict[str, Any] = {"preset": preset.name}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item}: expected NAME=VALUE, e.g. --set maximal_queue_lifetime=1d")
        data[name.strip()] = load_yaml_value(value, f"--set {name.strip()}") if value.strip() else value
    sender = sender_from_preset_node(Node(data, "--set"))
    until = None
    if args.until is not None:
        try:
            until = parse_duration(args.until)
        except DurationError as exc:
            raise UsageError(f"--until: {exc}") from None
    from .recipients import failure_reply
    try:
        failure_reply(args.failure, 30.0)
    except ValueError as exc:
        raise UsageError(f"--failure: {exc}") from None
    if args.seed is None:         # nominal jitter: the schedule's draw for "no jitter" (1 unless it says)
        nominal = getattr(sender.schedule, "nominal_u", 1.0)
        draw = lambda k: nominal   # noqa: E731
    else:
        key = stream_key(args.seed, Purpose.JITTER)
        draw = lambda k: uniform(key, 0, k)   # noqa: E731
    trace = trace_schedule(sender, until_s=until, failure=args.failure, draw=draw)
    if args.json:
        print(json.dumps({"preset": preset.name, "attempts_s": trace.attempts_s, "give_up_s": trace.give_up_s,
                          "status": trace.status, "delay_warnings_s": trace.warnings_s}, indent=2))
        return 0
    print(f"{preset.name}: {preset.summary}")
    for line in sender.describe():
        print(f"  {line}")
    print()
    print(f"{'#':>4}  {'time after arrival':>18}  {'wait':>10}")
    previous = None
    for i, t in enumerate(trace.attempts_s, 1):
        wait = "" if previous is None else format_hms(t - previous)
        print(f"{i:>4}  {format_hms(t):>18}  {wait:>10}")
        previous = t
    print()
    for w in trace.warnings_s:
        print(f"delay warning at {format_hms(w)}")
    if trace.give_up_s is None:
        print(f"still queued at {format_hms(until)} (--until); last status {trace.status}")
    else:
        print(f"gives up at {format_hms(trace.give_up_s)} after {len(trace.attempts_s)} attempts, "
              f"status {trace.status}")
    return 0


#: The page of the repository that lists every preset parameter with its upstream source.
PRESET_SOURCES_DOC = "docs/sources.md"


def cmd_presets(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps({name: {"summary": p.summary, "sources": p.sources, "confidence": p.confidence,
                                 "parameters": {q.name: q.show() for q in p.params}}
                          for name, p in PRESETS.items()}, indent=2))
        return 0
    for name, p in PRESETS.items():
        print(f"{name}\n  {p.summary}\n  confidence: {p.confidence}; sources: {p.sources}")
        width = max((len(q.name) for q in p.params), default=0)
        vwidth = max((len(q.show()) for q in p.params), default=0)
        for q in p.params:
            alias = f" (also {', '.join(q.aliases)})" if q.aliases else ""
            print(f"    {q.name:<{width}}  {q.show():>{vwidth}}  {q.meaning}{alias}")
        print()
    print(f"Each parameter's upstream source (source file, manual page or vendor page): {PRESET_SOURCES_DOC} "
          f"in the mtasim repository.")
    return 0


def cmd_recipients(args: argparse.Namespace) -> int:
    from .recipients.library import RECIPIENT_BEHAVIOURS
    if args.json:
        print(json.dumps({name: {"summary": b.summary, "keys": b.keys, "sources": b.sources,
                                 "confidence": b.confidence} for name, b in RECIPIENT_BEHAVIOURS.items()}, indent=2))
        return 0
    for name, b in RECIPIENT_BEHAVIOURS.items():
        print(f"{name}\n  {b.summary}\n  confidence: {b.confidence}\n  sources: {b.sources}")
        for key, value in b.keys.items():
            print(f"    {key}: {json.dumps(value)}")
        print()
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    s = load_scenario(args.scenario)
    print(f"{args.scenario}: ok — {s.name}")
    print(f"  messages: {s.workload.describe()}")
    for line in s.sender.describe():
        print(f"  {line}")
    for r in s.recipients:
        print(f"  recipient {r.describe()}")
    if s.horizon_s is not None:
        print(f"  horizon: {format_duration(s.horizon_s)}")
    for line in _validate_wall_clock(s):
        print(f"  {line}")
    return 0


def _validate_wall_clock(s) -> list[str]:
    """With ``start:`` set, when things happen on its wall clock: the arrivals, each outage window given
    as times, the horizon, and when mail that is never delivered gives up (from the first arrival's
    deadline to the last's; at-deadline senders give up exactly then, the others at their first attempt
    at or after it)."""
    from .scenario import latest_arrival_s
    from .tables import clock_start
    start = clock_start(s)
    if start is None:
        return []
    w = s.workload
    first = min(w.times_s) if w.kind == "times" else w.start_s
    last = latest_arrival_s(w)
    lines = [f"start: {start.strftime('%a %Y-%m-%d %H:%M:%S %z')}",
             f"arrivals: {_moment_text(round(first), start)} to {_moment_text(round(last), start)}"]
    for r in s.recipients:
        windows = [(r.domain, o) for o in r.outages] + [(h.host, o) for h in r.mx for o in h.outages]
        for where, o in windows:
            lines.append(f"outage at {where}: {_moment_text(round(o.start_s), start)} to "
                         f"{_moment_text(round(o.end_s), start)}")
    if s.horizon_s is not None:
        lines.append(f"horizon: {_moment_text(round(s.horizon_s), start)}")
    expiry = s.sender.expiry_s
    if expiry is not None and not s.sender.give_up.counts_attempts:
        # at-deadline: a timer at the deadline; next-wait: when the next try would fall after it; the others
        # at the first pick-up or attempt at or after it
        when = {"at-deadline": "at", "next-wait": "by"}.get(s.sender.give_up.name, "from")
        lines.append(f"mail never delivered expires {when} arrival + {format_duration(expiry)}: the first "
                     f"{when} {_moment_text(round(first + expiry), start)}, the last {when} "
                     f"{_moment_text(round(last + expiry), start)}")
    return lines


def cmd_schema(args: argparse.Namespace) -> int:
    from .schema import scenario_schema
    print(json.dumps(scenario_schema(), indent=2))
    return 0


# ------------------------------------------------------------------------------------------------
def _durations(option: str, text: str) -> list[float]:
    """``start..end/step`` or ``a,b,c`` (durations) -> seconds."""
    from .grid import parse_range
    try:
        if ".." in text:
            return parse_range(text)
        values = [parse_duration(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if not values:
        raise UsageError(f"{option}: expected at least one value")
    return values


def _numbers(option: str, text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{option}: expected a comma list of numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) and 1 <= v <= 1e6 for v in values):
        raise UsageError(f"{option}: expected finite numbers >= 1 and <= 1e6, got {escape(repr(text))}")
    return values


#: Most runs (replications x series or schedules) a curve or a tuning may ask for unless limits are lifted.
MAX_RUNS = 100_000


def _check_runs(option: str, runs: int, what: str = "runs") -> None:
    if limits_enabled() and runs > MAX_RUNS:
        raise UsageError(f"{option}: expected at most {MAX_RUNS:,} {what}, got {runs:,}; --no-limits (or "
                         f"MTASIM_NO_LIMITS=1) runs them anyway")


def _check_expiry_work(scenario, expiry_s: float, option: str) -> None:
    """The work of the scenario's sender rebuilt with the longest expiry asked for (mtasim.inputs.check_work)."""
    from .inputs import check_work
    try:
        check_work(scenario.sender.with_expiry(expiry_s), scenario.horizon_s, scenario.source)
    except ConfigError as exc:
        raise UsageError(f"{option} {format_duration(expiry_s)}: {exc.expected}") from None


def cmd_curve(args: argparse.Namespace) -> int:
    import numpy as np

    from .curve import default_expiries, expiry_curve, shortest_windows
    from .outputs import worker_map
    from .plots import curve_figure, save_figure
    from .results import atomic_write

    expiries = _durations("--expiry", args.expiry) if args.expiry is not None else None
    out = check_output_dir("--out", args.out)
    _check_runs("--replications", args.replications)
    scenario = load_scenario(args.scenario)
    if expiries is None:
        expiries = default_expiries(scenario, args.series)
    _check_expiry_work(scenario, max(expiries), "--expiry")
    columns = ["series", "expiry_s", "delivered", "expired", "bounced", "queued", "messages", "fraction",
               "ci_low", "ci_high"]
    with OutputSet() as outputs:          # curve.csv, curve.json and curve.png appear together or not at all
        folder = outputs.directory("--out", out, CURVE_FILES)
        with worker_map(args.workers) as map_fn:
            curve = expiry_curve(scenario, expiries, series=args.series, replications=args.replications,
                                 method=args.method, map_fn=map_fn, progress=False if args.no_progress else None)

        def write_csv(f):
            w = csv.writer(f, lineterminator="\n")
            w.writerow(columns)
            for p in curve.points:
                w.writerow([csv_cell(getattr(p, c)) for c in columns])

        atomic_write(folder / "curve.csv", write_csv)
        meta = {"scenario": curve.scenario, "series_kind": curve.series_kind, "method": curve.method,
                "replications": curve.replications, "points": len(curve.points),
                "seconds": round(curve.seconds, 3),
                "windows": {label: {c: getattr(p, c) for c in columns[1:]} for label, p in curve.windows.items()}}
        atomic_write(folder / "curve.json", lambda f: f.write(json.dumps(meta, indent=2) + "\n"))
        legend = {"preset": "sender preset", "outage": "outage length"}.get(curve.series_kind)
        save_figure(curve_figure(curve.figure_data(), curve.scenario, legend_title=legend,
                                 windows=curve.window_data()), folder / "curve.png")
        outputs.commit()
    print(f"{curve.scenario}: {len(curve.points)} points, method {curve.method}, "
          f"{curve.replications} replication(s), {curve.seconds:.2f} s")
    print()
    print(f"{'series':<28} {'shortest expiry delivering':>35} {'its own window':>19}")
    print(f"{'':<28} {'50%':>8} {'90%':>8} {'99%':>8} {'100%':>8} {'expiry':>8} {'delivered':>10}")
    for label, pts in curve.series().items():
        shortest = shortest_windows(np.array([p.expiry_s for p in pts]), np.array([p.fraction for p in pts]))
        cells = [f"{w / 3600:g}h" if w is not None else "-" for w in shortest]
        own = curve.windows.get(label)
        cells += [format_duration(own.expiry_s), f"{own.fraction:.2%}"] if own else ["-", "-"]
        print(f"{label:<28} " + " ".join(f"{c:>8}" for c in cells[:5]) + f" {cells[5]:>10}")
    print(f"\nwrote {out}/: curve.csv, curve.json, curve.png")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import ReportError, write_report

    check_output_file("--out", args.out)          # writable, before any folder is read
    try:
        path = write_report(args.results, args.out)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {path}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import (
        SweepError,
        dask_executor,
        plan_sweep,
        process_executor,
        run_sweep,
        serial_executor,
    )

    check_output_dir("--out", args.out)
    scenario = load_scenario(args.scenario)
    tasks = plan_sweep(scenario, args.out)  # validates every grid point before anything is written
    try:
        if args.dask:
            executor = dask_executor(args.dask, args.workers)
        elif args.workers > 1:
            executor = process_executor(args.workers)
        else:
            executor = serial_executor
        path = run_sweep(scenario, args.out, executor=executor, resume=args.resume,
                         progress=False if args.no_progress else None, report=print, planned=tasks)
    except SweepError as exc:
        raise UsageError(str(exc)) from None
    spec = scenario.sweep
    print(f"{scenario.name}: {spec.size()} grid points x {spec.replications} replication(s) = {len(tasks)} runs")
    print(f"wrote {path}")
    return 0


def cmd_tune_expiry(args: argparse.Namespace) -> int:
    from .tune import tune_expiry

    try:
        max_expiry = parse_duration(args.max_expiry)
    except DurationError as exc:
        raise UsageError(f"--max-expiry: {exc}") from None
    if not 0 < args.target <= 1:                  # NaN fails this too
        raise UsageError(f"--target: expected a fraction in (0, 1], got {args.target}")
    _check_runs("--replications", args.replications)
    scenario = load_scenario(args.scenario)
    _check_expiry_work(scenario, max_expiry, "--max-expiry")
    a = tune_expiry(scenario, args.target, replications=args.replications, max_expiry_s=max_expiry)
    if args.json:
        print(json.dumps({"scenario": scenario.name, "target": a.target, "expiry_s": a.expiry_s,
                          "ci_low_s": a.ci_low_s, "ci_high_s": a.ci_high_s, "fraction": a.fraction,
                          "fraction_ci": list(a.fraction_ci), "messages": a.messages,
                          "replications": a.replications, "give_up": a.give_up}, indent=2))
        return 0
    print(f"{scenario.name}: {a.messages:,} messages over {a.replications} replication(s), give-up rule {a.give_up}")
    if a.expiry_s is None:
        print(f"no expiry window up to {format_duration(a.max_expiry_s)} delivers {a.target:.2%}: "
              f"at most {a.fraction:.3%} get through")
        return 0
    def show(x):
        return "beyond " + format_duration(a.max_expiry_s) if x is None else f"{format_hms(x)}"
    interval = (f"95% interval {show(a.ci_low_s)} .. {show(a.ci_high_s)}" if a.method == "single-run"
                else "found by bisection over explicit runs (host-level state, or a schedule shaped by the "
                "expiry): no interval")
    print(f"shortest expiry delivering >= {a.target:.3%}: {format_hms(a.expiry_s)} ({interval})")
    print(f"delivered at that window: {a.fraction:.3%} (95% interval {a.fraction_ci[0]:.3%} .. "
          f"{a.fraction_ci[1]:.3%})")
    return 0


def _check_schedule_grid(scenario, family: str, grid: dict[str, tuple[float, ...]], replications: int) -> None:
    """Refuse a grid of too many runs, or a schedule of it that would try a message too often."""
    from dataclasses import replace

    from .inputs import check_work
    from .tune import FAMILIES, family_schedules

    sizes = [len(grid.get(k, v)) for k, v in FAMILIES[family].items()]
    _check_runs("the schedule grid", math.prod(sizes) * replications, "runs (schedules x replications)")
    for label, schedule, _ in family_schedules(family, grid):
        try:
            check_work(replace(scenario.sender, schedule=schedule), scenario.horizon_s, scenario.source)
        except ConfigError as exc:
            raise UsageError(f"schedule {label} of the grid: {exc.expected}") from None


def cmd_tune_schedule(args: argparse.Namespace) -> int:
    from .outputs import worker_map
    from .plots import pareto_figure, save_figure
    from .results import atomic_write
    from .tune import FAMILIES, lag_name, tune_schedule

    if args.family not in FAMILIES:
        raise UsageError(f"--family: expected one of {', '.join(FAMILIES)}, got {args.family!r}")
    grid: dict[str, tuple[float, ...]] = {}
    for name in ("first", "max", "interval"):
        if getattr(args, name) is not None:
            grid[name] = tuple(_durations(f"--{name}", getattr(args, name)))
    if args.factor is not None:
        grid["factor"] = _numbers("--factor", args.factor)
    wrong = [k for k in grid if k not in FAMILIES[args.family]]
    if wrong:
        raise UsageError(f"--{wrong[0]}: not a parameter of the {args.family} family "
                         f"(it has {', '.join(FAMILIES[args.family])})")
    lag_limit = _durations("--max-recovery-lag", args.max_recovery_lag)[0] if args.max_recovery_lag else None
    if args.min_delivered is not None and not 0 < args.min_delivered <= 1:
        raise UsageError(f"--min-delivered: expected a fraction in (0, 1], got {args.min_delivered}")
    if args.out:
        check_output_dir("--out", args.out)
    scenario = load_scenario(args.scenario)
    _check_schedule_grid(scenario, args.family, grid, args.replications)
    with worker_map(args.workers) as map_fn:
        candidates = tune_schedule(scenario, args.family, replications=args.replications, grid=grid,
                                   map_fn=map_fn, min_delivered=args.min_delivered,
                                   lag_percentile=args.lag_percentile)
    lag = f"{lag_name(args.lag_percentile)} recovery lag"
    front = [c for c in candidates if c.on_front]
    print(f"{scenario.name}: {len(candidates)} {args.family} schedules, {len(front)} on the Pareto front")
    print()
    print(f"{'schedule':<26} {'attempts/msg':>12} {lag:>17} {'delivered':>10}")
    for c in front:
        print(f"{c.label:<26} {c.mean_attempts:>12.2f} {format_hms(round(c.recovery_lag_s)):>17} "
              f"{c.fraction_delivered:>10.2%}")
    if lag_limit is not None:
        ok = [c for c in front if c.recovery_lag_s <= lag_limit]
        print()
        if ok:
            best = ok[0]
            print(f"cheapest schedule with {lag} <= {format_duration(lag_limit)}: {best.label} "
                  f"({best.mean_attempts:.2f} attempts per message, lag {format_hms(round(best.recovery_lag_s))})")
        else:
            print(f"no schedule of this grid keeps the {lag} within {format_duration(lag_limit)}")
    if args.out:
        out = Path(args.out)
        outputs = OutputSet()           # pareto.csv, .json and .png appear together or not at all
        folder = outputs.directory("--out", out, PARETO_FILES)
        columns = ["label", "first_s", "factor", "max_s", "interval_s", "mean_attempts", "recovery_lag_p95_s",
                   "recovery_lag_p99_s", "recovery_lag_max_s", "fraction_delivered", "on_front"]

        def write_csv(f):
            w = csv.writer(f, lineterminator="\n")
            w.writerow(columns)
            for c in candidates:
                values = {"label": c.label, **c.params, "mean_attempts": c.mean_attempts,
                          "recovery_lag_p95_s": c.recovery_lag_p95_s, "recovery_lag_p99_s": c.recovery_lag_p99_s,
                          "recovery_lag_max_s": c.recovery_lag_max_s, "fraction_delivered": c.fraction_delivered,
                          "on_front": "true" if c.on_front else "false"}
                w.writerow([csv_cell(values.get(k)) for k in columns])

        with outputs:
            atomic_write(folder / "pareto.csv", write_csv)
            meta = {"scenario": scenario.name, "family": args.family, "max_recovery_lag_s": lag_limit,
                    "lag_percentile": args.lag_percentile, "replications": args.replications}
            atomic_write(folder / "pareto.json", lambda f: f.write(json.dumps(meta, indent=2) + "\n"))
            fig = pareto_figure({"mean_attempts": [c.mean_attempts for c in candidates],
                                 "recovery_lag_s": [c.recovery_lag_s for c in candidates],
                                 "on_front": [c.on_front for c in candidates],
                                 "labels": [c.label for c in candidates]},
                                scenario.name, lag_limit, lag_percentile=args.lag_percentile)
            save_figure(fig, folder / "pareto.png")
            outputs.commit()
        print(f"\nwrote {out}/: pareto.csv, pareto.json, pareto.png")
    return 0
