import numpy as np
import pytest

from utils import tasks
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
