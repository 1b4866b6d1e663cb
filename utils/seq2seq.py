"""An encoder-decoder LSTM for character translation, with or without attention (notebook 10).

Training model (teacher forcing), from two int32 inputs to next-token logits::

    source [batch, S] -> Embedding(mask_zero) -> Bidirectional(LSTM, return_state) -> outputs
                                                     forward h, c | backward h, c
    decoder_input [batch, T] -> Embedding -> LSTM(2 * units), initial state [h_fwd; h_bwd],
                                                                           [c_fwd; c_bwd]
        (attention: keras.layers.Attention(decoder outputs, encoder outputs) -> context,
         concatenated to the decoder outputs)
    -> Dense(target vocabulary) logits [batch, T, vocab]

Padding: source id 0 is masked in the encoder (and in attention), target id 0 is ignored by the
loss (`masked_loss`). For inference `step_function` and `initial_state` run the same trained
layers one token at a time, in the form `utils.decoding.Decoder` expects.
"""

from __future__ import annotations

import keras
import numpy as np

from .checks import integer_at_least
from .text import PAD_ID  # padding in sources and targets


def build_model(source_vocab_size: int, target_vocab_size: int, embedding_dim: int = 32,
                units: int = 64, attention: bool = False,
                name: str | None = None) -> keras.Model:
    """The training model: ``{"source", "decoder_input"} -> logits``; layers are named so that
    `step_function` finds them after a ``.keras`` round trip."""
    integer_at_least("source_vocab_size", source_vocab_size, 2)
    integer_at_least("target_vocab_size", target_vocab_size, 2)
    integer_at_least("embedding_dim", embedding_dim, 1)
    integer_at_least("units", units, 1)
    source = keras.Input((None,), dtype="int32", name="source")
    decoder_input = keras.Input((None,), dtype="int32", name="decoder_input")

    x = keras.layers.Embedding(source_vocab_size, embedding_dim, mask_zero=True,
                               name="source_embedding")(source)
    encoder = keras.layers.Bidirectional(
        keras.layers.LSTM(units, return_sequences=True, return_state=True), name="encoder")
    encoder_outputs, forward_h, forward_c, backward_h, backward_c = encoder(x)
    h = keras.layers.Concatenate(name="merge_h")([forward_h, backward_h])
    c = keras.layers.Concatenate(name="merge_c")([forward_c, backward_c])

    y = keras.layers.Embedding(target_vocab_size, embedding_dim, name="target_embedding")(
        decoder_input)
    decoder_outputs = keras.layers.LSTM(2 * units, return_sequences=True, name="decoder")(
        y, initial_state=[h, c])
    if attention:
        # the encoder outputs carry the source mask (from the embedding), so Keras passes it
        # on: padded source positions get no attention
        context = keras.layers.Attention(name="attention")([decoder_outputs, encoder_outputs])
        decoder_outputs = keras.layers.Concatenate(name="with_context")(
            [decoder_outputs, context])
    logits = keras.layers.Dense(target_vocab_size, name="logits")(decoder_outputs)
    default = "seq2seq_attention" if attention else "seq2seq"
    return keras.Model({"source": source, "decoder_input": decoder_input}, logits,
                       name=name or default)


