"""The documentation stands on its own: every preset parameter has its upstream source in docs/sources.md,
no user-facing text points outside the repository, and what the help and `mtasim presets` claim is true."""

from __future__ import annotations

import json
import re

from conftest import ROOT

import mtasim
from mtasim.cli import main
from mtasim.presets import PRESETS
from mtasim.sender import trace_schedule

README = (ROOT / "README.md").read_text(encoding="utf-8")
SOURCES = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")

#: Places a user's clone does not have: the project's shared reference folder and this machine's paths.
OUTSIDE = re.compile(r"shared/reference|\.\./shared|/work/(?:main|shared)|reference/mta-retry-facts|"
                     r"reference/provider-and-recipient-facts")
#: Paths into this repository as user-facing text cites them (README, docs, `mtasim presets`).
REPO_PATH = re.compile(r"(?<![\w./-])((?:src/mtasim|docs|scenarios|benchmarks|notebooks|tests)/[\w./-]*\w)")


def _preset_section(name: str) -> str:
    """The part of docs/sources.md under ``### `name```, up to the next heading."""
    match = re.search(rf"^### `{re.escape(name)}`\n(.*?)(?=^##)", SOURCES + "\n##", re.M | re.S)
    assert match, f"docs/sources.md has no section '### `{name}`'"
    return match.group(1)


def _presets_text(capsys) -> str:
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert main(["presets", "--json"]) == 0
    return text + capsys.readouterr().out


def test_sources_md_lists_every_preset_parameter_with_its_default_and_source():
    """Each preset has a section in docs/sources.md with one row per parameter: name, default, a source."""
    missing = []
    for name, preset in PRESETS.items():
        rows = {}
        for line in _preset_section(name).splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 4 and cells[0].startswith("`"):
                rows[re.match(r"`([^`]+)`", cells[0]).group(1)] = cells
        for param in preset.params:
            row = rows.get(param.name)
            if row is None:
                missing.append(f"{name}: no row for {param.name}")
                continue
            if row[1] != f"`{param.show()}`":
                missing.append(f"{name}: {param.name} default {row[1]} in docs/sources.md, {param.show()!r} in "
                               f"the preset")
            if len(row[2]) < 10:
                missing.append(f"{name}: {param.name} has no upstream source")
            for alias in param.aliases:
                if f"`{alias}`" not in row[0]:
                    missing.append(f"{name}: {param.name}'s alias {alias} not named")
        extra = set(rows) - {p.name for p in preset.params}
        missing += [f"{name}: docs/sources.md lists {x}, which is not a parameter" for x in sorted(extra)]
    assert not missing, "docs/sources.md is out of step with the presets:\n" + "\n".join(missing)


def test_sources_md_links_and_sections_exist():
    """docs/sources.md's links point at files in docs/, and each § it cites is a section of the facts page."""
    for target in re.findall(r"\]\(([^)#]+)", SOURCES):
        assert (ROOT / "docs" / target).is_file(), f"docs/sources.md links to {target}, which does not exist"
    facts = (ROOT / "docs" / "mta-retry-facts.md").read_text(encoding="utf-8")
    provider = (ROOT / "docs" / "provider-and-recipient-facts.md").read_text(encoding="utf-8")
    for section in set(re.findall(r"§(\d+(?:\.\d+)?)", SOURCES)):
        assert re.search(rf"^#+ {re.escape(section)}\.? ", facts, re.M), f"§{section} is not in mta-retry-facts.md"
    for label in set(re.findall(r"\b([AB]\.\d)\b", SOURCES)):
        assert re.search(rf"^### {re.escape(label)} ", provider, re.M), f"{label} is not in provider-and-recipient-facts.md"


def test_readme_and_presets_output_link_sources_md(capsys):
    """README's Presets section and `mtasim presets` point the reader at docs/sources.md."""
    presets_section = README.split("\n## Presets\n", 1)[1].split("\n## ", 1)[0]
    assert "(docs/sources.md)" in presets_section
    assert main(["presets"]) == 0
    assert "docs/sources.md" in capsys.readouterr().out.splitlines()[-1]


