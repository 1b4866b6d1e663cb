import math

import keras
import numpy as np
import pytest

from utils import grimm
from utils import language_model as lm

VOCAB = 30


def _tokens(batch=2, time=6, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, time)).astype("int32")


def _run_steps(model, x, **kwargs):
    step = lm.step_function(model, **kwargs)
    state = lm.initial_state(model, x.shape[0])
    outputs = []
    for t in range(x.shape[1]):
        log_probs, state = step(x[:, t], state)
        outputs.append(np.asarray(log_probs))
    return np.stack(outputs, axis=1)


def test_build_model_shapes_and_book_parameter_count():
    model = lm.build_model(VOCAB, 8, (16, 12), 20)
    assert model(_tokens()).shape == (2, 6, VOCAB)
    book = lm.build_model(**grimm.BOOK)
    vocab, embedding = grimm.BOOK["vocab_size"], grimm.BOOK["embedding_dim"]
    (first, second), dense = grimm.BOOK["units"], grimm.BOOK["dense_units"]
    expected = (
        vocab * embedding  # embedding
        + 4 * (first * (embedding + first) + first)  # first LSTM
        + 4 * (second * (first + second) + second)  # second LSTM
        + second * dense + dense  # ReLU layer
        + dense * vocab + vocab  # logits
    )
    assert book.count_params() == expected
    assert [layer.name for layer in book.layers] == ["tokens", "embedding", "lstm_1", "lstm_2",
                                                     "hidden", "logits"]


@pytest.mark.parametrize("recurrent", ["lstm", "gru"])
@pytest.mark.parametrize("dense_units", [None, 20])
def test_step_function_equals_the_full_model(recurrent, dense_units):
    keras.utils.set_random_seed(1)
    model = lm.build_model(VOCAB, 8, (16, 12), dense_units, dropout=0.3, recurrent=recurrent)
    x = _tokens()
    full = np.asarray(keras.ops.log_softmax(model(x, training=False), axis=-1))
    np.testing.assert_allclose(_run_steps(model, x), full, atol=1e-5)


def test_step_function_with_a_custom_recurrent_layer():
    def layer(n):
        return keras.layers.RNN(keras.layers.LSTMCell(n), return_sequences=True)

    model = lm.build_model(VOCAB, 8, (16,), None, recurrent=layer)
    x = _tokens()
    full = np.asarray(keras.ops.log_softmax(model(x), axis=-1))
    np.testing.assert_allclose(_run_steps(model, x), full, atol=1e-5)


def test_initial_state_has_h_and_c_per_lstm_layer():
    model = lm.build_model(VOCAB, 8, (16, 12), None)
    assert [tuple(s.shape) for s in lm.initial_state(model, 3)] == [(3, 16), (3, 16), (3, 12),
                                                                     (3, 12)]
    gru = lm.build_model(VOCAB, 8, (16,), None, recurrent="gru")
    assert [tuple(s.shape) for s in lm.initial_state(gru, 3)] == [(3, 16)]


def test_forbidden_ids_get_zero_probability():
    model = lm.build_model(VOCAB, 8, (16,), None)
    out = _run_steps(model, _tokens(), forbidden_ids=[0, 5])
    probs = np.exp(out)
    assert np.all(out[..., [0, 5]] == -np.inf)  # exactly 0: no temperature can revive them
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        lm.step_function(model, forbidden_ids=[VOCAB])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(vocab_size=1), "vocab_size"),
        (dict(units=()), "units"),
        (dict(dropout=1.0), "dropout"),
        (dict(recurrent="rnn"), "unknown recurrent"),
    ],
)
def test_build_model_rejects_bad_arguments(kwargs, match):
    args = dict(vocab_size=VOCAB, embedding_dim=8, units=(16,), dense_units=None) | kwargs
    with pytest.raises(ValueError, match=match):
        lm.build_model(**args)


def test_perplexity_is_exp_of_the_mean_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, VOCAB)).astype("float32")
    targets = rng.integers(0, VOCAB, (2, 5))
    metric = lm.Perplexity()
    metric.update_state(targets[:1], logits[:1])
    metric.update_state(targets[1:], logits[1:])
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, targets[..., None], -1).mean()
    assert float(metric.result()) == pytest.approx(math.exp(nll), rel=1e-5)
    metric.reset_state()
    assert float(metric.result()) == pytest.approx(1.0)


def test_untrained_model_perplexity_is_about_the_vocabulary_size():
    keras.utils.set_random_seed(0)
    model = lm.compile_model(lm.build_model(VOCAB, 8, (16,), None))
    x = _tokens(8, 20)
    _, perplexity = model.evaluate(x, x, verbose=0)
    assert VOCAB * 0.9 < perplexity < VOCAB * 1.1


def test_bits_per_character():
    assert lm.bits_per_character(4.0, 1) == pytest.approx(2.0)
    assert lm.bits_per_character(16.0, 2) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="at least 1"):
        lm.bits_per_character(0.5, 1)
    with pytest.raises(ValueError, match="characters_per_token"):
        lm.bits_per_character(2.0, 0)


