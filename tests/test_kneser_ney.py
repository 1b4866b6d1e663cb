"""utils.kneser_ney: normalised distributions, hand-computed values, agreement with NLTK's
Kneser-Ney and with a dict-based reference written straight from Chen & Goodman's equations, and
clear errors for bad input."""

import itertools
from collections import Counter

import numpy as np
import pytest
from nltk.lm import KneserNeyInterpolated
from nltk.util import everygrams

from utils.kneser_ney import FALLBACK, KneserNey

VOCAB = 7  # the corpora below use ids 0..5: id 6 is never seen


def markov_corpus(n: int, states: int = 6, seed: int = 0) -> np.ndarray:
    """Ids from a random sparse Markov chain, so contexts repeat and counts reach 1, 2, 3+."""
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.full(states, 0.3), size=states)
    ids = [0]
    for _ in range(n - 1):
        ids.append(rng.choice(states, p=transitions[ids[-1]]))
    return np.array(ids)


def contexts(order: int, vocab: int = VOCAB):
    """Every context of length 0..order - 1 over `vocab` ids: those seen in training and not."""
    for length in range(order):
        yield from itertools.product(range(vocab), repeat=length)


# ----------------------------------------------------------------------------------------------
# 1. Every distribution is normalised and positive, seen context or not.


@pytest.mark.parametrize("modified", [True, False])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_distributions_sum_to_one(order, modified):
    train = markov_corpus(400)
    model = KneserNey.fit(train, VOCAB, order, modified=modified)
    seen = {tuple(train[i : i + order - 1]) for i in range(len(train) - order + 2)}
    checked = Counter()
    for context in contexts(order):
        p = model.distribution(context)
        assert p.shape == (VOCAB,)
        assert abs(p.sum() - 1) < 1e-9, context
        assert (p > 0).all(), context  # the uniform floor reaches id 6, never seen
        checked[context in seen] += 1
    assert checked[True] > 0 and (order == 1 or checked[False] > 0)


# ----------------------------------------------------------------------------------------------
# 2. Hand-computed values: "abracadabra", interpolated KN with a fixed D = 0.5, vocab 6 (a b r c
# d and an unseen e).

A, B, R, C, D, E = range(6)
ABRACADABRA = [A, B, R, A, C, A, D, A, B, R, A]

# Bigrams: ab 2, br 2, ra 2, ac 1, ca 1, ad 1, da 1 (7 distinct). Continuation counts (distinct
# left neighbours): a 3 (r, c, d), b 1, r 1, c 1, d 1; total 7. Unigram level, 5 ids seen:
# p1(w) = max(N(.w) - 0.5, 0) / 7 + (0.5 * 5 / 7) / 6 = max(N(.w) - 0.5, 0) / 7 + 2.5 / 42.
P1 = {A: 2.5 / 7 + 2.5 / 42, B: 0.5 / 7 + 2.5 / 42, E: 2.5 / 42}  # 17.5/42, 5.5/42, 2.5/42


def test_hand_computed_unigram_and_bigram():
    model = KneserNey.fit(ABRACADABRA, 6, 2, modified=False, discount=0.5)
    assert model.discounts == {1: (0.5,), 2: (0.5,)}
    p1 = model.distribution([])
    for w, expected in P1.items():
        assert p1[w] == pytest.approx(expected, abs=1e-12)
    # After a (raw bigram counts): b 2, c 1, d 1 -> total 4, 3 distinct, gamma = 0.5 * 3 / 4.
    after_a = model.distribution([A])
    assert after_a[B] == pytest.approx((2 - 0.5) / 4 + 0.375 * P1[B], abs=1e-12)  # 0.424107
    assert after_a[C] == pytest.approx((1 - 0.5) / 4 + 0.375 * P1[B], abs=1e-12)  # c like b
    assert after_a[A] == pytest.approx(0.375 * P1[A], abs=1e-12)  # 0.15625
    # After r: a 2 -> total 2, gamma = 0.5 * 1 / 2.
    assert model.distribution([R])[A] == pytest.approx(1.5 / 2 + 0.25 * P1[A], abs=1e-12)
    # After e (never seen): back off whole to p1.
    np.testing.assert_allclose(model.distribution([E]), p1, rtol=0, atol=1e-15)


