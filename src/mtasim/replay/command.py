"""``mtasim replay MTA LOG... --out DIR``: the subcommand's arguments, its files and what it prints.

Files (all or none, mtasim.outputs.OutputSet): messages.csv and attempts.csv in run's columns (so
``plot timeline`` reads a replay), outages.csv (run's columns, then the brackets the log leaves),
summary.json, comparison.csv (log against prediction, message by message), scenario.yaml (the
destination with the most failed passes; scenario-DOMAIN.yaml for any other with an outage) and, with
``--what-if``, whatif.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..outputs import OutputSet
from ..recipients import AttemptResult
from ..results import OUTCOME_LABELS, Outcome, atomic_write, csv_cell
from .events import Event
from .exchange import EXPECTED as EXCHANGE_EXPECTED, parse_exchange
from .exim import EXPECTED as EXIM_EXPECTED, parse_exim
from .incident import DEFAULT_PRESET, Incident, SenderBlock, by_failures, incidents, scenario_text
from .postfix import EXPECTED as POSTFIX_EXPECTED, parse_postfix
from .predict import Comparison, Predicted, compare, logged_count, predicted, run_incident
from .reconstruct import Reconstruction, reconstruct
from .source import LogError, merge
from .tables import as_result
from .timestamps import parse_zone
from .whatif import VariantResult, check_variants, parse_what_if, run_variants

__all__ = ["add_replay_parser", "cmd_replay", "read_logs", "REPLAY_FILES"]

MTAS = ("postfix", "exim", "exchange")
_PARSERS = {"postfix": (parse_postfix, POSTFIX_EXPECTED), "exim": (parse_exim, EXIM_EXPECTED),
            "exchange": (parse_exchange, EXCHANGE_EXPECTED)}
REPLAY_FILES = frozenset({"summary.json", "messages.csv", "attempts.csv", "outages.csv", "comparison.csv",
                          "whatif.csv", "scenario.yaml"})


def _owned(name: str) -> bool:
    return name in REPLAY_FILES or (name.startswith("scenario-") and name.endswith(".yaml"))


def add_replay_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="reconstruct a real mail log, infer the outages and re-run the incident",
                       description="Read Postfix syslog lines, an Exim main log or an Exchange message tracking "
                       "log (plain or gzip'd, several files merged by time), reconstruct every message and "
                       "each destination's outages, write the incident as a scenario and compare the "
                       "simulator's prediction with the log.")
    p.add_argument("mta", choices=MTAS, help="which program wrote the log")
    p.add_argument("logs", nargs="+", metavar="LOG", help="log file(s), plain or gzip'd, in any order")
    p.add_argument("--out", metavar="DIR", required=True, help="write the replay's files here")
    p.add_argument("--config", metavar="FILE", action="append", help="the MTA's configuration as `mtasim import` "
                   "reads it, repeatable (later files override earlier ones): the scenario's sender; default: the "
                   "preset's defaults")
    p.add_argument("--preset", help="the preset without --config (default: postfix, exim, exchange-server)")
    p.add_argument("--year", type=int, help="the year of the first line of each RFC 3164 syslog file (default: "
                   "from the file's modification time)")
    p.add_argument("--tz", default="UTC", help="the zone of timestamps without one (syslog, Exim, Export-Csv): "
                   "UTC (default), an IANA name or an offset such as +01:00")
    p.add_argument("--what-if", action="append", default=[], metavar="KEY=V1,V2",
                   help="re-run the incident with other values: preset=exchange-online,exchange-server or "
                   "sender.maximal_queue_lifetime=2d,3d (repeatable)")
    p.set_defaults(func=cmd_replay)


def read_logs(mta: str, paths: list[str], year: int | None = None, zone: Any = timezone.utc
              ) -> tuple[Reconstruction, list[str]]:
    """Reconstruct the logs of ``mta``; also the notes on inferred years. Refuses a file with none of
    the program's lines, and logs with no delivery attempt to a remote destination."""
    parse, expected = _PARSERS[mta]
    seen = {path: [0, 0] for path in paths}
    notes: list[str] = []

    def stream(path: str) -> Iterator[Event]:
        yield from parse(path, year, zone, seen[path])
        if seen[path][0] == 0:
            raise LogError(path, f"expected {expected}; found none")

    rec = reconstruct(merge(stream(p) for p in paths))
    if not any(a.result != AttemptResult.SUSPENDED for m in rec.messages for a in m.attempts):
        raise LogError(", ".join(paths), f"expected delivery attempts to a remote destination "
                       f"({mta} lines with a remote relay), found none in {rec.events:,} events")
    if year is None and any(s[1] for s in seen.values()):
        notes.append("years of syslog stamps (RFC 3164) taken from each file's modification time; --year sets them")
    return rec, notes


