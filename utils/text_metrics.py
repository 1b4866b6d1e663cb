"""Measures of generated text that need no reference text: diversity and repetition.

`distinct_n` (Li et al. 2016) is the share of word n-grams in a set of texts that are distinct: 1
when nothing repeats, near 0 for text that says the same thing over and over. `repetition_rate` is
the share of word n-grams of one text that already occurred earlier in it (greedy decoding's
loops score high).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .checks import integer_at_least

WORD = re.compile(r"[a-z]+(?:'[a-z]+)*|[.,;:!?]")


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks of `text`."""
    return WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    integer_at_least("n", n, 1)
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Iterable[str], n: int = 2) -> float:
    """Distinct word n-grams / all word n-grams, pooled over `texts` (0 when there are none)."""
    grams = [g for text in texts for g in ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(text: str, n: int = 4) -> float:
    """Share of the word n-grams of `text` that already occurred earlier in it."""
    seen, repeated = set(), 0
    grams = ngrams(words(text), n)
    for gram in grams:
        repeated += gram in seen
        seen.add(gram)
    return repeated / len(grams) if grams else 0.0
