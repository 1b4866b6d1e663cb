"""Kneser-Ney n-gram language model over token ids: the count-based baseline for the LSTM.

p(w | context) = max(c(context w) - D, 0) / c(context) + gamma(context) p(w | shorter context):
gamma = D * (distinct words after context) / c(context) hands the discounted mass down one order.
The highest order counts n-grams, lower orders count continuations (distinct words seen before the
n-gram), and the unigram level interpolates with uniform, so no id gets 0. Modified KN (Chen &
Goodman 1998, the default) discounts counts of 1, 2 and 3+ by D1, D2 and D3+.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np

from .checks import integer_at_least

FALLBACK = (0.5, 1.0, 1.5)  # D1, D2, D3+ where count-of-counts give no estimate (as KenLM's)


@dataclass(frozen=True)
class _Level:
    """One order's n-grams as int64 keys (base vocab_size, sorted) with their interpolation
    weights alpha, and their contexts' keys (key // vocab_size) with gamma."""

    keys: np.ndarray
    alphas: np.ndarray
    contexts: np.ndarray
    gammas: np.ndarray
    starts: np.ndarray  # contexts[i]'s n-grams are keys[starts[i]:starts[i + 1]]


def _ids(name: str, ids, vocab_size: int) -> np.ndarray:
    """``ids`` as a 1-D int64 array of ids in [0, vocab_size); else ValueError."""
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of token ids, got shape {array.shape}")
    if array.size == 0:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer token ids, got dtype {array.dtype}")
    low, high = array.min(), array.max()
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"{name} must be ids in [0, {vocab_size}) (vocab_size), got {bad}")
    return array.astype(np.int64)


def _estimated(counts: np.ndarray, modified: bool) -> tuple[float, ...]:
    """Chen & Goodman's discounts from count-of-counts n1..n4: (D,) or (D1, D2, D3+). A discount
    the formula leaves undefined or outside (0, j] falls back to `FALLBACK`."""
    n1, n2, n3, n4 = (float(n) for n in np.bincount(np.minimum(counts, 5), minlength=6)[1:5])
    y = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else np.nan
    if not modified:
        return (y if 0 < y <= 1 else FALLBACK[0],)
    estimates = (y, 2 - 3 * y * n3 / n2 if n2 else np.nan, 3 - 4 * y * n4 / n3 if n3 else np.nan)
    return tuple(float(d) if 0 < d <= j else fallback
                 for j, (d, fallback) in enumerate(zip(estimates, FALLBACK, strict=True), 1))


