"""Figures (plots.py) and `mtasim plot` (plotcmd.py): small hand-written result files in, PNG/SVG out."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

import mtasim
from mtasim import plots
from mtasim.plotcmd import PlotInputError, add_plot_parser, cmd_plot

from conftest import HOUR, scenario

CURVE_HEADER = ["series", "expiry_s", "delivered", "expired", "bounced", "queued", "messages", "fraction",
                "ci_low", "ci_high"]
MESSAGES_HEADER = ["id", "recipient", "arrival_s", "outcome", "status", "final_s", "attempts", "warned_s"]
ATTEMPTS_HEADER = ["message_id", "attempt", "time_s", "result", "reply"]
PARETO_HEADER = ["label", "first_s", "factor", "max_s", "mean_attempts", "recovery_lag_p95_s",
                 "fraction_delivered", "on_front"]


# -- helpers -------------------------------------------------------------------------------------------
def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def plot(*argv) -> int:
    """Parse ``mtasim plot ...`` with a parser built by add_plot_parser and run cmd_plot."""
    parser = argparse.ArgumentParser(prog="mtasim")
    add_plot_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["plot", *map(str, argv)])
    assert args.func is cmd_plot
    return cmd_plot(args)


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture
def captured(monkeypatch):
    """The figures cmd_plot hands to save_figure (still saved), for checking what was drawn."""
    figures = []
    original = plots.save_figure

    def keep(fig, path):
        figures.append(fig)
        return original(fig, path)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def curve_rows(series: str, centre_h: float) -> list[list]:
    rows = []
    for hours in (12, 24, 36, 48):
        n = 100
        k = int(round(n / (1 + np.exp(-(hours - centre_h) / 4))))
        frac = k / n
        rows.append([series, hours * HOUR, k, n - k, 0, 0, n, frac, max(frac - 0.05, 0), min(frac + 0.05, 1)])
    return rows


@pytest.fixture
def curve_dir(tmp_path):
    d = tmp_path / "curve"
    write_csv(d / "curve.csv", CURVE_HEADER, curve_rows("exchange-online", 30) + curve_rows("postfix", 40))
    write_json(d / "curve.json", {"scenario": "Two senders, 30 h outage", "series_kind": "preset"})
    return d


@pytest.fixture
def outage_curve_dir(tmp_path):
    d = tmp_path / "outages"
    write_csv(d / "curve.csv", CURVE_HEADER, curve_rows("outage=36h", 40) + curve_rows("outage=6h", 10))
    write_json(d / "curve.json", {"scenario": "EXO by outage", "series_kind": "outage"})
    return d


@pytest.fixture
def sweep_dir(tmp_path):
    d = tmp_path / "sweep"
    rows, point = [], 0
    for outage in ("6h", "1d"):
        for expiry_h in (12, 24, 48):
            for rep in (0, 1):
                frac = 1.0 if expiry_h > {"6h": 6, "1d": 24}[outage] else 0.25 + 0.5 * rep
                rows.append([point, rep, 10 + rep, outage, expiry_h * HOUR, 100, int(frac * 100), 0, 0, 0, frac])
            point += 1
    write_csv(d / "sweep.csv", ["point", "replication", "seed", "outage", "expiry_s", "messages", "delivered",
                                "expired", "bounced", "queued", "fraction_delivered"], rows)
    return d


def run_dir(root: Path, name: str, scenario_name: str = "Tiny outage", outages: bool = True) -> Path:
    """A `run --out DIR --attempts` folder with four messages: delivered twice, expired, queued."""
    d = root / name
    write_csv(d / "messages.csv", MESSAGES_HEADER, [
        [0, "r.example", 0, "delivered", "2.0.0", 0, 1, ""],
        [1, "r.example", 600, "delivered", "2.0.0", 7800, 3, ""],
        [2, "r.example", 1200, "expired", "4.4.7", 1200 + 4 * HOUR, 5, ""],
        [3, "r.example", 1800, "queued", "4.3.0", "", 4, ""],
    ])
    write_csv(d / "attempts.csv", ATTEMPTS_HEADER, [
        [0, 1, 0, "delivered", "250 2.0.0 OK"],
        [1, 1, 600, "deferred", "451 4.3.0 busy"], [1, 2, 4200, "deferred", "451 4.3.0 busy"],
        [1, 3, 7800, "delivered", "250 2.0.0 OK"],
        [2, 1, 1200, "deferred", "451 4.3.0 busy"], [2, 2, 4800, "deferred", "451 4.3.0 busy"],
        [3, 1, 1800, "deferred", "451 4.3.0 busy"],
    ])
    write_json(d / "summary.json", {"scenario": scenario_name, "seed": 1, "messages": 4})
    if outages:
        write_csv(d / "outages.csv", ["recipient", "start_s", "end_s", "failure"],
                  [["r.example", 300, 7000, "451 4.3.0 busy"]])
    return d


@pytest.fixture
def pareto_dir(tmp_path):
    d = tmp_path / "pareto"
    write_csv(d / "pareto.csv", PARETO_HEADER, [
        ["1m x2 max 15m", 60, 2, 900, 120, 600, 1, "true"],
        ["5m x2 max 1h", 300, 2, 3600, 40, 2400, 1, "true"],
        ["15m x2 max 1h", 900, 2, 3600, 35, 3300, 1, "false"],
        ["30m x1 max 30m", 1800, 1, 1800, 60, 1500, 1, "true"],
        ["10m x3 max 1h", 600, 3, 3600, 70, 3000, 1, "false"],
        ["never", 600, 3, 3600, 70, "", 0.5, "false"],
    ])
    write_json(d / "pareto.json", {"scenario": "Schedules vs 30 h outage", "max_recovery_lag_s": 1800.0})
    return d


def assert_png(path: Path) -> None:
    assert path.is_file(), f"expected {path} to be written"
    assert path.read_bytes().startswith(b"\x89PNG"), f"expected a PNG in {path}"


# -- figure builders ---------------------------------------------------------------------------------
def test_curve_figure_labels():
    """curve_figure: hours on x, fraction on y, scenario title, one legend entry per series under its kind."""
    x = np.array([12, 24, 48]) * HOUR
    s = {"expiry_s": x, "fraction": [0.0, 0.5, 1.0], "ci_low": [0.0, 0.4, 0.9], "ci_high": [0.1, 0.6, 1.0]}
    fig = plots.curve_figure({"exchange-online": s, "postfix": s}, "Through a 30 h outage",
                             legend_title="sender preset")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "expiry window (hours)"
    assert ax.get_ylabel() == "fraction delivered"
    assert ax.get_title() == "Through a 30 h outage"
    assert legend_texts(ax) == ["exchange-online", "postfix"]
    assert ax.get_legend().get_title().get_text() == "sender preset"
    assert ax.lines[0].get_xdata().tolist() == [12, 24, 48]           # seconds drawn as hours
    assert len(ax.collections) == 2                                  # one confidence band per series
    assert ax.get_ylim()[0] <= 0 and ax.get_ylim()[1] >= 1


def test_curve_figure_key_value_series():
    """Series named outage=6h, outage=36h show as 6h, 36h under a legend titled outage."""
    s = {"expiry_s": [HOUR], "fraction": [0.5], "ci_low": [np.nan], "ci_high": [np.nan]}
    fig = plots.curve_figure({"outage=6h": s, "outage=36h": s}, "t")
    ax = fig.axes[0]
    assert legend_texts(ax) == ["6h", "36h"]
    assert ax.get_legend().get_title().get_text() == "outage"
    assert len(ax.collections) == 0                                  # no bounds: no band


def test_heatmap_figure_cells_and_colorbar():
    """heatmap_figure: cells annotated as percent with one decimal, readable colour, labelled colorbar."""
    values = np.array([[0.05, 0.737], [0.95, np.nan]])
    fig = plots.heatmap_figure(["6h", "36h"], [24 * HOUR, 48 * HOUR], values, "EXO", "outage duration",
                               "expiry window (hours)")
    ax, bar = fig.axes
    texts = {t.get_text(): t.get_color() for t in ax.texts}
    assert set(texts) == {"5.0%", "73.7%", "95.0%", "–"}
    assert texts["5.0%"] == "white" and texts["95.0%"] == "black"  # dark cell / light cell (viridis)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["24", "48"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["6h", "36h"]
    assert ax.get_xlabel() == "expiry window (hours)" and ax.get_ylabel() == "outage duration"
    assert bar.get_ylabel() == "fraction delivered"
    assert ax.get_title() == "EXO"


def test_heatmap_figure_rejects_wrong_shape():
    """Values whose shape does not match the labels are refused."""
    with pytest.raises(ValueError, match=r"shape \(1, 2\), expected \(2, 2\)"):
        plots.heatmap_figure(["a", "b"], [1.0, 2.0], [[0.1, 0.2]], "t")


def test_latency_figure_ecdf():
    """latency_figure: an ECDF per series in hours, rising to 1, with n in the legend."""
    fig = plots.latency_figure({"EXO": [0, HOUR, 2 * HOUR], "none": []}, "latency")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "delivery latency (hours)"
    assert ax.get_ylabel() == "fraction of delivered messages"
    assert ax.get_title() == "latency"
    assert legend_texts(ax) == ["EXO (n=3)", "none (n=0, nothing delivered)"]
    line = ax.lines[0]
    assert line.get_ydata()[-1] == 1.0
    assert 2.0 in line.get_xdata().tolist()


def test_pareto_figure_front_labels_and_limit():
    """pareto_figure: front points labelled (others not), lag in minutes, dashed limit line."""
    points = {"mean_attempts": np.array([10.0, 20.0, 30.0, 25.0]),
              "recovery_lag_p95_s": np.array([3600.0, 1200.0, 600.0, 3000.0]),
              "on_front": np.array([True, True, True, False]),
              "labels": ["a 1h", "b 20m", "c 10m", "dominated"]}
    fig = plots.pareto_figure(points, "tune", max_recovery_lag_s=1800.0)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "mean attempts per message"
    assert ax.get_ylabel() == "p95 recovery lag (minutes)"
    assert ax.get_title() == "tune"
    assert sorted(t.get_text() for t in ax.texts) == ["a 1h", "b 20m", "c 10m"]
    front = ax.lines[0]
    assert front.get_xdata().tolist() == [10.0, 20.0, 30.0] and front.get_ydata().tolist() == [60.0, 20.0, 10.0]
    limit = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(limit) == 1 and limit[0].get_ydata()[0] == 30.0
    assert legend_texts(ax)[:2] == ["candidates (4)", "Pareto front (3)"]


def test_timeline_from_data_dict_equals_array():
    """timeline_figure_from_data reads per-message values from a dict as from an array."""
    args = ("T", [0, 1], [0, 1, 1], [0.0, 60.0, 3600.0])
    a = plots.timeline_figure_from_data(*args, np.array([0, 1]), np.array([0.0, 3600.0]), [("outage at x", 30, 90)])
    b = plots.timeline_figure_from_data(*args, {0: 0, 1: 1}, {0: 0.0, 1: 3600.0}, [("outage at x", 30, 90)])
    for fig in (a, b):
        ax = fig.axes[0]
        assert ax.get_title() == "T\nattempts per message (2 messages), coloured by outcome"
        assert legend_texts(ax) == ["attempt of a message delivered (1)", "attempt of a message expired (1)",
                                    "gave up (expired / bounced)", "outage at x"]


def test_timeline_figure_of_a_result_uses_from_data():
    """timeline_figure(result) draws the result's messages, outcomes and outage windows."""
    sc = scenario(outages=[{"start": "0s", "end": "3h"}],
                  messages={"count": 3, "arrival": {"kind": "times", "times": [0, "1h", "5h"]}})
    result = mtasim.simulate(sc, attempts=True)
    ax = plots.timeline_figure(result).axes[0]
    assert ax.get_title().startswith("test\nattempts per message (3 messages)")
    assert "outage at r.example" in legend_texts(ax)
    assert ax.get_xlabel() == "time since scenario start (hours)"