def masked_loss() -> keras.losses.Loss:
    """Cross-entropy from logits that ignores padded target positions (id `PAD_ID`)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)


def has_attention(model: keras.Model) -> bool:
    return any(layer.name == "attention" for layer in model.layers)


def _encode(model: keras.Model, source_ids):
    layers = {layer.name: layer for layer in model.layers}
    source_ids = keras.ops.convert_to_tensor(np.asarray(source_ids, np.int32))
    mask = keras.ops.not_equal(source_ids, PAD_ID)
    x = layers["source_embedding"](source_ids)
    outputs, forward_h, forward_c, backward_h, backward_c = layers["encoder"](x, mask=mask)
    h = keras.ops.concatenate([forward_h, backward_h], axis=-1)
    c = keras.ops.concatenate([forward_c, backward_c], axis=-1)
    return outputs, h, c, mask


def initial_state(model: keras.Model, source_ids) -> tuple:
    """The decoder's start state for encoded sources [batch, S]: ``(h, c)``, and with attention
    also the encoder outputs and the source mask (as 0/1 floats), so beam search can tile and
    reorder them like any state tensor."""
    outputs, h, c, mask = _encode(model, source_ids)
    if not has_attention(model):
        return (h, c)
    return (h, c, outputs, keras.ops.cast(mask, "float32"))


def step_function(model: keras.Model):
    """``step(tokens [batch], state) -> (log_probs [batch, vocab], state)`` for
    `utils.decoding.Decoder`: one decoder step with the trained layers (no copy of the weights)."""
    layers = {layer.name: layer for layer in model.layers}
    embedding, cell, dense = layers["target_embedding"], layers["decoder"].cell, layers["logits"]
    attention = layers.get("attention")

    def step(tokens, state):
        h, c = state[0], state[1]
        output, (h, c) = cell(embedding(tokens), [h, c], training=False)
        if attention is not None:
            encoder_outputs, source_mask = state[2], state[3]
            context = attention([output[:, None, :], encoder_outputs],
                                mask=[None, keras.ops.greater(source_mask, 0.5)])
            output = keras.ops.concatenate([output, context[:, 0, :]], axis=-1)
        log_probs = keras.ops.log_softmax(dense(output), axis=-1)
        return log_probs, (h, c, *state[2:])

    return step


def attention_weights(model: keras.Model, source_ids, decoder_inputs) -> np.ndarray:
    """The attention distribution over source positions at every decoder step: [batch, T, S].

    Feed the decoder the tokens it generated (start token first) to see what each output
    character looked at."""
    if not has_attention(model):
        raise ValueError(f"model {model.name!r} has no attention layer")
    layers = {layer.name: layer for layer in model.layers}
    outputs, h, c, mask = _encode(model, source_ids)
    y = layers["target_embedding"](np.asarray(decoder_inputs, np.int32))
    decoder_outputs = layers["decoder"](y, initial_state=[h, c])
    _, scores = layers["attention"]([decoder_outputs, outputs], mask=[None, mask],
                                    return_attention_scores=True)
    return keras.ops.convert_to_numpy(scores)


def attends_to_span(weights, steps, spans) -> np.ndarray:
    """Whether each listed output step looks hardest at its example's source span.

    `weights` [batch, T, S] are attention distributions (`attention_weights`); `steps` the output
    steps that write one field (the month digits of an ISO date are steps 5 and 6); `spans` one
    ``(start, end)`` per example: the source characters ``start .. end - 1`` that write that
    field. Returns a bool array [batch, len(steps)]: True where the step's strongest attention
    (its argmax over the source) falls inside the span. The share of True is the field's
    alignment.
    """
    weights = np.asarray(weights)
    if weights.ndim != 3:
        raise ValueError(f"weights must be [batch, T, S], got shape {weights.shape}")
    batch, n_steps, n_source = weights.shape
    steps = np.asarray(steps, dtype=np.int64)
    if steps.ndim != 1 or not steps.size or steps.min() < 0 or steps.max() >= n_steps:
        raise ValueError(f"steps must be a non-empty list of output steps in [0, {n_steps}), "
                         f"got {steps.tolist()}")
    spans = np.asarray(spans, dtype=np.int64)
    if spans.shape != (batch, 2):
        raise ValueError(f"spans must be one (start, end) per example, shape ({batch}, 2), "
                         f"got {spans.shape}")
    if np.any(spans[:, 0] < 0) or np.any(spans[:, 1] <= spans[:, 0]) or np.any(
            spans[:, 1] > n_source):
        raise ValueError(f"every span needs 0 <= start < end <= {n_source} (source length)")
    looked_at = weights[:, steps, :].argmax(axis=-1)  # [batch, len(steps)]
    return (looked_at >= spans[:, :1]) & (looked_at < spans[:, 1:])


def per_example(state: tuple) -> list[tuple]:
    """Split a batch of decoder states into one state of batch 1 per example: to decode example
    by example, the slow way `benchmarks/decoding.py` measures batched decoding against (a
    `utils.decoding.Decoder` takes the whole batch of states at once)."""
    batch = int(state[0].shape[0])
    return [tuple(s[i : i + 1] for s in state) for i in range(batch)]
