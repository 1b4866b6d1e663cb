"""utils.decoding against exhaustive search, a slow pure-Python beam search, and statistics.

The models are tiny and random (vocabulary 5) and keep their weights in tf.Variables, so one
compiled decoder serves every seed: a new seed reassigns the weights without retracing.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from utils import decoding
from utils.decoding import PAD_ID, Decoder

VOCAB, HIDDEN, EOS = 5, 4, 3  # end-of-sequence is not the padding id


class TinyRNN:
    """h' = tanh(E[token] + h W), log_probs = log_softmax(h' O): every log-prob depends on the
    whole history through the state."""

    def __init__(self, vocab=VOCAB, hidden=HIDDEN):
        self.vocab, self.hidden = vocab, hidden
        self.embedding = tf.Variable(tf.zeros([vocab, hidden]))
        self.recurrent = tf.Variable(tf.zeros([hidden, hidden]))
        self.output = tf.Variable(tf.zeros([hidden, vocab]))

    def reseed(self, seed):
        rng = np.random.default_rng(seed)
        self.embedding.assign(rng.normal(size=(self.vocab, self.hidden)).astype("float32"))
        self.recurrent.assign(rng.normal(size=(self.hidden, self.hidden)).astype("float32"))
        self.output.assign(1.5 * rng.normal(size=(self.hidden, self.vocab)).astype("float32"))
        return self

    def initial_state(self, batch=1):
        return (tf.zeros([batch, self.hidden]),)

    def __call__(self, tokens, state):
        (h,) = state
        h = tf.tanh(tf.gather(self.embedding, tokens) + h @ self.recurrent)
        return tf.nn.log_softmax(h @ self.output), (h,)


class ScriptedModel:
    """Log-probs from a table by time step, whatever the tokens: row t at step t (the last row
    after that). The state is the step counter."""

    def __init__(self, probs):
        self.table = tf.math.log(tf.constant(probs, tf.float32))
        self.vocab = int(self.table.shape[1])

    def initial_state(self):
        return (tf.zeros([1, 1]),)

    def __call__(self, tokens, state):
        (counter,) = state
        row = tf.minimum(tf.cast(counter[:, 0], tf.int32), self.table.shape[0] - 1)
        return tf.gather(self.table, row), (counter + 1.0,)


class HistoryModel:
    """The state encodes the exact history (a base-(V+1) code) and carries a rank-3 "encoder
    output" that only needs tiling; log-probs are a hash of the history, so a hypothesis fed
    another beam's state gets different log-probs."""

    def __init__(self, vocab=VOCAB):
        self.vocab = vocab
        self.phase = tf.constant(np.arange(1, vocab + 1) * 0.37, tf.float32)

    def initial_state(self):
        return (tf.zeros([1, 1]), tf.ones([1, 3, 2]))

    def __call__(self, tokens, state):
        code, memory = state
        code = code * (self.vocab + 1) + tf.cast(tokens[:, None], tf.float32) + 1.0
        logits = 3.0 * tf.sin(code * self.phase) + tf.reduce_sum(memory, axis=[1, 2])[:, None]
        return tf.nn.log_softmax(logits), (code, memory)


@pytest.fixture(scope="module")
def rnn():
    return TinyRNN()


@pytest.fixture(scope="module")
def decoders(rnn):
    """One decoder without and one with end-of-sequence, shared by every test of the module."""
    return {None: Decoder(rnn, VOCAB), EOS: Decoder(rnn, VOCAB, eos_id=EOS)}


# ----------------------------------------------------------------------------------------------
# Slow, obviously correct references (the model called eagerly, one hypothesis at a time)


def score(log_prob, length, alpha):
    return log_prob / ((5 + length) / 6) ** alpha


def step_one(model, token, state):
    log_probs, state = model(tf.constant([token]), state)
    return log_probs.numpy()[0].astype(np.float64), state


def sequence_log_prob(model, start, tokens, state):
    """Log-probability of ``tokens`` (without padding) after ``start``."""
    total, token = 0.0, start
    for nxt in tokens:
        log_probs, state = step_one(model, token, state)
        total += log_probs[nxt]
        token = nxt
    return total