def _sender_block(args: argparse.Namespace) -> SenderBlock:
    if args.config:
        if args.preset:
            raise ConfigError("--preset", "", "expected either --config or --preset, not both")
        from ..importers import import_config
        imported = import_config(args.mta, args.config)
        comments = [f"sender: mtasim import {args.mta} {' '.join(args.config)}"]
        comments += [f"  {n}: {imported.found[n].source} line {imported.found[n].line}" for n in imported.values]
        return SenderBlock(imported.sender(), comments, True)
    preset = args.preset or DEFAULT_PRESET[args.mta]
    from ..presets import get_preset
    get_preset(preset)                                  # an unknown name is refused here
    return SenderBlock({"preset": preset}, [f"sender: preset {preset} at its defaults: the configuration was "
                                            f"not given (--config FILE); the prediction assumes them"], False)


def cmd_replay(args: argparse.Namespace) -> int:
    """Read, reconstruct, simulate, compare, write; print the summary."""
    try:
        zone = parse_zone(args.tz)
    except ValueError as exc:
        raise ConfigError("--tz", "", str(exc)) from None
    if args.year is not None and not 1970 <= args.year <= 9999:
        raise ConfigError("--year", "", f"expected a year from 1970 to 9999, got {args.year}")
    variants = parse_what_if(args.what_if)
    sender = _sender_block(args)
    check_variants(variants, sender.values)
    with OutputSet() as outputs:
        scratch = outputs.directory("--out", args.out, _owned)
        rec, notes = read_logs(args.mta, args.logs, args.year, zone)
        t0 = math.floor(rec.first_s)
        log_name = ", ".join(Path(p).name for p in args.logs)
        incs = incidents(rec, sender, t0, log_name)
        index = {id(m): i for i, m in enumerate(rec.messages)}
        prediction: dict[int, Predicted] = {}
        for inc in incs:
            for msg, p in zip(inc.messages, predicted(run_incident(inc), t0, args.mta)):
                prediction[index[id(msg)]] = p
        comparisons = compare(rec.messages, prediction)
        whatif = run_variants(incs, variants, t0, args.mta) if variants else []
        summary = _summary(args, rec, t0, incs, comparisons, whatif, sender, notes)
        _write(scratch, rec, t0, incs, comparisons, whatif, summary, sender, args)
        outputs.commit()
    print(summary_text(summary), end="")
    return 0


