import keras
import numpy as np
import pytest

from utils import seq2seq
from utils.decoding import Decoder

SOURCE_VOCAB, TARGET_VOCAB, EOS = 9, 7, 2


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "attention"])
def model(request):
    keras.utils.set_random_seed(0)
    return seq2seq.build_model(SOURCE_VOCAB, TARGET_VOCAB, embedding_dim=4, units=3,
                               attention=request.param)


SOURCES = np.array([[3, 4, 5, 6, 1], [2, 8, 0, 0, 0]], np.int32)  # the second one is padded
DECODER_INPUTS = np.array([[1, 3, 4, 5], [1, 6, 6, 3]], np.int32)


def log_softmax(x):
    x = keras.ops.convert_to_numpy(x)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def test_training_model_shapes_and_layer_names(model):
    logits = model({"source": SOURCES, "decoder_input": DECODER_INPUTS})
    assert tuple(logits.shape) == (2, 4, TARGET_VOCAB)
    names = {layer.name for layer in model.layers}
    assert {"source_embedding", "encoder", "target_embedding", "decoder", "logits"} <= names
    assert seq2seq.has_attention(model) == ("attention" in names)


def test_padding_does_not_change_the_encoding(model):
    padded = seq2seq.initial_state(model, SOURCES)
    alone = seq2seq.initial_state(model, SOURCES[1:, :2])
    np.testing.assert_allclose(padded[0][1:], alone[0], atol=1e-6)  # h
    np.testing.assert_allclose(padded[1][1:], alone[1], atol=1e-6)  # c
    logits = model({"source": SOURCES, "decoder_input": DECODER_INPUTS})
    logits_alone = model({"source": SOURCES[1:, :2], "decoder_input": DECODER_INPUTS[1:]})
    np.testing.assert_allclose(logits[1:], logits_alone, atol=1e-5)


def test_step_function_reproduces_the_teacher_forced_model(model):
    expected = log_softmax(model({"source": SOURCES, "decoder_input": DECODER_INPUTS}))
    step = seq2seq.step_function(model)
    state = seq2seq.initial_state(model, SOURCES)
    for t in range(DECODER_INPUTS.shape[1]):
        log_probs, state = step(DECODER_INPUTS[:, t], state)
        np.testing.assert_allclose(log_probs, expected[:, t], atol=1e-5)


def test_greedy_decoding_through_utils_decoding_agrees_with_the_model(model):
    decoder = Decoder(seq2seq.step_function(model), TARGET_VOCAB, eos_id=EOS)
    state = seq2seq.initial_state(model, SOURCES)  # every source decoded in one batch
    out = decoder.greedy(state, start=1, max_len=5)
    beams = decoder.beam_search(state, start=1, max_len=5, width=3)
    for b, (source, tokens) in enumerate(zip(SOURCES, out.sequences(), strict=True)):
        # fed back with teacher forcing, each greedy token is the model's argmax
        inputs = np.array([[1, *tokens[:-1]]], np.int32)
        logits = model({"source": source[None], "decoder_input": inputs})
        assert np.argmax(logits[0], axis=-1).tolist() == tokens
        assert beams.log_probs[b, 0] >= out.log_probs[b] - 1e-5  # here the best beam >= greedy
    for b, one in enumerate(seq2seq.per_example(state)):  # the same, one source at a time
        assert decoder.greedy(one, start=1, max_len=5).sequences()[0] == out.sequences()[b]


def test_per_example_splits_every_state_tensor(model):
    state = seq2seq.initial_state(model, SOURCES)
    parts = seq2seq.per_example(state)
    assert len(parts) == 2 and len(parts[0]) == len(state)
    assert all(int(s.shape[0]) == 1 for s in parts[1])


def test_keras_file_round_trip(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    inputs = {"source": SOURCES, "decoder_input": DECODER_INPUTS}
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-6)
    step = seq2seq.step_function(loaded)
    log_probs, _ = step(DECODER_INPUTS[:, 0], seq2seq.initial_state(loaded, SOURCES))
    np.testing.assert_allclose(log_probs, log_softmax(model(inputs))[:, 0],
                               atol=1e-5)


def test_masked_loss_ignores_padded_targets():
    logits = np.random.default_rng(0).normal(size=(1, 3, TARGET_VOCAB)).astype("float32")
    targets = np.array([[3, 4, seq2seq.PAD_ID]])
    loss = float(seq2seq.masked_loss()(targets, logits))
    per_token = -np.take_along_axis(log_softmax(logits), targets[..., None], -1)[0, :2, 0]
    assert loss == pytest.approx(per_token.mean(), rel=1e-5)


def test_attention_weights(model):
    if not seq2seq.has_attention(model):
        with pytest.raises(ValueError, match="no attention layer"):
            seq2seq.attention_weights(model, SOURCES, DECODER_INPUTS)
        return
    weights = seq2seq.attention_weights(model, SOURCES, DECODER_INPUTS)
    assert weights.shape == (2, 4, 5)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(weights[1, :, 2:] == 0)  # padded source positions get no attention


def test_attends_to_span_checks_the_argmax_of_each_step():
    weights = np.zeros((2, 3, 4))
    weights[0, 0, 1] = weights[0, 1, 3] = weights[0, 2, 2] = 1.0  # example 0 looks at 1, 3, 2
    weights[1, :, 0] = 1.0  # example 1 always looks at source position 0
    hits = seq2seq.attends_to_span(weights, [0, 2], [(1, 3), (1, 4)])
    assert hits.tolist() == [[True, True], [False, False]]
    assert seq2seq.attends_to_span(weights, [1], [(3, 4), (0, 1)]).tolist() == [[True], [True]]


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros((2, 3)), [0], [(0, 1)]), "weights must be"),
        ((np.zeros((1, 3, 4)), [3], [(0, 1)]), "steps must be"),
        ((np.zeros((1, 3, 4)), [], [(0, 1)]), "steps must be"),
        ((np.zeros((1, 3, 4)), [0], [(0, 1), (0, 1)]), "one \\(start, end\\) per example"),
        ((np.zeros((1, 3, 4)), [0], [(2, 2)]), "every span"),
        ((np.zeros((1, 3, 4)), [0], [(2, 5)]), "every span"),
    ],
)
def test_attends_to_span_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        seq2seq.attends_to_span(*args)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(source_vocab_size=1, target_vocab_size=5), "source_vocab_size must be"),
        (dict(source_vocab_size=5, target_vocab_size=5, units=0), "units must be"),
        (dict(source_vocab_size=5, target_vocab_size=5, embedding_dim=2.5), "embedding_dim"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        seq2seq.build_model(**kwargs)