def exhaustive(model, start, max_len, eos, alpha):
    """Every complete hypothesis (ended by eos, or max_len tokens long), best first. All live
    prefixes of one length go through the model as one batch."""
    complete, prefixes, prefix_log_probs = [], [()], [0.0]
    state, last = model.initial_state(), [start]
    for t in range(max_len):
        log_probs, state = model(tf.constant(last, tf.int32), state)
        log_probs = log_probs.numpy().astype(np.float64)
        grown, grown_log_probs, rows = [], [], []
        for row, (tokens, log_prob) in enumerate(zip(prefixes, prefix_log_probs, strict=True)):
            for v in range(model.vocab):
                hyp = (tokens + (v,), log_prob + log_probs[row, v])
                if v == eos or t == max_len - 1:
                    complete.append(hyp)
                else:
                    grown.append(hyp[0])
                    grown_log_probs.append(hyp[1])
                    rows.append(row)
        if not grown:
            break
        prefixes, prefix_log_probs = grown, grown_log_probs
        state = tuple(tf.gather(s, rows) for s in state)
        last = [tokens[-1] for tokens in prefixes]
    return sorted(((score(lp, len(tok), alpha), tok, lp) for tok, lp in complete), reverse=True)


def reference_beam_search(model, start, max_len, width, eos, alpha):
    """Textbook beam search with lists: extend every unfinished hypothesis by every token, keep
    finished ones as they are, keep the `width` best by score; stop when all have finished."""
    beams = [((), 0.0, model.initial_state(), False)]
    for _ in range(max_len):
        candidates = []
        for tokens, log_prob, state, finished in beams:
            if finished:
                candidates.append((tokens, log_prob, state, True))
                continue
            log_probs, new_state = step_one(model, tokens[-1] if tokens else start, state)
            for v in range(model.vocab):
                candidates.append((tokens + (v,), log_prob + log_probs[v], new_state, v == eos))
        candidates.sort(key=lambda c: score(c[1], len(c[0]), alpha), reverse=True)
        beams = candidates[:width]
        if all(finished for *_, finished in beams):
            break
    return [(tokens, log_prob, score(log_prob, len(tokens), alpha)) for tokens, log_prob, *_ in
            beams]


def greedy_reference(model, start, max_len, eos):
    tokens, state, token = [], model.initial_state(), start
    for _ in range(max_len):
        log_probs, state = step_one(model, token, state)
        token = int(np.argmax(log_probs))
        tokens.append(token)
        if token == eos:
            break
    return tokens


# ----------------------------------------------------------------------------------------------
# Filters


def probs_of(log_probs):
    return np.exp(np.asarray(log_probs, np.float64))


