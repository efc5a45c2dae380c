"""The output README shows is the output the program prints (runnable docs)."""

from __future__ import annotations

import re

from conftest import ROOT

from mtasim.cli import main

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_shows_the_real_make_run_output(capsys, tmp_path, monkeypatch):
    """The block under `make run` in README is exactly what `mtasim run` prints for the default scenario."""
    match = re.search(r"```\n(Exchange Online through a 30 h partner outage .*?)```", README, re.S)
    assert match, "README has no make-run output block"
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(ROOT / "scenarios" / "exchange-online-30h-outage.yaml"), "--out", "results",
                 "--attempts"]) == 0
    assert capsys.readouterr().out == match.group(1)


def test_readme_first_screen_has_exactly_the_two_commands():
    """The first screen offers `make run` and `make test`, and the Makefile has both targets."""
    first = README[:1500]
    assert "make run" in first and "make test" in first
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
