"""Training on a stream of freshly generated data, as the synthetic-task notebooks do.

A generator such as `tasks.adding_problem` can make unlimited data, so the models never see the
same sequence twice and cannot memorise a training set. `train_on_stream` trains ``chunk`` steps
at a time on new data, evaluates after each chunk, and stops early when asked to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import tasks
from .checks import integer_at_least


@dataclass
class StreamRun:
    curve: np.ndarray  # rows of (training steps so far, score after them)
    seconds: float

    @property
    def steps(self) -> int:
        return int(self.curve[-1, 0])

    @property
    def final(self) -> float:
        return float(self.curve[-1, 1])


def train_on_stream(
    model,
    make_data: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    max_steps: int,
    batch_size: int,
    evaluate: Callable[[object], float],
    chunk: int = 100,
    stop: Callable[[float], bool] | None = None,
) -> StreamRun:
    """Fit a compiled Keras model on ``make_data(n, seed)``, ``chunk`` steps (batches) at a time.

    Chunk k uses seed ``k * chunk`` (so every model trained with the same arguments sees the same
    data), then ``evaluate(model)`` gives the score recorded in the curve; training stops after
    ``max_steps`` steps or as soon as ``stop(score)`` is true.
    """
    max_steps = integer_at_least("max_steps", max_steps)
    batch_size = integer_at_least("batch_size", batch_size)
    chunk = integer_at_least("chunk", chunk)
    curve, started = [], time.perf_counter()
    for done in range(0, max_steps, chunk):
        steps = min(chunk, max_steps - done)
        x, y = make_data(steps * batch_size, done)
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        score = float(evaluate(model))
        curve.append((done + steps, score))
        if stop is not None and stop(score):
            break
    return StreamRun(np.array(curve), time.perf_counter() - started)


def train_on_adding(
    model,
    length: int,
    max_steps: int,
    batch_size: int = 64,
    stop_below: float | None = None,
    test_size: int = 1000,
    test_seed: int = 1_000_000,
) -> StreamRun:
    """`train_on_stream` on the adding problem; the score is the MSE on held-out sequences.

    The held-out set is drawn with ``test_seed``, which must not be one of the training chunks'
    seeds (0, 100, 200, ...), so no test sequence is ever trained on. Training stops early once
    the MSE is below ``stop_below``.
    """
    chunk = 100
    if test_seed < max_steps and test_seed % chunk == 0:
        raise ValueError(f"test_seed {test_seed} is also the seed of a training chunk; "
                         f"use one that is not a multiple of {chunk} below max_steps")
    x_test, y_test = tasks.adding_problem(test_size, length, seed=test_seed)
    return train_on_stream(
        model,
        lambda n, seed: tasks.adding_problem(n, length, seed),
        max_steps=max_steps,
        batch_size=batch_size,
        evaluate=lambda m: m.evaluate(x_test, y_test, verbose=0),
        chunk=chunk,
        stop=None if stop_below is None else (lambda mse: mse < stop_below),
    )
