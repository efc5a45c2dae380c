"""Baseline for benchmarks/engines.py and tests/test_des_baseline.py: the straightforward SimPy model,
one SimPy process per message in flight, started at its arrival, every wait a SimPy timeout, each
running the plainly written reference steps (``mtasim.engine.steps.message_steps``). The batched DES
(``mtasim.engine.des``) must give the same per-message results and attempt tables; this is the yardstick
for its speed and for its event order (SimPy's: time, urgent before normal, creation order).
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from mtasim.engine.steps import message_steps
from mtasim.recipients import Recipient
from mtasim.results import Recorder
from mtasim.sender import Sender

__all__ = ["run_des"]


def run_des(sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
            arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> float | None:
    env = simpy.Environment()
    steps = message_steps(sender, recipients, horizon, seed, arrivals, recipient_of, recorder)
    stop = math.inf if horizon is None else horizon

    def process(generator):
        for target in generator:
            yield env.timeout(max(0.0, target - env.now))

    def source():
        for i in range(len(arrivals)):
            t = float(arrivals[i])
            if t >= stop:
                return
            if t > env.now:
                yield env.timeout(max(0.0, t - env.now))
            env.process(process(steps(i)))

    env.process(source())
    env.run(until=horizon)
    return horizon
