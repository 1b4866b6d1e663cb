"""utils.decoding against exhaustive search, slow pure-Python references, and statistics.

The references are eager and one row at a time: the model is called on one token, the repetition
rule is applied with Python sets, a beam search keeps lists. The decoders run batches of prompts;
every batched result is checked row by row against them, and against the same prompt decoded
alone. The models are tiny (vocabulary 3 to 7) and keep their weights in tf.Variables, so one
compiled decoder serves every seed and table: new values reassign the weights without retracing.
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
    """Log-probs from a table by time step, whatever the tokens: row c at step c (the last row
    after that). The state is the step counter; a prompt whose counter starts at c reads the
    table from row c on. The table is a variable of fixed shape: `set` changes it without
    retracing (a shorter table is padded by repeating its last row)."""

    ROWS = 12

    def __init__(self, vocab):
        self.vocab = vocab
        self.table = tf.Variable(tf.fill([self.ROWS, vocab], -math.log(vocab)))

    def set(self, probs):
        probs = np.asarray(probs, np.float64)
        probs = np.concatenate([probs, np.repeat(probs[-1:], self.ROWS - len(probs), axis=0)])
        with np.errstate(divide="ignore"):  # probability 0: a forbidden token, log-prob -inf
            self.table.assign(np.log(probs).astype("float32"))
        return self

    def initial_state(self, counters=(0,)):
        return (tf.constant([[float(c)] for c in counters]),)

    def __call__(self, tokens, state):
        (counter,) = state
        row = tf.minimum(tf.cast(counter[:, 0], tf.int32), self.ROWS - 1)
        return tf.gather(self.table, row), (counter + 1.0,)


class MarkovModel:
    """A bigram table: the log-probs depend on the last token only (the state is unused)."""

    def __init__(self, transitions):
        with np.errstate(divide="ignore"):
            self.table = tf.constant(np.log(np.asarray(transitions)), tf.float32)
        self.vocab = int(self.table.shape[1])

    def initial_state(self, batch=1):
        return (tf.zeros([batch, 1]),)

    def __call__(self, tokens, state):
        return tf.gather(self.table, tokens), tuple(state)


class HistoryModel:
    """The state encodes the exact history (a base-(V+1) code) and carries a rank-3 "encoder
    output" that only needs tiling; log-probs are a hash of the history, so a hypothesis fed
    another beam's (or another prompt's) state gets different log-probs."""

    def __init__(self, vocab=VOCAB):
        self.vocab = vocab
        self.phase = tf.constant(np.arange(1, vocab + 1) * 0.37, tf.float32)

    def initial_state(self, memories=(1.0,)):
        return (tf.zeros([len(memories), 1]),
                tf.constant([np.full((3, 2), m, np.float32) for m in memories]))

    def __call__(self, tokens, state):
        code, memory = state
        code = code * (self.vocab + 1) + tf.cast(tokens[:, None], tf.float32) + 1.0
        logits = 3.0 * tf.sin(code * self.phase) + 0.2 * tf.reduce_sum(memory, axis=[1, 2])[
            :, None] * tf.cos(self.phase)
        return tf.nn.log_softmax(logits), (code, memory)


@pytest.fixture(scope="module")
def rnn():
    return TinyRNN()


@pytest.fixture(scope="module")
def decoders(rnn):
    """One decoder without and one with end-of-sequence, shared by every test of the module."""
    return {None: Decoder(rnn, VOCAB), EOS: Decoder(rnn, VOCAB, eos_id=EOS)}


SCRIPTED_EOS = 3


@pytest.fixture(scope="module")
def scripted():
    """A 4-token scripted model and its decoders (without / with end-of-sequence 3)."""
    model = ScriptedModel(4)
    return model, {None: Decoder(model, 4), SCRIPTED_EOS: Decoder(model, 4, eos_id=SCRIPTED_EOS)}


SHORT_EOS = 2


@pytest.fixture(scope="module")
def scripted3():
    """A 3-token scripted model ending with token 2, and its decoder."""
    model = ScriptedModel(3)
    return model, Decoder(model, 3, eos_id=SHORT_EOS)


# Three prompts of different lengths, primed together, with the last token as start
PROMPTS = [[3, 1, 4], [2], [1, 0, 2, 4, 3]]


def primed_batch(rnn, decoder, prompts=PROMPTS):
    return decoder.prime(rnn.initial_state(len(prompts)), prompts)


# ----------------------------------------------------------------------------------------------
# Slow, obviously correct references (the model called eagerly, one hypothesis at a time)


def normaliser(length, alpha):
    return ((5 + length) / 6) ** alpha


def score(log_prob, length, alpha):
    return log_prob / normaliser(length, alpha)


def row_state(state, b):
    return tuple(s[b:b + 1] for s in state)


def step_one(model, token, state):
    log_probs, state = model(tf.constant([token], tf.int32), state)
    return log_probs.numpy()[0].astype(np.float64), state


def prime_reference(model, state, prompt):
    for token in prompt[:-1]:
        _, state = step_one(model, token, state)
    return state, prompt[-1]


def sequence_log_prob(model, start, tokens, state):
    """The model's log-probability of ``tokens`` (without padding) after ``start``."""
    total, token = 0.0, start
    for nxt in tokens:
        log_probs, state = step_one(model, token, state)
        total += log_probs[nxt]
        token = nxt
    return total


def search_log_probs(log_probs, history, ngram=None, penalty=None):
    """The contract's repetition rule for one row, with sets: every token seen in the history has
    its log-prob multiplied by ``penalty``; a token that would repeat an n-gram of the history
    gets -inf; then renormalise (all -inf stays all -inf)."""
    out = np.array(log_probs, np.float64)
    if penalty is not None:
        for v in set(history):
            out[v] *= penalty
    if ngram is not None:
        seen = {tuple(history[i:i + ngram]) for i in range(len(history) - ngram + 1)}
        context = tuple(history[len(history) - (ngram - 1):]) if ngram > 1 else ()
        for v in range(len(out)):
            if context + (v,) in seen:
                out[v] = -np.inf
    finite = np.isfinite(out)
    if not finite.any():
        return out
    return out - np.log(np.sum(np.exp(out[finite])))


def greedy_reference(model, start, max_len, eos, state, ngram=None, penalty=None):
    """(tokens, the model's summed log-prob): argmax of the search log-probs at every step; a row
    with every token banned ends without a token."""
    tokens, token, total = [], start, 0.0
    for _ in range(max_len):
        log_probs, state = step_one(model, token, state)
        search = search_log_probs(log_probs, [start, *tokens], ngram, penalty)
        if not np.isfinite(search).any():
            break
        token = int(np.argmax(search))
        tokens.append(token)
        total += log_probs[token]
        if token == eos:
            break
    return tokens, total


def exhaustive(model, start, max_len, eos, alpha, state=None, ngram=None, penalty=None):
    """Every complete hypothesis (ended by eos, or max_len tokens long) that the model and the
    repetition rule allow, as (score, tokens, model log-prob), best first. The score is the
    search log-prob (rule applied) over the normaliser. All live prefixes of one length go
    through the model as one batch."""
    complete, prefixes, sums = [], [()], [(0.0, 0.0)]  # sums: (search, model) log-probs
    state = model.initial_state() if state is None else state
    last = [start]
    for t in range(max_len):
        log_probs, state = model(tf.constant(last, tf.int32), state)
        log_probs = log_probs.numpy().astype(np.float64)
        grown, grown_sums, rows = [], [], []
        for row, (tokens, (search_sum, model_sum)) in enumerate(zip(prefixes, sums, strict=True)):
            search = search_log_probs(log_probs[row], [start, *tokens], ngram, penalty)
            for v in map(int, np.flatnonzero(np.isfinite(search))):
                hyp = (tokens + (v,), (search_sum + search[v], model_sum + log_probs[row, v]))
                if v == eos or t == max_len - 1:
                    complete.append(hyp)
                else:
                    grown.append(hyp[0])
                    grown_sums.append(hyp[1])
                    rows.append(row)
        if not grown:
            break
        prefixes, sums = grown, grown_sums
        state = tuple(tf.gather(s, rows) for s in state)
        last = [tokens[-1] for tokens in prefixes]
    return sorted(((score(s, len(tok), alpha), tok, m) for tok, (s, m) in complete),
                  key=lambda c: c[0], reverse=True)


