"""Regenerate the golden summaries of the shipped scenarios: tests/golden/<scenario-stem>.json.

Run deliberately when a behaviour change is intended, and review the diff of the JSON files in the
same commit as the change:

    .venv/bin/python tests/golden/regenerate.py

Each file holds the summary counts of one scenario in scenarios/*.yaml, run with its own seed:
messages, delivered, expired, bounced, queued, attempts, delay_warnings, connections (the attempts that
host-level state did not hold back). tests/test_engine.py compares every run against them.
"""

from __future__ import annotations

import json
from pathlib import Path

import mtasim

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KEYS = ("messages", "delivered", "expired", "bounced", "queued", "attempts", "delay_warnings", "connections")


def main() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        summary = mtasim.simulate(mtasim.load_scenario(path)).summary()
        out = HERE / f"{path.stem}.json"
        out.write_text(json.dumps({k: summary[k] for k in KEYS}, indent=2) + "\n", encoding="utf-8")
        print(f"{out.relative_to(ROOT)}: {', '.join(f'{k}={summary[k]}' for k in KEYS)}")


if __name__ == "__main__":
    main()
