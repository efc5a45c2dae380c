"""The output README shows is the output the program prints (runnable docs).

README shows commands in one form: in a fenced block, a line starting with ``$ `` is a command (a trailing
``\\`` continues it on the next line), the lines after it are what it prints (stdout, then stderr), and a
line ``...`` stands for any number of lines left out. ``$ cat FILE`` shows an input file: the test writes
those lines to FILE first. Each block runs in a fresh folder holding only a link to ``scenarios/``, so
commands that write files write there; Python blocks that use ``mtasim`` are executed the same way.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
from dataclasses import dataclass

import pytest
from conftest import ROOT

from mtasim.cli import main

README = (ROOT / "README.md").read_text(encoding="utf-8")

#: Fenced blocks: the language tag, the body, and the line the body starts on.
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
#: Parts of an output that change from run to run, replaced in README's text and the program's alike.
_VOLATILE = [(re.compile(r"(replication\(s\)), \d+(?:\.\d+)? s$"), r"\1, <elapsed> s")]


@dataclass
class Step:
    """One command of a README block and the lines README says it prints."""
    command: str
    expected: list[str]


@dataclass
class Block:
    line: int                    # README line of the block's first line
    steps: list[Step]

    @property
    def id(self) -> str:
        first = self.steps[0].command.split()
        return f"line{self.line}-" + "-".join(w for w in first[:3] if not w.startswith("-"))


def _blocks() -> tuple[list[Block], list[tuple[int, str]]]:
    """README's command blocks, and its Python blocks that use mtasim (with their lines)."""
    shell, python = [], []
    for match in _FENCE.finditer(README):
        lang, body = match.group(1), match.group(2)
        line = README.count("\n", 0, match.start(2)) + 1
        if lang == "python" and "import mtasim" in body:
            python.append((line, body))
        if lang or not re.search(r"^\$ ", body, re.M):
            continue
        steps: list[Step] = []
        continuing = False
        for text in body.splitlines():
            if continuing:
                steps[-1].command = steps[-1].command[:-1].rstrip() + " " + text.strip()
            elif text.startswith("$ "):
                steps.append(Step(text[2:].strip(), []))
            else:
                assert steps, f"README line {line}: output before the block's first command"
                steps[-1].expected.append(text)
            continuing = steps[-1].command.endswith("\\") and not steps[-1].expected
        shell.append(Block(line, steps))
    return shell, python


SHELL_BLOCKS, PYTHON_BLOCKS = _blocks()


def _normal(lines: list[str]) -> list[str]:
    out = []
    for text in lines:
        text = text.rstrip()
        for pattern, repl in _VOLATILE:
            text = pattern.sub(repl, text)
        out.append(text)
    while out and not out[-1]:
        out.pop()
    return out


def _matches(expected: list[str], actual: list[str]) -> bool:
    """``actual`` is ``expected`` line for line, each ``...`` line of ``expected`` standing for any lines."""
    pattern = "".join(r"(?:[^\n]*\n)*?" if e == "..." else re.escape(e) + r"\n" for e in expected)
    return re.fullmatch(pattern, "".join(a + "\n" for a in actual)) is not None


def _run(step: Step, capsys) -> tuple[int, list[str]]:
    """Run one README command here; its exit status and what it printed."""
    argv = shlex.split(step.command)
    if argv[0] == "cat" and len(argv) == 2:
        with open(argv[1], "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in step.expected))
        return 0, list(step.expected)
    assert argv[0] == "mtasim", f"README command {step.command!r}: the tests run only `mtasim` and `cat FILE`"
    redirect = None
    if ">" in argv:
        argv, redirect = argv[:argv.index(">")], argv[argv.index(">") + 1]
    capsys.readouterr()
    try:
        status = main(argv[1:])
    except SystemExit as exc:                       # argparse: --help, usage errors
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    if redirect is not None:
        with open(redirect, "w", encoding="utf-8") as f:
            f.write(out)
        out = ""
    return status, (out + err).splitlines()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh folder with ``scenarios/`` linked in, as the current directory."""
    os.symlink(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_command_blocks_in_the_one_form():
    """README's command examples are found (a parser that found none would make the next test vacuous)."""
    commands = [s.command for b in SHELL_BLOCKS for s in b.steps]
    assert len(SHELL_BLOCKS) >= 10 and len(commands) >= 15, commands
    for needle in ("mtasim curve", "mtasim tune expiry", "mtasim tune schedule", "mtasim sweep",
                   "mtasim schedule postfix", "mtasim import postfix", "mtasim plot burst", "mtasim schema"):
        assert any(c.startswith(needle) for c in commands), f"no README command starting {needle!r}"


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: b.id)
def test_readme_command_block_prints_what_readme_shows(block, workdir, capsys):
    """Each command of the block exits as README implies and prints the lines README shows for it."""
    problems = []
    for step in block.steps:
        status, printed = _run(step, capsys)
        expected, actual = _normal(step.expected), _normal(printed)
        shown = [e for e in expected if e != "..."]
        want_error = bool(shown) and shown[-1].startswith("mtasim: ")
        if (status != 0) != want_error:
            problems.append(f"$ {step.command}\n  exit status {status}, README implies "
                            f"{'an error' if want_error else '0'}; it printed:\n" + "\n".join(printed))
        elif not _matches(expected, actual):
            diff = "\n".join(difflib.unified_diff(expected, actual, "README", "printed", lineterm="", n=2))
            problems.append(f"$ {step.command}\n  prints other lines than README shows ('...' in README "
                            f"matches any lines):\n{diff}\n  --- the program's full output, for README:\n"
                            + "\n".join(printed))
    assert not problems, (f"README.md block at line {block.line} differs from the program:\n\n"
                          + "\n\n".join(problems))