def reference_beam_search(model, start, max_len, width, eos, alpha, state=None, ngram=None,
                          penalty=None):
    """Beam search with a finished pool, with lists, by the contract's rules.

    Every live hypothesis is extended by every allowed token. Candidates ending in eos are offered
    to the pool, which keeps its `width` best by score; the live beam keeps the `width` best of
    the others (all of one length, so by search log-prob). The prompt is done when the pool is
    full and the best live search log-prob over the normaliser at max_len is <= the pool's worst
    score, or nothing is live. Returns (final, steps, lives): final = [(score, tokens, model
    log-prob)] best first (only real hypotheses), steps run, and the live beam [(tokens, model
    log-prob)] after each step."""
    live = [((), 0.0, 0.0, model.initial_state() if state is None else state)]
    pool, lives, done = [], [], False
    by_score = dict(key=lambda c: c[0], reverse=True)
    for _ in range(max_len):
        grown, finished = [], []
        for tokens, search_sum, model_sum, old_state in live:
            log_probs, new_state = step_one(model, tokens[-1] if tokens else start, old_state)
            search = search_log_probs(log_probs, [start, *tokens], ngram, penalty)
            for v in map(int, np.flatnonzero(np.isfinite(search))):
                hyp = (tokens + (v,), search_sum + search[v], model_sum + log_probs[v], new_state)
                (finished if v == eos else grown).append(hyp)
        pool = sorted(pool + [(score(s, len(tok), alpha), tok, m) for tok, s, m, _ in finished],
                      **by_score)[:width]
        live = sorted(grown, key=lambda c: c[1], reverse=True)[:width]
        lives.append([(tokens, model_sum) for tokens, _, model_sum, _ in live])
        best_possible = live[0][1] / normaliser(max_len, alpha) if live else -np.inf
        if len(pool) == width and best_possible <= pool[-1][0] or not live:
            done = True  # (with nothing live, nothing can change any more)
            break
    final = pool if done else pool + [(score(s, len(tok), alpha), tok, m)
                                      for tok, s, m, _ in live]
    return sorted(final, **by_score)[:width], len(lives), lives


def assert_beams_match(beams, b, final, width, atol=1e-4):
    """Prompt b's hypotheses are the reference's, best first; the missing rows are not real."""
    k = len(final)
    assert beams.sequences()[b] == [list(tokens) for _, tokens, _ in final] + [[]] * (width - k)
    assert beams.lengths[b].tolist() == [len(tokens) for _, tokens, _ in final] + [0] * (width - k)
    np.testing.assert_allclose(beams.log_probs[b, :k], [m for *_, m in final], atol=atol)
    np.testing.assert_allclose(beams.scores[b, :k], [s for s, *_ in final], atol=atol)
    assert np.isneginf(beams.log_probs[b, k:]).all() and np.isneginf(beams.scores[b, k:]).all()
    for j, (_, tokens, _) in enumerate(final):
        assert (beams.tokens[b, j, len(tokens):] == PAD_ID).all()
    assert (beams.tokens[b, k:] == PAD_ID).all()


def assert_tree_matches(beams, b, lives):
    """The tree's live beam after each step, rebuilt from the back-pointers, is the reference's
    live beam (tokens and the model's total log-prob), best first; rows beyond it (fewer live
    hypotheses than the width) have log-prob -inf and token PAD_ID."""
    for t, live in enumerate(lives):
        for j, (tokens, model_sum) in enumerate(live):
            rebuilt, row = [], j
            for s in range(t, -1, -1):
                rebuilt.append(int(beams.step_tokens[s, b, row]))
                row = beams.parents[s, b, row]
            assert rebuilt[::-1] == list(tokens), (t, j)
            assert beams.step_log_probs[t, b, j] == pytest.approx(model_sum, abs=1e-4)
        assert np.isneginf(beams.step_log_probs[t, b, len(live):]).all(), (t, b)
        assert (beams.step_tokens[t, b, len(live):] == PAD_ID).all(), (t, b)


def assert_same_beams(batched, b, alone):
    """Prompt b of a batched search equals the same prompt searched alone (B = 1)."""
    assert batched.sequences()[b] == alone.sequences()[0]
    assert batched.lengths[b].tolist() == alone.lengths[0].tolist()
    np.testing.assert_allclose(batched.log_probs[b], alone.log_probs[0], atol=1e-5)
    np.testing.assert_allclose(batched.scores[b], alone.scores[0], atol=1e-5)


# ----------------------------------------------------------------------------------------------
# The references themselves


def test_exhaustive_reference_enumerates_every_hypothesis(rnn):
    """Without eos, all V**L sequences; with eos, those that end early; probabilities sum to 1."""
    rnn.reseed(0)
    assert len(exhaustive(rnn, 1, 3, None, 0.0)) == VOCAB**3
    with_eos = exhaustive(rnn, 1, 3, EOS, 0.0)
    expected = sum(1 for n in range(1, 4) for seq in itertools.product(range(VOCAB), repeat=n)
                   if EOS not in seq[:-1] and (seq[-1] == EOS or n == 3))
    assert len(with_eos) == expected
    assert math.isclose(sum(math.exp(lp) for _, _, lp in with_eos), 1.0, rel_tol=1e-5)


def test_the_reference_repetition_rule_by_hand():
    uniform = np.log(np.full(4, 0.25))
    # n = 1: every token of the history is banned; renormalised over the rest
    np.testing.assert_allclose(np.exp(search_log_probs(uniform, [1, 2], ngram=1)),
                               [0.5, 0, 0, 0.5])
    # n = 2: after "2 1 2" the bigram (2, 1) exists, so 1 is banned after a final 2
    assert np.isneginf(search_log_probs(uniform, [2, 1, 2], ngram=2)).tolist() == [
        False, True, False, False]
    # n = 3: "0 1 2 0 1" + 2 would repeat the trigram (0, 1, 2)
    assert np.isneginf(search_log_probs(uniform, [0, 1, 2, 0, 1], ngram=3)).tolist() == [
        False, False, True, False]
    assert not np.isneginf(search_log_probs(uniform, [0, 1], ngram=3)).any()
    # penalty 2 squares the probabilities of seen tokens before renormalising
    probs = np.exp(search_log_probs(uniform, [3], penalty=2.0))
    np.testing.assert_allclose(probs, np.array([0.25, 0.25, 0.25, 0.0625]) / 0.8125)
    np.testing.assert_allclose(search_log_probs(uniform, [3, 1], penalty=1.0), uniform)


def test_the_reference_beam_search_with_unbounded_width_is_exhaustive(rnn):
    """With room for every hypothesis the pool and the live beam lose nothing."""
    rnn.reseed(5)
    for ngram, penalty in ((None, None), (2, 1.5)):
        expected = exhaustive(rnn, 2, 3, EOS, 0.6, ngram=ngram, penalty=penalty)
        final, steps, _ = reference_beam_search(rnn, 2, 3, 10**4, EOS, 0.6, ngram=ngram,
                                                penalty=penalty)
        assert [tokens for _, tokens, _ in final] == [tokens for _, tokens, _ in expected]
        assert steps == 3


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


