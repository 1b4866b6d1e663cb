"""The course's LSTM language model: build it, measure perplexity (against count baselines), and
run it one token at a time for generation. Training it so a run can resume is `utils.training`;
notebook 06's recipe (corpus, sizes, seed) is `utils.grimm`.

The model maps token ids [batch, time] to next-token logits [batch, time, vocab]:
embedding -> recurrent layers (returning sequences) -> a ReLU dense layer -> logits. The book's
bigram model is ``build_model(**grimm.BOOK)``.

`step_function` reuses the trained layers' cells to advance the model by one token with explicit
states, so generating a token costs one step, not a pass over the whole prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
import numpy as np

from .checks import integer_at_least

RECURRENT = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_model(
    vocab_size: int,
    embedding_dim: int,
    units: Sequence[int],
    dense_units: int | None = None,
    dropout: float = 0.0,
    recurrent: str | Callable[[int], keras.layers.Layer] = "lstm",
    name: str = "language_model",
    stateful_batch: int | None = None,
) -> keras.Model:
    """Embedding, one recurrent layer per entry of `units`, an optional ReLU layer, logits.

    `recurrent` is ``"lstm"``, ``"gru"`` or a function ``units -> layer`` (for example
    ``lambda n: keras.layers.RNN(PeepholeLSTMCell(n), return_sequences=True)``); its layers must
    return sequences and expose their cell as ``.cell``. `dropout` is applied to the outputs of
    every recurrent layer (not inside the recurrence, which would rule out the cuDNN kernel).
    With `stateful_batch`, the recurrent layers are ``stateful``: each batch (of exactly that
    many rows) starts from the states the previous batch ended with, for training on
    `text.stateful_batches`; `stateless_copy` gives the same model for any batch.
    """
    integer_at_least("vocab_size", vocab_size, 2)
    integer_at_least("embedding_dim", embedding_dim, 1)
    if not units:
        raise ValueError("units must name at least one recurrent layer, e.g. (256,)")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if isinstance(recurrent, str):
        if recurrent not in RECURRENT:
            raise ValueError(f"unknown recurrent layer {recurrent!r}; choose {sorted(RECURRENT)}")
        layer_class = RECURRENT[recurrent]

        def make(n, i):
            return layer_class(n, return_sequences=True, stateful=stateful_batch is not None,
                               name=f"{recurrent}_{i}")
    elif stateful_batch is not None:
        raise ValueError("stateful_batch needs recurrent='lstm' or 'gru' (a layer function "
                         "decides its own stateful setting)")
    else:
        def make(n, i):
            return recurrent(n)

    if stateful_batch is not None:
        integer_at_least("stateful_batch", stateful_batch, 1)
    tokens = keras.Input(batch_shape=(stateful_batch, None), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(tokens)
    for i, n in enumerate(units, start=1):
        integer_at_least("units", n, 1)
        x = make(n, i)(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")(x)
    return keras.Model(tokens, logits, name=name)


def stateless_copy(model: keras.Model) -> keras.Model:
    """The same model (same layers, same weights) without stateful layers or a fixed batch size:
    each call starts from zero states, for evaluation and generation at any batch size."""
    config = model.get_config()
    for layer in config["layers"]:
        options = layer["config"]
        if layer["class_name"] == "InputLayer":
            options["batch_shape"] = [None, *options["batch_shape"][1:]]
        if options.get("stateful"):
            options["stateful"] = False
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def reset_states(model: keras.Model) -> None:
    """Zero the states of the model's stateful layers (a new stream starts)."""
    for layer in recurrent_layers(model):
        if getattr(layer, "stateful", False):
            layer.reset_state()


def recurrent_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's recurrent layers, in order (every layer that has a `.cell`)."""
    return [layer for layer in model.layers if hasattr(layer, "cell")]


def _state_sizes(cell) -> list[int]:
    size = cell.state_size
    return list(size) if isinstance(size, list | tuple) else [size]


def initial_state(model: keras.Model, batch_size: int = 1) -> tuple:
    """Zero states for `step_function`: (h, c) per LSTM layer, (h,) per GRU layer, flattened."""
    integer_at_least("batch_size", batch_size, 1)
    return tuple(
        keras.ops.zeros((batch_size, n))
        for layer in recurrent_layers(model)
        for n in _state_sizes(layer.cell)
    )