@pytest.mark.parametrize("line,code", PYTHON_BLOCKS, ids=[f"line{n}" for n, _ in PYTHON_BLOCKS])
def test_readme_python_block_runs(line, code, workdir):
    """README's Python API example runs as written and writes the files it says."""
    namespace: dict = {}
    exec(compile(code, f"README.md (Python block at line {line})", "exec"), namespace)   # noqa: S102
    if "result.write(\"out/\"" in code:
        assert (workdir / "out" / "messages.csv").is_file() and (workdir / "out" / "attempts.csv").is_file()


def _synopsis() -> dict[str, set[str]]:
    """README's command-line synopsis: each command (``run``, ``tune expiry``, ...) and the flags it shows."""
    block = README.split("\n## Command line\n", 1)[1].split("```", 2)[1]
    shown: dict[str, set[str]] = {}
    command = None
    for line in block.splitlines():
        match = re.match(r"mtasim (tune \w+|\w+)", line)
        if match:
            command = match.group(1)
            shown.setdefault(command, set())
        if command:
            shown[command] |= set(re.findall(r"(?<![\w-])(--[\w-]+)", line))
    return shown


def _parser_commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, set[str]]:
    """Every (sub)command of the real parser and its long options."""
    found: dict[str, set[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                found.update(_parser_commands(sub, full) or {
                    full: {o for a in sub._actions for o in a.option_strings if o.startswith("--") and o != "--help"}})
    return found


def test_readme_command_synopsis_matches_the_parser():
    """README's synopsis lists every command with every option the parser takes, and no other (--no-limits,
    which several commands share, is listed in the Errors section instead)."""
    from mtasim.cli import _parser
    shown, real = _synopsis(), _parser_commands(_parser())
    problems = [f"mtasim {c}: not in README's synopsis" for c in sorted(set(real) - set(shown))]
    problems += [f"mtasim {c}: in README's synopsis, not a command" for c in sorted(set(shown) - set(real))]
    for command in sorted(set(real) & set(shown)):
        missing = real[command] - shown[command] - {"--no-limits"}
        unknown = shown[command] - real[command]
        if missing:
            problems.append(f"mtasim {command}: README's synopsis lacks {', '.join(sorted(missing))}")
        if unknown:
            problems.append(f"mtasim {command}: README's synopsis shows {', '.join(sorted(unknown))}, which the "
                            f"parser does not take")
    errors = README.split("\n## Errors\n", 1)[1]
    for command in sorted(c for c, opts in real.items() if "--no-limits" in opts):
        if f"`{command}`" not in errors.split("`--no-limits` (on", 1)[1].split(")", 1)[0]:
            problems.append(f"mtasim {command} takes --no-limits; README's Errors section does not list it")
    assert not problems, "README's Command line section is out of step with the parser:\n" + "\n".join(problems)


def test_readme_shows_the_real_make_run_output(capsys, tmp_path, monkeypatch):
    """The block under `make run` in README is exactly what `mtasim run` prints for the default scenario."""
    match = re.search(r"```\n(Exchange Online through a 30 h partner outage .*?)```", README, re.S)
    assert match, "README has no make-run output block"
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(ROOT / "scenarios" / "exchange-online-30h-outage.yaml"), "--out", "results",
                 "--attempts"]) == 0
    printed = capsys.readouterr().out
    assert printed == match.group(1), (
        "README's `make run` output block differs from the program:\n"
        + "\n".join(difflib.unified_diff(match.group(1).splitlines(), printed.splitlines(), "README", "printed",
                                         lineterm="")))


def test_readme_first_screen_has_exactly_the_two_commands():
    """The first screen offers `make run` and `make test`, and the Makefile has both targets."""
    first = README[:1500]
    assert "make run" in first and "make test" in first
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
