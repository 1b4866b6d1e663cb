import math
import os

import keras
import numpy as np
import pytest

from utils import datasets, text
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
    book = lm.build_model(705, 96, (512, 256), 1024)
    expected = (
        705 * 96  # embedding
        + 4 * (512 * (96 + 512) + 512)  # LSTM 512
        + 4 * (256 * (512 + 256) + 256)  # LSTM 256
        + 256 * 1024 + 1024  # ReLU layer
        + 1024 * 705 + 705  # logits
    )
    assert book.count_params() == expected


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
    assert probs[..., [0, 5]].max() < 1e-30
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


def _data(n=64, time=8):
    import tensorflow as tf

    x = _tokens(n, time + 1, seed=3)
    return tf.data.Dataset.from_tensor_slices((x[:, :-1], x[:, 1:])).batch(16)


class _StopAfter(keras.callbacks.Callback):
    """Simulates an interruption (a disconnect) at the end of an epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_train_keeps_the_best_model_and_resumes_after_an_interruption(tmp_path):
    data = _data()
    keras.utils.set_random_seed(0)
    model = lm.compile_model(lm.build_model(VOCAB, 8, (16,), None))
    with pytest.raises(KeyboardInterrupt):
        lm.train(model, data, data, epochs=4, run_dir=tmp_path, verbose=0,
                 extra_callbacks=[_StopAfter(1)])
    assert (tmp_path / "best.keras").exists() and (tmp_path / "backup").exists()
    assert len(lm.read_history(tmp_path / "history.csv")["loss"]) == 2

    fresh = lm.compile_model(lm.build_model(VOCAB, 8, (16,), None))  # a new kernel, say
    run = lm.train(fresh, data, data, epochs=4, run_dir=tmp_path, verbose=0)
    assert run.epochs_run == 2  # epochs 2 and 3 only
    assert run.history["epoch"] == [0, 1, 2, 3]
    assert not (tmp_path / "backup").exists()  # removed once training finished
    best = keras.models.load_model(run.best_path)  # Perplexity is registered: no custom_objects
    assert min(run.history["val_loss"]) == pytest.approx(best.evaluate(data, verbose=0)[0],
                                                         rel=1e-4)


def _windows(seed=3):
    ids = np.random.default_rng(5).integers(0, VOCAB, 64 * 8 + 1)
    train = text.windows(ids, 8, 16, seed=seed)  # shuffled: 4 batches per epoch
    val = text.windows(ids[:200], 8, 16, shuffle=False, drop_remainder=False)
    return train, val


def _model(seed, dropout=0.2, units=(16,)):
    keras.utils.set_random_seed(seed)
    return lm.compile_model(lm.build_model(VOCAB, 8, units, None, dropout=dropout))


def _interrupted(run_dir, after_epoch, epochs=4, seed=0):
    train, val = _windows()
    with pytest.raises(KeyboardInterrupt):
        lm.train(_model(seed), train, val, epochs, run_dir, verbose=0,
                 extra_callbacks=[_StopAfter(after_epoch)])


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    train, val = _windows()
    whole = lm.train(_model(0), train, val, 4, tmp_path / "whole", verbose=0)
    _interrupted(tmp_path / "resumed", after_epoch=1)
    assert lm.resume_epoch(tmp_path / "resumed" / "backup") == 2
    train, val = _windows()  # a new kernel: new datasets, a model with other initial weights
    resumed = lm.train(_model(1), train, val, 4, tmp_path / "resumed", verbose=0)
    assert resumed.epochs_run == 2
    # shuffled windows and dropout, yet the same batches, masks and losses in every epoch
    np.testing.assert_allclose(resumed.history["loss"], whole.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(resumed.history["val_loss"], whole.history["val_loss"], rtol=1e-6)
    assert len(set(whole.history["loss"])) == 4  # the model did learn something each epoch


def test_a_worse_resumed_epoch_does_not_replace_the_best_model(tmp_path):
    _interrupted(tmp_path, after_epoch=1, epochs=3)
    before = lm.read_history(tmp_path / "history.csv")["val_loss"]
    train, val = _windows()
    too_fast = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 5.0)  # after the restore
    run = lm.train(_model(0), train, val, 3, tmp_path, verbose=0, extra_callbacks=[too_fast])
    assert run.history["val_loss"][:2] == before
    assert run.history["val_loss"][2] > min(before) + 0.1  # the resumed epoch made it worse
    best = keras.models.load_model(run.best_path)
    assert best.evaluate(val, verbose=0)[0] == pytest.approx(min(before), rel=1e-5)


@pytest.mark.parametrize("units", [(12,), (16, 16)])
def test_a_backup_that_does_not_fit_the_model_is_a_clear_error(tmp_path, units):
    _interrupted(tmp_path, after_epoch=0)
    train, val = _windows()
    backup = tmp_path / "backup"
    with pytest.raises(ValueError, match=rf"backup in {backup} does not fit this model.*"
                                         r"move or delete that folder"):
        lm.train(_model(0, units=units), train, val, 4, tmp_path, verbose=0)
    assert (backup / "latest.weights.h5").exists()  # kept, not deleted
    run = lm.train(_model(0), train, val, 4, tmp_path, verbose=0)  # the right model resumes
    assert run.epochs_run == 3 and run.history["epoch"] == [0, 1, 2, 3]


def test_resume_epoch_without_a_backup_is_zero(tmp_path):
    assert lm.resume_epoch(tmp_path / "backup") == 0


def test_train_after_a_finished_run_starts_a_fresh_log(tmp_path):
    data = _data()
    model = lm.compile_model(lm.build_model(VOCAB, 8, (16,), None))
    lm.train(model, data, data, epochs=2, run_dir=tmp_path, verbose=0)
    run = lm.train(model, data, data, epochs=1, run_dir=tmp_path, verbose=0)
    assert run.history["epoch"] == [0]


def test_checkpoint_dir_and_vocabulary_files(tmp_path, monkeypatch):
    monkeypatch.setenv(lm.CHECKPOINT_ENV, str(tmp_path))
    path = lm.checkpoint_dir("06", "cpu")
    assert path == tmp_path / "06" / "cpu" and path.is_dir()
    lm.save_vocabulary(["[UNK]", "ab", "é "], path / "vocab.json")
    assert lm.load_vocabulary(path / "vocab.json") == ["[UNK]", "ab", "é "]


@pytest.mark.skipif(not os.environ.get(datasets.MIRROR_ENV), reason="needs the data mirror")
def test_load_grimm_model_trains_once_then_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(lm.CHECKPOINT_ENV, str(tmp_path))
    tiny = dict(lm.GRIMM_SIZES["smoke"], embedding_dim=4, units=(8,), seq_len=16, batch=256,
                epochs=1)
    monkeypatch.setitem(lm.GRIMM_SIZES, "smoke", tiny)
    model, vocab = lm.load_grimm_model("smoke")
    assert "training it now" in capsys.readouterr().out
    assert model.output_shape == (None, None, vocab.size)
    assert vocab.tokens == text.grimm_corpus("bigram").vocabulary.tokens
    again, _ = lm.load_grimm_model("smoke")
    assert capsys.readouterr().out == ""  # loaded, not trained again
    x = np.arange(10, dtype="int32")[None]
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)


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


def test_checkpoints_go_to_drive_in_colab_only(monkeypatch):
    import sys
    import types

    monkeypatch.delenv(lm.CHECKPOINT_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert lm.keep_checkpoints_on_drive() is False and lm.CHECKPOINT_ENV not in os.environ

    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert lm.keep_checkpoints_on_drive() is True
    assert mounted == [lm.DRIVE] and os.environ[lm.CHECKPOINT_ENV] == lm.DRIVE_CHECKPOINTS
    monkeypatch.setenv(lm.CHECKPOINT_ENV, "/somewhere/else")  # the learner's choice wins
    assert lm.keep_checkpoints_on_drive() is False and mounted == [lm.DRIVE]