def step_function(model: keras.Model, forbidden_ids: Sequence[int] = ()):
    """``step(tokens [batch], state) -> (log_probs [batch, vocab], state)`` for `utils.decoding`.

    It calls the trained layers' cells directly (same weights, no copy), one token at a time.
    `forbidden_ids` (e.g. the unknown token) get log-probability -inf (probability exactly 0, at
    any sampling temperature) and the rest is renormalised.
    """
    layers = {layer.name: layer for layer in model.layers}
    cells = [layer.cell for layer in recurrent_layers(model)]
    sizes = [len(_state_sizes(cell)) for cell in cells]
    after = [
        layer for layer in model.layers[model.layers.index(recurrent_layers(model)[-1]) + 1 :]
        if isinstance(layer, keras.layers.Dense)
    ]
    embedding = layers["embedding"]
    vocab_size = after[-1].units
    forbid = None
    if forbidden_ids:
        for i in forbidden_ids:
            if not 0 <= int(i) < vocab_size:
                raise ValueError(f"forbidden id {i} outside the vocabulary [0, {vocab_size})")
        mask = [0.0] * vocab_size
        for i in forbidden_ids:
            mask[int(i)] = float("-inf")
        forbid = keras.ops.convert_to_tensor(mask)

    def step(tokens, state):
        x = embedding(tokens)
        new_state, offset = [], 0
        for cell, n in zip(cells, sizes, strict=True):
            own = list(state[offset : offset + n])
            offset += n
            x, cell_state = cell(x, own if n > 1 else own[0], training=False)
            cell_state = cell_state if isinstance(cell_state, list | tuple) else [cell_state]
            new_state.extend(cell_state)
        for dense in after:
            x = dense(x)
        logits = keras.ops.cast(x, "float32")
        if forbid is not None:
            logits = logits + forbid
        return keras.ops.log_softmax(logits, axis=-1), tuple(new_state)

    return step


