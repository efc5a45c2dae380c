"""Whether a run fits in this machine's memory: an estimate per message, checked before anything starts."""

from __future__ import annotations

__all__ = ["check_memory", "available_memory_bytes", "EngineUnavailableError", "BYTES_PER_MESSAGE"]


class EngineUnavailableError(ValueError):
    """The requested engine cannot run this scenario (or this machine cannot hold it); the message says why."""


#: Bytes per message: the per-message records (about 60 B) plus the engine's own share. The DES with host
#: state parks every message's pending event in arrays (14 fields, about 110 B) and keeps calendar runs;
#: the fast engine (and the DES without host state) works through chunks of 2^20 messages (~300 B each).
BYTES_PER_MESSAGE = {"fast": 72, "des": 350, "reference": 2000}
_CHUNK_BYTES = 300 * (1 << 20)
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


def check_memory(messages: float, engine: str, attempts: bool | int, host_state: bool = True) -> None:
    """Refuse, before anything starts, a run that would not fit in the memory available."""
    model = engine if host_state or engine != "des" else "fast"
    need = messages * BYTES_PER_MESSAGE[model] + (_CHUNK_BYTES if model == "fast" else 0)
    if attempts:
        every = 1 if attempts is True else int(attempts)
        need += messages / every * 10 * _BYTES_PER_ATTEMPT_ROW      # about 10 attempts per message
    have = available_memory_bytes()
    if have is not None and need > have:
        raise EngineUnavailableError(
            f"{messages:,.0f} messages on the {engine} engine would need about {need / 2**30:,.1f} GiB of memory; "
            f"{have / 2**30:,.1f} GiB is available (fewer messages, --engine fast, or no --attempts)")
