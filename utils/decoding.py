"""Decoding: turn a model's next-token distribution into sequences, for many prompts at once.

The step-function protocol. Every strategy here works on any *step function*::

    step(tokens, state) -> (log_probs, new_state)
    tokens     int32 [R]               the token each row feeds the model now
    state      tuple of tensors [R, ...] (an LSTM's (h1, c1, h2, c2); encoder outputs for attention)
    log_probs  float32 [R, vocab]      normalised; a forbidden token has -inf
    new_state  same structure and shapes as state

R is the number of rows the decoder runs together: B prompts for greedy search, B x num_samples
for sampling, B x width for beam search. A decoding method takes the states of B prompts (every
tensor with leading dimension B) and B start tokens, and returns B results. So the same code
decodes the language model of notebooks 06 and 07 (`utils.language_model.step_function`) and
the encoder-decoder of notebook 10 (`utils.seq2seq.step_function`).

`Decoder` runs greedy search, sampling (temperature, top-k, top-p) and beam search as compiled
loops (``tf.function`` around a ``tf.while_loop``): one graph call decodes every prompt to the
end, and all rows run as one batch. The book's way, one ``model.predict`` on the whole prefix per
token, pays Python, Keras and a full re-read of the prefix at every token
(`utils.decoding_baselines`, ``benchmarks/decoding.py``).

Conventions: the token ``start`` is fed first and is not part of the output; generated tokens
after end-of-sequence are `PAD_ID` (the padding id of `utils.text`, 0); ``lengths`` count the
real tokens, end-of-sequence included; ``log_probs`` are the model's own log-probabilities summed
over those tokens (no temperature, filter or repetition penalty applied).

Beam search keeps finished hypotheses apart: one that emits end-of-sequence leaves the live beam
for a pool of up to ``width`` per prompt, and the live beam keeps the ``width`` best unfinished
candidates, so it never shrinks (as fairseq and Hugging Face do). A prompt is done when its pool
is full and its best live hypothesis cannot beat the pool's worst even at ``max_len`` (the exact
rule, Hugging Face's ``early_stopping="never"``).

Repetition control (every strategy): ``no_repeat_ngram_size`` n forbids a token that would repeat
an n-gram of the row's history (the start token and what it generated); ``repetition_penalty``
theta multiplies the log-probability of every token already in the history by theta (theta > 1:
p ** theta, less likely; Keskar et al. 2019's penalty in Hugging Face's form). Then the row is
renormalised: these *search log-probabilities* are what greedy search takes the argmax of, beam
search ranks by, and sampling reshapes with temperature, top-k and top-p.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np
import tensorflow as tf

from .checks import integer_at_least
from .text import PAD_ID  # fills generated tokens after end-of-sequence

StepFunction = Callable[[tf.Tensor, tuple], tuple]
State = tuple  # of tensors with leading dimension batch
TensorLike = tf.Tensor | np.ndarray  # log-probs [..., vocab], as a tensor or an array


@dataclass
class Decoded:
    """Sequences from greedy search or sampling, one row each: ``tokens`` int32 [R, L] (`PAD_ID`
    after a row's end), ``lengths`` [R] and ``log_probs`` [R] (the model's log-probabilities of
    the generated tokens summed, end-of-sequence included). R is the number of prompts B, or
    B x num_samples for sampling (row b * num_samples + j: sample j of prompt b)."""

    tokens: np.ndarray
    lengths: np.ndarray
    log_probs: np.ndarray

    def sequences(self) -> list[list[int]]:
        """Each row's real tokens, without padding."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths, strict=True)]


