"""`mtasim report`: one self-contained HTML page from run, curve and sweep folders (mtasim.report), checked
as text and, in headless Chromium, as a page a person sees."""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from mtasim.cli import main
from mtasim.report import shortest_windows

from conftest import ROOT
from helpers import one_error_line

HOUR = 3600.0
SCENARIOS = ROOT / "scenarios"


#: Postfix mailing an office that is down from Friday 18:00 to Monday 08:00 (start: Friday 00:00).
WEEKEND = """
name: Postfix over a weekend outage (300 messages)
seed: 5
start: 2026-11-27T00:00:00Z
sender: {preset: postfix}
messages: {count: 300, arrival: {kind: uniform, start: 0h, end: 72h}}
recipients:
  - domain: office.example
    outages: [{start: 18h, end: 80h, failure: refused}]
"""


#: 15 min retries, expiry at the deadline, an outage from 4 h whose end the sweep moves (a small copy of
#: scenarios/sweep-expiry-vs-outage.yaml).
SWEEP = """
name: Expiry window vs outage end
seed: 21
sender: {schedule: {kind: fixed, interval: 15m}, expiry: 24h, give_up: at-deadline}
messages: {count: 100, arrival: {kind: uniform, start: 0h, end: 24h}}
recipients:
  - domain: partner.example
    outages: [{start: 4h, end: 40h, failure: "451 4.3.0 Try again later"}]
sweep:
  sender.expiry: 12h..72h/12h
  recipients[0].outages[0].end: [10h, 28h, 40h, 52h]
  replications: 1
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A run with attempts (WEEKEND), a run of two recipients, a curve, and a sweep (SWEEP)."""
    base = tmp_path_factory.mktemp("results")
    (base / "weekend.yaml").write_text(WEEKEND, encoding="utf-8")
    (base / "sweep.yaml").write_text(SWEEP, encoding="utf-8")
    runs = {
        "weekend": ["run", base / "weekend.yaml", "--out", base / "weekend", "--attempts"],
        "two": ["run", SCENARIOS / "custom-exponential-36h.yaml", "--out", base / "two"],
        "curve": ["curve", SCENARIOS / "exchange-online-30h-outage.yaml", "--series",
                  "preset=exchange-online,exchange-server", "--expiry", "1h..40h/1h", "--out", base / "curve"],
        "sweep": ["sweep", base / "sweep.yaml", "--out", base / "sweep", "--no-progress"],
    }
    for argv in runs.values():
        assert main([str(a) for a in argv]) == 0
    return {name: base / name for name in runs}


