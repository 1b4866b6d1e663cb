"""Synthetic long-memory tasks, generated from a seed: the adding problem and the copy task.

Both are classics for testing whether a recurrent network can carry information over many steps
(Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015; Arjovsky, Shah & Bengio 2016). Each
call with the same arguments returns the same arrays.
"""

from __future__ import annotations

import numpy as np

from .checks import integer_at_least

# Variance of the sum of two independent Uniform(0, 1) values: the test MSE of a model that always
# predicts the mean (1.0). A model has learned the adding problem when it beats this clearly.
ADDING_BASELINE_MSE = 2 / 12


def adding_problem(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` adding-problem sequences of ``length`` steps: inputs (n, length, 2), targets (n, 1).

    Channel 0 holds random values in [0, 1); channel 1 marks exactly two steps with 1.0, one in
    the first half and one in the second half. The target is the sum of the two marked values, so
    the network must find and remember the first one for up to ``length`` steps.
    """
    n = integer_at_least("n", n)
    length = integer_at_least("length", length, minimum=2)
    rng = np.random.default_rng(seed)
    values = rng.random((n, length), dtype=np.float64).astype(np.float32)
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    markers = np.zeros((n, length), dtype=np.float32)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (values[rows, first] + values[rows, second])[:, None]
    return x, y.astype(np.float32)


def copy_task(
    n: int, delay: int, seed: int, n_symbols: int = 8, n_copy: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` copy-task sequences: remember ``n_copy`` symbols over ``delay`` blank steps.

    Tokens: 0 is blank, 1..n_symbols are data symbols, n_symbols + 1 is the "recall now" marker.
    Input: the symbols, ``delay - 1`` blanks, the marker, ``n_copy`` blanks. Target: blanks
    everywhere except the last ``n_copy`` steps, which repeat the symbols. Both are integer arrays
    of shape (n, n_copy + delay + n_copy). A model that only learns the blanks and guesses the
    symbols scores chance (1 / n_symbols) on them.
    """
    n = integer_at_least("n", n)
    delay = integer_at_least("delay", delay)
    n_symbols = integer_at_least("n_symbols", n_symbols, minimum=2)
    n_copy = integer_at_least("n_copy", n_copy)
    rng = np.random.default_rng(seed)
    length = n_copy + delay + n_copy
    symbols = rng.integers(1, n_symbols + 1, size=(n, n_copy))
    x = np.zeros((n, length), dtype=np.int32)
    y = np.zeros((n, length), dtype=np.int32)
    x[:, :n_copy] = symbols
    x[:, n_copy + delay - 1] = n_symbols + 1
    y[:, -n_copy:] = symbols
    return x, y