@keras.saving.register_keras_serializable(package="lstm_course")
class Perplexity(keras.metrics.Metric):
    """exp(mean next-token cross-entropy), accumulated over every token of an epoch."""

    def __init__(self, name: str = "perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        loss = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        self.total.assign_add(keras.ops.sum(keras.ops.cast(loss, "float32")))
        self.count.assign_add(keras.ops.cast(keras.ops.size(loss), "float32"))

    def result(self):
        return keras.ops.exp(self.total / keras.ops.maximum(self.count, 1.0))

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


def compile_model(model: keras.Model, learning_rate: float = 2e-3, clipnorm: float = 1.0):
    """Adam with gradient clipping, cross-entropy on logits, and perplexity as the metric."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Perplexity()],
    )
    return model


def bits_per_character(perplexity: float, characters_per_token: float) -> float:
    """A per-token perplexity as bits per character: log2(perplexity) / characters per token."""
    if perplexity < 1:
        raise ValueError(f"a perplexity is at least 1, got {perplexity}")
    if characters_per_token <= 0:
        raise ValueError(f"characters_per_token must be positive, got {characters_per_token}")
    return math.log2(perplexity) / characters_per_token


def count_perplexity(train_ids, eval_ids, vocab_size: int, context: int) -> float:
    """Perplexity of a count-based baseline with add-one smoothing, fitted on `train_ids`:
    no context (``context=0``, the unigram model) or the previous token (``context=1``)."""

    integer_at_least("vocab_size", vocab_size, 2)
    if context not in (0, 1):
        raise ValueError(f"context must be 0 (unigram) or 1 (previous token), got {context!r}")
    train_ids, eval_ids = np.asarray(train_ids, int), np.asarray(eval_ids, int)
    if len(eval_ids) < 1 + context:
        raise ValueError(f"eval_ids needs at least {1 + context} token(s), got {len(eval_ids)}")
    for name, ids in (("train_ids", train_ids), ("eval_ids", eval_ids)):
        if len(ids) and not (ids.min() >= 0 and ids.max() < vocab_size):
            raise ValueError(f"{name} must lie in [0, {vocab_size})")
    if context == 0:
        counts = np.bincount(train_ids, minlength=vocab_size) + 1.0
        probs = counts / counts.sum()
        return float(np.exp(-np.mean(np.log(probs[eval_ids]))))
    pairs = np.ones((vocab_size, vocab_size))
    np.add.at(pairs, (train_ids[:-1], train_ids[1:]), 1.0)
    probs = pairs / pairs.sum(axis=1, keepdims=True)
    return float(np.exp(-np.mean(np.log(probs[eval_ids[:-1], eval_ids[1:]]))))


def token_log_probs(model: keras.Model, ids, row_length: int = 1024) -> np.ndarray:
    """The natural-log probability `model` gives each id of the stream `ids` after the ids before
    it: ``len(ids) - 1`` numbers for the targets ``ids[1:]``, aligned with
    `kneser_ney.KneserNey.token_log_probs`, so the two models' numbers can be compared and mixed.

    The stream is cut into rows of `row_length` consecutive ids that run side by side as one batch
    (one row of 20,000 steps would be slow: the per-step cost dominates): the LSTM reads each row
    from a zero state, so a token is predicted from up to `row_length` ids before it, and only
    the first tokens of each row see little context (Kneser-Ney needs only its last n - 1 ids)."""
    integer_at_least("row_length", row_length, 1)
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"ids must be one stream of at least 2 ids, got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be integers, got {ids.dtype}")
    vocab_size = model.output_shape[-1]
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"ids must lie in [0, {vocab_size}) (the model's vocabulary), got "
                         f"[{ids.min()}, {ids.max()}]")
    inputs, targets = ids[:-1], ids[1:]
    rows = -(-len(inputs) // row_length)
    padded = np.zeros(rows * row_length, np.int32)  # after the stream's end: never scored
    padded[: len(inputs)] = inputs
    logits = model(padded.reshape(rows, row_length), training=False)
    log_probs = np.asarray(keras.ops.log_softmax(keras.ops.cast(logits, "float32"), axis=-1))
    flat = log_probs.reshape(rows * row_length, -1)[: len(targets)]
    return flat[np.arange(len(targets)), targets]


def perplexity_of(log_probs) -> float:
    """exp(-mean log-probability): the perplexity of natural-log token probabilities."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 1 or not len(log_probs):
        raise ValueError("log_probs must be a non-empty 1-D array of token log-probabilities")
    if np.any(log_probs > 1e-6) or not np.all(np.isfinite(log_probs)):
        raise ValueError("log-probabilities must be finite and <= 0")
    return float(np.exp(-log_probs.mean()))


def interpolate(log_p, log_q, weight: float) -> np.ndarray:
    """Log-probabilities of the mixture ``weight * p + (1 - weight) * q`` of two models' token
    log-probabilities (the same targets), computed without leaving log space."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    log_p, log_q = np.asarray(log_p, np.float64), np.asarray(log_q, np.float64)
    if log_p.shape != log_q.shape:
        raise ValueError(f"the two models scored different targets: shapes {log_p.shape} and "
                         f"{log_q.shape}")
    with np.errstate(divide="ignore"):  # log(0) = -inf at weight 0 or 1 is exact here
        return np.logaddexp(np.log(weight) + log_p, np.log1p(-weight) + log_q)


def interpolation_weight(log_p, log_q, iterations: int = 200, tolerance: float = 1e-10) -> float:
    """The weight of `interpolate` that maximises the likelihood of held-out targets (choose it on
    validation, report on test): expectation-maximisation, which never lowers the likelihood
    and converges to the best weight (the log-likelihood is concave in it)."""
    log_p, log_q = np.asarray(log_p, np.float64), np.asarray(log_q, np.float64)
    if log_p.shape != log_q.shape or log_p.ndim != 1 or not len(log_p):
        raise ValueError("log_p and log_q must be 1-D arrays of the same, non-zero length")
    weight = 0.5
    for _ in range(iterations):
        mixed = interpolate(log_p, log_q, weight)
        new = float(np.mean(np.exp(np.log(weight) + log_p - mixed)))  # mean responsibility of p
        if abs(new - weight) < tolerance:
            return new
        weight = new
    return weight