def test_hand_computed_trigram():
    model = KneserNey.fit(ABRACADABRA, 6, 3, modified=False, discount=0.5)
    # Trigrams: abr 2, bra 2, rac 1, aca 1, cad 1, ada 1, dab 1. Bigram level, continuation
    # counts from those 7 distinct trigrams: br, ra, ac, ca, ad, da, ab each 1.
    # p2(r | b): b is followed by r only: (1 - 0.5) / 1 + (0.5 * 1 / 1) * p1(r).
    p2_r_b = 0.5 + 0.5 * P1[B]  # p1(r) = p1(b) = 5.5/42; 0.565476
    # p2(. | a): ab, ac, ad each 1 -> total 3, gamma = 0.5 * 3 / 3.
    p2_c_a = 0.5 / 3 + 0.5 * P1[B]  # 0.232143
    # p3(r | a b): abr 2 -> total 2, gamma = 0.5 * 1 / 2.
    assert model.distribution([A, B])[R] == pytest.approx(1.5 / 2 + 0.25 * p2_r_b, abs=1e-12)
    # p3(c | r a): rac 1 -> total 1, gamma = 0.5.
    assert model.distribution([R, A])[C] == pytest.approx(0.5 + 0.5 * p2_c_a, abs=1e-12)
    # Context "b a" never seen: p3(b | b a) = p2(b | a), same numbers as p2(c | a).
    assert model.distribution([B, A])[B] == pytest.approx(p2_c_a, abs=1e-12)
    # Only the last order - 1 ids count; a one-id context starts at the bigram level.
    assert model.distribution([E, E, A, B])[R] == model.distribution([A, B])[R]
    assert model.distribution([B])[R] == pytest.approx(p2_r_b, abs=1e-12)


# ----------------------------------------------------------------------------------------------
# 3a. NLTK's KneserNeyInterpolated: one fixed discount at every order but the unigram, which is
# the plain continuation unigram N(.w) / N(..) (our D = 0 there). Its lower orders take gamma's
# distinct-follower count from raw counts where we take it from continuation counts: the two
# differ only for n-grams seen at the stream's very start alone, so the corpus repeats its first
# tokens at its end.


@pytest.mark.parametrize("order", [2, 3, 4])
def test_matches_nltk(order):
    x = markov_corpus(300, seed=order)
    train = np.concatenate([x, x[:4]])
    words = [str(i) for i in train]
    reference = KneserNeyInterpolated(order, discount=0.75)
    reference.fit([list(everygrams(words, max_len=order))], vocabulary_text=words)
    discounts = [0.0] + [0.75] * (order - 1)
    model = KneserNey.fit(train, VOCAB, order, modified=False, discount=discounts)
    seen = sorted(set(train.tolist()))
    compared = 0
    for context in itertools.chain.from_iterable(
        itertools.product(seen, repeat=length) for length in range(order)
    ):
        ours = model.distribution(context)
        for w in seen:
            expected = reference.unmasked_score(str(w), tuple(str(i) for i in context))
            assert ours[w] == pytest.approx(expected, rel=1e-12, abs=1e-15), (context, w)
            compared += 1
    assert compared >= 6 * 7  # 6 ids after 7 contexts at order 2


# ----------------------------------------------------------------------------------------------
# 3b. A deliberately naive reference from Chen & Goodman's equations (dicts, recursion), for
# modified KN with estimated discounts, which NLTK does not implement.


def count_of_counts_discounts(counts: Counter, modified: bool):
    n = Counter(counts.values())
    y = n[1] / (n[1] + 2 * n[2])
    if not modified:
        return (y,)
    return (y, 2 - 3 * y * n[3] / n[2], 3 - 4 * y * n[4] / n[3])


def reference_counts(train, order):
    """Order k -> Counter of k-grams: raw counts at the top, continuation counts below."""
    train = [int(i) for i in train]
    grams = {k: Counter(tuple(train[i : i + k]) for i in range(len(train) - k + 1))
             for k in range(1, order + 1)}
    counts = {order: grams[order]}
    for k in range(1, order):
        counts[k] = Counter(gram[1:] for gram in grams[k + 1])  # each distinct (k+1)-gram once
    return counts


def reference_probability(counts, discounts, vocab, w, context):
    k = len(context) + 1
    lower = 1 / vocab if k == 1 else reference_probability(counts, discounts, vocab, w, context[1:])
    followers = {g[-1]: c for g, c in counts[k].items() if g[:-1] == tuple(context)}
    if not followers:
        return lower
    ds = discounts[k] * 3 if len(discounts[k]) == 1 else discounts[k]

    def d(c):
        return ds[min(c, 3) - 1]

    total = sum(followers.values())
    alpha = max(followers[w] - d(followers[w]), 0) / total if w in followers else 0.0
    gamma = sum(d(c) for c in followers.values()) / total
    return alpha + gamma * lower


@pytest.mark.parametrize("modified", [True, False])
def test_discounts_follow_count_of_counts(modified):
    train = markov_corpus(3000, states=20, seed=1)
    model = KneserNey.fit(train, 20, 3, modified=modified)
    counts = reference_counts(train, 3)
    for k in (2, 3):  # here every estimate lies in (0, j]
        assert model.discounts[k] == pytest.approx(count_of_counts_discounts(counts[k], modified))