def test_save_figure_svg_and_png(tmp_path):
    """save_figure writes SVG for .svg names and PNG otherwise."""
    s = {"expiry_s": [HOUR], "fraction": [1.0], "ci_low": [1.0], "ci_high": [1.0]}
    plots.save_figure(plots.curve_figure({"a": s}, "t"), tmp_path / "f.svg")
    plots.save_figure(plots.curve_figure({"a": s}, "t"), tmp_path / "f.png")
    assert "<svg" in (tmp_path / "f.svg").read_text(encoding="utf-8")
    assert_png(tmp_path / "f.png")


# -- mtasim plot: every kind -------------------------------------------------------------------------
def test_plot_curve_png(curve_dir, tmp_path, capsys, captured):
    """plot curve: PNG written, `wrote FILE` printed, title from curve.json, legend titled by series kind."""
    out = tmp_path / "curve.png"
    assert plot("curve", curve_dir, "--out", out) == 0
    assert_png(out)
    assert capsys.readouterr().out == f"wrote {out}\n"
    ax = captured[0].axes[0]
    assert ax.get_title() == "Two senders, 30 h outage"
    assert legend_texts(ax) == ["exchange-online", "postfix"]
    assert ax.get_legend().get_title().get_text() == "sender preset"


def test_plot_curve_svg_title_from_dir_name(curve_dir, tmp_path, captured):
    """plot curve to .svg writes SVG; without curve.json the title is the folder's name."""
    (curve_dir / "curve.json").unlink()
    out = tmp_path / "sub" / "curve.svg"
    plot("curve", curve_dir, "--out", out)
    assert "<svg" in out.read_text(encoding="utf-8")
    assert captured[0].axes[0].get_title() == "curve"