def test_top_k_keeps_the_k_most_likely_renormalised():
    log_probs = np.log([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    kept = probs_of(decoding.top_k_filter(log_probs, 2))
    np.testing.assert_allclose(kept, [[0, 0, 3 / 7, 4 / 7], [4 / 7, 3 / 7, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(probs_of(decoding.top_k_filter(log_probs, 4)), np.exp(log_probs),
                               atol=1e-6)


@pytest.mark.parametrize(("p", "kept"), [(0.05, 1), (0.75, 2), (0.85, 3), (0.97, 4), (1.0, 4)])
def test_top_p_keeps_the_smallest_set_reaching_p(p, kept):
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    filtered = probs_of(decoding.top_p_filter(np.log(probs[::-1])[None], p))[0][::-1]
    expected = np.where(np.arange(4) < kept, probs, 0.0)
    np.testing.assert_allclose(filtered, expected / expected.sum(), atol=1e-6)


def test_top_p_accepts_unnormalised_logits():
    logits = np.array([[2.0, 1.0, 0.0, -3.0]])
    probs = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(probs_of(decoding.top_p_filter(logits, 0.999)), probs, atol=1e-6)


def test_temperature_sharpens_and_flattens():
    probs = np.array([[0.6, 0.3, 0.1]])
    np.testing.assert_allclose(probs_of(decoding.apply_temperature(np.log(probs), 1.0)), probs,
                               atol=1e-6)
    np.testing.assert_allclose(probs_of(decoding.apply_temperature(np.log(probs), 0.5)),
                               probs**2 / (probs**2).sum(), atol=1e-6)
    flat = probs_of(decoding.apply_temperature(np.log(probs), 100.0))
    np.testing.assert_allclose(flat, 1 / 3, atol=0.01)


@pytest.mark.parametrize(("call", "message"), [
    (lambda lp: decoding.top_k_filter(lp, 0), r"top_k must be an integer >= 1, got 0"),
    (lambda lp: decoding.top_k_filter(lp, 5), r"top_k must be an integer in \[1, 4\], got 5"),
    (lambda lp: decoding.top_k_filter(lp, 1.5), r"top_k must be an integer"),
    (lambda lp: decoding.top_p_filter(lp, 0.0), r"top_p must be in \(0, 1\], got 0.0"),
    (lambda lp: decoding.top_p_filter(lp, 1.5), r"top_p must be in \(0, 1\], got 1.5"),
    (lambda lp: decoding.apply_temperature(lp, 0.0), r"temperature must be > 0, got 0.0"),
    (lambda lp: decoding.apply_temperature(lp, -1.0), r"temperature must be > 0, got -1.0"),
])
def test_filters_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.log(np.full((1, 4), 0.25)))


# ----------------------------------------------------------------------------------------------
# Greedy search and beam search against the references


@pytest.mark.parametrize("eos", [None, EOS])
def test_greedy_is_the_argmax_path_and_reports_its_log_prob(rnn, decoders, eos):
    for seed in range(5):
        rnn.reseed(seed)
        result = decoders[eos].greedy(rnn.initial_state(), 2, 6)
        expected = greedy_reference(rnn, 2, 6, eos)
        assert result.sequences() == [expected]
        assert result.lengths[0] == len(expected)
        assert result.log_probs[0] == pytest.approx(
            sequence_log_prob(rnn, 2, expected, rnn.initial_state()), abs=1e-5)


@pytest.mark.parametrize(("eos", "alpha"), [(None, 0.0), (EOS, 0.0), (EOS, 1.0)])
def test_beam_search_is_exact_when_the_width_covers_every_prefix(rnn, decoders, eos, alpha):
    """Width = vocabulary and 2 tokens: every 1-token prefix survives, so the best is found."""
    for seed in range(8):
        rnn.reseed(seed)
        beams = decoders[eos].beam_search(rnn.initial_state(), 1, 2, width=VOCAB,
                                          length_penalty=alpha)
        best_score, best_tokens, best_log_prob = exhaustive(rnn, 1, 2, eos, alpha)[0]
        assert beams.sequences()[0] == list(best_tokens)
        assert beams.log_probs[0] == pytest.approx(best_log_prob, abs=1e-5)
        assert beams.scores[0] == pytest.approx(best_score, abs=1e-5)


@pytest.mark.parametrize(("eos", "alpha", "width"),
                         [(None, 0.0, 3), (None, 0.0, VOCAB), (EOS, 0.0, 3), (EOS, 0.6, VOCAB)])
def test_beam_search_matches_a_pure_python_beam_search(rnn, decoders, eos, alpha, width):
    for seed in range(6):
        rnn.reseed(seed)
        beams = decoders[eos].beam_search(rnn.initial_state(), 1, 4, width=width,
                                          length_penalty=alpha)
        reference = reference_beam_search(rnn, 1, 4, width, eos, alpha)
        assert beams.sequences() == [list(tokens) for tokens, _, _ in reference]
        np.testing.assert_allclose(beams.log_probs, [lp for _, lp, _ in reference], atol=1e-5)
        np.testing.assert_allclose(beams.scores, [s for _, _, s in reference], atol=1e-5)
        assert list(beams.scores) == sorted(beams.scores, reverse=True)  # best first


def test_greedy_is_no_better_than_beam_search_which_is_no_better_than_exhaustive(rnn, decoders):
    for seed in range(10):
        rnn.reseed(seed)
        state = rnn.initial_state()
        greedy = decoders[None].greedy(state, 1, 4).log_probs[0]
        beam = decoders[None].beam_search(state, 1, 4, width=VOCAB).log_probs[0]
        best = exhaustive(rnn, 1, 4, None, 0.0)[0][2]
        assert greedy <= beam + 1e-5 and beam <= best + 1e-5


@pytest.mark.parametrize("eos", [None, EOS])
def test_width_one_is_greedy(rnn, decoders, eos):
    for seed in range(5):
        rnn.reseed(seed)
        greedy = decoders[eos].greedy(rnn.initial_state(), 3, 6)
        beam = decoders[eos].beam_search(rnn.initial_state(), 3, 6, width=1)
        assert beam.sequences() == greedy.sequences()
        np.testing.assert_allclose(beam.log_probs, greedy.log_probs, atol=1e-5)


def test_each_beam_keeps_its_own_state():
    """With the history in the state, a beam fed another beam's state would report a log-prob
    that its own tokens do not have; the rank-3 state part must be tiled along."""
    model = HistoryModel()
    beams = Decoder(model, VOCAB).beam_search(model.initial_state(), 2, 5, width=4)
    assert len(set(map(tuple, beams.sequences()))) == 4
    for tokens, log_prob in zip(beams.sequences(), beams.log_probs, strict=True):
        assert log_prob == pytest.approx(
            sequence_log_prob(model, 2, tokens, model.initial_state()), abs=1e-4)


def test_backpointers_rebuild_the_hypotheses(rnn, decoders):
    rnn.reseed(3)
    beams = decoders[EOS].beam_search(rnn.initial_state(), 1, 5, width=3)
    steps = beams.parents.shape[0]
    assert beams.parents.shape == beams.step_tokens.shape == beams.step_log_probs.shape
    assert beams.tokens.shape == (3, steps)
    for j in range(3):
        beam, rebuilt = j, []
        for t in range(steps - 1, -1, -1):
            rebuilt.append(beams.step_tokens[t, beam])
            beam = beams.parents[t, beam]
        assert rebuilt[::-1] == beams.tokens[j].tolist()
    np.testing.assert_allclose(beams.step_log_probs[-1], beams.log_probs)


# ----------------------------------------------------------------------------------------------
# End of sequence and length normalisation


SHORT_EOS = 2
SHORT_OR_LONG = [  # token 0 stands for padding: never likely
    [0.001, 0.499, 0.5],  # step 1: end now (short) or go on with token 1
    *[[0.01, 0.98, 0.01]] * 4,  # steps 2-5: token 1
    [0.01, 0.01, 0.98],  # step 6: end
]


def test_length_penalty_changes_the_winner():
    """Alpha 0 prefers ending at once (log 0.5); alpha 1 prefers the 6-token hypothesis."""
    model = ScriptedModel(SHORT_OR_LONG)
    decoder = Decoder(model, 3, eos_id=SHORT_EOS)
    raw = decoder.beam_search(model.initial_state(), 1, 8, width=2, length_penalty=0.0)
    normalised = decoder.beam_search(model.initial_state(), 1, 8, width=2, length_penalty=1.0)
    assert raw.sequences()[0] == [SHORT_EOS]
    assert normalised.sequences()[0] == [1, 1, 1, 1, 1, SHORT_EOS]
    for beams, alpha in ((raw, 0.0), (normalised, 1.0)):
        best = exhaustive(model, 1, 8, SHORT_EOS, alpha)[0]
        assert tuple(beams.sequences()[0]) == best[1]
        assert beams.scores[0] == pytest.approx(best[0], abs=1e-5)
    # every hypothesis ended by step 6, so the search stopped there, not at max_len = 8
    assert normalised.tokens.shape == (2, 6)


def test_finished_hypotheses_are_padded_and_not_extended():
    model = ScriptedModel(SHORT_OR_LONG)
    beams = Decoder(model, 3, eos_id=SHORT_EOS).beam_search(model.initial_state(), 1, 8, width=2)
    assert PAD_ID == 0 and beams.tokens[0].tolist() == [SHORT_EOS] + [PAD_ID] * 5
    assert beams.lengths.tolist() == [1, 6]
    assert beams.log_probs[0] == pytest.approx(math.log(0.5), abs=1e-6)
    greedy = Decoder(model, 3, eos_id=SHORT_EOS).greedy(model.initial_state(), 1, 8)
    assert greedy.tokens.tolist() == [[SHORT_EOS]] and greedy.lengths.tolist() == [1]


def test_sampled_sequences_stop_at_eos_and_sum_their_log_probs(rnn, decoders):
    rnn.reseed(4)
    result = decoders[EOS].sample(rnn.initial_state(), 1, 6, num_samples=40, seed=3)
    sequences = result.sequences()
    assert any(len(s) < 6 for s in sequences) and any(len(s) == 6 for s in sequences)
    for row, tokens, log_prob in zip(result.tokens, sequences, result.log_probs, strict=True):
        assert EOS not in tokens[:-1]
        assert (row[len(tokens):] == PAD_ID).all()
        assert len(tokens) == 6 or tokens[-1] == EOS
        assert log_prob == pytest.approx(
            sequence_log_prob(rnn, 1, tokens, rnn.initial_state()), abs=1e-4)


# ----------------------------------------------------------------------------------------------
# Sampling


CONSTANT = [[0.35, 0.25, 0.15, 0.1, 0.08, 0.05, 0.02]]


@pytest.fixture(scope="module")
def constant_decoder():
    return Decoder(ScriptedModel(CONSTANT), 7)


def chi_square_critical(dof, z=3.09):
    """Wilson-Hilferty approximation of the chi-square quantile (z = 3.09: the 0.999 level)."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


@pytest.mark.parametrize(("options", "expected"), [
    ({}, CONSTANT[0]),
    ({"top_k": 3}, [0.35, 0.25, 0.15, 0, 0, 0, 0]),
    ({"top_p": 0.8}, [0.35, 0.25, 0.15, 0.1, 0, 0, 0]),
    ({"temperature": 0.5}, np.square(CONSTANT[0])),
    ({"temperature": 2.0, "top_k": 5, "top_p": 0.6}, [*np.sqrt(CONSTANT[0][:3]), 0, 0, 0, 0]),
])
def test_sampled_frequencies_match_the_truncated_distribution(constant_decoder, options,
                                                             expected):
    n = 20_000
    result = constant_decoder.sample((tf.zeros([1, 1]),), 0, 1, num_samples=n, seed=7, **options)
    counts = np.bincount(result.tokens[:, 0], minlength=7)
    expected = np.asarray(expected, np.float64) / np.sum(expected)
    assert (counts[expected == 0] == 0).all()
    kept = expected > 0
    chi_square = np.sum((counts[kept] - n * expected[kept]) ** 2 / (n * expected[kept]))
    assert chi_square < chi_square_critical(kept.sum() - 1)


def test_temperature_towards_zero_is_greedy(rnn, decoders):
    for seed in range(5):
        rnn.reseed(seed)
        greedy = decoders[EOS].greedy(rnn.initial_state(), 2, 6)
        cold = decoders[EOS].sample(rnn.initial_state(), 2, 6, temperature=1e-6, seed=seed)
        zero = decoders[EOS].sample(rnn.initial_state(), 2, 6, temperature=0, num_samples=2)
        assert cold.sequences() == greedy.sequences()
        assert zero.sequences() == greedy.sequences() * 2


def test_sampling_is_deterministic_by_seed(rnn, decoders):
    rnn.reseed(0)
    state = rnn.initial_state()
    first = decoders[None].sample(state, 1, 5, num_samples=30, seed=11, top_p=0.9)
    again = decoders[None].sample(state, 1, 5, num_samples=30, seed=11, top_p=0.9)
    other = decoders[None].sample(state, 1, 5, num_samples=30, seed=12, top_p=0.9)
    np.testing.assert_array_equal(first.tokens, again.tokens)
    assert not np.array_equal(first.tokens, other.tokens)


# ----------------------------------------------------------------------------------------------
# Priming, compilation, arguments


def test_prime_feeds_all_but_the_last_prompt_token(rnn, decoders):
    rnn.reseed(2)
    state, start = decoders[None].prime(rnn.initial_state(), [3, 1, 4])
    expected = rnn.initial_state()
    for token in (3, 1):
        _, expected = step_one(rnn, token, expected)
    assert start == 4
    np.testing.assert_allclose(state[0], expected[0], atol=1e-6)
    same, start = decoders[None].prime(rnn.initial_state(), [4])
    assert start == 4 and np.array_equal(same[0], rnn.initial_state()[0])


def test_repeated_calls_do_not_retrace(rnn):
    decoder = Decoder(rnn, VOCAB, eos_id=EOS)
    state = rnn.initial_state()
    decoder.greedy(state, 1, 3)
    decoder.sample(state, 1, 3, top_k=2)
    decoder.beam_search(state, 1, 3, width=2)
    counts = (decoder._generate_fn.experimental_get_tracing_count(),
              decoder._beam_fn.experimental_get_tracing_count())
    decoder.greedy(state, 2, 7)
    decoder.sample(state, 2, 5, top_k=3, temperature=0.7, seed=5, num_samples=4)
    decoder.beam_search(state, 2, 6, width=2, length_penalty=0.8)
    assert (decoder._generate_fn.experimental_get_tracing_count(),
            decoder._beam_fn.experimental_get_tracing_count()) == counts


def test_numpy_numbers_and_large_seeds_are_accepted(rnn, decoders):
    rnn.reseed(1)
    state = rnn.initial_state()
    sampled = decoders[EOS].sample(state, np.int64(1), 3, temperature=np.float32(0.5),
                                   top_p=np.float64(0.9), top_k=np.int32(4), seed=2**40)
    assert sampled.tokens.shape[0] == 1
    beams = decoders[EOS].beam_search(state, 1, 3, width=np.int64(2),
                                      length_penalty=np.float32(0.6))
    assert beams.tokens.shape[0] == 2


def test_constructor_rejects_bad_arguments(rnn):
    with pytest.raises(TypeError, match="step must be a callable"):
        Decoder("not a function", VOCAB)
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 2, got 1"):
        Decoder(rnn, 1)
    for eos in (-1, VOCAB, 1.0):
        with pytest.raises(ValueError, match=r"eos_id must be None or an integer in \[0, 5\)"):
            Decoder(rnn, VOCAB, eos_id=eos)


@pytest.mark.parametrize(("call", "message"), [
    (lambda d, s: d.beam_search(s, 1, 4, width=0), r"width must be an integer in \[1, 5\]"),
    (lambda d, s: d.beam_search(s, 1, 4, width=6), r"width must be an integer in \[1, 5\].*6"),
    (lambda d, s: d.beam_search(s, 1, 4, width=2, length_penalty=-1),
     r"length_penalty must be a number >= 0"),
    (lambda d, s: d.sample(s, 1, 4, top_p=0), r"top_p must be None or in \(0, 1\], got 0"),
    (lambda d, s: d.sample(s, 1, 4, top_p=1.2), r"top_p must be None or in \(0, 1\], got 1.2"),
    (lambda d, s: d.sample(s, 1, 4, top_k=0), r"top_k must be an integer >= 1"),
    (lambda d, s: d.sample(s, 1, 4, top_k=6), r"top_k must be None or an integer in \[1, 5\]"),
    (lambda d, s: d.sample(s, 1, 4, temperature=-0.5),
     r"temperature must be a number >= 0 \(0 means greedy\), got -0.5"),
    (lambda d, s: d.sample(s, 1, 4, num_samples=0), r"num_samples must be an integer >= 1"),
    (lambda d, s: d.greedy(s, 1, 0), r"max_len must be an integer >= 1, got 0"),
    (lambda d, s: d.greedy(s, 5, 3), r"start must be a token id in \[0, 5\), got 5"),
    (lambda d, s: d.greedy((tf.zeros([2, HIDDEN]),), 1, 3), r"batch size 1.*\[2\]"),
    (lambda d, s: d.prime(s, []), r"prompt_ids must be a non-empty"),
    (lambda d, s: d.prime(s, [1, 7, -2, 3]), r"unknown ids: \[-2, 7\]"),
    (lambda d, s: d.prime(s, [1.5, 2.0]), r"prompt_ids must be integers"),
])
def test_decoding_rejects_bad_arguments(rnn, decoders, call, message):
    with pytest.raises(ValueError, match=message):
        call(decoders[EOS], rnn.initial_state())


def test_exhaustive_reference_enumerates_every_hypothesis(rnn):
    """The reference itself: without eos, all V**L sequences; with eos, those that end early."""
    rnn.reseed(0)
    assert len(exhaustive(rnn, 1, 3, None, 0.0)) == VOCAB**3
    with_eos = exhaustive(rnn, 1, 3, EOS, 0.0)
    expected = sum(1 for n in range(1, 4) for seq in itertools.product(range(VOCAB), repeat=n)
                   if EOS not in seq[:-1] and (seq[-1] == EOS or n == 3))
    assert len(with_eos) == expected
    assert math.isclose(sum(math.exp(lp) for _, _, lp in with_eos), 1.0, rel_tol=1e-5)


def test_the_course_language_model_decodes_like_the_naive_loop():
    """With `utils.language_model`'s step function, compiled greedy search gives the tokens of the
    book's loop (the whole prefix through the Keras model for every new token)."""
    import keras

    from utils import language_model as lm

    keras.utils.set_random_seed(0)
    model = lm.build_model(12, embedding_dim=4, units=(8, 6), dense_units=10)
    decoder = Decoder(lm.step_function(model), 12, eos_id=11)
    prompt = [3, 1, 4, 1, 5]
    state, start = decoder.prime(lm.initial_state(model, 1), prompt)
    greedy = decoder.greedy(state, start, 6).sequences()[0]
    ids = list(prompt)
    for _ in range(len(greedy)):
        ids.append(int(np.argmax(model(np.array([ids]))[0, -1])))
    assert len(greedy) == 6 and greedy == ids[len(prompt):]
    beams = decoder.beam_search(state, start, 6, width=3, length_penalty=0.6)
    assert beams.tokens.shape[0] == 3 and list(beams.scores) == sorted(beams.scores, reverse=True)