def _lookup(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each query in sorted ``keys`` and whether it is there."""
    index = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return index, keys[index] == queries


class KneserNey:
    """An n-gram model of order `order` (contexts of up to order - 1 ids); build it with `fit`.

    Order 1 is the highest-order rule alone: discounted unigram counts interpolated with uniform.
    A context shorter than order - 1 (a stream's start) starts at the order it fills, with that
    order's continuation counts; a context never seen backs off whole (gamma = 1)."""

    def __init__(self, levels: list[_Level], vocab_size: int, modified: bool,
                 discounts: dict[int, tuple[float, ...]]):
        self._levels = levels  # levels[k - 1]: order k
        self.order = len(levels)
        self.vocab_size = vocab_size
        self.modified = modified
        self.discounts = discounts  # order -> (D,) or (D1, D2, D3+)

    @classmethod
    def fit(cls, ids, vocab_size: int, order: int, modified: bool = True,
            discount: float | Sequence[float] | None = None) -> KneserNey:
        """Count `ids` (1-D ints in [0, vocab_size)). modified: Chen & Goodman's D1, D2, D3+ per
        order, else one D per order, both estimated from that order's count-of-counts (counts
        or continuation counts; `FALLBACK` where they give no D_j in (0, j]).
        discount: fixed D in [0, 1] instead (one for all orders, or one per order, lowest first;
        needs modified=False); D = 0 at order 1 drops the uniform floor, as NLTK's unigram."""
        order = integer_at_least("order", order, 1)
        vocab_size = integer_at_least("vocab_size", vocab_size, 2)
        if vocab_size**order > np.iinfo(np.int64).max:
            raise ValueError(f"vocab_size ** order = {vocab_size}**{order} overflows the int64 "
                             f"n-gram keys; use a lower order or a smaller vocabulary")
        fixed = cls._fixed(discount, order, modified)
        ids = _ids("ids", ids, vocab_size)
        if len(ids) < order:
            raise ValueError(f"ids must hold at least order={order} tokens, got {len(ids)}")

        # The stream's k-gram keys by start position, k = 1..order.
        grams = [ids]
        for k in range(2, order + 1):
            grams.append(ids[: len(ids) - k + 1] * vocab_size ** (k - 1) + grams[-1][1:])
        levels, discounts = [], {}
        for k in range(order, 0, -1):
            if k == order:  # raw counts
                keys, counts = np.unique(grams[k - 1], return_counts=True)
            else:  # continuation counts: distinct (k+1)-grams that end in the k-gram
                keys, counts = np.unique(np.unique(grams[k]) % vocab_size**k, return_counts=True)
            discounts[k] = fixed[k - 1] if fixed else _estimated(counts, modified)
            levels.append(cls._level(keys, counts, discounts[k], vocab_size))
        return cls(levels[::-1], vocab_size, modified, dict(sorted(discounts.items())))

    @staticmethod
    def _fixed(discount, order: int, modified: bool) -> list[tuple[float]] | None:
        if discount is None:
            return None
        if modified:
            raise ValueError("a fixed discount is one D per order (interpolated KN): pass "
                             "modified=False with discount=")
        values = [discount] * order if isinstance(discount, Real) else list(discount)
        if len(values) != order or not all(isinstance(d, Real) and 0 <= d <= 1 for d in values):
            raise ValueError(f"discount must be a number in [0, 1] or {order} of them (one per "
                             f"order), got {discount!r}")
        return [(float(d),) for d in values]

    @staticmethod
    def _level(keys, counts, discounts: tuple[float, ...], vocab_size: int) -> _Level:
        table = np.array((0.0, *discounts * (3 if len(discounts) == 1 else 1)))
        discount = table[np.minimum(counts, 3)]  # D(count): D1, D2 or D3+
        contexts, starts = np.unique(keys // vocab_size, return_index=True)
        totals = np.add.reduceat(counts, starts).astype(np.float64)
        starts = np.append(starts, len(keys))
        alphas = (counts - discount) / np.repeat(totals, np.diff(starts))
        gammas = np.add.reduceat(discount, starts[:-1]) / totals
        return _Level(keys, alphas, contexts, gammas, starts)

    def distribution(self, context=()) -> np.ndarray:
        """Probabilities [vocab_size] of the next id after `context` (its last order - 1 ids)."""
        context = _ids("context", context, self.vocab_size)
        context = context[max(len(context) - self.order + 1, 0) :]
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k, level in enumerate(self._levels[: len(context) + 1], 1):
            key = 0
            for token in context[len(context) - k + 1 :]:
                key = key * self.vocab_size + int(token)
            i, found = _lookup(level.contexts, np.array([key]))
            if found[0]:
                grams = slice(level.starts[i[0]], level.starts[i[0] + 1])
                p *= level.gammas[i[0]]
                p[level.keys[grams] % self.vocab_size] += level.alphas[grams]
        return p

    def token_log_probs(self, ids) -> np.ndarray:
        """ln p(ids[t] | up to order - 1 ids before it) for t = 1..len(ids) - 1: every id but the
        first, the targets a language model scores on that stream."""
        ids = _ids("ids", ids, self.vocab_size)
        if len(ids) < 2:
            raise ValueError(f"ids must hold at least 2 tokens (a context and a target), got "
                             f"{len(ids)}")
        p = np.full(len(ids) - 1, 1.0 / self.vocab_size)  # p[t - 1]: target ids[t]
        keys = ids.copy()  # keys[t]: the k-gram that ends at t (valid for t >= k - 1)
        for k, level in enumerate(self._levels, 1):
            if k > 1:
                keys[k - 1 :] += ids[: len(ids) - k + 1] * self.vocab_size ** (k - 1)
            first = max(k - 1, 1)  # targets with at least k - 1 ids of context
            grams = keys[first:]
            i, found = _lookup(level.keys, grams)
            alpha = np.where(found, level.alphas[i], 0.0)
            i, found = _lookup(level.contexts, grams // self.vocab_size)
            gamma = np.where(found, level.gammas[i], 1.0)
            p[first - 1 :] = alpha + gamma * p[first - 1 :]
        return np.log(p)

    def perplexity(self, ids) -> float:
        """exp(-mean `token_log_probs`): the perplexity over every id of `ids` but the first."""
        return float(np.exp(-self.token_log_probs(ids).mean()))
