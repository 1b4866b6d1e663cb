"""The loops the compiled decoder (`utils.decoding`) is measured against: greedy search done slowly.

Both run the language model over the whole text so far for every new token, take the last
position's logits, set the forbidden ids to -inf and append the argmax; they differ only in how
the model is called:

- `predict_greedy`: ``model.predict`` per token, the book's loop (one prompt: the book's way; a
  batch of prompts: a batched naive loop). Each call pays Keras's per-call machinery (a dataset,
  callbacks, returning every position's logits) on top of the forward pass.
- `forward_greedy`: a compiled full forward pass (``tf.function`` around
  ``model(x, training=False)``, traced once for any batch and length) on the growing prefix:
  what ``predict`` costs without that overhead, but still re-reading the prefix.

`utils.decoding.Decoder` instead carries the LSTM states and feeds one token per step, inside one
compiled loop. With the same weights the three give the same tokens (up to float ties);
``benchmarks/decoding.py`` times them side by side.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from .checks import integer_at_least

# one compiled forward pass per model, kept as long as the model lives (a new tf.function per
# call would retrace at every call and time the tracing)
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _vocab_size(model: keras.Model) -> int:
    return int(model.output_shape[-1])


def _prompt_batch(prompts, vocab_size: int) -> np.ndarray:
    """``prompts`` as int32 [B, P]: one 1-D prompt (B = 1) or B prompts of one length."""
    if isinstance(prompts, (str, bytes)):
        raise ValueError(f"prompts must be token ids, got a {type(prompts).__name__}")
    if isinstance(prompts, (list, tuple)) and prompts and all(
            isinstance(p, (Sequence, np.ndarray)) for p in prompts):
        lengths = sorted({len(p) for p in prompts})
        if len(lengths) > 1:
            raise ValueError(f"prompts must all have the same length here (a batch [B, P]), got "
                             f"lengths {lengths}; utils.decoding.Decoder.prime takes ragged ones")
    ids = np.asarray(prompts)
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"prompts must be one non-empty prompt or a non-empty batch [B, P] of "
                         f"them, got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"prompts must be integer token ids, got dtype {ids.dtype}")
    if ids.min() < 0 or ids.max() >= vocab_size:
        unknown = sorted({int(i) for i in ids.ravel() if not 0 <= i < vocab_size})
        raise ValueError(f"prompts must be ids in [0, {vocab_size}) (the model's vocabulary); "
                         f"unknown ids: {unknown}")
    return ids.astype(np.int32)


def _forbidden(forbidden_ids: Sequence[int], vocab_size: int) -> np.ndarray:
    ids = np.asarray(list(forbidden_ids))
    if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.ndim != 1):
        raise ValueError(f"forbidden_ids must be a sequence of token ids, got {forbidden_ids!r}")
    outside = sorted({int(i) for i in ids if not 0 <= i < vocab_size})
    if outside:
        raise ValueError(f"forbidden_ids must be in [0, {vocab_size}) (the model's "
                         f"vocabulary); outside: {outside}")
    if len(set(ids.tolist())) >= vocab_size:
        raise ValueError("forbidden_ids forbid every token of the vocabulary")
    return ids.astype(np.int64)


def _greedy_loop(
    last_logits: Callable[[np.ndarray], np.ndarray], vocab_size: int, prompts,
    n_tokens: int, forbidden_ids: Sequence[int],
) -> np.ndarray:
    """Append the argmax of ``last_logits(prefix)`` (logits [B, V] of the last position)
    ``n_tokens`` times; returns the new tokens, int32 [B, n_tokens]."""
    ids = _prompt_batch(prompts, vocab_size)
    n_tokens = integer_at_least("n_tokens", n_tokens)
    forbidden = _forbidden(forbidden_ids, vocab_size)
    prompt_length = ids.shape[1]
    for _ in range(n_tokens):
        logits = np.array(last_logits(ids), np.float32)  # a writable copy
        logits[:, forbidden] = -np.inf
        next_ids = np.argmax(logits, axis=-1).astype(np.int32)
        ids = np.concatenate([ids, next_ids[:, None]], axis=1)
    return ids[:, prompt_length:]


def predict_greedy(
    model: keras.Model, prompts, n_tokens: int, forbidden_ids: Sequence[int] = ()
) -> np.ndarray:
    """The book's loop: one ``model.predict`` on the whole prefix per new token, greedy.

    ``prompts``: one prompt (1-D ids) or B prompts of equal length ([B, P]); returns the
    ``n_tokens`` generated ids of each, int32 [B, n_tokens]. ``forbidden_ids`` get -inf before
    the argmax (the course forbids padding and the unknown token).
    """
    def last_logits(ids):
        return model.predict(ids, batch_size=len(ids), verbose=0)[:, -1]

    return _greedy_loop(last_logits, _vocab_size(model), prompts, n_tokens, forbidden_ids)


def compiled_forward(model: keras.Model) -> Callable[[tf.Tensor], tf.Tensor]:
    """``model(x, training=False)[:, -1]`` for x int32 [B, T], compiled once per model (its
    input signature [None, None] fits every batch and length, so it never retraces)."""
    forward = _FORWARD.get(model)
    if forward is None:
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def forward(ids):
            return tf.cast(model(ids, training=False)[:, -1], tf.float32)

        _FORWARD[model] = forward
    return forward


def forward_greedy(
    model: keras.Model, prompts, n_tokens: int, forbidden_ids: Sequence[int] = ()
) -> np.ndarray:
    """`predict_greedy` with a compiled full forward pass (`compiled_forward`) instead of
    ``model.predict``: it still re-reads the whole prefix for every token, from Python."""
    forward = compiled_forward(model)

    def last_logits(ids):
        return forward(tf.constant(ids)).numpy()

    return _greedy_loop(last_logits, _vocab_size(model), prompts, n_tokens, forbidden_ids)
