"""Whether a run fits in this machine's memory: an estimate per message, checked before anything starts."""

from __future__ import annotations

__all__ = ["check_memory", "model", "available_memory_bytes", "EngineUnavailableError", "BYTES_PER_MESSAGE"]


class EngineUnavailableError(ValueError):
    """The requested engine cannot run this scenario (or this machine cannot hold it); the message says why."""


#: Bytes per message: the per-message records (about 60 B) plus the engine's own share. The DES with host
#: state parks every message's pending event in arrays and keeps calendar runs (measured: 270 B per message
#: at 10^6), and on its shared calendar of small destinations a heap entry and a generator per message in
#: flight (measured: 400 B); the fast engine (and the DES without host state) works through chunks of 2^15
#: messages.
BYTES_PER_MESSAGE = {"fast": 72, "des": 350, "des, small destinations": 550, "reference": 2000}
_CHUNK_BYTES = 64 * (1 << 20)                  # a chunk's arrays, and what numpy keeps around
_BYTES_PER_ATTEMPT_ROW = 25


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def model(engine: str, coupled: bool, per_destination: float) -> str:
    """Which entry of BYTES_PER_MESSAGE fits a run: the DES without host state works like the fast engine;
    with it, destinations with few messages share a calendar of per-message steps (mtasim.engine.des)."""
    if engine != "des":
        return engine
    if not coupled:
        return "fast"
    from .des import _OWN_QUEUE
    return "des, small destinations" if per_destination < _OWN_QUEUE else "des"


def check_memory(messages: float, engine: str, attempts: bool | int, model: str | None = None) -> None:
    """Refuse, before anything starts, a run that would not fit in the memory available. ``model``: the
    entry of BYTES_PER_MESSAGE that fits the run (default: the engine's)."""
    model = model or engine
    need = messages * BYTES_PER_MESSAGE[model] + (_CHUNK_BYTES if model == "fast" else 0)
    if attempts:
        every = 1 if attempts is True else int(attempts)
        need += messages / every * 10 * _BYTES_PER_ATTEMPT_ROW      # about 10 attempts per message
    have = available_memory_bytes()
    if have is not None and need > have:
        raise EngineUnavailableError(
            f"{messages:,.0f} messages on the {engine} engine would need about {need / 2**30:,.1f} GiB of memory; "
            f"{have / 2**30:,.1f} GiB is available (fewer messages, --engine fast, or no --attempts)")
