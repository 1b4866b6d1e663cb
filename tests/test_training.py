import os
import sys
import types
from pathlib import Path

import keras
import numpy as np
import pytest

from utils import language_model as lm
from utils import tasks, text, training
from utils.training import train_on_adding, train_on_stream


class RecordingModel:
    """Stands in for a Keras model: records what it was trained on."""

    def __init__(self):
        self.batches = []

    def fit(self, x, y, batch_size, epochs, verbose, shuffle):
        assert epochs == 1 and verbose == 0
        self.batches.append((x.shape[0] // batch_size, x[0, 0, 0]))


def test_trains_in_chunks_on_fresh_data_and_records_the_curve():
    model = RecordingModel()
    scores = iter([0.5, 0.4, 0.3])
    run = train_on_stream(model, lambda n, seed: tasks.adding_problem(n, 5, seed),
                          max_steps=250, batch_size=4, evaluate=lambda m: next(scores))
    assert [steps for steps, _ in model.batches] == [100, 100, 50]
    first_values = [value for _, value in model.batches]
    assert len(set(first_values)) == 3  # each chunk saw new data
    np.testing.assert_array_equal(run.curve, [[100, 0.5], [200, 0.4], [250, 0.3]])
    assert run.steps == 250 and run.final == 0.3 and run.seconds >= 0


def test_stops_early():
    model = RecordingModel()
    scores = iter([0.5, 0.05, 0.01])
    run = train_on_stream(model, lambda n, seed: tasks.adding_problem(n, 5, seed),
                          max_steps=1000, batch_size=2, evaluate=lambda m: next(scores),
                          stop=lambda score: score < 0.1)
    assert run.steps == 200 and len(model.batches) == 2


def test_gives_up_when_asked():
    model = RecordingModel()
    scores = iter([0.5, 0.4, 0.3, 0.2])
    run = train_on_stream(model, lambda n, seed: tasks.adding_problem(n, 5, seed),
                          max_steps=1000, batch_size=2, evaluate=lambda m: next(scores),
                          give_up=lambda curve: curve[-1, 0] >= 300 and curve[:, 1].min() > 0.25)
    assert run.steps == 300 and len(model.batches) == 3


class ScriptedModel(RecordingModel):
    """A model whose held-out MSE follows a script, one value per evaluation."""

    def __init__(self, scores):
        super().__init__()
        self.scores = iter(scores)

    def evaluate(self, x, y, verbose):
        return next(self.scores)


@pytest.mark.parametrize("scores, steps", [
    ([0.17, 0.16, 0.17, 0.17, 0.16], 300),  # never left the plateau: gives up at 300
    ([0.17, 0.05, 0.17, 0.17, 0.16], 500),  # left it once: trains the whole budget
    ([0.17, 0.16, 0.005, 0.17, 0.16], 300),  # solved at 300 (before giving up would apply)
])
def test_train_on_adding_gives_up_only_on_runs_that_never_left_the_plateau(scores, steps):
    run = train_on_adding(ScriptedModel(scores), 5, max_steps=500, batch_size=2,
                          stop_below=0.01, test_size=10, give_up_after=300)
    assert run.steps == steps


def test_train_on_adding_refuses_a_bad_give_up_step():
    with pytest.raises(ValueError, match="give_up_after must be an integer >= 1"):
        train_on_adding(ScriptedModel([]), 5, max_steps=500, give_up_after=0)


def test_same_arguments_same_data():
    a, b = RecordingModel(), RecordingModel()
    for model in (a, b):
        train_on_stream(model, lambda n, seed: tasks.adding_problem(n, 5, seed),
                        max_steps=300, batch_size=2, evaluate=lambda m: 0.0)
    assert a.batches == b.batches


def _small_lstm():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(8), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), loss="mse")
    return model


def test_learns_with_a_real_keras_model():
    model = _small_lstm()
    x_test, y_test = tasks.adding_problem(200, 5, seed=99)
    run = train_on_stream(model, lambda n, seed: tasks.adding_problem(n, 5, seed),
                          max_steps=300, batch_size=32,
                          evaluate=lambda m: m.evaluate(x_test, y_test, verbose=0))
    assert run.final < tasks.ADDING_BASELINE_MSE / 2  # T=5 is easy


def test_train_on_adding_scores_held_out_mse_and_stops_early():
    model = _small_lstm()
    run = train_on_adding(model, 5, max_steps=2000, batch_size=32, stop_below=0.05)
    assert run.final < 0.05 and run.steps < 2000
    x_test, y_test = tasks.adding_problem(1000, 5, seed=1_000_000)
    assert model.evaluate(x_test, y_test, verbose=0) == pytest.approx(run.final)


