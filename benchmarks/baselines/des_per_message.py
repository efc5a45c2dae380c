"""Speed yardstick for benchmarks/engines.py: the straightforward SimPy model, one SimPy process per
message in flight, started at its arrival, every wait a SimPy timeout, each running the plainly written
reference steps of ``mtasim.engine.reference``. Simultaneous events run in SimPy's order (creation order),
not the MTA's queue order, so with host-level state a few messages can be held back differently from the
engines; it is timed, not compared (the engines are compared with ``engine="reference"`` in the tests).
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from mtasim.engine.kernel import Kernel
from mtasim.engine.reference import _message_steps
from mtasim.recipients import Recipient
from mtasim.results import Recorder
from mtasim.sender import Sender

__all__ = ["run_des_per_message"]


def run_des_per_message(sender: Sender, recipients: list[Recipient], horizon: float | None, seed: int,
                        arrivals: np.ndarray, recipient_of: np.ndarray, recorder: Recorder) -> float | None:
    env = simpy.Environment()
    stop = math.inf if horizon is None else horizon
    steps, _ = _message_steps(sender, recipients, stop, seed, arrivals, recipient_of, recorder)

    def process(generator):
        for event in generator:
            yield env.timeout(max(0.0, event[0] - env.now))

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
    Kernel(sender, recipients, recorder, seed, horizon).finish()
    return horizon