def test_count_perplexity_unigram_and_previous_token():
    train = np.array([0, 1, 0, 1, 0, 1])
    # add-one unigram: p(0) = p(1) = 4/9, p(2) = 1/9
    assert lm.count_perplexity(train, [0, 1], 3, context=0) == pytest.approx(9 / 4)
    assert lm.count_perplexity(train, [2], 3, context=0) == pytest.approx(9.0)
    # previous token: after 0, counts (1, 4, 1) -> p(1 | 0) = 4/6; after 1, p(0 | 1) = 3/5
    expected = math.exp(-(math.log(4 / 6) + math.log(3 / 5)) / 2)
    assert lm.count_perplexity(train, [0, 1, 0], 3, context=1) == pytest.approx(expected)
    # a uniform guess is the worst an add-one model does on unseen data
    assert lm.count_perplexity([], [0, 1, 2], 3, context=0) == pytest.approx(3.0)


@pytest.mark.parametrize(
    "args, match",
    [
        (([0], [0], 3, 2), "context"),
        (([0], [], 3, 0), "at least 1"),
        (([0], [0], 3, 1), "at least 2"),
        (([0], [3], 3, 0), "eval_ids"),
        (([-1], [0], 3, 0), "train_ids"),
        (([0], [0], 1, 0), "vocab_size"),
    ],
)
def test_count_perplexity_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        lm.count_perplexity(*args)


def test_token_log_probs_match_the_model_on_the_whole_stream():
    keras.utils.set_random_seed(0)
    model = lm.build_model(VOCAB, 8, (12,))
    ids = np.random.default_rng(1).integers(0, VOCAB, 23).astype("int32")
    full = np.asarray(keras.ops.log_softmax(model(ids[None, :-1]), axis=-1))[0]
    expected = full[np.arange(22), ids[1:]]
    # one row holds the whole stream: the same numbers as one call on it
    np.testing.assert_allclose(lm.token_log_probs(model, ids, row_length=64), expected, atol=1e-5)
    # rows of 5: each row starts from a zero state, so row starts differ, the first row does not
    rows = lm.token_log_probs(model, ids, row_length=5)
    assert rows.shape == (22,)
    np.testing.assert_allclose(rows[:5], expected[:5], atol=1e-5)
    row_two = np.asarray(keras.ops.log_softmax(model(ids[None, 5:10]), axis=-1))[0]
    np.testing.assert_allclose(rows[5:10], row_two[np.arange(5), ids[6:11]], atol=1e-5)
    assert lm.perplexity_of(rows) == pytest.approx(float(np.exp(-rows.mean())))


def test_token_log_probs_bad_input():
    model = lm.build_model(VOCAB, 4, (4,))
    with pytest.raises(ValueError, match="at least 2 ids"):
        lm.token_log_probs(model, np.array([3]))
    with pytest.raises(ValueError, match=r"\[0, 30\)"):
        lm.token_log_probs(model, np.array([3, 30]))
    with pytest.raises(ValueError, match="integers"):
        lm.token_log_probs(model, np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="<= 0"):
        lm.perplexity_of([0.5])


def test_interpolation_weight_finds_the_likelihood_maximum():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 1, 500)
    q = rng.uniform(0.01, 1, 500)
    log_p, log_q = np.log(p), np.log(q)
    np.testing.assert_allclose(lm.interpolate(log_p, log_q, 0.3), np.log(0.3 * p + 0.7 * q))
    np.testing.assert_allclose(lm.interpolate(log_p, log_q, 1.0), log_p)
    weight = lm.interpolation_weight(log_p, log_q)
    grid = np.linspace(0, 1, 1001)
    best = grid[np.argmax([lm.interpolate(log_p, log_q, w).mean() for w in grid])]
    assert weight == pytest.approx(best, abs=2e-3)
    # a model that is better everywhere gets all the weight
    assert lm.interpolation_weight(log_p, log_p - 1.0) > 0.99
    with pytest.raises(ValueError, match="weight"):
        lm.interpolate(log_p, log_q, 1.5)
    with pytest.raises(ValueError, match="different targets"):
        lm.interpolate(log_p, log_q[:-1], 0.5)


def test_a_stateful_model_carries_its_state_and_its_stateless_copy_matches():
    keras.utils.set_random_seed(0)
    model = lm.build_model(VOCAB, 4, (8, 6), stateful_batch=3)
    x = _tokens(batch=3, time=10)
    lm.reset_states(model)
    halves = np.concatenate([np.asarray(model(x[:, :4])), np.asarray(model(x[:, 4:]))], axis=1)
    copy = lm.stateless_copy(model)
    np.testing.assert_allclose(halves, np.asarray(copy(x)), atol=1e-6)  # state carried over
    assert copy.input_shape == (None, None) and copy(x[:1]).shape == (1, 10, VOCAB)
    assert not any(layer.stateful for layer in lm.recurrent_layers(copy))
    lm.reset_states(model)
    np.testing.assert_allclose(np.asarray(model(x[:, :4])), halves[:, :4], atol=1e-6)
    with pytest.raises(ValueError, match="stateful_batch needs"):
        lm.build_model(VOCAB, 4, (8,), recurrent=lambda n: keras.layers.LSTM(n), stateful_batch=2)