def test_plot_heatmap_from_curve(outage_curve_dir, tmp_path, captured):
    """plot heatmap from an outage curve: rows are the series in file order, columns the expiry windows."""
    out = tmp_path / "h.png"
    plot("heatmap", outage_curve_dir, "--out", out)
    assert_png(out)
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["36h", "6h"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["12", "24", "36", "48"]
    assert ax.get_ylabel() == "outage duration" and ax.get_xlabel() == "expiry window (hours)"
    assert ax.get_title() == "EXO by outage"


def test_plot_heatmap_from_sweep(sweep_dir, tmp_path, captured):
    """plot heatmap from sweep.csv: the two parameters, cells the mean fraction over replications."""
    out = tmp_path / "h.png"
    plot("heatmap", sweep_dir, "--out", out)
    assert_png(out)
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["6h", "1d"]           # durations in order
    assert [t.get_text() for t in ax.get_xticklabels()] == ["12", "24", "48"]
    assert ax.get_ylabel() == "outage" and ax.get_xlabel() == "expiry (hours)"
    cells = [t.get_text() for t in ax.texts]
    assert cells == ["100.0%", "100.0%", "100.0%", "50.0%", "50.0%", "100.0%"]
    assert ax.get_title() == "sweep\nmean fraction delivered over 2 replications"


def test_plot_heatmap_rows_cols_swap(sweep_dir, tmp_path, captured):
    """--rows/--cols choose which parameter goes where."""
    plot("heatmap", sweep_dir, "--rows", "expiry_s", "--cols", "outage", "--out", tmp_path / "h.png")
    ax = captured[0].axes[0]
    assert ax.get_ylabel() == "expiry (hours)" and ax.get_xlabel() == "outage"


def test_plot_latency_several_dirs(tmp_path, captured):
    """plot latency: one line per folder, labelled by scenario (a repeated name gets the folder appended),
    over all messages: 2 of the 4 (latencies 0 s and 7200 s) are delivered, so each line levels off at 0.5."""
    a = run_dir(tmp_path, "a", "Same name")
    b = run_dir(tmp_path, "b", "Same name")
    c = run_dir(tmp_path, "c", "Other")
    out = tmp_path / "lat.png"
    plot("latency", a, b, c, "--out", out)
    assert_png(out)
    ax = captured[0].axes[0]
    assert legend_texts(ax) == ["Same name (a): 2 of 4 delivered, 50.0% never",
                                "Same name (b): 2 of 4 delivered, 50.0% never", "Other: 2 of 4 delivered, 50.0% never",
                                "all messages"]
    line = ax.lines[0]
    assert line.get_xdata()[1:3].tolist() == [0.0, 2.0]      # latencies 0 s and 7200 s, in hours
    assert line.get_ydata().tolist() == [0.0, 0.25, 0.5, 0.5], f"expected 1/4, 2/4 of all messages, got {line.get_ydata()}"
    assert ax.get_ylabel() == "fraction of all messages delivered"
    assert "50.0% never delivered" in [t.get_text() for t in ax.texts], "the never-delivered share is not marked"


def test_plot_timeline(tmp_path, captured):
    """plot timeline: messages, attempts and outage windows from the folder, title from summary.json."""
    d = run_dir(tmp_path, "run")
    out = tmp_path / "t.png"
    plot("timeline", d, "--out", out)
    assert_png(out)
    ax = captured[0].axes[0]
    assert ax.get_title() == "Tiny outage\nattempts per message (4 messages), coloured by outcome"
    assert legend_texts(ax)[-1] == "outage at r.example"
    assert "attempt of a message queued (1)" in legend_texts(ax)


def test_plot_timeline_without_outages_csv(tmp_path, captured):
    """Without outages.csv the timeline has no shaded windows."""
    plot("timeline", run_dir(tmp_path, "run", outages=False), "--out", tmp_path / "t.png")
    assert not any(t.startswith("outage") for t in legend_texts(captured[0].axes[0]))


def test_plot_pareto(pareto_dir, tmp_path, captured):
    """plot pareto: front labelled, limit line from pareto.json, a candidate without a lag left out."""
    out = tmp_path / "p.png"
    plot("pareto", pareto_dir, "--out", out)
    assert_png(out)
    ax = captured[0].axes[0]
    assert ax.get_title() == "Schedules vs 30 h outage"
    assert sorted(t.get_text() for t in ax.texts) == ["1m x2 max 15m", "30m x1 max 30m", "5m x2 max 1h"]
    assert legend_texts(ax) == ["candidates (6; 1 without a value not shown)", "Pareto front (3)",
                                "allowed p95 recovery lag (30 min)"]


# -- mtasim plot: errors -----------------------------------------------------------------------------
def test_missing_results_dir(tmp_path):
    """A RESULTS_DIR that does not exist is named in the error."""
    with pytest.raises(PlotInputError, match=r"nope: no such results directory"):
        plot("curve", tmp_path / "nope", "--out", tmp_path / "x.png")


@pytest.mark.parametrize("kind, filename", [("curve", "curve.csv"), ("pareto", "pareto.csv"),
                                            ("latency", "messages.csv"), ("timeline", "messages.csv")])
def test_missing_file(tmp_path, kind, filename):
    """A missing input file is named with the columns expected, and nothing is written."""
    d = tmp_path / "empty"
    d.mkdir()
    out = tmp_path / "x.png"
    with pytest.raises(PlotInputError, match=rf"empty/{filename}: no such file; expected {filename}"):
        plot(kind, d, "--out", out)
    assert not out.exists()


def test_missing_attempts_csv_says_how_to_get_it(tmp_path):
    """The timeline without attempts.csv tells the user to run with --attempts."""
    d = run_dir(tmp_path, "run")
    (d / "attempts.csv").unlink()
    with pytest.raises(PlotInputError, match=r"run/attempts.csv: no such file; .*`mtasim run --out DIR --attempts`"):
        plot("timeline", d, "--out", tmp_path / "t.png")


def test_heatmap_without_inputs_names_both_files(tmp_path):
    """plot heatmap on a folder with neither curve.csv nor sweep.csv names both."""
    (tmp_path / "d").mkdir()
    with pytest.raises(PlotInputError, match=r"no curve.csv or sweep.csv"):
        plot("heatmap", tmp_path / "d", "--out", tmp_path / "h.png")


def test_missing_column(curve_dir, tmp_path):
    """A CSV without a needed column: the file and the column are named."""
    rows = list(csv.reader((curve_dir / "curve.csv").open()))
    keep = [i for i, name in enumerate(rows[0]) if name != "ci_high"]
    write_csv(curve_dir / "curve.csv", [rows[0][i] for i in keep], [[r[i] for i in keep] for r in rows[1:]])
    out = tmp_path / "x.png"
    with pytest.raises(PlotInputError, match=r"curve/curve.csv: missing column ci_high; expected columns "
                                             r"series,expiry_s,fraction,ci_low,ci_high"):
        plot("curve", curve_dir, "--out", out)
    assert not out.exists()


def test_bad_number_names_line_and_column(pareto_dir, tmp_path):
    """A cell that is not a number is reported with its file, line and column."""
    rows = list(csv.reader((pareto_dir / "pareto.csv").open()))
    rows[2][4] = "many"
    write_csv(pareto_dir / "pareto.csv", rows[0], rows[1:])
    with pytest.raises(PlotInputError, match=r"pareto.csv: line 3, column mean_attempts: expected a number, "
                                             r"got 'many'"):
        plot("pareto", pareto_dir, "--out", tmp_path / "p.png")


def test_bad_on_front_flag(pareto_dir, tmp_path):
    """on_front must be true or false."""
    rows = list(csv.reader((pareto_dir / "pareto.csv").open()))
    rows[1][-1] = "maybe"
    write_csv(pareto_dir / "pareto.csv", rows[0], rows[1:])
    with pytest.raises(PlotInputError, match=r"pareto.csv: line 2, column on_front: expected true or false"):
        plot("pareto", pareto_dir, "--out", tmp_path / "p.png")


def test_header_only_is_empty_data(tmp_path):
    """A CSV with a header and no rows is refused as empty."""
    d = tmp_path / "c"
    write_csv(d / "curve.csv", CURVE_HEADER, [])
    with pytest.raises(PlotInputError, match=r"c/curve.csv: no data rows"):
        plot("curve", d, "--out", tmp_path / "x.png")


def test_no_delivered_messages(tmp_path):
    """Latency with no delivered message anywhere is refused, naming the file."""
    d = run_dir(tmp_path, "run")
    write_csv(d / "messages.csv", MESSAGES_HEADER, [[0, "r.example", 0, "expired", "4.4.7", 60, 1, ""]])
    with pytest.raises(PlotInputError, match=r"run/messages.csv: no delivered messages"):
        plot("latency", d, "--out", tmp_path / "l.png")


@pytest.mark.parametrize("name", ["fig.pdf", "fig", "fig.png.txt"])
def test_bad_output_suffix(curve_dir, tmp_path, name):
    """--out must end in .png or .svg; the file is named and nothing is written."""
    with pytest.raises(PlotInputError, match=rf"{name}: expected an output file name ending in .png or .svg"):
        plot("curve", curve_dir, "--out", tmp_path / name)
    assert not (tmp_path / name).exists()


def test_unknown_rows_param(sweep_dir, tmp_path):
    """--rows naming no parameter column lists the parameters found."""
    with pytest.raises(PlotInputError, match=r"sweep.csv: --rows factor: no such parameter column; expected one "
                                             r"of outage, expiry_s"):
        plot("heatmap", sweep_dir, "--rows", "factor", "--cols", "outage", "--out", tmp_path / "h.png")


def test_three_params_need_rows_and_cols(sweep_dir, tmp_path):
    """With more than two parameters the user must choose rows and columns."""
    rows = list(csv.reader((sweep_dir / "sweep.csv").open()))
    header = rows[0][:5] + ["factor"] + rows[0][5:]
    body = [r[:5] + ["2"] + r[5:] for r in rows[1:]]
    write_csv(sweep_dir / "sweep.csv", header, body)
    with pytest.raises(PlotInputError, match=r"3 parameter column\(s\) \(outage, expiry_s, factor\); choose two"):
        plot("heatmap", sweep_dir, "--out", tmp_path / "h.png")


def test_rows_cols_only_for_heatmap(curve_dir, tmp_path):
    """--rows/--cols with another kind are refused."""
    with pytest.raises(PlotInputError, match=r"--rows/--cols apply to plot heatmap only"):
        plot("curve", curve_dir, "--rows", "x", "--out", tmp_path / "c.png")


def test_several_dirs_only_for_latency(curve_dir, tmp_path):
    """Only latency overlays several RESULTS_DIRs."""
    with pytest.raises(PlotInputError, match=r"plot curve: expected one RESULTS_DIR, got 2"):
        plot("curve", curve_dir, curve_dir, "--out", tmp_path / "c.png")


def test_plot_input_error_is_a_value_error():
    """PlotInputError is a ValueError whose text is the whole message."""
    assert issubclass(PlotInputError, ValueError)
    assert str(PlotInputError("f.csv: bad")) == "f.csv: bad"



def test_plot_latency_same_folder_names(tmp_path, captured):
    """Two folders with the same name and scenario are told apart by their paths."""
    a = run_dir(tmp_path / "one", "results", "Same")
    b = run_dir(tmp_path / "two", "results", "Same")
    plot("latency", a, b, "--out", tmp_path / "lat.png")
    assert legend_texts(captured[0].axes[0]) == [f"Same ({a}): 2 of 4 delivered, 50.0% never",
                                                 f"Same ({b}): 2 of 4 delivered, 50.0% never", "all messages"]


# -- figures a person can decide from ------------------------------------------------------------------------
def test_curve_figure_marks_each_series_own_window():
    """Each series' own window is a diamond at (window, fraction there) with a dotted drop line and its value;
    the legend explains the diamond; a window beyond the grid widens the axis to show it."""
    x = np.array([12, 24, 48]) * HOUR
    s = {"expiry_s": x, "fraction": [0.0, 0.7, 1.0], "ci_low": [np.nan] * 3, "ci_high": [np.nan] * 3}
    fig = plots.curve_figure({"exchange-online": s, "postfix": s}, "t",
                             windows={"exchange-online": {"expiry_s": 24 * HOUR, "fraction": 0.7},
                                      "postfix": {"expiry_s": 120 * HOUR, "fraction": 1.0}})
    ax = fig.axes[0]
    diamonds = [ln for ln in ax.lines if ln.get_marker() == "D"]
    assert [(ln.get_xdata()[0], ln.get_ydata()[0]) for ln in diamonds] == [(24.0, 0.7), (120.0, 1.0)], \
        "expected diamonds at 24 h / 70 % and 120 h / 100 %"
    assert sorted(t.get_text() for t in ax.texts) == ["exchange-online: 70.0% at 1d", "postfix: 100.0% at 5d"]
    assert legend_texts(ax)[-1] == "its own window (configured expiry)"
    assert ax.get_xlim()[1] >= 120, f"the axis stops at {ax.get_xlim()[1]} h, before Postfix's 120 h window"


def test_plot_heatmap_sweep_axis_says_outage_end(tmp_path, captured):
    """A sweep over recipients[0].outages[0].end is labelled as the outage's end (hours since the start), not
    its length; sender.expiry as the expiry window; the key paths stay under the words."""
    d = tmp_path / "sweep"
    end, expiry = "recipients[0].outages[0].end", "sender.expiry"
    rows = [[k, 0, 1, x * HOUR, e * HOUR, 1.0] for k, (e, x) in enumerate([(10, 12), (10, 24), (28, 12), (28, 24)])]
    write_csv(d / "sweep.csv", ["point", "replication", "seed", expiry, end, "fraction_delivered"], rows)
    write_json(d / "sweep.json", {"scenario": "s", "duration_parameters": [expiry, end]})
    plot("heatmap", d, "--out", tmp_path / "h.png")
    ax = captured[0].axes[0]
    assert ax.get_ylabel() == f"outage end (hours since the start)\n{end}", f"got {ax.get_ylabel()!r}"
    assert ax.get_xlabel() == f"expiry window (hours)\n{expiry}", f"got {ax.get_xlabel()!r}"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["10", "28"]


def test_latency_figure_counts_never_delivered_mail():
    """With undelivered counts the CDF is over all messages: 3 delivered of 4 levels off at 0.75, the
    gap to 1 is marked '25.0% never delivered'; a sender that delivered nothing is a line at 0."""
    fig = plots.latency_figure({"EXO": [0, HOUR, 2 * HOUR], "none": []}, "latency", undelivered={"EXO": 1, "none": 5})
    ax = fig.axes[0]
    assert ax.get_ylabel() == "fraction of all messages delivered"
    assert legend_texts(ax) == ["EXO: 3 of 4 delivered, 25.0% never", "none: 0 of 5 delivered, 100.0% never",
                                "all messages"]
    line = {ln.get_label().split(":")[0]: ln for ln in ax.lines}
    assert line["EXO"].get_ydata().tolist() == [0.0, 0.25, 0.5, 0.75, 0.75], f"got {line['EXO'].get_ydata()}"
    assert line["none"].get_ydata().tolist() == [0.0, 0.0], "nothing delivered: a line at 0"
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "25.0% never delivered" in texts and "100.0% never delivered" in texts, f"got {texts!r}"


def test_timeline_rows_by_message_id_warnings_and_legend_as_drawn():
    """Rows are labelled by message id (ids 100 and 250 here, not rows 0 and 1); delay warnings are
    triangles; the held-back legend marker is hollow in the colour of the dots it stands for."""
    fig = plots.timeline_figure_from_data(
        "T", [100, 250], [100, 100, 250], [0.0, 3600.0, 600.0], {100: int(mtasim.Outcome.DELIVERED),
                                                                  250: int(mtasim.Outcome.EXPIRED)},
        {100: 3600.0, 250: 7200.0}, [("outage at x", 0, 3000)], attempt_suspended=[False, True, False],
        warnings=([100, 250], [1800.0, 2400.0]))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "message id (in arrival order)"
    ticks = dict(zip(ax.get_yticks().tolist(), [t.get_text() for t in ax.get_yticklabels()]))
    assert ticks[0.0] == "100" and ticks[1.0] == "250", f"expected rows labelled 100 and 250, got {ticks}"
    triangles = [c for c in ax.collections if c.get_offsets().shape[0] and
                 c.get_paths()[0].vertices.tolist() == plots.matplotlib.markers.MarkerStyle("v").get_path()
                 .transformed(plots.matplotlib.markers.MarkerStyle("v").get_transform()).vertices.tolist()]
    assert len(triangles) == 1 and triangles[0].get_offsets()[:, 0].tolist() == [0.5, 2400 / 3600], \
        "expected the two warnings as triangles at 0.5 h and 0.67 h"
    legend = ax.get_legend()
    texts = legend_texts(ax)
    assert "delay warning sent (2)" in texts and "pass held back by host state (no connection)" in texts, texts
    hollow = [ln for ln in legend.findobj(plots.Line2D) if ln.get_markerfacecolor() == "none"]
    assert [ln.get_markeredgecolor() for ln in hollow] == [plots.OUTCOME_COLOURS[mtasim.Outcome.DELIVERED]], \
        "expected one hollow legend marker, green like the held-back dot of the delivered message"


def test_pareto_figure_names_the_lag_percentile():
    """pareto_figure at percentile 100 speaks of the max recovery lag (axis and limit line)."""
    points = {"mean_attempts": [10.0, 20.0], "recovery_lag_s": [3600.0, 600.0], "on_front": [True, True],
              "labels": ["a", "b"]}
    ax = plots.pareto_figure(points, "t", 1800.0, lag_percentile=100).axes[0]
    assert ax.get_ylabel() == "max recovery lag (minutes)"
    assert "allowed max recovery lag (30 min)" in legend_texts(ax)


def test_latency_and_report_leave_out_messages_whose_arrival_a_replayed_log_does_not_show(tmp_path, capsys):
    """A replay of a log that begins mid-incident has messages with an empty arrival_s: they have no latency,
    so the latency curve counts the others (1 of 4 left out, said in the label), and report still works."""
    import csv as csv_module

    from mtasim.plotcmd import build_figure
    sc = mtasim.scenario_from_dict({"name": "four", "sender": {"schedule": {"kind": "fixed", "interval": "1h"},
                                                               "expiry": "1d"},
                                    "messages": {"arrival": {"kind": "times", "times": ["0h", "1h", "2h", "3h"]}},
                                    "recipients": [{"domain": "r.example"}]}, "four.yaml")
    mtasim.simulate(sc).write(tmp_path)
    path = tmp_path / "messages.csv"
    rows = list(csv_module.reader(path.open(encoding="utf-8")))
    rows[1][rows[0].index("arrival_s")] = ""
    with path.open("w", encoding="utf-8", newline="") as f:
        csv_module.writer(f, lineterminator="\n").writerows(rows)
    from mtasim.cli import main
    ax = build_figure("latency", [tmp_path]).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "four (1 whose arrival is not known left out): 3 of 3 delivered, 0.0% never", legend
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "report.html")]) == 0


def test_a_name_the_font_cannot_draw_saves_without_a_warning(tmp_path):
    """A scenario name with a character DejaVu Sans lacks (the fuzzer found U+D7FF) is drawn as a box;
    matplotlib's warning about it must not reach the user's terminal."""
    import warnings

    sc = mtasim.scenario_from_dict({"name": "odd \ud7ff name", "sender": {"preset": "exchange-online"},
                                    "messages": {"count": 5},
                                    "recipients": [{"domain": "r.example", "outages": [{"start": 0, "end": "1h"}]}]},
                                   "odd.yaml")
    result = mtasim.simulate(sc, attempts=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.save_figure(plots.timeline_figure(result), tmp_path / "t.png")
        plots.figure_svg(plots.timeline_figure(result))
    assert (tmp_path / "t.png").stat().st_size > 10_000
