"""Engines by name: each is a module ``mtasim.engine.<name>`` with a function ``run_<name>``, imported on
first use (so choosing the fast engine never imports SimPy)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

__all__ = ["engine_runner"]


def engine_runner(name: str) -> Callable:
    """The run function of engine ``name`` (imported on first use)."""
    return getattr(import_module(f"{__package__}.{name}"), f"run_{name}")