# ------------------------------------------------------------------------------------------------
def _rel(t: float | None, t0: float) -> float | None:
    """Seconds since the start, to the microsecond (the finest a log writes)."""
    return None if t is None else round(t - t0, 6)


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(args, rec: Reconstruction, t0: float, incs: list[Incident], comparisons: list[Comparison],
             whatif: list[VariantResult], sender: SenderBlock, notes: list[str]) -> dict[str, Any]:
    msgs = rec.messages
    counts = {o.label: sum(1 for m in msgs if m.outcome == o) for o in Outcome}
    compared = [c for c in comparisons if c.agrees is not None]
    agree = sum(1 for c in compared if c.agrees)
    name = ", ".join(Path(p).name for p in args.logs)
    out: dict[str, Any] = {
        "scenario": f"replay of {name} ({args.mta})",
        "start": _iso(t0),
        "end": _iso(rec.last_s),
        "mta": args.mta,
        "engine": "replay",
        "files": [str(p) for p in args.logs],
        "events": rec.events,
        "messages": len(msgs),
        **counts,
        "arrival_unknown": sum(1 for m in msgs if m.arrival_s is None),
        "attempts": sum(len(m.attempts) for m in msgs),
        "delay_warnings": sum(len(m.warnings) for m in msgs),
        "destinations": len({m.domain for m in msgs}),
        "arrivals": _arrivals(msgs),
        "outages": [{"destination": o.domain, "start_after": _iso(o.start_after_s), "start_by": _iso(o.start_by_s),
                     "end_after": _iso(o.end_after_s), "end_by": _iso(o.end_by_s),
                     "failures": dict(o.failures)} for o in rec.outages],
        "prediction": {"sender": sender.values, "configuration_known": sender.known, "compared": len(compared),
                       "agree": agree, "agreement": round(agree / len(compared), 6) if compared else None},
        "notes": notes + [n for i in incs for n in i.notes],
    }
    if incs:                        # the incident in words, for `mtasim report` (the first scenario's)
        from ..scenario import scenario_from_dict, setup_record
        out["setup"] = setup_record(scenario_from_dict(by_failures(incs)[0].data, "scenario.yaml"))
    if whatif:
        out["what_if"] = [{"variant": r.variant.label, **r.counts, "saved": len(r.saved), "lost": len(r.lost)}
                          for r in whatif]
    return out


def _arrivals(msgs: list) -> list[dict[str, Any]]:
    """Each destination's arrival process as logged: how many, when, at what mean rate."""
    out = []
    for domain in sorted({m.domain for m in msgs}):
        times = sorted(m.arrival_s for m in msgs if m.domain == domain and m.arrival_s is not None)
        span_h = (times[-1] - times[0]) / 3600 if len(times) > 1 else 0.0
        out.append({"destination": domain, "messages": sum(1 for m in msgs if m.domain == domain),
                    "arrival_known": len(times), "first_arrival": _iso(times[0]) if times else None,
                    "last_arrival": _iso(times[-1]) if times else None,
                    "per_hour": round((len(times) - 1) / span_h, 3) if span_h > 0 else None})
    return out


def summary_text(s: dict[str, Any]) -> str:
    """What the command prints: counts, the outages, the agreement, the what-if table."""
    lines = [f"{s['scenario']}: {_count(s['messages'], 'message')} to {_count(s['destinations'], 'destination')}, "
             f"{s['start']} .. {s['end']}",
             f"log: {s['delivered']:,} delivered, {s['expired']:,} expired, {s['bounced']:,} bounced, "
             f"{s['queued']:,} queued; {s['attempts']:,} passes; {s['arrival_unknown']:,} arrived before the log"]
    for o in s["outages"]:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(o["failures"].items(), key=lambda kv: -kv[1]))
        lines.append(f"outage at {o['destination']}: began {_bracket(o['start_after'], o['start_by'])}, "
                     f"ended {_bracket(o['end_after'], o['end_by'])} ({kinds})")
    p = s["prediction"]
    if p["compared"]:
        basis = "the given configuration" if p["configuration_known"] else f"preset {p['sender']['preset']} defaults"
        lines.append(f"prediction ({basis}): {p['agree']:,} of {p['compared']:,} messages agree with the log "
                     f"({100 * p['agreement']:.1f}%)")
    if "what_if" in s:
        rows: list[tuple[str, ...]] = [("variant", "delivered", "expired", "bounced", "queued", "saved", "lost")]
        rows.append(("log", *(f"{s[k]:,}" for k in ("delivered", "expired", "bounced", "queued")), "", ""))
        rows += [(r["variant"], *(f"{r[k]:,}" for k in ("delivered", "expired", "bounced", "queued", "saved", "lost")))
                 for r in s["what_if"]]
        width = max(len(r[0]) for r in rows)
        lines.append("")
        lines += [(f"{r[0]:<{width}}" + "".join(f"{c:>10}" for c in r[1:])).rstrip() for r in rows]
        lines.append("saved: expired in the log, delivered in the variant; lost: the reverse (see whatif.csv)")
    lines += [f"note: {n}" for n in s["notes"]]
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _bracket(after: str | None, by: str | None) -> str:
    if after is None:
        return f"before the log (first failure {by})"
    if by is None:
        return f"after {after} (the log ends in it)"
    return f"between {after} and {by}"