@pytest.fixture(scope="module")
def page(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "report.html"
    assert main(["report", *(str(folders[k]) for k in ("weekend", "two", "curve", "sweep")), "--out", str(out)]) == 0
    return out


class _Cells(HTMLParser):
    """Every element with a data-key: key -> [(data-value, text)], plus the rows of every table."""

    def __init__(self):
        super().__init__()
        self.keys: dict[str, list[tuple[str, str]]] = {}
        self.tables: list[list[list[str]]] = []
        self._open: list[tuple[str, str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-key" in a:
            self._open.append((a["data-key"], a.get("data-value", "")))
            self._text = []
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_data(self, data):
        if self._open:
            self._text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "span") and self._open:
            key, value = self._open.pop()
            self.keys.setdefault(key, []).append((value, "".join(self._text).strip()))
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None


def cells(text: str) -> _Cells:
    parser = _Cells()
    parser.feed(text)
    return parser


def check_numbers(text: str, summaries: list[dict]) -> None:
    """Every outcome count and the attempts in the page equal each run's summary.json, in page order."""
    found = cells(text).keys
    for key in ("messages", "delivered", "expired", "bounced", "queued", "attempts", "delay_warnings"):
        want = [s[key] for s in summaries]
        assert [int(v) for v, _ in found[key]] == want, (key, found[key], want)
        assert [int(t.replace(",", "")) for _, t in found[key]] == want, (key, found[key], want)
    for key in ("delivered", "expired", "bounced"):          # the per-day table's total row
        assert [int(t.replace(",", "")) for _, t in found[f"period_{key}"]] == [s[key] for s in summaries]


def summaries(folders, names=("weekend", "two")) -> list[dict]:
    return [json.loads((folders[n] / "summary.json").read_text(encoding="utf-8")) for n in names]


# -- the page as text ------------------------------------------------------------------------------------
def test_page_is_self_contained(page):
    """No script, stylesheet link, image file, font or URL to fetch: every figure is inline SVG."""
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(\s*['\"]?(https?:|//|file:)", text, re.I)
    assert not re.search(r"\b(src|href)\s*=\s*['\"]?(https?:|//|file:)", text, re.I)
    # weekend: timeline, queue, latency; two: queue, latency (no attempts.csv); curve; sweep heatmap
    assert text.count("<svg") == 7
    assert len(set(re.findall(r'\bid="([^"]+)"', text))) == len(re.findall(r'\bid="([^"]+)"', text)), \
        "every id in the page is unique"


def test_numbers_in_the_page_equal_summary_json(page, folders):
    check_numbers(page.read_text(encoding="utf-8"), summaries(folders))


def test_weekend_per_day_table_has_no_delivery_on_saturday_and_sunday(page):
    """WEEKEND: the office is down from Friday 18:00 to Monday 08:00: nothing is delivered on Saturday or
    Sunday, and nothing expires (Postfix keeps mail 5 d)."""
    table = next(t for t in cells(page.read_text(encoding="utf-8")).tables if t[0][0] == "day")
    assert [row[0] for row in table] == ["day", "Fri 2026-11-27", "Sat 2026-11-28", "Sun 2026-11-29",
                                         "Mon 2026-11-30", "total"]
    assert table[0] == ["day", "delivered", "expired", "bounced"]
    assert table[2][1:] == ["0", "0", "0"] and table[3][1:] == ["0", "0", "0"]
    assert all(row[2] == "0" for row in table[1:])


def test_two_recipients_get_a_per_recipient_table(page, folders):
    """custom-exponential-36h sends to slow.example and healthy.example: one row each, adding up."""
    text = page.read_text(encoding="utf-8")
    table = next(t for t in cells(text).tables if t[0][0] == "recipient")
    assert [row[0] for row in table[1:]] == ["slow.example", "healthy.example"]
    summary = summaries(folders, ("two",))[0]
    assert sum(int(row[-1].replace(",", "")) for row in table[1:]) == summary["messages"]
    assert table[2][2] == "0", "healthy.example has no outage: nothing expires"


def test_assumptions_name_the_preset_window_sources_and_confidence(page):
    """The weekend run's preset (postfix): its confidence and sources as `mtasim presets` has them, 5 d."""
    from mtasim.presets import PRESETS

    text = page.read_text(encoding="utf-8")
    postfix = PRESETS["postfix"]
    assert f"Confidence: {postfix.confidence}." in text
    assert html.escape(postfix.sources) in text
    assert "Window: 5d, give-up rule <b>last-attempt</b>" in text


def test_shortest_windows_known_answers():
    """Fractions 0.2, 0.5, 0.95, 1.0 at 1..4 h: 50 % is first reached at 2 h, 90 % at 3 h, 99 % and 100 %
    at 4 h; without the 4 h point, 99 % and 100 % are never reached."""
    e = np.array([4, 1, 3, 2]) * HOUR             # unsorted input: sorted by window first
    f = np.array([1.0, 0.2, 0.95, 0.5])
    assert shortest_windows(e, f) == [2 * HOUR, 3 * HOUR, 4 * HOUR, 4 * HOUR]
    assert shortest_windows(e[1:], f[1:]) == [2 * HOUR, 3 * HOUR, None, None]


def test_curve_windows_equal_what_mtasim_curve_prints(page, folders, capsys):
    """The report's table of shortest windows, and each preset's own window with the fraction delivered
    there, are what `mtasim curve` prints for the same folder."""
    table = next(t for t in cells(page.read_text(encoding="utf-8")).tables if t[0][0] == "preset")
    assert table[0] == ["preset", "50%", "90%", "99%", "100%", "its own window", "delivered there"]
    argv = ["curve", SCENARIOS / "exchange-online-30h-outage.yaml", "--series",
            "preset=exchange-online,exchange-server", "--expiry", "1h..40h/1h", "--out", folders["curve"]]
    assert main([str(a) for a in argv]) == 0
    printed = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()
               if line.startswith("exchange-")}
    for row in table[1:]:
        assert [c.replace(" ", "") for c in row[1:]] == printed[row[0]], (row, printed)


def test_sweep_windows_known_answer(page):
    """Outage 4 h..10 h with 15 min retries: a 12 h window (the shortest tried) delivers everything."""
    table = next(t for t in cells(page.read_text(encoding="utf-8")).tables if t[0][0].startswith("recipients"))
    assert table[1] == ["10 h", "12 h", "12 h", "12 h", "12 h"]
    assert [row[0] for row in table[1:]] == ["10 h", "28 h", "40 h", "52 h"]


# -- bad input -------------------------------------------------------------------------------------------
def test_not_a_results_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "report.html"
    line = one_error_line(capsys, ["report", tmp_path / "empty", "--out", out])
    assert "empty: not a results folder" in line and "summary.json" in line
    assert not out.exists()
    assert "no such results folder" in one_error_line(capsys, ["report", tmp_path / "nothing", "--out", out])
    assert not out.exists()


def test_older_format_is_refused(folders, tmp_path, capsys):
    """A summary.json without the setup record was written before `mtasim report` existed."""
    old = tmp_path / "old"
    shutil.copytree(folders["two"], old)
    summary = json.loads((old / "summary.json").read_text(encoding="utf-8"))
    del summary["setup"]
    (old / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    out = tmp_path / "report.html"
    line = one_error_line(capsys, ["report", folders["weekend"], old, "--out", out])
    assert "old/summary.json: no 'setup' record: written by an older mtasim" in line
    assert not out.exists()


@pytest.mark.parametrize("cut, expected", [
    ("mid-line", r"messages\.csv: line \d+: expected \d+ fields as in the header, got \d+"),
    ("whole-lines", r"messages\.csv: 1,000 rows, expected 1,500 \(summary\.json's messages\)"),
])
def test_truncated_messages_csv_is_refused(folders, tmp_path, capsys, cut, expected):
    cut_dir = tmp_path / "cut"
    shutil.copytree(folders["two"], cut_dir)
    text = (cut_dir / "messages.csv").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    kept = "".join(lines[:1001]) if cut == "whole-lines" else text[: len("".join(lines[:700])) + 12]
    (cut_dir / "messages.csv").write_text(kept, encoding="utf-8")
    out = tmp_path / "report.html"
    line = one_error_line(capsys, ["report", cut_dir, "--out", out])
    assert re.search(expected, line), line
    assert not out.exists()


def test_truncated_attempts_csv_is_refused(folders, tmp_path, capsys):
    """A figure's input cut off mid-row: the plot reader's one line, no page."""
    cut_dir = tmp_path / "cut"
    shutil.copytree(folders["weekend"], cut_dir)
    text = (cut_dir / "attempts.csv").read_text(encoding="utf-8")
    (cut_dir / "attempts.csv").write_text(text[: len(text) // 2].rsplit(",", 1)[0], encoding="utf-8")
    out = tmp_path / "report.html"
    line = one_error_line(capsys, ["report", cut_dir, "--out", out])
    assert "attempts.csv: line" in line and "fields" in line, line
    assert not out.exists()


def test_output_must_be_an_html_file(folders, tmp_path, capsys):
    line = one_error_line(capsys, ["report", folders["two"], "--out", tmp_path / "report.png"])
    assert "--out" in line and ".html" in line
    assert not (tmp_path / "report.png").exists()


# -- in a real browser -----------------------------------------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
SHOT_SIZE = (1200, 2000)
#: Put first in the copy of the page whose DOM the test reads: records every resource that failed to load
#: (which Chromium does not log as a console message) on the <html> element.
LOAD_PROBE = ("<script>addEventListener('error', function (e) { var t = e.target, html = document.documentElement; "
              "html.setAttribute('data-load-errors', (html.getAttribute('data-load-errors') || '') + ' ' + "
              "((t && (t.src || t.href)) || e.message)); }, true);</script>")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (Debian package chromium; .ci/run installs it, and skips this test "
                "only when apt-get cannot install it)")


def test_page_renders_in_chromium(page, folders, tmp_path):
    """Headless Chromium loads the page with no console message and no resource failing to load, the
    numbers it renders equal summary.json, and a screenshot of the first screen is a full-size, non-blank
    image."""
    browser = _chromium()
    url = page.resolve().as_uri()
    probed = tmp_path / "probed.html"          # the same page, with LOAD_PROBE first in <head>
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + LOAD_PROBE, 1), encoding="utf-8")
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--enable-logging=stderr", "--v=0", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    assert "data-load-errors" not in dom.stdout.split("<head>", 1)[0], dom.stdout[:500]
    check_numbers(dom.stdout, summaries(folders))
    shot = tmp_path / "shot.png"
    run = subprocess.run([*common, f"--screenshot={shot}", f"--window-size={SHOT_SIZE[0]},{SHOT_SIZE[1]}", url],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == SHOT_SIZE
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    inked = float(np.mean(pixels < 200))
    assert 0.03 < inked < 0.6, f"expected text and figures on the first screen, {inked:.1%} of pixels are dark"
    assert len(data) > 50_000, f"a first screen of tables and a figure compresses to more than 50 kB, got {len(data)}"
