"""utils.decoding_baselines: the book's predict loop and the compiled forward loop give the same
greedy tokens as utils.decoding.Decoder on the course's language model (tiny, random weights),
one prompt and a batch of different prompts, with forbidden ids; bad input is refused."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from utils import decoding_baselines as baselines
from utils import language_model as lm
from utils.decoding import Decoder

VOCAB, PROMPT, N_TOKENS = 13, 5, 8


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    model = lm.build_model(VOCAB, 8, (16, 12), 20)
    # larger weights than Keras' initialisers give, so the argmax moves between tokens
    model.set_weights([3.0 * w for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def prompts():
    return np.random.default_rng(1).integers(1, VOCAB, (3, PROMPT)).astype(np.int32)


@pytest.fixture(scope="module")
def forbidden(model, prompts):
    """The two tokens the free greedy search emits most: forbidding them changes the output."""
    free = baselines.forward_greedy(model, prompts, N_TOKENS)
    counts = np.bincount(free.ravel(), minlength=VOCAB)
    return tuple(int(i) for i in np.argsort(-counts, kind="stable")[:2])


def decoder_one_by_one(model, prompts, forbidden_ids):
    decoder = Decoder(lm.step_function(model, forbidden_ids=forbidden_ids), VOCAB)
    rows = []
    for prompt in prompts:
        state, start = decoder.prime(lm.initial_state(model, 1), prompt)
        rows.append(decoder.greedy(state, start, N_TOKENS).tokens[0])
    return np.stack(rows)


@pytest.mark.parametrize("forbid", [False, True], ids=["free", "forbidden"])
def test_predict_forward_and_decoder_give_the_same_tokens(model, prompts, forbidden, forbid):
    forbidden_ids = forbidden if forbid else ()
    predicted = baselines.predict_greedy(model, prompts, N_TOKENS, forbidden_ids)
    forward = baselines.forward_greedy(model, prompts, N_TOKENS, forbidden_ids)
    assert predicted.shape == (3, N_TOKENS) and predicted.dtype == np.int32
    np.testing.assert_array_equal(predicted, forward)
    np.testing.assert_array_equal(predicted, decoder_one_by_one(model, prompts, forbidden_ids))
    assert len({tuple(row) for row in predicted}) == 3  # different prompts, different outputs
    if forbid:
        assert not np.isin(predicted, forbidden).any()
        free = baselines.predict_greedy(model, prompts, N_TOKENS)
        assert np.isin(free, forbidden).any()  # the forbidden ids were wanted


def test_the_batched_decoder_gives_the_same_tokens(model, prompts, forbidden):
    decoder = Decoder(lm.step_function(model, forbidden_ids=forbidden), VOCAB)
    state, start = decoder.prime(lm.initial_state(model, 3), prompts)
    batched = decoder.greedy(state, start, N_TOKENS).tokens
    np.testing.assert_array_equal(
        batched, baselines.forward_greedy(model, prompts, N_TOKENS, forbidden))


def test_one_prompt_alone_or_in_a_batch(model, prompts, forbidden):
    """B = 1 (a 1-D prompt, the book's way) gives the same row as inside the batch of 3."""
    batch = baselines.forward_greedy(model, prompts, N_TOKENS, forbidden)
    alone = baselines.predict_greedy(model, prompts[1].tolist(), N_TOKENS, forbidden)
    assert alone.shape == (1, N_TOKENS)
    np.testing.assert_array_equal(alone[0], batch[1])
    for b, prompt in enumerate(prompts):
        np.testing.assert_array_equal(
            baselines.forward_greedy(model, prompt, N_TOKENS, forbidden)[0], batch[b])


def test_the_compiled_forward_traces_once(model, prompts):
    forward = baselines.compiled_forward(model)
    assert baselines.compiled_forward(model) is forward
    baselines.forward_greedy(model, prompts, 2)
    baselines.forward_greedy(model, prompts[:1, :3], 3)
    assert forward.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("function", [baselines.predict_greedy, baselines.forward_greedy])
@pytest.mark.parametrize("prompts_, n_tokens, forbidden_ids, match", [
    ([[1, 2, 3], [4, 5]], 3, (), "same length.*lengths \\[2, 3\\]"),
    ([], 3, (), "prompts must be one non-empty prompt"),
    ([[]], 3, (), "prompts must be one non-empty prompt"),
    ([[1.5, 2.0]], 3, (), "prompts must be integer"),
    ([[1, VOCAB]], 3, (), f"prompts must be ids in \\[0, {VOCAB}\\).*\\[{VOCAB}\\]"),
    ([[1, -1]], 3, (), "unknown ids: \\[-1\\]"),
    ("abc", 3, (), "prompts must be token ids"),
    ([[1, 2]], 0, (), "n_tokens must be an integer >= 1"),
    ([[1, 2]], 2.0, (), "n_tokens must be an integer >= 1"),
    ([[1, 2]], 3, (VOCAB,), f"forbidden_ids must be in \\[0, {VOCAB}\\).*\\[{VOCAB}\\]"),
    ([[1, 2]], 3, (-1, 2), "forbidden_ids.*outside: \\[-1\\]"),
    ([[1, 2]], 3, tuple(range(VOCAB)), "forbid every token"),
])
def test_bad_input(model, function, prompts_, n_tokens, forbidden_ids, match):
    with pytest.raises(ValueError, match=match):
        function(model, prompts_, n_tokens, forbidden_ids)