@dataclass
class Beams:
    """Beam-search results for B prompts, best first per prompt: ``tokens`` int32 [B, W, L],
    ``lengths``, ``log_probs`` (the model's) and ``scores`` [B, W] (what they were ranked by: the
    search log-probability / `length_normaliser`). Where fewer than W complete sequences exist
    (the model or a no-repeat rule forbids tokens), the missing rows have score and log_prob
    -inf, length 0 and only `PAD_ID` tokens.

    The live beam's search tree, for `utils.plots.draw_beam_tree`: after step t, live
    hypothesis j of prompt b extended live hypothesis ``parents[t, b, j]`` of step t-1 (the start
    token at t = 0) with token ``step_tokens[t, b, j]`` and has the model's total log-probability
    ``step_log_probs[t, b, j]``; rows are ordered by the search's score. Hypotheses that emitted
    end-of-sequence went to the pool and are not in the tree. ``steps[b]``: how many steps prompt
    b's search ran (rows after it are copies)."""

    tokens: np.ndarray
    lengths: np.ndarray
    log_probs: np.ndarray
    scores: np.ndarray
    parents: np.ndarray
    step_tokens: np.ndarray
    step_log_probs: np.ndarray
    steps: np.ndarray

    def sequences(self) -> list[list[list[int]]]:
        """For each prompt, its hypotheses' real tokens, best first ([] for a missing row)."""
        return [[row[:n].tolist() for row, n in zip(rows, lengths, strict=True)]
                for rows, lengths in zip(self.tokens, self.lengths, strict=True)]

    def best(self) -> Decoded:
        """Each prompt's best hypothesis: tokens [B, L], lengths and log_probs [B]."""
        return Decoded(self.tokens[:, 0], self.lengths[:, 0], self.log_probs[:, 0])

    def prompt(self, b: int) -> Beams:
        """Prompt b's results alone (B = 1), its tree cut to the steps its search ran."""
        n_prompts = self.tokens.shape[0]
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 0 <= b < n_prompts:
            raise ValueError(f"b must be a prompt index in [0, {n_prompts}), got {b!r}")
        one = slice(b, b + 1)
        steps = int(self.steps[b])
        return Beams(self.tokens[one], self.lengths[one], self.log_probs[one], self.scores[one],
                     self.parents[:steps, one], self.step_tokens[:steps, one],
                     self.step_log_probs[:steps, one], self.steps[one])


# ----------------------------------------------------------------------------------------------
# Reshaping one distribution: temperature, top-k, top-p. Each returns normalised log-probs.


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _static_vocab(log_probs: tf.Tensor) -> int | None:
    return tf.TensorShape(log_probs.shape)[-1]


def _check_temperature(temperature, zero_allowed: bool) -> None:
    """A finite number > 0 (>= 0 where 0 means greedy); inf or NaN would turn every log-prob,
    forbidden tokens' -inf included, into NaN."""
    ok = _is_number(temperature) and math.isfinite(temperature) and (
        temperature >= 0 if zero_allowed else temperature > 0)
    if not ok:
        rule = ">= 0 (0 means greedy)" if zero_allowed else "> 0"
        raise ValueError(f"temperature must be a finite number {rule}, got {temperature!r}")


def apply_temperature(log_probs: TensorLike, temperature: float | tf.Tensor) -> tf.Tensor:
    """Log-probs [..., vocab] of the distribution p^(1/T), renormalised: T < 1 sharpens, T > 1
    flattens. T must be a finite positive number (a decoder treats T = 0 as greedy search, the
    limit T -> 0). A token with log-probability -inf keeps it at every temperature."""
    if not tf.is_tensor(temperature):
        _check_temperature(temperature, zero_allowed=False)
    log_probs = tf.convert_to_tensor(log_probs, tf.float32)
    # a forbidden token (-inf) stays forbidden even where T overflows float32 (-inf / inf = NaN)
    scaled = tf.where(log_probs == -np.inf, -np.inf, log_probs / tf.cast(temperature, tf.float32))
    return tf.nn.log_softmax(scaled, axis=-1)


def top_k_filter(log_probs: TensorLike, k: int | tf.Tensor) -> tf.Tensor:
    """Keep the ``k`` most likely tokens of each row [..., vocab] (and any tied with the k-th),
    renormalised; the others get log-probability -inf, so they are never sampled."""
    log_probs = tf.convert_to_tensor(log_probs, tf.float32)
    if not tf.is_tensor(k):
        vocab = _static_vocab(log_probs)
        k = integer_at_least("top_k", k)
        if vocab is not None and k > vocab:
            raise ValueError(f"top_k must be an integer in [1, {vocab}], got {k!r}")
    kth_best = tf.math.top_k(log_probs, k=k).values[..., -1:]
    kept = tf.where(log_probs >= kth_best, log_probs, -np.inf)
    return tf.nn.log_softmax(kept, axis=-1)


def top_p_filter(log_probs: TensorLike, p: float | tf.Tensor) -> tf.Tensor:
    """Nucleus filter of each row [..., vocab]: keep the most likely tokens until their
    probability reaches ``p`` (always at least the most likely token), renormalised; the others
    get -inf. Ties: every token as likely as the last one kept is kept too (like `top_k_filter`),
    so four tokens of 0.25 at p = 0.5 keep all four; without ties this is the smallest such set."""
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


def length_normaliser(lengths: int | TensorLike, alpha: float | tf.Tensor) -> tf.Tensor:
    """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al. 2016). A hypothesis is ranked by
    log_prob / length_normaliser: alpha = 0 ranks by log-probability alone (which favours short
    hypotheses), alpha = 1 is close to log-probability per token."""
    lengths = tf.cast(lengths, tf.float32)
    return ((5.0 + lengths) / 6.0) ** tf.cast(alpha, tf.float32)