def test_discounts_fall_back_where_the_estimate_fails():
    train = markov_corpus(3000, states=12, seed=1)
    model = KneserNey.fit(train, 12, 3)
    counts = reference_counts(train, 3)
    # Bigram continuation counts: n1..n4 = 20, 15, 5, 14, so D3+ = 3 - 4 * 0.4 * 14 / 5 < 0.
    d1, d2, d3 = count_of_counts_discounts(counts[2], modified=True)
    assert d3 < 0 and model.discounts[2] == pytest.approx((d1, d2, FALLBACK[2]))
    # Twelve unigram continuation counts, none of them 1 or 2: no estimate at all.
    assert Counter(counts[1].values())[1] == Counter(counts[1].values())[2] == 0
    assert model.discounts[1] == FALLBACK


@pytest.mark.parametrize("modified", [True, False])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_matches_naive_reference(order, modified):
    train = markov_corpus(500, seed=10 + order)
    model = KneserNey.fit(train, VOCAB, order, modified=modified)
    counts = reference_counts(train, order)
    for context in contexts(order):
        expected = [reference_probability(counts, model.discounts, VOCAB, w, context)
                    for w in range(VOCAB)]
        np.testing.assert_allclose(model.distribution(context), expected, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------------------------
# 4. token_log_probs is the log of distribution, position by position.


@pytest.mark.parametrize("modified", [True, False])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_token_log_probs_match_distribution(order, modified):
    model = KneserNey.fit(markov_corpus(400), VOCAB, order, modified=modified)
    stream = np.concatenate([markov_corpus(60, seed=5), [6, 6, 0, 6]])  # unseen n-grams too
    log_probs = model.token_log_probs(stream)
    assert log_probs.shape == (len(stream) - 1,)
    expected = [np.log(model.distribution(stream[max(0, t - order + 1) : t])[stream[t]])
                for t in range(1, len(stream))]
    np.testing.assert_allclose(log_probs, expected, rtol=1e-12, atol=1e-12)
    assert model.perplexity(stream) == pytest.approx(np.exp(-np.mean(expected)), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# 5. Bad input fails with a clear message.


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": 0}, r"order must be an integer >= 1, got 0"),
        ({"order": 2.0}, r"order must be an integer >= 1, got 2\.0"),
        ({"order": True}, r"order must be an integer >= 1, got True"),
        ({"vocab_size": 1}, r"vocab_size must be an integer >= 2, got 1"),
        ({"ids": []}, r"at least order=2 tokens, got 0"),
        ({"ids": [0, 1], "order": 3}, r"at least order=3 tokens, got 2"),
        ({"ids": [0, 1, -1]}, r"ids must be ids in \[0, 4\) \(vocab_size\), got -1"),
        ({"ids": [0, 1, 4]}, r"ids must be ids in \[0, 4\) \(vocab_size\), got 4"),
        ({"ids": [[0, 1], [1, 0]]}, r"ids must be a 1-D sequence of token ids, got shape \(2, 2\)"),
        ({"ids": [0.0, 1.0]}, r"ids must be integer token ids, got dtype float64"),
        ({"vocab_size": 562, "order": 7}, r"562\*\*7 overflows the int64 n-gram keys"),
        ({"discount": 0.5}, r"pass modified=False with discount="),
        ({"discount": 1.5, "modified": False}, r"discount must be a number in \[0, 1\]"),
        ({"discount": [0.5], "modified": False}, r"or 2 of them \(one per order\), got \[0\.5\]"),
    ],
)
def test_fit_rejects_bad_input(kwargs, match):
    arguments = {"ids": [0, 1, 2, 3, 0, 1], "vocab_size": 4, "order": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        KneserNey.fit(**arguments)


def test_scoring_rejects_bad_input():
    model = KneserNey.fit([0, 1, 2, 3, 0, 1], 4, 3)
    with pytest.raises(ValueError, match=r"context must be ids in \[0, 4\) \(vocab_size\), got 4"):
        model.distribution([0, 4])
    with pytest.raises(ValueError, match=r"context must be ids in \[0, 4\) .*got -1"):
        model.distribution([-1])
    with pytest.raises(ValueError, match=r"context must be a 1-D sequence .*got shape \(\)"):
        model.distribution(2)
    with pytest.raises(ValueError, match=r"ids must be ids in \[0, 4\) \(vocab_size\), got 7"):
        model.token_log_probs([0, 1, 7])
    with pytest.raises(ValueError, match=r"ids must hold at least 2 tokens .*got 1"):
        model.token_log_probs([0])
    with pytest.raises(ValueError, match=r"ids must hold at least 2 tokens .*got 0"):
        model.perplexity([])
    with pytest.raises(ValueError, match=r"ids must be a 1-D sequence .*got shape \(1, 3\)"):
        model.perplexity([[0, 1, 2]])
