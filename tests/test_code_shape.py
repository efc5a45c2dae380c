"""The engine stays small enough to read: the limits the engine issue set, checked on every run."""

from __future__ import annotations

import ast
from pathlib import Path

import mccabe

ENGINE = Path(__file__).resolve().parent.parent / "src" / "mtasim" / "engine"


def complexities(path: Path) -> dict[str, int]:
    """McCabe's cyclomatic complexity of every function in ``path`` (methods as Class.method)."""
    visitor = mccabe.PathGraphingAstVisitor()
    visitor.preorder(ast.parse(path.read_text(), str(path)), visitor)
    return {graph.entity: graph.complexity() for graph in visitor.graphs.values()}


def test_no_engine_function_is_more_complex_than_15():
    worst = {f"{path.name}:{name}": c for path in ENGINE.glob("*.py") for name, c in complexities(path).items()
             if c > 15}
    assert not worst, f"functions above cyclomatic complexity 15: {worst}"


def test_the_des_stays_under_350_lines():
    assert len((ENGINE / "des.py").read_text().splitlines()) < 350


def test_the_complexity_measure_sees_a_complex_function(tmp_path):
    """The check above cannot pass by measuring nothing: a function with 16 branches measures 17."""
    branches = "\n".join(f"    if x == {k}:\n        return {k}" for k in range(16))
    (tmp_path / "f.py").write_text(f"def f(x):\n{branches}\n    return -1\n")
    assert complexities(tmp_path / "f.py") == {"f": 17}