# ----------------------------------------------------------------------------------------------
# Repetition control on a batch of histories. ``history`` int32 [R, H]: column 0 the start token,
# column i the i-th generated token; only the first ``filled`` columns are real.


def seen_tokens(history: tf.Tensor, filled: int | tf.Tensor, vocab_size: int) -> tf.Tensor:
    """bool [R, vocab]: which tokens occur in each row's first ``filled`` history entries."""
    rows, columns = tf.shape(history)[0], tf.shape(history)[1]
    real = tf.broadcast_to(tf.range(columns)[None, :] < filled, [rows, columns])
    indices = tf.stack([tf.broadcast_to(tf.range(rows)[:, None], [rows, columns]), history],
                       axis=-1)
    marks = tf.tensor_scatter_nd_max(tf.zeros([rows, vocab_size], tf.int32),
                                     tf.reshape(indices, [-1, 2]),
                                     tf.reshape(tf.cast(real, tf.int32), [-1]))
    return marks > 0


def banned_by_ngrams(history: tf.Tensor, filled: int | tf.Tensor, n: int,
                     vocab_size: int) -> tf.Tensor:
    """bool [R, vocab]: the tokens that would complete an n-gram already in each row's history
    (its first ``filled`` entries): token v is banned when history[-(n-1):] + [v] occurs as n
    consecutive history tokens. n = 1 bans every token of the history."""
    rows = tf.shape(history)[0]
    starts = tf.range(tf.maximum(filled - n + 1, 0))  # where an earlier n-gram can begin
    match = tf.ones([rows, tf.shape(starts)[0]], tf.bool)
    for k in range(n - 1):  # its first n-1 tokens equal the history's last n-1
        last = tf.gather(history, tf.maximum(filled - n + 1 + k, 0), axis=1)
        match &= tf.equal(tf.gather(history, starts + k, axis=1), last[:, None])
    completes = tf.gather(history, starts + n - 1, axis=1)
    row_ids = tf.broadcast_to(tf.range(rows)[:, None], tf.shape(completes))
    marks = tf.tensor_scatter_nd_max(tf.zeros([rows, vocab_size], tf.int32),
                                     tf.reshape(tf.stack([row_ids, completes], -1), [-1, 2]),
                                     tf.reshape(tf.cast(match, tf.int32), [-1]))
    return marks > 0


def _renormalise(log_probs: tf.Tensor) -> tf.Tensor:
    """log_softmax of each row; a row with no finite entry stays all -inf (not NaN)."""
    possible = tf.reduce_any(log_probs > -np.inf, axis=-1, keepdims=True)
    safe = tf.where(possible, log_probs, 0.0)
    return tf.where(possible, tf.nn.log_softmax(safe, axis=-1), -np.inf)


# ----------------------------------------------------------------------------------------------
# The decoder


def _step(step: StepFunction, tokens, state: State):
    """Call the step function inside a loop; the new state keeps the old one's static shapes (a
    step function may lose them, and a loop variable must not change shape)."""
    log_probs, new_state = step(tokens, state)
    new_state = tuple(new_state)
    if len(new_state) != len(state):
        raise ValueError(f"the step function returned a state of {len(new_state)} tensors for "
                         f"one of {len(state)}")
    for new, old in zip(new_state, state, strict=True):
        new.set_shape(old.shape)
    return log_probs, new_state


def _select_rows(keep_old, old: State, new: State) -> State:
    """Per row: the old state where ``keep_old`` [R] is true, else the new one."""
    out = []
    for o, n in zip(old, new, strict=True):
        mask = tf.reshape(keep_old, tf.concat([tf.shape(keep_old), tf.ones([tf.rank(o) - 1],
                                                                           tf.int32)], 0))
        out.append(tf.where(mask, o, n))
    return tuple(out)


def _write_column(history, column, values):
    """history [R, H] with ``history[:, column] = values``."""
    rows = tf.shape(history)[0]
    indices = tf.stack([tf.range(rows), tf.fill([rows], column)], axis=1)
    return tf.tensor_scatter_nd_update(history, indices, values)


def _one_per_prompt(name: str, value, batch: int) -> tuple[np.ndarray, bool]:
    """``value`` (one integer, or a 1-D sequence of ``batch`` integers: one per prompt) as int64,
    and whether it was one integer."""
    values = value.numpy() if tf.is_tensor(value) else value
    array = None
    if isinstance(values, (int, np.integer, Sequence, np.ndarray)) and not isinstance(
            values, (bool, np.bool_, str)):
        with contextlib.suppress(ValueError):  # ragged nesting stays None
            array = np.asarray(values)
    if (array is None or array.dtype == bool or not np.issubdtype(array.dtype, np.integer)
            or array.ndim > 1):
        raise ValueError(f"{name} must be an integer or a 1-D sequence of {batch} integers (one "
                         f"per prompt), got {value!r}")
    if array.ndim == 1 and array.size != batch:
        raise ValueError(f"{name} has {array.size} values for {batch} prompts")
    return array.astype(np.int64), array.ndim == 0