# ------------------------------------------------------------------------------------------------
def _write(scratch: Path, rec: Reconstruction, t0: float, incs: list[Incident], comparisons: list[Comparison],
           whatif: list[VariantResult], summary: dict[str, Any], sender: SenderBlock, args) -> None:
    def outages(f) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["recipient", "start_s", "end_s", "failure", "start_after_s", "start_by_s", "end_after_s",
                    "end_by_s", "failures"])
        windows = {i.domain: i.data["recipients"][0]["outages"] for i in incs}
        used: dict[str, int] = {}
        for o in rec.outages:
            ws = windows.get(o.domain, [])
            j = used.get(o.domain, 0)
            part = ws[j:j + len(o.runs)]
            used[o.domain] = j + len(o.runs)
            start, end = (part[0]["start"], part[-1]["end"]) if part else (None, None)
            w.writerow((o.domain, csv_cell(start), csv_cell(end), o.kind, csv_cell(_rel(o.start_after_s, t0)),
                        csv_cell(_rel(o.start_by_s, t0)), csv_cell(_rel(o.end_after_s, t0)),
                        csv_cell(_rel(o.end_by_s, t0)),
                        "; ".join(f"{k} x{n}" for k, n in o.failures.most_common())))

    def comparison(f) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "queue_id", "address", "recipient", "arrival_s", "log_outcome", "log_attempts",
                    "log_final_s", "predicted_outcome", "predicted_attempts", "predicted_final_s", "agrees"])
        for i, c in enumerate(comparisons):
            m, p = c.message, c.predicted
            w.writerow((i, m.key, m.recipient, m.domain, csv_cell(_rel(m.arrival_s, t0)), m.outcome.label,
                        logged_count(m), csv_cell(_rel(m.final_s, t0)),
                        OUTCOME_LABELS[p.outcome] if p else "", p.attempts if p else "",
                        csv_cell(_rel(p.final_s, t0)) if p else "",
                        "" if c.agrees is None else ("yes" if c.agrees else "no")))

    def whatif_csv(f) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["variant", *OUTCOME_LABELS, "saved", "lost", "saved_messages"])
        for r in whatif:
            w.writerow((r.variant.label, *(r.counts[o] for o in OUTCOME_LABELS), len(r.saved), len(r.lost),
                        "; ".join(r.saved)))

    atomic_write(scratch / "summary.json", lambda f: f.write(json.dumps(summary, indent=2) + "\n"))
    records = as_result(rec, t0, summary["scenario"])
    atomic_write(scratch / "messages.csv", records.write_messages_csv)     # run's own writers: its columns
    atomic_write(scratch / "attempts.csv", records.write_attempts_csv)
    atomic_write(scratch / "outages.csv", outages)
    atomic_write(scratch / "comparison.csv", comparison)
    if whatif:
        atomic_write(scratch / "whatif.csv", whatif_csv)
    header = [f"mtasim replay {args.mta} {' '.join(Path(p).name for p in args.logs)}",
              "arrivals as logged; outages inferred from the passes (outages.csv has the brackets)"]
    for k, inc in enumerate(by_failures(incs)):
        name = "scenario.yaml" if k == 0 else f"scenario-{inc.domain}.yaml"
        atomic_write(scratch / name, lambda f, inc=inc: f.write(scenario_text(inc, sender, header)))
