"""Measures of generated text that need no reference text: diversity, repetition, real words.

`distinct_n` follows Li et al. (2016): the number of distinct word n-grams in a set of texts
divided by the number of words generated, pooled over the texts (near 0 for text that says the
same thing over and over). `repetition_rate` is the share of word n-grams of one text that already
occurred earlier in it (greedy decoding's loops score high). `known_word_share` is the share of
generated words that occur in a reference word list (the training tales): a character or bigram
model spells its own words, and invented ones ("branged") are its most visible mistake.
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
    """Distinct word n-grams / words (Li et al. 2016), pooled over `texts` (0 without words).

    The denominator is the number of words (punctuation marks count as words), as in the paper,
    not the number of n-grams; for long texts the two differ little."""
    integer_at_least("n", n, 1)
    grams, total = set(), 0
    for text in texts:
        tokens = words(text)
        grams.update(ngrams(tokens, n))
        total += len(tokens)
    return len(grams) / total if total else 0.0


def repetition_rate(text: str, n: int = 4) -> float:
    """Share of the word n-grams of `text` that already occurred earlier in it."""
    seen, repeated = set(), 0
    grams = ngrams(words(text), n)
    for gram in grams:
        repeated += gram in seen
        seen.add(gram)
    return repeated / len(grams) if grams else 0.0


def vocabulary_of(text: str) -> set[str]:
    """The distinct words of `text` (no punctuation marks): the reference of `known_word_share`."""
    return {w for w in words(text) if w[0].isalpha()}


def known_word_share(texts: Iterable[str], known: set[str]) -> float:
    """Share of the words of `texts` (punctuation left out) that are in `known`, pooled.

    Raises ValueError when `texts` hold no word (a share of nothing would be a made-up number)."""
    generated = [w for text in texts for w in words(text) if w[0].isalpha()]
    if not generated:
        raise ValueError("no words in the texts: nothing to measure")
    return sum(w in known for w in generated) / len(generated)