class Decoder:
    """Greedy, sampling and beam-search decoding of one step function, as compiled loops, for a
    batch of prompts at once (see the module docstring for the step-function protocol).

    The loops are traced once per decoder (again only for greedy vs sampling, a new beam width, a
    new no-repeat n-gram size, a penalty or top-k/top-p being switched on or off, or a new state
    structure); lengths, temperatures, seeds, sample counts and penalties travel as tensors, so
    repeated calls reuse the graph. The first new batch size retraces once with the batch dimension
    left open (TensorFlow's ``reduce_retracing``); later sizes reuse that graph, so time a decoder
    after calls with two batch sizes. ``jit_compile`` is passed to ``tf.function``
    (XLA); off by default, no consistent gain on CPU (benchmarks/README.md).
    """

    def __init__(self, step: StepFunction, vocab_size: int, eos_id: int | None = None,
                 jit_compile: bool = False):
        if hasattr(step, "predict"):
            raise TypeError(
                f"step must be a step function, not a model ({type(step).__name__}): a "
                f"callable step(tokens int32 [batch], state tuple) -> (log_probs [batch, vocab], "
                f"new state) that runs the model one token at a time. Make one with "
                f"utils.language_model.step_function(model) or utils.seq2seq.step_function(model)")
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

    def _state(self, state) -> tuple[State, int]:
        """The state as a tuple of tensors and its batch size B (the same for every tensor)."""
        if tf.is_tensor(state) or isinstance(state, np.ndarray):
            state = (state,)
        if not isinstance(state, (tuple, list)) or not state:
            raise TypeError(f"state must be a non-empty tuple of tensors, got "
                            f"{type(state).__name__}")
        state = tuple(tf.convert_to_tensor(s) for s in state)
        batches = [int(s.shape[0]) if s.shape.rank else None for s in state]
        if None in batches or len(set(batches)) != 1 or batches[0] < 1:
            raise ValueError(f"state tensors must share one batch size B >= 1 (their leading "
                             f"dimension), got leading dimensions {batches}")
        return state, batches[0]

    def _starts(self, start, batch: int) -> np.ndarray:
        """``start`` (one id for every prompt, or one per prompt) as int32 [batch]."""
        ids, _ = _one_per_prompt("start", start, batch)
        bad = sorted({int(i) for i in ids.ravel() if not 0 <= i < self.vocab_size})
        if bad:
            raise ValueError(f"start must be token ids in [0, {self.vocab_size}), got {bad}")
        return np.broadcast_to(ids.astype(np.int32), (batch,)).copy()

    def _width(self, width) -> int:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not (
            1 <= width <= self.vocab_size
        ):
            raise ValueError(f"width must be an integer in [1, {self.vocab_size}] (the vocabulary "
                             f"size), got {width!r}")
        return int(width)

    @staticmethod
    def _seeds(seed, batch: int) -> np.ndarray:
        """int64 [batch]: one int s gives prompt b the seed s + b; or one seed per prompt."""
        seeds, one = _one_per_prompt("seed", seed, batch)
        if one:
            return np.array([(int(seeds) + b) % 2**63 for b in range(batch)], np.int64)
        return seeds

    @staticmethod
    def _repetition(no_repeat_ngram_size, repetition_penalty) -> tuple[int, bool, float]:
        """(n-gram size or 0, whether the penalty is on, theta) after checking both."""
        n = 0
        if no_repeat_ngram_size is not None:
            n = integer_at_least("no_repeat_ngram_size", no_repeat_ngram_size)
        theta = 1.0
        if repetition_penalty is not None:
            if not (_is_number(repetition_penalty) and math.isfinite(repetition_penalty)
                    and repetition_penalty > 0):
                raise ValueError(f"repetition_penalty must be a finite number > 0 (1 means no "
                                 f"penalty), got {repetition_penalty!r}")
            theta = float(repetition_penalty)
        return n, theta != 1.0, theta

    # -- public API ------------------------------------------------------------------------------

    def prime(self, state: State, prompts: Sequence[int] | Sequence[Sequence[int]] | np.ndarray,
              ) -> tuple[State, int | np.ndarray]:
        """Feed every prompt's ids but its last through the model: returns (state, start), ready
        to pass to a decoding method.

        ``prompts`` is one prompt (a 1-D sequence of ids; the state's batch size must be 1; start
        is then an int) or B prompts (a list of 1-D sequences, lengths may differ, or a 2-D
        array [B, n]; start is int32 [B]). A row whose prompt is shorter stops updating while
        the longer ones are read, so each row ends exactly as if its prompt were read alone.
        """
        state, batch = self._state(state)
        rows, single = self._prompt_rows(prompts)
        if len(rows) != batch:
            raise ValueError(f"prompts has {len(rows)} prompt(s) for a state of batch size "
                             f"{batch}")
        longest = max(len(r) for r in rows)
        ids = np.full((batch, longest), PAD_ID, np.int32)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        lengths = np.array([len(r) for r in rows], np.int32)
        if longest > 1:
            state = self._prime_fn(state, tf.constant(ids), tf.constant(lengths))
        starts = ids[np.arange(batch), lengths - 1]
        return state, (int(starts[0]) if single else starts)

    def _prompt_rows(self, prompts) -> tuple[list[np.ndarray], bool]:
        if tf.is_tensor(prompts):
            prompts = prompts.numpy()
        if isinstance(prompts, np.ndarray) and prompts.ndim == 2:
            prompts = list(prompts)
        elif isinstance(prompts, np.ndarray) and prompts.ndim != 1:
            raise ValueError(f"prompts must be one prompt (1-D) or a batch of prompts, got an "
                             f"array of shape {prompts.shape}")
        if not isinstance(prompts, (Sequence, np.ndarray)) or isinstance(prompts, (str, bytes)):
            raise ValueError(f"prompts must be a sequence of token ids or a list of such "
                             f"sequences, got {type(prompts).__name__}")
        if len(prompts) == 0:
            raise ValueError("prompts is empty: a prompt needs at least one token id")
        single = not isinstance(prompts[0], (Sequence, np.ndarray, tf.Tensor))
        rows = [prompts] if single else list(prompts)
        checked = []
        for i, row in enumerate(rows):
            what = "the prompt" if single else f"prompt {i}"
            try:
                array = np.asarray(row.numpy() if tf.is_tensor(row) else row)
            except ValueError:  # ragged nesting inside one prompt
                raise ValueError(f"prompts: {what} is not a flat sequence of token ids") from None
            if array.ndim != 1:
                raise ValueError(f"prompts: {what} must be a 1-D sequence of token ids, got "
                                 f"shape {array.shape}")
            if array.size == 0:
                raise ValueError(f"prompts: {what} is empty (a prompt needs at least one id)")
            if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"prompts: {what} must hold integers, got dtype {array.dtype}")
            unknown = sorted({int(t) for t in array if not 0 <= t < self.vocab_size})
            if unknown:
                raise ValueError(f"prompts: {what} has ids outside [0, {self.vocab_size}): "
                                 f"{unknown}")
            checked.append(array.astype(np.int32))
        return checked, single

    def greedy(self, state: State, start: int | Sequence[int], max_len: int, *,
               no_repeat_ngram_size: int | None = None,
               repetition_penalty: float | None = None) -> Decoded:
        """The most likely next token (argmax of the search log-probs) at every step, up to
        ``max_len`` tokens, for each of the B prompts: tokens [B, L]."""
        return self._generate(state, start, max_len, greedy=True,
                              repetition=self._repetition(no_repeat_ngram_size,
                                                          repetition_penalty))

    def sample(self, state: State, start: int | Sequence[int], max_len: int, *,
               temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
               num_samples: int = 1,
               seed: int | Sequence[int] = 0, no_repeat_ngram_size: int | None = None,
               repetition_penalty: float | None = None) -> Decoded:
        """``num_samples`` sequences per prompt drawn token by token from the search log-probs,
        reshaped by ``temperature`` (0 means greedy), then ``top_k``, then ``top_p``: tokens
        [B * num_samples, L], row b * num_samples + j is sample j of prompt b.

        Each prompt has its own seed: ``seed`` is one int s (prompt b gets s + b) or B ints. The
        draws of prompt b depend only on its seed, the step and j (stateless random numbers, one
        Gumbel draw per token), so a prompt decoded alone with the seed it had in a batch gets
        the same samples as in the batch, and the same seeds give the same samples."""
        _check_temperature(temperature, zero_allowed=True)
        if top_k is not None:
            top_k = integer_at_least("top_k", top_k)
            if top_k > self.vocab_size:
                raise ValueError(f"top_k must be None or an integer in [1, {self.vocab_size}], "
                                 f"got {top_k!r}")
        if top_p is not None and not (_is_number(top_p) and 0 < top_p <= 1):
            raise ValueError(f"top_p must be None or in (0, 1], got {top_p!r}")
        num_samples = integer_at_least("num_samples", num_samples)
        return self._generate(
            state, start, max_len, greedy=temperature == 0, num_samples=num_samples,
            temperature=float(temperature) or 1.0, top_k=top_k,
            top_p=None if top_p is None else float(top_p), seed=seed,
            repetition=self._repetition(no_repeat_ngram_size, repetition_penalty))

    def beam_search(self, state: State, start: int | Sequence[int], max_len: int, *, width: int,
                    length_penalty: float = 0.0, no_repeat_ngram_size: int | None = None,
                    repetition_penalty: float | None = None) -> Beams:
        """The ``width`` best hypotheses of each of the B prompts, all B x width searched as one
        batch: tokens [B, width, L].

        Score = summed search log-prob / `length_normaliser` (length_penalty is its alpha). At
        each step every live hypothesis is extended by every token. Candidates that end with
        ``eos_id`` go to the prompt's pool of finished hypotheses (its ``width`` best are kept);
        the ``width`` best other candidates form the next live beam, each with its own parent's
        state. A prompt is done when its pool is full and its best live hypothesis, even keeping
        its log-probability up to ``max_len`` tokens (the largest normaliser: log-probabilities
        only fall), would score no better than the pool's worst. The search ends when every
        prompt is done, or after ``max_len`` steps: then the live hypotheses (``max_len`` tokens,
        no end-of-sequence) compete with the pool. Exact: a width that covers every candidate
        returns the best complete sequences.
        """
        state, batch = self._state(state)
        starts = self._starts(start, batch)
        max_len = integer_at_least("max_len", max_len)
        width = self._width(width)
        if not (_is_number(length_penalty) and math.isfinite(length_penalty)
                and length_penalty >= 0):
            raise ValueError(f"length_penalty must be a finite number >= 0, got "
                             f"{length_penalty!r}")
        ngram, use_penalty, theta = self._repetition(no_repeat_ngram_size, repetition_penalty)
        out = self._beam_fn(state, tf.constant(starts), tf.constant(max_len, tf.int32), width,
                            tf.constant(float(length_penalty), tf.float32), ngram, use_penalty,
                            tf.constant(theta, tf.float32))
        out = {k: v.numpy() for k, v in out.items()}
        return Beams(**out)

    # -- compiled loops --------------------------------------------------------------------------

    def _generate(self, state, start, max_len, greedy, num_samples=1, temperature=1.0,
                  top_k=None, top_p=None, seed=0, repetition=(0, False, 1.0)) -> Decoded:
        state, batch = self._state(state)
        starts = self._starts(start, batch)
        max_len = integer_at_least("max_len", max_len)
        ngram, use_penalty, theta = repetition
        seeds = self._seeds(seed, batch)
        use_top_k = top_k is not None and top_k < self.vocab_size
        use_top_p = top_p is not None and top_p < 1
        out = self._generate_fn(
            state, tf.constant(starts), tf.constant(max_len, tf.int32),
            tf.constant(num_samples, tf.int32), greedy, tf.constant(temperature, tf.float32),
            use_top_k, tf.constant(top_k or self.vocab_size, tf.int32),
            use_top_p, tf.constant(top_p or 1.0, tf.float32), tf.constant(seeds),
            ngram, use_penalty, tf.constant(theta, tf.float32))
        return Decoded(*(t.numpy() for t in out))

    def _prime_loop(self, state, ids, lengths):
        def body(i, state):
            _, new_state = _step(self.step, ids[:, i], state)
            # a row whose prompt is used up (all but its last id fed) keeps its state
            return i + 1, _select_rows(i >= lengths - 1, state, new_state)

        _, state = tf.while_loop(lambda i, _: i < tf.shape(ids)[1] - 1, body,
                                 (tf.constant(0), state))
        return state

    def _search_log_probs(self, log_probs, history, filled, ngram, use_penalty, theta):
        """The model's log-probs [R, vocab] after the repetition rules, renormalised."""
        if not ngram and not use_penalty:
            return log_probs
        if use_penalty:
            seen = seen_tokens(history, filled, self.vocab_size)
            log_probs = tf.where(seen, log_probs * theta, log_probs)
        if ngram:
            banned = banned_by_ngrams(history, filled, ngram, self.vocab_size)
            log_probs = tf.where(banned, -np.inf, log_probs)
        return _renormalise(log_probs)

    def _generate_loop(self, state, starts, max_len, num_samples, greedy, temperature, use_top_k,
                       top_k, use_top_p, top_p, seeds, ngram, use_penalty, theta):
        rows = tf.shape(starts)[0] * num_samples
        state = tuple(tf.repeat(s, num_samples, axis=0) for s in state)  # row b * n + j
        tokens = tf.repeat(starts, num_samples)
        history = tf.concat([tokens[:, None], tf.zeros([rows, max_len], tf.int32)], axis=1)

        def choose(search, t):
            if greedy:
                return tf.argmax(search, axis=-1, output_type=tf.int32)
            logits = apply_temperature(search, temperature)
            if use_top_k:
                logits = top_k_filter(logits, top_k)
            if use_top_p:
                logits = top_p_filter(logits, top_p)
            # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits). Each
            # prompt's noise comes from its own seed and the step (a new, reproducible draw)
            def prompt_noise(prompt_seed):
                step_seed = tf.stack([prompt_seed, tf.cast(t, tf.int64)])
                return tf.random.stateless_uniform([num_samples, self.vocab_size], seed=step_seed,
                                                   minval=np.finfo(np.float32).tiny, maxval=1.0)

            uniform = tf.reshape(tf.vectorized_map(prompt_noise, seeds), [rows, self.vocab_size])
            gumbel = -tf.math.log(-tf.math.log(uniform))
            return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)

        def body(t, tokens, state, finished, lengths, total, history):
            log_probs, state = _step(self.step, tf.where(finished, self._idle_token, tokens),
                                     state)
            search = self._search_log_probs(log_probs, history, t + 1, ngram, use_penalty, theta)
            chosen = choose(search, t)
            token_log_prob = tf.gather(log_probs, chosen, batch_dims=1)
            alive = tf.logical_not(finished)
            if ngram or use_penalty:  # a row whose every token is banned ends here
                stuck = tf.reduce_all(tf.math.is_inf(search), axis=-1)
                finished |= stuck
                alive &= tf.logical_not(stuck)
            total += tf.where(alive, token_log_prob, 0.0)
            lengths += tf.cast(alive, tf.int32)
            chosen = tf.where(alive, chosen, PAD_ID)
            if self.eos_id is not None:
                finished |= alive & tf.equal(chosen, self.eos_id)
            history = _write_column(history, t + 1, chosen)
            return t + 1, chosen, state, finished, lengths, total, history

        def cond(t, tokens, state, finished, *_):
            return (t < max_len) & tf.logical_not(tf.reduce_all(finished))

        loop_vars = (tf.constant(0), tokens, state, tf.zeros([rows], tf.bool),
                     tf.zeros([rows], tf.int32), tf.zeros([rows], tf.float32), history)
        steps, *_, lengths, total, history = tf.while_loop(cond, body, loop_vars)
        return history[:, 1: steps + 1], lengths, total

    def _beam_loop(self, state, starts, max_len, width, alpha, ngram, use_penalty, theta):
        vocab, eos = self.vocab_size, self.eos_id
        batch = tf.shape(starts)[0]
        rows = batch * width
        state = tuple(tf.repeat(s, width, axis=0) for s in state)  # row b * width + j
        tokens = tf.repeat(starts, width)
        history = tf.concat([tokens[:, None], tf.zeros([rows, max_len], tf.int32)], axis=1)
        columns = max_len + 1
        # only hypothesis 0 exists at first: the others start at -inf so the first step expands
        # one hypothesis into `width` different tokens instead of `width` copies of the best
        live = tf.tile(tf.concat([[0.0], tf.fill([width - 1], -np.inf)], 0)[None], [batch, 1])
        first_row = tf.range(batch)[:, None] * width  # row of hypothesis 0 of each prompt
        token_ids = tf.range(vocab)
        pool = dict(score=tf.fill([batch, width], -np.inf), model=tf.fill([batch, width], -np.inf),
                    length=tf.zeros([batch, width], tf.int32),
                    history=tf.zeros([batch, width, columns], tf.int32))
        worst_case = length_normaliser(max_len, alpha)  # the largest normaliser a hypothesis gets

        def body(t, tokens, state, live, live_model, history, pool, done, steps, tree):
            log_probs, new_state = _step(self.step, tokens, state)
            search = self._search_log_probs(log_probs, history, t + 1, ngram, use_penalty, theta)
            candidates = live[:, :, None] + tf.reshape(search, [batch, width, vocab])
            candidates_model = live_model[:, :, None] + tf.reshape(log_probs,
                                                                   [batch, width, vocab])
            history3 = tf.reshape(history, [batch, width, columns])
            new_pool = pool
            if eos is not None:
                # candidates ending with eos join the pool; the pool keeps its `width` best
                ending_history = history3 + eos * tf.one_hot(t + 1, columns, dtype=tf.int32)
                merged = dict(
                    score=tf.concat([pool["score"], candidates[:, :, eos]
                                     / length_normaliser(t + 1, alpha)], 1),
                    model=tf.concat([pool["model"], candidates_model[:, :, eos]], 1),
                    length=tf.concat([pool["length"], tf.fill([batch, width], t + 1)], 1),
                    history=tf.concat([pool["history"], ending_history], 1))
                _, kept = tf.math.top_k(merged["score"], k=width)
                new_pool = {k: tf.gather(v, kept, batch_dims=1) for k, v in merged.items()}
                candidates = tf.where(token_ids == eos, -np.inf, candidates)
            # the live beam: the `width` best unfinished candidates (all of length t + 1, so the
            # best by score are the best by log-probability)
            new_live, best = tf.math.top_k(tf.reshape(candidates, [batch, width * vocab]),
                                           k=width)
            parents, new_tokens = best // vocab, best % vocab
            real = tf.math.is_finite(new_live)  # fewer than `width` candidates may exist
            new_live_model = tf.where(real, tf.gather(
                tf.reshape(candidates_model, [batch, width * vocab]), best, batch_dims=1), -np.inf)
            new_tokens = tf.where(real, new_tokens, PAD_ID)
            parent_rows = tf.reshape(parents + first_row, [-1])
            new_state = tuple(tf.gather(s, parent_rows) for s in new_state)
            new_history = _write_column(tf.gather(history, parent_rows), t + 1,
                                        tf.reshape(new_tokens, [-1]))
            # prompts already done keep everything as it was
            frozen = done[:, None]
            frozen_rows = tf.repeat(done, width)
            state = _select_rows(frozen_rows, state, new_state)
            history = tf.where(frozen_rows[:, None], history, new_history)
            tokens = tf.where(frozen_rows, tokens, tf.reshape(new_tokens, [-1]))
            live = tf.where(frozen, live, new_live)
            live_model = tf.where(frozen, live_model, new_live_model)
            pool = {k: tf.where(tf.reshape(done, [-1] + [1] * (len(v.shape) - 1)), v,
                                new_pool[k]) for k, v in pool.items()}
            steps += tf.cast(tf.logical_not(done), tf.int32)
            tree = tuple(ta.write(t, x) for ta, x in zip(tree, (
                tf.where(frozen, tf.range(width)[None], parents),
                tf.where(frozen, PAD_ID, new_tokens), live_model), strict=True))
            nothing_live = tf.reduce_all(tf.math.is_inf(live), axis=1)
            if eos is not None:
                worst_in_pool = pool["score"][:, -1]
                cannot_beat = tf.reduce_max(live, axis=1) / worst_case <= worst_in_pool
                done |= tf.math.is_finite(worst_in_pool) & cannot_beat
            done |= nothing_live
            return t + 1, tokens, state, live, live_model, history, pool, done, steps, tree

        def cond(t, tokens, state, live, live_model, history, pool, done, *_):
            return (t < max_len) & tf.logical_not(tf.reduce_all(done))

        tree = tuple(tf.TensorArray(dtype, size=0, dynamic_size=True)
                     for dtype in (tf.int32, tf.int32, tf.float32))
        loop_vars = (tf.constant(0), tokens, state, live, tf.zeros([batch, width]), history, pool,
                     tf.zeros([batch], tf.bool), tf.zeros([batch], tf.int32), tree)
        t, _, _, live, live_model, history, pool, done, steps, tree = tf.while_loop(
            cond, body, loop_vars)
        # the results: the pool and, for prompts that ran to max_len, the live hypotheses
        live_score = tf.where(done[:, None], -np.inf, live / length_normaliser(t, alpha))
        merged = dict(
            scores=tf.concat([pool["score"], live_score], 1),
            log_probs=tf.concat([pool["model"], live_model], 1),
            lengths=tf.concat([pool["length"], tf.fill([batch, width], t)], 1),
            tokens=tf.concat([pool["history"], tf.reshape(history, [batch, width, columns])], 1))
        _, kept = tf.math.top_k(merged["scores"], k=width)
        out = {k: tf.gather(v, kept, batch_dims=1) for k, v in merged.items()}
        real = tf.math.is_finite(out["scores"])
        out["log_probs"] = tf.where(real, out["log_probs"], -np.inf)
        out["lengths"] = tf.where(real, out["lengths"], 0)
        out["tokens"] = tf.where(real[:, :, None], out["tokens"][:, :, 1: t + 1], PAD_ID)
        parents, step_tokens, step_log_probs = (ta.stack() for ta in tree)
        return dict(out, parents=parents, step_tokens=step_tokens, step_log_probs=step_log_probs,
                    steps=steps)
