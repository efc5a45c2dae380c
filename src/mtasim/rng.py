"""Seeded randomness that does not depend on the order of events.

Bulk draws made once per run (arrival times, recipient assignment) come from NumPy generators spawned
per purpose from one :class:`numpy.random.SeedSequence`. Draws made during the run (retry jitter,
per-attempt replies) must not depend on which engine or which worker asks first, so they are a pure
function of (seed, purpose, message id, attempt number): a SplitMix64 hash, cheap in plain Python for
one draw and vectorised in NumPy for many, both giving the same bits.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Purpose", "generator", "stream_key", "uniform", "uniform_array"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_TWO_M53 = 2.0 ** -53


class Purpose(IntEnum):
    """One random stream per purpose, so adding draws for one never shifts another."""

    ARRIVALS = 0
    RECIPIENTS = 1
    JITTER = 2
    REPLIES = 3
    OUTAGES = 4
    ORDER = 5      # Exim's random queue-run order (mtasim.queue_order)
    DURATION = 6   # how long each attempt's SMTP transaction takes (recipients' transaction_time)
    ADDRESSES = 7  # which of a greylisting domain's recipient addresses a message goes to


def generator(seed: int, purpose: Purpose) -> np.random.Generator:
    """A NumPy generator for a bulk draw made once per run."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(purpose),)))


def stream_key(seed: int, purpose: Purpose) -> int:
    """64-bit key of a counter-based stream."""
    state = np.random.SeedSequence(seed, spawn_key=(int(purpose), 1 << 16)).generate_state(2, np.uint64)
    return int(state[0])


def _mix(z: int) -> int:
    z = (z + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def uniform(key: int, message_id: int, attempt: int) -> float:
    """A draw in (0, 1] fixed by (key, message id, attempt number)."""
    z = _mix(_mix(key ^ (message_id & _MASK)) ^ ((attempt * _GOLDEN) & _MASK))
    return ((z >> 11) + 1) * _TWO_M53


def _mix_array(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def uniform_array(key: int, message_ids: np.ndarray, attempts: np.ndarray | int) -> np.ndarray:
    """Vectorised :func:`uniform`: identical values for identical (key, id, attempt)."""
    with np.errstate(over="ignore"):
        ids = np.asarray(message_ids, dtype=np.uint64)
        att = np.asarray(attempts, dtype=np.uint64) * np.uint64(_GOLDEN)
        z = _mix_array(_mix_array(ids ^ np.uint64(key)) ^ att)
    return ((z >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * _TWO_M53