def test_nothing_user_facing_points_outside_the_repository(capsys):
    """README, docs, notebooks, scenarios, every docstring and `mtasim presets` cite no path a clone lacks."""
    texts = {"README.md": README, "mtasim presets": _presets_text(capsys)}
    for pattern in ("docs/*.md", "scenarios/*.yaml", "notebooks/*.ipynb", "src/mtasim/**/*.py"):
        for path in ROOT.glob(pattern):
            texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    found = [f"{where}: {m.group(0)!r}" for where, text in texts.items() for m in OUTSIDE.finditer(text)]
    assert not found, "pointers outside the repository:\n" + "\n".join(found)


def test_every_repository_path_cited_exists(capsys):
    """Each path into the repository that README or `mtasim presets` names, and each link of docs/, exists.

    (docs/ pages also cite upstream projects' own ``docs/...`` files, so there only links are checked.)
    """
    missing = []
    for where, text in {"README.md": README, "mtasim presets": _presets_text(capsys)}.items():
        for path in set(REPO_PATH.findall(text)):
            if not (ROOT / path).exists() and not list(ROOT.glob(path.rstrip("/") + "*")):
                missing.append(f"{where}: {path}")
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)", page.read_text(encoding="utf-8")):
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)}: link {target}")
    assert not missing, "cited paths that the repository lacks:\n" + "\n".join(sorted(missing))


def test_readme_module_map_names_existing_modules():
    """Every entry of README's module map (Development) is a file or folder of src/mtasim/."""
    block = README.split("\nsrc/mtasim/\n", 1)[1].split("```", 1)[0]
    names = re.findall(r"^  (\S+\.py|\S+/)\s", block, re.M)
    assert len(names) > 20, names
    missing = [n for n in names if not (ROOT / "src" / "mtasim" / n).exists()]
    assert not missing, f"README's module map names modules that do not exist: {missing}"


def test_exim_preset_text_matches_what_is_modelled(capsys):
    """`mtasim presets` does not call Exim's per-host records and repeated warnings 'not modelled': they are."""
    exim = PRESETS["exim"]
    # Exim's default delay_warning (24h) repeats: three warnings before the 96:30 bounce (§10).
    trace = trace_schedule(exim.sender())
    assert [round(t) for t in trace.warnings_s] == [28 * 3600 + 1800, 52 * 3600 + 1800, 76 * 3600 + 1800]
    assert exim.sender().host_policy is not None                   # one retry record per host, by default
    assert exim.sender({"host_retry_records": 0}).host_policy is None
    assert main(["presets", "--json"]) == 0
    text = json.dumps(json.loads(capsys.readouterr().out)["exim"])
    for claim in ("retry records not modelled", "one warning only", "not modelled yet", "sends one warning"):
        assert claim not in text, f"`mtasim presets` says {claim!r} about exim"


def test_run_help_names_every_file_run_writes(tmp_path, capsys):
    """`mtasim run --help` names each file `run --out DIR --attempts --qshape WHEN` writes."""
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "scenarios" / "exchange-online-30h-outage.yaml"), "--out", str(out),
                 "--attempts", "--qshape", "30h"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert {"summary.json", "messages.csv", "outages.csv", "queue.csv", "attempts.csv"} <= set(written)
    capsys.readouterr()
    try:
        main(["run", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    missing = [name for name in written if name not in help_text]
    assert not missing, f"`mtasim run --help` does not name {missing} (run wrote {written})"


def test_readme_with_overrides_example_works_on_readme_scenario():
    """README's `with_overrides` example runs on the Python API section's scenario and changes the expiry."""
    call = re.search(r"`(mtasim\.scenario\.with_overrides\(scenario, (\{[^`]*\})\))`", README)
    assert call, "README has no with_overrides example"
    scenario = mtasim.load_scenario(ROOT / "scenarios" / "exchange-online-30h-outage.yaml")
    changed = eval(call.group(1), {"mtasim": mtasim, "scenario": scenario})   # noqa: S307 (README text)
    assert scenario.sender.expiry_s == 24 * 3600
    assert changed.sender.expiry_s == 12 * 3600, call.group(1)
