"""Decoding: turn a model's next-token distribution into sequences, fast.

Every strategy here works on any *step function* ``step(tokens, state) -> (log_probs, state)``:
``tokens`` int32 [batch], ``state`` a tuple of float tensors with leading dimension batch (an
LSTM's ``(h1, c1, h2, c2)``, or encoder outputs for attention), ``log_probs`` float32
[batch, vocab] (normalised). So the same code decodes the language model of notebooks 06 and 07
and the encoder-decoder of notebook 10.

`Decoder` runs greedy search, sampling (temperature, top-k, top-p) and beam search as compiled
loops (``tf.function`` around a ``tf.while_loop``): one graph call generates a whole sequence, and
beams run as one batch. The book's way, one ``model.predict`` on the whole prefix per token, pays
Python, Keras and a full re-read of the prefix at every token; see ``benchmarks/decoding.py``.

Conventions: the token ``start`` is fed first and is not part of the output; generated tokens
after end-of-sequence are `PAD_ID` (the padding id of `utils.text`, 0, never a real token), and
``lengths`` count the real tokens, end-of-sequence included; ``log_probs`` are summed over those
tokens under the model itself (no temperature or filtering applied).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np
import tensorflow as tf

from .checks import integer_at_least
from .text import PAD_ID  # fills generated tokens after end-of-sequence


@dataclass
class Decoded:
    """Sequences from greedy search or sampling: ``tokens`` [n, L], ``lengths`` and ``log_probs``
    [n] (sum of the model's log-probabilities of the generated tokens, end-of-sequence included)."""

    tokens: np.ndarray
    lengths: np.ndarray
    log_probs: np.ndarray

    def sequences(self) -> list[list[int]]:
        """Each sequence's real tokens, without padding."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths, strict=True)]


@dataclass
class Beams(Decoded):
    """Beam-search hypotheses, best first: ``tokens`` [width, L], ``lengths``, ``log_probs`` and
    ``scores`` [width] (the length-normalised log-probabilities they were ranked by).

    The search tree, for `utils.plots.draw_beam_tree`: after step t, hypothesis j extended
    hypothesis ``parents[t, j]`` of step t-1 (the start token at t = 0) with token
    ``step_tokens[t, j]`` (`PAD_ID` when it had already ended) and has total log-probability
    ``step_log_probs[t, j]``. Row t is sorted best first, so row L-1 is the final ranking.
    """

    scores: np.ndarray
    parents: np.ndarray
    step_tokens: np.ndarray
    step_log_probs: np.ndarray


# ----------------------------------------------------------------------------------------------
# Reshaping one distribution: temperature, top-k, top-p. Each returns normalised log-probs.


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _static_vocab(log_probs) -> int | None:
    return tf.TensorShape(log_probs.shape)[-1]


def apply_temperature(log_probs, temperature):
    """Log-probs of the distribution p^(1/T), renormalised: T < 1 sharpens, T > 1 flattens.

    T must be positive (a decoder treats T = 0 as greedy search, the limit T -> 0)."""
    if not tf.is_tensor(temperature) and not (_is_number(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    log_probs = tf.convert_to_tensor(log_probs, tf.float32)
    return tf.nn.log_softmax(log_probs / tf.cast(temperature, tf.float32), axis=-1)


def top_k_filter(log_probs, k):
    """Keep the ``k`` most likely tokens (and any tied with the k-th), renormalised; the others
    get log-probability -inf, so they are never sampled."""
    log_probs = tf.convert_to_tensor(log_probs, tf.float32)
    if not tf.is_tensor(k):
        vocab = _static_vocab(log_probs)
        k = integer_at_least("top_k", k)
        if vocab is not None and k > vocab:
            raise ValueError(f"top_k must be an integer in [1, {vocab}], got {k!r}")
    kth_best = tf.math.top_k(log_probs, k=k).values[..., -1:]
    kept = tf.where(log_probs >= kth_best, log_probs, -np.inf)
    return tf.nn.log_softmax(kept, axis=-1)


def top_p_filter(log_probs, p):
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches
    ``p`` (always at least the most likely token), renormalised; the others get -inf."""
    if not tf.is_tensor(p) and not (_is_number(p) and 0 < p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got {p!r}")
    log_probs = tf.nn.log_softmax(tf.convert_to_tensor(log_probs, tf.float32), axis=-1)
    p = tf.cast(p, tf.float32)
    ranked = tf.sort(log_probs, axis=-1, direction="DESCENDING")
    mass_before = tf.cumsum(tf.exp(ranked), axis=-1, exclusive=True)
    # a token is kept when the more likely ones have not reached p yet; p = 1 keeps everything
    # (float rounding must not drop the least likely token)
    keep = (mass_before < p) | (p >= 1.0)
    threshold = tf.reduce_min(tf.where(keep, ranked, np.inf), axis=-1, keepdims=True)
    kept = tf.where(log_probs >= threshold, log_probs, -np.inf)
    return tf.nn.log_softmax(kept, axis=-1)


def length_normaliser(lengths, alpha):
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al. 2016). A hypothesis is ranked by
    log_prob / length_normaliser: alpha = 0 ranks by log-probability alone (which favours short
    hypotheses), alpha = 1 is close to log-probability per token."""
    lengths = tf.cast(lengths, tf.float32)
    return ((5.0 + lengths) / 6.0) ** tf.cast(alpha, tf.float32)


# ----------------------------------------------------------------------------------------------
# The decoder


def _tile(state, n):
    return tuple(tf.repeat(s, n, axis=0) for s in state)


def _step(step, tokens, state):
    """Call the step function inside a loop; the new state keeps the old one's static shapes (a
    step function may lose them, and a loop variable must not change shape)."""
    log_probs, new_state = step(tokens, state)
    new_state = tuple(new_state)
    for new, old in zip(new_state, state, strict=True):
        new.set_shape(old.shape)
    return log_probs, new_state


class Decoder:
    """Greedy, sampling and beam-search decoding of one step function, as compiled loops.

    The loops are traced once per decoder (again only for greedy vs sampling, a new beam width, a
    new combination of top-k/top-p being on or off, or a new state structure); lengths,
    temperatures, seeds, sample counts and penalties travel as tensors, so repeated calls reuse
    the graph. ``jit_compile`` is passed to
    ``tf.function`` (XLA); off by default, no consistent gain on CPU (benchmarks/README.md).
    """

    def __init__(self, step: Callable, vocab_size: int, eos_id: int | None = None,
                 jit_compile: bool = False):
        if not callable(step):
            raise TypeError(f"step must be a callable (tokens, state) -> (log_probs, state), "
                            f"got {type(step).__name__}")
        self.step = step
        self.vocab_size = integer_at_least("vocab_size", vocab_size, minimum=2)
        if eos_id is not None and (
            isinstance(eos_id, bool) or not isinstance(eos_id, (int, np.integer))
            or not 0 <= eos_id < self.vocab_size
        ):
            raise ValueError(f"eos_id must be None or an integer in [0, {self.vocab_size}), "
                             f"got {eos_id!r}")
        self.eos_id = None if eos_id is None else int(eos_id)
        # what a finished row feeds the model (its output is thrown away): any valid id
        self._idle_token = PAD_ID
        options = dict(reduce_retracing=True, jit_compile=jit_compile)
        self._prime_fn = tf.function(self._prime_loop, reduce_retracing=True)
        self._generate_fn = tf.function(self._generate_loop, **options)
        self._beam_fn = tf.function(self._beam_loop, **options)

    # -- argument checks -----------------------------------------------------------------------

    def _state(self, state) -> tuple:
        if tf.is_tensor(state) or isinstance(state, np.ndarray):
            state = (state,)
        if not isinstance(state, (tuple, list)) or not state:
            raise TypeError(f"state must be a non-empty tuple of tensors, got "
                            f"{type(state).__name__}")
        state = tuple(tf.convert_to_tensor(s) for s in state)
        batches = [int(s.shape[0]) if s.shape.rank else None for s in state]
        if any(b != 1 for b in batches):
            raise ValueError(f"state tensors must have batch size 1 (leading dimension), got "
                             f"leading dimensions {batches}")
        return state

    def _token(self, name, value) -> int:
        if tf.is_tensor(value):
            value = value.numpy()
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(()).item()
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            0 <= value < self.vocab_size
        ):
            raise ValueError(f"{name} must be a token id in [0, {self.vocab_size}), got {value!r}")
        return int(value)

    def _width(self, width) -> int:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not (
            1 <= width <= self.vocab_size
        ):
            raise ValueError(f"width must be an integer in [1, {self.vocab_size}] (the vocabulary "
                             f"size), got {width!r}")
        return int(width)

    # -- public API ------------------------------------------------------------------------------

    def prime(self, state, prompt_ids: Sequence[int]):
        """Feed all prompt ids but the last through the model: returns (state, last id), ready to
        pass to a decoding method as (state, start)."""
        state = self._state(state)
        ids = np.asarray(prompt_ids)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError(f"prompt_ids must be a non-empty 1-D sequence of token ids, got "
                             f"shape {ids.shape}")
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"prompt_ids must be integers, got dtype {ids.dtype}")
        unknown = sorted({int(i) for i in ids if not 0 <= i < self.vocab_size})
        if unknown:
            raise ValueError(f"prompt_ids must be in [0, {self.vocab_size}); unknown ids: "
                             f"{unknown}")
        if ids.size > 1:
            state = self._prime_fn(state, tf.constant(ids[:-1], tf.int32))
        return state, int(ids[-1])

    def greedy(self, state, start: int, max_len: int) -> Decoded:
        """The most likely next token at every step (argmax), up to ``max_len`` tokens."""
        return self._generate(state, start, max_len, greedy=True)

    def sample(self, state, start: int, max_len: int, *, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, num_samples: int = 1,
               seed: int = 0) -> Decoded:
        """``num_samples`` sequences drawn token by token from the model's distribution, reshaped
        by ``temperature`` (0 means greedy), then ``top_k``, then ``top_p``. The same seed gives
        the same sequences (stateless random ops)."""
        if not _is_number(temperature) or not temperature >= 0:
            raise ValueError(f"temperature must be a number >= 0 (0 means greedy), got "
                             f"{temperature!r}")
        if top_k is not None:
            top_k = integer_at_least("top_k", top_k)
            if top_k > self.vocab_size:
                raise ValueError(f"top_k must be None or an integer in [1, {self.vocab_size}], "
                                 f"got {top_k!r}")
        if top_p is not None and not (_is_number(top_p) and 0 < top_p <= 1):
            raise ValueError(f"top_p must be None or in (0, 1], got {top_p!r}")
        num_samples = integer_at_least("num_samples", num_samples)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        return self._generate(
            state, start, max_len, greedy=temperature == 0, num_samples=num_samples,
            temperature=float(temperature) or 1.0, top_k=top_k,
            top_p=None if top_p is None else float(top_p), seed=int(seed))

    def beam_search(self, state, start: int, max_len: int, *, width: int,
                    length_penalty: float = 0.0) -> Beams:
        """The ``width`` best hypotheses, extended together as one batch.

        At each step every unfinished hypothesis is extended by every token, and the ``width``
        best candidates by score = log_prob / `length_normaliser` (length_penalty is its alpha)
        are kept, each with its own parent's state (states are reordered by the parents).
        Hypotheses that emitted ``eos_id`` stay in the beam unchanged and compete by their final
        score; the search stops after ``max_len`` steps or when every kept hypothesis has ended.
        """
        state = self._state(state)
        start = self._token("start", start)
        max_len = integer_at_least("max_len", max_len)
        width = self._width(width)
        if not _is_number(length_penalty) or not length_penalty >= 0:
            raise ValueError(f"length_penalty must be a number >= 0, got {length_penalty!r}")
        out = self._beam_fn(state, tf.constant(start, tf.int32), tf.constant(max_len, tf.int32),
                            width, tf.constant(float(length_penalty), tf.float32))
        out = {k: v.numpy() for k, v in out.items()}
        parents, step_tokens = out["parents"], out["step_tokens"]
        steps = parents.shape[0]
        tokens = np.empty((width, steps), np.int32)
        beam = np.arange(width)
        for t in range(steps - 1, -1, -1):  # follow the backpointers from the last step
            tokens[:, t] = step_tokens[t, beam]
            beam = parents[t, beam]
        return Beams(tokens=tokens, lengths=out["lengths"], log_probs=out["log_probs"],
                     scores=out["scores"], parents=parents, step_tokens=step_tokens,
                     step_log_probs=out["step_log_probs"])

    # -- compiled loops --------------------------------------------------------------------------

    def _generate(self, state, start, max_len, greedy, num_samples=1, temperature=1.0,
                  top_k=None, top_p=None, seed=0) -> Decoded:
        state = self._state(state)
        start = self._token("start", start)
        max_len = integer_at_least("max_len", max_len)
        use_top_k = top_k is not None and top_k < self.vocab_size
        use_top_p = top_p is not None and top_p < 1
        out = self._generate_fn(
            state, tf.constant(start, tf.int32), tf.constant(max_len, tf.int32),
            tf.constant(num_samples, tf.int32), greedy, tf.constant(temperature, tf.float32),
            use_top_k, tf.constant(top_k or self.vocab_size, tf.int32),
            use_top_p, tf.constant(top_p or 1.0, tf.float32), tf.constant(seed, tf.int64))
        return Decoded(*(t.numpy() for t in out))

    def _prime_loop(self, state, ids):
        def body(i, state):
            _, state = _step(self.step, tf.reshape(ids[i], [1]), state)
            return i + 1, state

        _, state = tf.while_loop(lambda i, _: i < tf.shape(ids)[0], body, (tf.constant(0), state))
        return state

    def _generate_loop(self, state, start, max_len, num_samples, greedy, temperature, use_top_k,
                       top_k, use_top_p, top_p, seed):
        state = _tile(state, num_samples)
        finished = tf.zeros([num_samples], tf.bool)

        def choose(log_probs, t):
            if greedy:
                return tf.argmax(log_probs, axis=-1, output_type=tf.int32)
            logits = apply_temperature(log_probs, temperature)
            if use_top_k:
                logits = top_k_filter(logits, top_k)
            if use_top_p:
                logits = top_p_filter(logits, top_p)
            step_seed = tf.stack([seed, tf.cast(t, tf.int64)])  # a new, reproducible draw per step
            draws = tf.random.stateless_categorical(logits, 1, seed=step_seed, dtype=tf.int32)
            return draws[:, 0]

        def body(t, tokens, state, finished, lengths, total, written):
            log_probs, state = _step(self.step, tf.where(finished, self._idle_token, tokens),
                                     state)
            chosen = choose(log_probs, t)
            token_log_prob = tf.gather(log_probs, chosen, batch_dims=1)
            alive = tf.logical_not(finished)
            total += tf.where(alive, token_log_prob, 0.0)
            lengths += tf.cast(alive, tf.int32)
            chosen = tf.where(alive, chosen, PAD_ID)
            if self.eos_id is not None:
                finished |= tf.equal(chosen, self.eos_id)
            return t + 1, chosen, state, finished, lengths, total, written.write(t, chosen)

        def cond(t, tokens, state, finished, *_):
            return (t < max_len) & tf.logical_not(tf.reduce_all(finished))

        loop_vars = (tf.constant(0), tf.fill([num_samples], start), state, finished,
                     tf.zeros([num_samples], tf.int32), tf.zeros([num_samples], tf.float32),
                     tf.TensorArray(tf.int32, size=0, dynamic_size=True))
        *_, lengths, total, written = tf.while_loop(cond, body, loop_vars)
        return tf.transpose(written.stack()), lengths, total

    def _beam_loop(self, state, start, max_len, width, alpha):
        vocab = self.vocab_size
        state = _tile(state, width)
        # only hypothesis 0 exists at first: the others start at -inf so the first step expands
        # one hypothesis into `width` different tokens instead of `width` copies of the best
        log_probs0 = tf.concat([[0.0], tf.fill([width - 1], -np.inf)], axis=0)
        token_ids = tf.range(vocab)

        def body(t, tokens, state, finished, lengths, beam_log_probs, scores, history):
            log_probs, state = _step(self.step, tf.where(finished, self._idle_token, tokens),
                                     state)
            # candidates [width, vocab]: an unfinished hypothesis extended by each token; a
            # finished one appears once (column 0), unchanged
            extended = beam_log_probs[:, None] + log_probs
            kept_as_is = tf.where(token_ids[None, :] == 0, beam_log_probs[:, None], -np.inf)
            candidates = tf.where(finished[:, None], kept_as_is, extended)
            candidate_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
            candidate_scores = candidates / length_normaliser(candidate_lengths, alpha)[:, None]
            scores, best = tf.math.top_k(tf.reshape(candidate_scores, [-1]), k=width)
            parents = best // vocab
            parent_finished = tf.gather(finished, parents)
            tokens = tf.where(parent_finished, PAD_ID, best % vocab)
            beam_log_probs = tf.gather(tf.reshape(candidates, [-1]), best)
            lengths = tf.gather(candidate_lengths, parents)
            finished = parent_finished
            if self.eos_id is not None:
                finished |= tf.equal(tokens, self.eos_id)
            state = tuple(tf.gather(s, parents) for s in state)  # each beam keeps its own state
            history = tuple(h.write(t, x) for h, x in zip(
                history, (parents, tokens, beam_log_probs), strict=True))
            return t + 1, tokens, state, finished, lengths, beam_log_probs, scores, history

        def cond(t, tokens, state, finished, *_):
            return (t < max_len) & tf.logical_not(tf.reduce_all(finished))

        history = tuple(tf.TensorArray(dtype, size=0, dynamic_size=True)
                        for dtype in (tf.int32, tf.int32, tf.float32))
        loop_vars = (tf.constant(0), tf.fill([width], start), state, tf.zeros([width], tf.bool),
                     tf.zeros([width], tf.int32), log_probs0, tf.zeros([width]), history)
        _, _, _, _, lengths, log_probs, scores, history = tf.while_loop(cond, body, loop_vars)
        parents, step_tokens, step_log_probs = (h.stack() for h in history)
        return dict(lengths=lengths, log_probs=log_probs, scores=scores, parents=parents,
                    step_tokens=step_tokens, step_log_probs=step_log_probs)