def test_train_on_adding_refuses_a_test_seed_that_is_trained_on():
    with pytest.raises(ValueError, match="seed of a training chunk"):
        train_on_adding(None, 5, max_steps=1500, test_seed=1000)


@pytest.mark.parametrize("kwargs", [dict(max_steps=0), dict(batch_size=0), dict(chunk=-1)])
def test_bad_arguments(kwargs):
    args = dict(max_steps=10, batch_size=2, chunk=5) | kwargs
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        train_on_stream(RecordingModel(), lambda n, s: (None, None), evaluate=lambda m: 0, **args)


# ----------------------------------------------------------------------------------------------
# Resumable training on a corpus (`training.train`) and where its checkpoints live

VOCAB = 30


def _tokens(batch=2, time=6, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, time)).astype("int32")


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
        training.train(model, data, data, epochs=4, run_dir=tmp_path, verbose=0,
                 extra_callbacks=[_StopAfter(1)])
    assert (tmp_path / "best.keras").exists() and (tmp_path / "backup").exists()
    assert len(training.read_history(tmp_path / "history.csv")["loss"]) == 2

    fresh = lm.compile_model(lm.build_model(VOCAB, 8, (16,), None))  # a new kernel, say
    run = training.train(fresh, data, data, epochs=4, run_dir=tmp_path, verbose=0)
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
        training.train(_model(seed), train, val, epochs, run_dir, verbose=0,
                 extra_callbacks=[_StopAfter(after_epoch)])


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    train, val = _windows()
    whole = training.train(_model(0), train, val, 4, tmp_path / "whole", verbose=0)
    _interrupted(tmp_path / "resumed", after_epoch=1)
    assert training.resume_epoch(tmp_path / "resumed" / "backup") == 2
    train, val = _windows()  # a new kernel: new datasets, a model with other initial weights
    resumed = training.train(_model(1), train, val, 4, tmp_path / "resumed", verbose=0)
    assert resumed.epochs_run == 2
    # shuffled windows and dropout, yet the same batches, masks and losses in every epoch
    np.testing.assert_allclose(resumed.history["loss"], whole.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(resumed.history["val_loss"], whole.history["val_loss"], rtol=1e-6)
    assert len(set(whole.history["loss"])) == 4  # the model did learn something each epoch


def test_a_worse_resumed_epoch_does_not_replace_the_best_model(tmp_path):
    _interrupted(tmp_path, after_epoch=1, epochs=3)
    before = training.read_history(tmp_path / "history.csv")["val_loss"]
    train, val = _windows()
    too_fast = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 5.0)  # after the restore
    run = training.train(_model(0), train, val, 3, tmp_path, verbose=0, extra_callbacks=[too_fast])
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
        training.train(_model(0, units=units), train, val, 4, tmp_path, verbose=0)
    assert (backup / "latest.weights.h5").exists()  # kept, not deleted
    run = training.train(_model(0), train, val, 4, tmp_path, verbose=0)  # the right model resumes
    assert run.epochs_run == 3 and run.history["epoch"] == [0, 1, 2, 3]


def test_resume_epoch_without_a_backup_is_zero(tmp_path):
    assert training.resume_epoch(tmp_path / "backup") == 0


def test_train_after_a_finished_run_starts_a_fresh_log(tmp_path):
    data = _data()
    model = lm.compile_model(lm.build_model(VOCAB, 8, (16,), None))
    training.train(model, data, data, epochs=2, run_dir=tmp_path, verbose=0)
    run = training.train(model, data, data, epochs=1, run_dir=tmp_path, verbose=0)
    assert run.history["epoch"] == [0]


def test_checkpoint_dir_is_the_environment_folder_or_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv(training.CHECKPOINT_ENV, str(tmp_path))
    path = training.checkpoint_dir("06", "cpu")
    assert path == tmp_path / "06" / "cpu" and path.is_dir()
    monkeypatch.delenv(training.CHECKPOINT_ENV)
    root = Path(training.__file__).resolve().parent.parent
    assert training.checkpoint_dir() == root / "checkpoints"


def test_checkpoints_go_to_drive_in_colab_only(monkeypatch):
    monkeypatch.delenv(training.CHECKPOINT_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert training.keep_checkpoints_on_drive() is False
    assert training.CHECKPOINT_ENV not in os.environ

    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert training.keep_checkpoints_on_drive() is True
    assert mounted == [training.DRIVE]
    assert os.environ[training.CHECKPOINT_ENV] == training.DRIVE_CHECKPOINTS
    monkeypatch.setenv(training.CHECKPOINT_ENV, "/somewhere/else")  # the learner's choice wins
    assert training.keep_checkpoints_on_drive() is False and mounted == [training.DRIVE]