@pytest.mark.parametrize(("probs", "p", "expected"), [
    ([0.25, 0.25, 0.25, 0.25], 0.5, [0.25, 0.25, 0.25, 0.25]),  # 2 reach p, the 2 tied kept too
    ([0.4, 0.2, 0.2, 0.2], 0.5, [0.4, 0.2, 0.2, 0.2]),
    ([0.4, 0.3, 0.15, 0.15], 0.6, [4 / 7, 3 / 7, 0, 0]),  # no tie at the cut-off: smallest set
])
def test_top_p_keeps_every_token_tied_with_the_last_kept(probs, p, expected):
    """The documented tie rule, like top_k_filter: ties at the cut-off are all kept."""
    filtered = probs_of(decoding.top_p_filter(np.log(np.array([probs])), p))[0]
    np.testing.assert_allclose(filtered, expected, atol=1e-6)


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
    (lambda lp: decoding.apply_temperature(lp, 0.0), r"temperature must be .*> 0, got 0.0"),
    (lambda lp: decoding.apply_temperature(lp, -1.0), r"temperature must be .*> 0, got -1.0"),
    (lambda lp: decoding.apply_temperature(lp, math.inf), r"temperature must be .*got inf"),
    (lambda lp: decoding.apply_temperature(lp, math.nan), r"temperature must be .*got nan"),
])
def test_filters_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.log(np.full((1, 4), 0.25)))


# ----------------------------------------------------------------------------------------------
# Priming a batch of prompts


def test_prime_feeds_all_but_the_last_prompt_token(rnn, decoders):
    rnn.reseed(2)
    state, start = decoders[None].prime(rnn.initial_state(), [3, 1, 4])
    expected, _ = prime_reference(rnn, rnn.initial_state(), [3, 1, 4])
    assert start == 4 and isinstance(start, int)
    np.testing.assert_allclose(state[0], expected[0], atol=1e-6)
    same, start = decoders[None].prime(rnn.initial_state(), [4])
    assert start == 4 and np.array_equal(same[0], rnn.initial_state()[0])


def test_prompts_of_different_lengths_primed_together_equal_each_primed_alone(rnn, decoders):
    rnn.reseed(2)
    state, start = primed_batch(rnn, decoders[None])
    assert isinstance(start, np.ndarray) and start.dtype == np.int32
    assert start.tolist() == [p[-1] for p in PROMPTS]
    assert state[0].shape == (3, HIDDEN)
    for b, prompt in enumerate(PROMPTS):
        alone, alone_start = decoders[None].prime(rnn.initial_state(), prompt)
        assert alone_start == prompt[-1]
        np.testing.assert_allclose(state[0][b:b + 1], alone[0], atol=1e-6)
        expected, _ = prime_reference(rnn, rnn.initial_state(), prompt)
        np.testing.assert_allclose(state[0][b:b + 1], expected[0], atol=1e-6)


def test_prime_takes_a_two_dimensional_array_and_tuples(rnn, decoders):
    rnn.reseed(3)
    prompts = [[3, 1, 4], [2, 2, 0]]
    as_lists, start = decoders[None].prime(rnn.initial_state(2), prompts)
    as_array, array_start = decoders[None].prime(rnn.initial_state(2), np.array(prompts))
    as_tuples, tuple_start = decoders[None].prime(rnn.initial_state(2), tuple(map(tuple,
                                                                                   prompts)))
    for state, first in ((as_array, array_start), (as_tuples, tuple_start)):
        assert first.tolist() == start.tolist() == [4, 0]
        np.testing.assert_allclose(state[0], as_lists[0], atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Greedy search


@pytest.mark.parametrize("eos", [None, EOS])
def test_greedy_is_the_argmax_path_and_reports_its_log_prob(rnn, decoders, eos):
    for seed in range(5):
        rnn.reseed(seed)
        result = decoders[eos].greedy(rnn.initial_state(), 2, 6)
        expected, log_prob = greedy_reference(rnn, 2, 6, eos, rnn.initial_state())
        assert result.sequences() == [expected]
        assert result.lengths.tolist() == [len(expected)]
        assert result.log_probs[0] == pytest.approx(log_prob, abs=1e-5)


@pytest.mark.parametrize("eos", [None, EOS])
def test_greedy_on_a_batch_equals_each_prompt_alone(rnn, decoders, eos):
    """Different states (prompts of different lengths) and different start tokens."""
    for seed in range(4):
        rnn.reseed(seed)
        state, start = primed_batch(rnn, decoders[eos])
        batch = decoders[eos].greedy(state, start, 7)
        assert batch.tokens.shape[0] == len(PROMPTS) and batch.lengths.shape == (len(PROMPTS),)
        for b, prompt in enumerate(PROMPTS):
            alone_state, alone_start = decoders[eos].prime(rnn.initial_state(), prompt)
            alone = decoders[eos].greedy(alone_state, alone_start, 7)
            expected, log_prob = greedy_reference(
                rnn, prompt[-1], 7, eos, prime_reference(rnn, rnn.initial_state(), prompt)[0])
            assert batch.sequences()[b] == alone.sequences()[0] == expected
            assert batch.log_probs[b] == pytest.approx(log_prob, abs=1e-4)
            assert (batch.tokens[b, len(expected):] == PAD_ID).all()


def test_one_start_token_serves_every_prompt(rnn, decoders):
    rnn.reseed(1)
    state, _ = primed_batch(rnn, decoders[EOS])
    one = decoders[EOS].greedy(state, 2, 5)
    each = decoders[EOS].greedy(state, np.array([2, 2, 2]), 5)
    assert one.sequences() == each.sequences()
    for b in range(len(PROMPTS)):
        expected, _ = greedy_reference(rnn, 2, 5, EOS, row_state(state, b))
        assert one.sequences()[b] == expected


# ----------------------------------------------------------------------------------------------
# Beam search: exactness, the finished pool, the stopping rule


@pytest.mark.parametrize(("eos", "alpha"), [(None, 0.0), (EOS, 0.0), (EOS, 1.0)])
def test_beam_search_is_exact_when_the_width_covers_every_prefix(rnn, decoders, eos, alpha):
    """Width = vocabulary and 2 tokens: every 1-token prefix survives, so the result is the top
    `width` of the brute force, for each prompt of a batch."""
    for seed in range(4):
        rnn.reseed(seed)
        state, start = primed_batch(rnn, decoders[eos])
        beams = decoders[eos].beam_search(state, start, 2, width=VOCAB, length_penalty=alpha)
        for b in range(len(PROMPTS)):
            expected = exhaustive(rnn, int(start[b]), 2, eos, alpha, row_state(state, b))
            assert_beams_match(beams, b, expected[:VOCAB], VOCAB)


@pytest.mark.parametrize(("eos", "alpha", "width"), [
    (None, 0.0, 1), (None, 0.0, 3), (EOS, 0.0, 2), (EOS, 0.0, 3), (EOS, 0.6, VOCAB),
    (EOS, 1.0, 3),
])
def test_batched_beam_search_matches_the_pool_reference_and_each_prompt_alone(
        rnn, decoders, eos, alpha, width):
    """Every prompt of the batch: the reference's hypotheses, its live beam after each step (the
    tree), and the same result as the prompt searched alone, which stops when its reference
    does."""
    decoder = decoders[eos]
    for seed in range(3):
        rnn.reseed(seed)
        state, start = primed_batch(rnn, decoder)
        beams = decoder.beam_search(state, start, 5, width=width, length_penalty=alpha)
        assert beams.tokens.shape[:2] == (len(PROMPTS), width)
        assert beams.parents.shape == beams.step_tokens.shape == beams.step_log_probs.shape
        assert beams.parents.shape[1:] == (len(PROMPTS), width)
        steps = []
        for b, prompt in enumerate(PROMPTS):
            final, n, lives = reference_beam_search(rnn, int(start[b]), 5, width, eos, alpha,
                                                    row_state(state, b))
            steps.append(n)
            assert_beams_match(beams, b, final, width)
            assert_tree_matches(beams, b, lives)
            alone = decoder.beam_search(*decoder.prime(rnn.initial_state(), prompt), 5,
                                        width=width, length_penalty=alpha)
            assert_same_beams(beams, b, alone)
            assert alone.parents.shape[0] == n  # stops at the same step as the reference
            one = beams.prompt(b)  # prompt b's results and tree, cut to its steps
            assert one.sequences() == [beams.sequences()[b]] and one.parents.shape == (n, 1, width)
            assert_tree_matches(one, 0, lives)
        assert beams.steps.tolist() == steps
        assert beams.parents.shape[0] == max(steps)  # the loop runs until every prompt is done
        for b in range(len(PROMPTS)):  # best first
            real = beams.scores[b][np.isfinite(beams.scores[b])]
            assert list(real) == sorted(real, reverse=True)


def test_greedy_is_no_better_than_beam_search_which_is_no_better_than_exhaustive(rnn, decoders):
    for seed in range(6):
        rnn.reseed(seed)
        state = rnn.initial_state()
        greedy = decoders[None].greedy(state, 1, 4).log_probs[0]
        beam = decoders[None].beam_search(state, 1, 4, width=VOCAB).log_probs[0, 0]
        best = exhaustive(rnn, 1, 4, None, 0.0)[0][2]
        assert greedy <= beam + 1e-5 and beam <= best + 1e-5


def test_width_one_is_greedy_without_eos_and_no_worse_with_eos(rnn, decoders):
    """Without eos, width 1 is greedy. With eos the pool keeps a finished hypothesis while the
    live one goes on, so width 1 can only find a better one (alpha 0)."""
    for seed in range(5):
        rnn.reseed(seed)
        state, start = primed_batch(rnn, decoders[None])
        greedy = decoders[None].greedy(state, start, 6)
        beam = decoders[None].beam_search(state, start, 6, width=1)
        assert [hyps[0] for hyps in beam.sequences()] == greedy.sequences()
        np.testing.assert_allclose(beam.log_probs[:, 0], greedy.log_probs, atol=1e-5)
        with_eos = decoders[EOS].beam_search(state, start, 6, width=1).log_probs[:, 0]
        assert (with_eos >= decoders[EOS].greedy(state, start, 6).log_probs - 1e-5).all()


def test_each_beam_and_each_prompt_keeps_its_own_state():
    """With the history in the state, a beam fed another beam's (or prompt's) state would report
    a log-prob its own tokens do not have; the rank-3 state part must be tiled along."""
    model = HistoryModel()
    decoder = Decoder(model, VOCAB)
    beams = decoder.beam_search(model.initial_state((1.0, -2.0)), np.array([2, 4]), 5, width=4)
    for b, memory in enumerate((1.0, -2.0)):
        assert len(set(map(tuple, beams.sequences()[b]))) == 4
        for tokens, log_prob in zip(beams.sequences()[b], beams.log_probs[b], strict=True):
            assert log_prob == pytest.approx(sequence_log_prob(
                model, [2, 4][b], tokens, model.initial_state((memory,))), abs=1e-4)
        final, _, _ = reference_beam_search(model, [2, 4][b], 5, 4, None, 0.0,
                                            model.initial_state((memory,)))
        assert_beams_match(beams, b, final, 4)


def test_tree_rows_that_are_not_live_hypotheses_are_minus_infinity(rnn, decoders):
    """After step 1 with eos and width = vocabulary only V - 1 live hypotheses exist; with
    no-repeat bans fewer still. The tree's other rows must not look like hypotheses (the plot
    skips rows whose log-prob is not finite)."""
    rnn.reseed(0)
    state, start = primed_batch(rnn, decoders[EOS])
    for options in ({}, {"no_repeat_ngram_size": 1}):
        beams = decoders[EOS].beam_search(state, start, 6, width=VOCAB, **options)
        for b in range(len(PROMPTS)):
            _, _, lives = reference_beam_search(rnn, int(start[b]), 6, VOCAB, EOS, 0.0,
                                                row_state(state, b),
                                                options.get("no_repeat_ngram_size"))
            assert_tree_matches(beams, b, lives)


def test_backpointers_rebuild_the_hypotheses_that_reached_max_len(rnn, decoders):
    """Without eos every hypothesis is live to the end: the tree's last step is the result."""
    rnn.reseed(3)
    state, start = primed_batch(rnn, decoders[None])
    beams = decoders[None].beam_search(state, start, 5, width=3)
    assert beams.parents.shape == (5, len(PROMPTS), 3) and beams.tokens.shape == (3, 3, 5)
    for b in range(len(PROMPTS)):
        for j in range(3):
            row, rebuilt = j, []
            for t in range(4, -1, -1):
                rebuilt.append(beams.step_tokens[t, b, row])
                row = beams.parents[t, b, row]
            assert rebuilt[::-1] == beams.tokens[b, j].tolist()
        np.testing.assert_allclose(beams.step_log_probs[-1, b], beams.log_probs[b], atol=1e-6)


# Markov model: 0 padding (forbidden), 1 start, 2 "a", 3 end, 4 "b"
POOL_EOS = 3
POOL_CHAIN = [
    [1, 0, 0, 0, 0],  # from 0 (never fed)
    [0, 0, 0.3, 0.5, 0.2],  # from the start: end at once (0.5), or "a" (0.3) or "b" (0.2)
    [0, 0.2, 0.28, 0.26, 0.26],  # after "a": no clear way on
    [1, 0, 0, 0, 0],  # from the end (never fed)
    [0, 0.05, 0.03, 0.9, 0.02],  # after "b": the end, almost surely (0.2 * 0.9 = 0.18)
]


def test_finished_hypotheses_leave_the_beam_for_the_pool():
    """Width 2. The old rule kept the ended [end] in one of the two slots, so "b" (0.2) fell out
    of the beam after step 1 and [b, end] (0.18) was lost. With the pool, the live beam keeps
    "a" and "b"; the search stops after step 2 (pool full, nothing live can beat 0.18)."""
    model = MarkovModel(POOL_CHAIN)
    beams = Decoder(model, 5, eos_id=POOL_EOS).beam_search(model.initial_state(), 1, 3, width=2)
    assert beams.sequences() == [[[POOL_EOS], [4, POOL_EOS]]]
    np.testing.assert_allclose(beams.log_probs, np.log([[0.5, 0.18]]), atol=1e-6)
    assert beams.step_tokens[0, 0].tolist() == [2, 4]  # live after step 1: "a", "b", not the end
    assert beams.parents.shape[0] == 2
    expected = exhaustive(model, 1, 3, POOL_EOS, 0.0)
    assert [list(tokens) for _, tokens, _ in expected[:2]] == beams.sequences()[0]
    final, steps, _ = reference_beam_search(model, 1, 3, 2, POOL_EOS, 0.0)
    assert_beams_match(beams, 0, final, 2)
    assert steps == 2


SHORT_OR_LONG = [  # token 0 stands for padding: never likely
    [0.001, 0.499, 0.5],  # step 1: end now (short) or go on with token 1
    *[[0.01, 0.98, 0.01]] * 4,  # steps 2-5: token 1
    [0.01, 0.01, 0.98],  # step 6: end
]


def test_length_penalty_changes_the_winner(scripted3):
    """Alpha 0 prefers ending at once (log 0.5); alpha 1 prefers the 6-token hypothesis."""
    model, decoder = scripted3
    model.set(SHORT_OR_LONG)
    raw = decoder.beam_search(model.initial_state(), 1, 8, width=2, length_penalty=0.0)
    normalised = decoder.beam_search(model.initial_state(), 1, 8, width=2, length_penalty=1.0)
    assert raw.sequences()[0][0] == [SHORT_EOS]
    assert normalised.sequences()[0][0] == [1, 1, 1, 1, 1, SHORT_EOS]
    for beams, alpha in ((raw, 0.0), (normalised, 1.0)):
        best = exhaustive(model, 1, 8, SHORT_EOS, alpha)[0]
        assert tuple(beams.sequences()[0][0]) == best[1]
        assert beams.scores[0, 0] == pytest.approx(best[0], abs=1e-5)
        final, steps, _ = reference_beam_search(model, 1, 8, 2, SHORT_EOS, alpha)
        assert_beams_match(beams, 0, final, 2)
        # the pool is full after step 6 and nothing live can beat it: stop before max_len = 8
        assert steps == 6 and beams.parents.shape[0] == 6


def test_finished_hypotheses_are_padded(scripted3):
    model, decoder = scripted3
    model.set(SHORT_OR_LONG)
    beams = decoder.beam_search(model.initial_state(), 1, 8, width=2)
    assert PAD_ID == 0 and beams.tokens[0, 0].tolist() == [SHORT_EOS] + [PAD_ID] * 5
    assert beams.lengths.tolist() == [[1, 6]]
    assert beams.log_probs[0, 0] == pytest.approx(math.log(0.5), abs=1e-6)
    greedy = decoder.greedy(model.initial_state(), 1, 8)
    assert greedy.tokens.tolist() == [[SHORT_EOS]] and greedy.lengths.tolist() == [1]


LONG_WINS = [
    [0.05, 0.45, 0.5],  # step 1: the end is the most likely token
    *[[0.01, 0.98, 0.01]] * 4,
    [0.01, 0.01, 0.98],
]


def test_the_search_stops_only_when_nothing_live_can_beat_the_pool(scripted3):
    """Width 1. After step 1 the pool holds [end] (log 0.5) and the live [1] has log 0.45.
    Alpha 0: [1] can only fall, so the search stops at once. Alpha 1: [1]'s best possible final
    score, log 0.45 / normaliser(max_len), beats log 0.5, so the search must go on (a rule that
    compared the live score at the current length would stop) and finds the 6-token hypothesis,
    the brute-force best."""
    model, decoder = scripted3
    model.set(LONG_WINS)
    stop = decoder.beam_search(model.initial_state(), 1, 8, width=1, length_penalty=0.0)
    assert stop.sequences() == [[[SHORT_EOS]]] and stop.parents.shape[0] == 1
    go_on = decoder.beam_search(model.initial_state(), 1, 8, width=1, length_penalty=1.0)
    assert go_on.sequences() == [[[1, 1, 1, 1, 1, SHORT_EOS]]]
    assert go_on.parents.shape[0] == 6
    for beams, alpha in ((stop, 0.0), (go_on, 1.0)):
        best_score, best_tokens, _ = exhaustive(model, 1, 8, SHORT_EOS, alpha)[0]
        assert beams.sequences()[0][0] == list(best_tokens)
        assert beams.scores[0, 0] == pytest.approx(best_score, abs=1e-5)


def test_a_prompt_that_is_done_waits_for_the_others(scripted3):
    """Batched, width 1, alpha 1: prompt 0 (rows where the end is likely at every step) is done
    after step 2, prompt 1 (the table above) after step 6; each is the same as alone."""
    model, decoder = scripted3
    model.set([LONG_WINS[0], *[[0.01, 0.98, 0.01]] * 4, [0.01, 0.01, 0.98],
               *[[0.05, 0.45, 0.5]] * 3])  # rows 9- : the end is likely every step
    state = model.initial_state((9, 0))
    beams = decoder.beam_search(state, 1, 8, width=1, length_penalty=1.0)
    for b, counter in enumerate((9, 0)):
        final, steps, _ = reference_beam_search(model, 1, 8, 1, SHORT_EOS, 1.0,
                                                model.initial_state((counter,)))
        assert_beams_match(beams, b, final, 1)
        alone = decoder.beam_search(model.initial_state((counter,)), 1, 8, width=1,
                                    length_penalty=1.0)
        assert_same_beams(beams, b, alone)
        assert alone.parents.shape[0] == steps
    assert beams.sequences()[1] == [[1, 1, 1, 1, 1, SHORT_EOS]]
    assert beams.parents.shape[0] == 6


# ----------------------------------------------------------------------------------------------
# Fewer real hypotheses than the width


FORBIDDING = [*[[0, 0.6, 0, 0.4]] * 9, [0.1, 0.2, 0.3, 0.4]]  # rows 0-8 allow 1 and the end only


@pytest.mark.parametrize(("eos", "max_len", "real"), [(SCRIPTED_EOS, 2, 3), (None, 1, 2)])
def test_rows_that_are_not_real_hypotheses_are_minus_infinity_and_padding(scripted, eos,
                                                                          max_len, real):
    """Prompt 0 reads rows that forbid tokens 0 and 2: with eos 3, [3], [1, 3], [1, 1] are all
    the sequences of up to 2 tokens; without eos, [1] and [3] all those of 1 token. Prompt 1
    allows everything and is unaffected by prompt 0's empty rows."""
    model, decoders_ = scripted
    model.set(FORBIDDING)
    state = model.initial_state((0, 9))
    beams = decoders_[eos].beam_search(state, 1, max_len, width=4)
    for b, counter in enumerate((0, 9)):
        expected = exhaustive(model, 1, max_len, eos, 0.0, model.initial_state((counter,)))
        assert_beams_match(beams, b, expected[:4], 4)
        alone = decoders_[eos].beam_search(model.initial_state((counter,)), 1, max_len, width=4)
        assert_same_beams(beams, b, alone)
    assert sum(map(bool, beams.sequences()[0])) == real
    assert sum(map(bool, beams.sequences()[1])) == 4
    assert (beams.lengths[0, real:] == 0).all() and np.isneginf(beams.scores[0, real:]).all()
    assert (beams.tokens[0, real:] == PAD_ID).all()
    # best() and prompt() agree with the batch
    best = beams.best()
    assert best.sequences() == [hyps[0] for hyps in beams.sequences()]
    np.testing.assert_allclose(best.log_probs, beams.log_probs[:, 0])
    assert beams.prompt(1).sequences() == [beams.sequences()[1]]
    assert beams.prompt(0).tokens.shape[:2] == (1, 4)


# ----------------------------------------------------------------------------------------------
# End of sequence in sampling


def test_sampled_sequences_stop_at_eos_and_sum_the_model_log_probs(rnn, decoders):
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
    return Decoder(ScriptedModel(7).set(CONSTANT), 7)


def chi_square_critical(dof, z=3.09):
    """Wilson-Hilferty approximation of the chi-square quantile (z = 3.09: the 0.999 level)."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def assert_frequencies_match(counts, expected):
    """Cells of probability 0 are never drawn; the others pass a chi-square test."""
    counts, expected = np.ravel(counts), np.ravel(expected) / np.sum(expected)
    n = counts.sum()
    assert (counts[expected == 0] == 0).all()
    kept = expected > 0
    chi_square = np.sum((counts[kept] - n * expected[kept]) ** 2 / (n * expected[kept]))
    assert chi_square < chi_square_critical(kept.sum() - 1)


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
    assert_frequencies_match(np.bincount(result.tokens[:, 0], minlength=7), expected)


def test_temperature_towards_zero_is_greedy(rnn, decoders):
    for seed in range(4):
        rnn.reseed(seed)
        state, start = primed_batch(rnn, decoders[EOS])
        greedy = decoders[EOS].greedy(state, start, 6)
        cold = decoders[EOS].sample(state, start, 6, temperature=1e-6, seed=seed)
        zero = decoders[EOS].sample(state, start, 6, temperature=0, num_samples=2)
        assert cold.sequences() == greedy.sequences()
        assert zero.sequences() == [s for s in greedy.sequences() for _ in range(2)]


def test_sampling_is_deterministic_by_seed(rnn, decoders):
    rnn.reseed(0)
    state = rnn.initial_state()
    first = decoders[None].sample(state, 1, 5, num_samples=30, seed=11, top_p=0.9)
    again = decoders[None].sample(state, 1, 5, num_samples=30, seed=11, top_p=0.9)
    other = decoders[None].sample(state, 1, 5, num_samples=30, seed=12, top_p=0.9)
    np.testing.assert_array_equal(first.tokens, again.tokens)
    assert not np.array_equal(first.tokens, other.tokens)


@pytest.mark.parametrize("options", [
    {}, {"temperature": 0.7, "top_k": 3}, {"top_p": 0.8},
    {"no_repeat_ngram_size": 2, "repetition_penalty": 1.5},
])
def test_sampling_a_batch_equals_each_prompt_alone_with_its_seed(rnn, decoders, options):
    """Row b * num_samples + j is sample j of prompt b. Seed s gives prompt b the seed s + b:
    prompt b sampled alone with seed s + b gets the same samples; so do explicit seeds per
    prompt. The reported log-probs are the model's own, in each row's own state."""
    rnn.reseed(6)
    state, start = primed_batch(rnn, decoders[EOS])
    batch = decoders[EOS].sample(state, start, 6, num_samples=4, seed=5, **options)
    explicit = decoders[EOS].sample(state, start, 6, num_samples=4, seed=[5, 6, 7], **options)
    assert batch.tokens.shape[0] == len(PROMPTS) * 4
    np.testing.assert_array_equal(batch.tokens, explicit.tokens)
    for b, prompt in enumerate(PROMPTS):
        alone_state, alone_start = decoders[EOS].prime(rnn.initial_state(), prompt)
        alone = decoders[EOS].sample(alone_state, alone_start, 6, num_samples=4, seed=5 + b,
                                     **options)
        assert batch.sequences()[4 * b:4 * b + 4] == alone.sequences()
        np.testing.assert_allclose(batch.log_probs[4 * b:4 * b + 4], alone.log_probs, atol=1e-5)
        for j, tokens in enumerate(alone.sequences()):
            assert batch.log_probs[4 * b + j] == pytest.approx(
                sequence_log_prob(rnn, prompt[-1], tokens, row_state(state, b)), abs=1e-4)
    assert len({tuple(s) for s in batch.sequences()}) > 4  # the samples do differ


def test_copies_of_a_prompt_get_their_own_samples_unless_given_one_seed(rnn, decoders):
    """Two copies of one prompt: seed s gives them seeds s and s + 1, so different samples (not
    one set twice); the seeds [s, s] give the same samples; reordering the seeds reorders the
    samples."""
    rnn.reseed(7)
    state, start = decoders[None].prime(rnn.initial_state(2), [[1, 2], [1, 2]])
    own = decoders[None].sample(state, start, 6, num_samples=3, seed=9).sequences()
    assert own[:3] != own[3:]
    same = decoders[None].sample(state, start, 6, num_samples=3, seed=[9, 9]).sequences()
    assert same[:3] == same[3:] == own[:3]
    swapped = decoders[None].sample(state, start, 6, num_samples=3, seed=[10, 9]).sequences()
    assert swapped == own[3:] + own[:3]


def test_a_huge_temperature_never_draws_a_forbidden_token(scripted):
    """At T = 1e30 the allowed tokens are uniform and the forbidden ones (-inf) stay out."""
    model, decoders_ = scripted
    model.set([[0, 0.9, 0.1, 0]])
    hot = decoders_[None].sample(model.initial_state(), 1, 3, temperature=1e30, num_samples=2000)
    assert set(np.unique(hot.tokens)) == {1, 2}
    assert_frequencies_match(np.bincount(hot.tokens[:, 0], minlength=4), [0, 1, 1, 0])
    assert np.isfinite(hot.log_probs).all()


def test_a_temperature_beyond_float32_is_rejected_or_never_draws_a_forbidden_token(scripted):
    """A temperature beyond float32 is either rejected or clamped: never lets -inf through."""
    model, decoders_ = scripted
    model.set([[0, 0.9, 0.1, 0]])
    try:
        hotter = decoders_[None].sample(model.initial_state(), 1, 3, temperature=1e300,
                                        num_samples=500)
    except ValueError as error:
        assert "temperature" in str(error)
    else:
        assert set(np.unique(hotter.tokens)) <= {1, 2}


# ----------------------------------------------------------------------------------------------
# Repetition control


REPETITION = [(ngram, penalty) for ngram in (None, 1, 2, 3) for penalty in (None, 0.5, 2.0)][1:]


@pytest.mark.parametrize(("ngram", "penalty"), REPETITION)
@pytest.mark.parametrize("eos", [None, EOS])
def test_greedy_with_repetition_control_matches_the_eager_rule(rnn, decoders, eos, ngram,
                                                               penalty):
    """Argmax of the penalised, banned, renormalised log-probs; the model's log-probs reported;
    a row with every token banned ends there."""
    options = dict(no_repeat_ngram_size=ngram, repetition_penalty=penalty)
    for seed in range(3):
        rnn.reseed(seed)
        state, start = primed_batch(rnn, decoders[eos])
        result = decoders[eos].greedy(state, start, 8, **options)
        for b in range(len(PROMPTS)):
            expected, log_prob = greedy_reference(rnn, int(start[b]), 8, eos,
                                                  row_state(state, b), ngram, penalty)
            assert result.sequences()[b] == expected
            assert result.log_probs[b] == pytest.approx(log_prob, abs=1e-4)
            assert result.log_probs[b] == pytest.approx(sequence_log_prob(
                rnn, int(start[b]), expected, row_state(state, b)), abs=1e-4)


def test_greedy_with_no_repeated_tokens_ends_when_every_token_is_banned(rnn, decoders):
    """n = 1 with 5 tokens: the start and 4 new tokens use up the vocabulary."""
    rnn.reseed(2)
    state, start = primed_batch(rnn, decoders[None])
    result = decoders[None].greedy(state, start, 9, no_repeat_ngram_size=1)
    assert result.lengths.tolist() == [VOCAB - 1] * len(PROMPTS)
    for b, tokens in enumerate(result.sequences()):
        assert sorted([int(start[b]), *tokens]) == list(range(VOCAB))
        assert (result.tokens[b, VOCAB - 1:] == PAD_ID).all()


@pytest.mark.parametrize(("ngram", "penalty"), [(1, None), (2, None), (None, 0.5), (None, 2.0),
                                                (2, 2.0), (1, 0.5)])
@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_search_with_repetition_control_is_brute_force(rnn, decoders, ngram, penalty,
                                                           alpha):
    """Width = vocabulary, 2 tokens: the top of every sequence the rule allows, ranked by the
    search log-probs (rule applied), reporting the model's log-probs."""
    options = dict(no_repeat_ngram_size=ngram, repetition_penalty=penalty)
    for seed in range(2):
        rnn.reseed(seed)
        state, start = primed_batch(rnn, decoders[EOS])
        beams = decoders[EOS].beam_search(state, start, 2, width=VOCAB, length_penalty=alpha,
                                          **options)
        for b in range(len(PROMPTS)):
            expected = exhaustive(rnn, int(start[b]), 2, EOS, alpha, row_state(state, b),
                                  ngram, penalty)
            assert_beams_match(beams, b, expected[:VOCAB], VOCAB)
            for tokens, log_prob in zip(beams.sequences()[b], beams.log_probs[b], strict=True):
                if tokens:
                    assert log_prob == pytest.approx(sequence_log_prob(
                        rnn, int(start[b]), tokens, row_state(state, b)), abs=1e-4)


@pytest.mark.parametrize(("ngram", "penalty"), [(1, None), (2, None), (3, None), (None, 0.5),
                                                (None, 2.0), (3, 2.0)])
def test_beam_search_with_repetition_control_matches_the_pool_reference(rnn, decoders, ngram,
                                                                       penalty):
    """Longer searches (7 tokens, width 3): hypotheses, scores and the live beam at each step."""
    options = dict(no_repeat_ngram_size=ngram, repetition_penalty=penalty)
    for seed, eos in ((0, None), (1, EOS), (2, EOS)):
        rnn.reseed(seed)
        state, start = primed_batch(rnn, decoders[eos])
        beams = decoders[eos].beam_search(state, start, 7, width=3, length_penalty=0.5,
                                          **options)
        for b in range(len(PROMPTS)):
            final, steps, lives = reference_beam_search(rnn, int(start[b]), 7, 3, eos, 0.5,
                                                        row_state(state, b), ngram, penalty)
            assert_beams_match(beams, b, final, 3)
            assert_tree_matches(beams, b, lives)
            assert beams.steps[b] == steps


def test_a_penalty_of_one_is_no_penalty(rnn, decoders):
    rnn.reseed(3)
    state, start = primed_batch(rnn, decoders[EOS])
    decoder = decoders[EOS]
    assert decoder.greedy(state, start, 6, repetition_penalty=1.0).sequences() == \
        decoder.greedy(state, start, 6).sequences()
    one = decoder.sample(state, start, 6, num_samples=5, seed=4, repetition_penalty=1.0)
    off = decoder.sample(state, start, 6, num_samples=5, seed=4)
    np.testing.assert_array_equal(one.tokens, off.tokens)
    one = decoder.beam_search(state, start, 6, width=3, repetition_penalty=1.0)
    off = decoder.beam_search(state, start, 6, width=3)
    assert one.sequences() == off.sequences()
    np.testing.assert_allclose(one.scores, off.scores, atol=1e-6)


@pytest.mark.parametrize("ngram", [1, 2, 3])
def test_sampled_sequences_never_repeat_a_banned_ngram(scripted, ngram):
    """A model that loves token 1: many samples, and no n-gram of [start] + tokens repeats; a
    row shorter than max_len ended because every token was banned."""
    model, decoders_ = scripted
    model.set([[0.1, 0.6, 0.2, 0.1]])
    result = decoders_[None].sample(model.initial_state(), 1, 10, num_samples=300, seed=1,
                                    no_repeat_ngram_size=ngram)
    for tokens in result.sequences():
        history = [1, *tokens]
        ngrams = [tuple(history[i:i + ngram]) for i in range(len(history) - ngram + 1)]
        assert len(ngrams) == len(set(ngrams)), history
        if len(tokens) < 10:
            assert np.isneginf(search_log_probs(np.zeros(4), history, ngram)).all()
    assert len({tuple(s) for s in result.sequences()}) >= 6  # n = 1: the 3! orders of 0, 2, 3


def expected_first_two(probs, start, ngram, penalty, temperature=1.0, top_k=None):
    """P(x1, x2) [V, V] of a model with the same distribution at every step, reshaped by the
    contract's order: penalty, ban, renormalise, temperature, top-k."""
    def draw(history):
        search = search_log_probs(np.log(probs), history, ngram, penalty) / temperature
        if top_k is not None:
            search = np.where(search >= np.sort(search)[-top_k], search, -np.inf)
        out = np.exp(search - search.max())
        return out / out.sum()

    first = draw([start])
    return np.array([first[x] * draw([start, x]) for x in range(len(probs))])


@pytest.mark.parametrize(("ngram", "penalty", "options"), [
    (None, 2.0, {}), (None, 0.5, {}), (1, None, {}), (2, None, {}),
    (2, 2.0, {"temperature": 0.7, "top_k": 2}),
])
def test_sampled_pairs_follow_the_penalised_distribution(scripted, ngram, penalty, options):
    """Chi-square of the (first, second) token pairs against the reshaped distribution."""
    model, decoders_ = scripted
    probs = np.array([0.1, 0.4, 0.3, 0.2])
    model.set([probs])
    n = 20_000
    result = decoders_[None].sample(model.initial_state(), 1, 2, num_samples=n, seed=3,
                                    no_repeat_ngram_size=ngram, repetition_penalty=penalty,
                                    **options)
    assert result.tokens.shape == (n, 2)
    counts = np.zeros((4, 4), int)
    np.add.at(counts, (result.tokens[:, 0], result.tokens[:, 1]), 1)
    assert_frequencies_match(counts, expected_first_two(probs, 1, ngram, penalty, **options))
    # reported log-probs: the model's, not the penalised ones
    np.testing.assert_allclose(result.log_probs, np.log(probs[result.tokens]).sum(axis=1),
                               atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Compilation, arguments


def test_repeated_calls_do_not_retrace(rnn):
    """Lengths, temperatures, seeds, sample counts, penalty values and (once two batch sizes have
    been seen and the traced shapes relaxed) batch sizes and prompt lengths travel as tensors."""
    decoder = Decoder(rnn, VOCAB, eos_id=EOS)
    fns = (decoder._prime_fn, decoder._generate_fn, decoder._beam_fn)

    def calls(prompts, max_len, top_k, temperature, seed, num_samples, alpha, theta):
        state, start = decoder.prime(rnn.initial_state(len(prompts)), prompts)
        decoder.greedy(state, start, max_len)
        decoder.greedy(state, start, max_len, no_repeat_ngram_size=2, repetition_penalty=theta)
        decoder.sample(state, start, max_len, top_k=top_k, temperature=temperature, seed=seed,
                       num_samples=num_samples, repetition_penalty=theta)
        decoder.beam_search(state, start, max_len, width=2, length_penalty=alpha)
        decoder.beam_search(state, start, max_len, width=2, length_penalty=alpha,
                            no_repeat_ngram_size=2, repetition_penalty=theta)

    calls([[1, 2]], 3, 2, 1.0, 0, 1, 0.0, 1.5)
    calls([[1, 2], [3], [4, 0, 1]], 4, 2, 1.0, 0, 1, 0.0, 1.5)
    counts = [fn.experimental_get_tracing_count() for fn in fns]
    calls([[2, 1, 4, 4, 1], [3]], 7, 3, 0.7, 5, 4, 0.8, 0.6)
    calls([[2], [1, 1], [3, 3], [4, 4, 4], [0, 1]], 5, 4, 1.3, 9, 2, 0.3, 2.0)
    assert [fn.experimental_get_tracing_count() for fn in fns] == counts


def test_numpy_numbers_and_large_seeds_are_accepted(rnn, decoders):
    rnn.reseed(1)
    state = rnn.initial_state()
    sampled = decoders[EOS].sample(state, np.int64(1), 3, temperature=np.float32(0.5),
                                   top_p=np.float64(0.9), top_k=np.int32(4), seed=2**40,
                                   no_repeat_ngram_size=np.int64(2),
                                   repetition_penalty=np.float32(1.2))
    assert sampled.tokens.shape[0] == 1
    beams = decoders[EOS].beam_search(state, 1, 3, width=np.int64(2),
                                      length_penalty=np.float32(0.6))
    assert beams.tokens.shape[:2] == (1, 2)


class NotAStep:
    """Looks like a Keras model: callable and has .predict."""

    def __call__(self, inputs):
        return inputs

    def predict(self, inputs):
        return inputs


def test_constructor_rejects_bad_arguments(rnn):
    with pytest.raises(TypeError, match="step must be a callable"):
        Decoder("not a function", VOCAB)
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 2, got 1"):
        Decoder(rnn, 1)
    for eos in (-1, VOCAB, 1.0):
        with pytest.raises(ValueError, match=r"eos_id must be None or an integer in \[0, 5\)"):
            Decoder(rnn, VOCAB, eos_id=eos)


def assert_rejected_as_a_step(step):
    with pytest.raises(TypeError, match=r"step") as error:
        Decoder(step, VOCAB)
    message = str(error.value)
    assert "(tokens" in message and "log_probs" in message, message  # what a step function is
    assert "language_model.step_function" in message, message  # where to get one


def test_a_model_passed_as_the_step_says_what_a_step_function_is():
    import keras

    assert_rejected_as_a_step(keras.Sequential([keras.Input((3,)), keras.layers.Dense(VOCAB)]))


def test_an_object_with_predict_passed_as_the_step_is_rejected():
    assert_rejected_as_a_step(NotAStep())


BAD_CALLS = [
    (lambda d, s: d.beam_search(s, 1, 4, width=0), r"width must be an integer in \[1, 5\]"),
    (lambda d, s: d.beam_search(s, 1, 4, width=6), r"width must be an integer in \[1, 5\].*6"),
    (lambda d, s: d.beam_search(s, 1, 4, width=2, length_penalty=-1),
     r"length_penalty must be .*>= 0"),
    (lambda d, s: d.sample(s, 1, 4, top_p=0), r"top_p must be None or in \(0, 1\], got 0"),
    (lambda d, s: d.sample(s, 1, 4, top_p=1.2), r"top_p must be None or in \(0, 1\], got 1.2"),
    (lambda d, s: d.sample(s, 1, 4, top_k=0), r"top_k must be an integer >= 1"),
    (lambda d, s: d.sample(s, 1, 4, top_k=6), r"top_k must be None or an integer in \[1, 5\]"),
    (lambda d, s: d.sample(s, 1, 4, temperature=-0.5), r"temperature.*-0.5"),
    (lambda d, s: d.sample(s, 1, 4, temperature=math.inf), r"temperature.*inf"),
    (lambda d, s: d.sample(s, 1, 4, temperature=math.nan), r"temperature.*nan"),
    (lambda d, s: d.sample(s, 1, 4, num_samples=0), r"num_samples must be an integer >= 1"),
    (lambda d, s: d.sample(_state(2), 1, 4, seed=[1, 2, 3]), r"seed.*3"),
    (lambda d, s: d.sample(s, 1, 4, seed=1.5), r"seed"),
    (lambda d, s: d.sample(s, 1, 4, seed=True), r"seed"),
    (lambda d, s: d.sample(_state(2), 1, 4, seed=[1, 2.5]), r"seed"),
    (lambda d, s: d.greedy(s, 1, 0), r"max_len must be an integer >= 1, got 0"),
    (lambda d, s: d.greedy(s, 5, 3), r"start"),
    (lambda d, s: d.greedy(_state(3), np.array([1, 2]), 3), r"start"),
    (lambda d, s: d.beam_search(_state(3), [1, 2, 3, 4], 3, width=2), r"start"),
    (lambda d, s: d.greedy(_state(2), np.array([1, 7]), 3), r"start.*7"),
    (lambda d, s: d.greedy((tf.zeros([2, HIDDEN]), tf.zeros([3, HIDDEN])), 1, 3),
     r"state(?s:.*)2(?s:.*)3"),
    (lambda d, s: d.beam_search((tf.zeros([2, HIDDEN]), tf.zeros([3, 2])), 1, 3, width=2),
     r"state"),
    (lambda d, s: d.prime((tf.zeros([2, HIDDEN]), tf.zeros([1, HIDDEN])), [[1], [2]]), r"state"),
    (lambda d, s: d.prime(s, []), r"prompts"),
    (lambda d, s: d.prime(_state(2), [[1, 2], []]), r"prompts.*1"),
    (lambda d, s: d.prime(s, [1, 7, -2, 3]), r"prompts(?s:.*)-2"),
    (lambda d, s: d.prime(_state(2), [[1, 2], [7]]), r"prompts.*7"),
    (lambda d, s: d.prime(s, [1.5, 2.0]), r"prompts.*integers"),
    (lambda d, s: d.prime(_state(2), [[1, 2], [0.5]]), r"prompts.*integers"),
    (lambda d, s: d.prime(_state(3), [[1, 2], [3]]), r"prompts.*2.*3|prompts.*3.*2"),
    (lambda d, s: d.prime(_state(3), [1, 2]), r"prompts|state"),
    (lambda d, s: d.prime(_state(2), [1, [2, 3]]), r"prompts"),
    (lambda d, s: d.prime(_state(1), [[[1, 2]]]), r"prompts"),
    (lambda d, s: d.prime(_state(2), [[[1], [2]], [[3]]]), r"prompts"),
]
for _method in ("greedy", "sample", "beam_search"):
    _kwargs = {"width": 2} if _method == "beam_search" else {}
    for _value in (0, -1, 1.5, True):
        BAD_CALLS.append((
            lambda d, s, m=_method, v=_value, k=_kwargs: getattr(d, m)(
                s, 1, 4, no_repeat_ngram_size=v, **k),
            r"no_repeat_ngram_size"))
    for _value in (0, -1.0, math.nan, math.inf, "2"):
        BAD_CALLS.append((
            lambda d, s, m=_method, v=_value, k=_kwargs: getattr(d, m)(
                s, 1, 4, repetition_penalty=v, **k),
            r"repetition_penalty"))


def _state(batch):
    return (tf.zeros([batch, HIDDEN]),)


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_decoding_rejects_bad_arguments(rnn, decoders, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(decoders[EOS], rnn.initial_state())


def test_the_course_language_model_decodes_like_the_naive_loop():
    """With `utils.language_model`'s step function (two LSTM layers: four state tensors),
    compiled greedy search on two prompts of different lengths primed together gives the tokens
    of the book's loop (the whole prefix through the Keras model for every new token)."""
    import keras

    from utils import language_model as lm

    keras.utils.set_random_seed(0)
    model = lm.build_model(12, embedding_dim=4, units=(8, 6), dense_units=10)
    decoder = Decoder(lm.step_function(model), 12, eos_id=11)
    prompts = [[3, 1, 4, 1, 5], [2, 7]]
    state, start = decoder.prime(lm.initial_state(model, 2), prompts)
    greedy = decoder.greedy(state, start, 6).sequences()
    for prompt, tokens in zip(prompts, greedy, strict=True):
        ids = list(prompt)
        for _ in range(6):  # the book's loop, up to 6 tokens or the end
            ids.append(int(np.argmax(model(np.array([ids]))[0, -1])))
            if ids[-1] == 11:
                break
        assert tokens == ids[len(prompt):]
    beams = decoder.beam_search(state, start, 6, width=3, length_penalty=0.6)
    assert beams.tokens.shape[:2] == (2, 3)
    for scores in beams.scores:
        assert list(scores) == sorted(scores, reverse=True)
