import keras
import numpy as np
import pytest
import tensorflow as tf

from utils import rnn_numpy as rn
from utils.cells import PEEPHOLES, PeepholeLSTMCell, cudnn_lstm_blockers


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _peephole_rnn(units, n_inputs, params=None, **cell_kwargs):
    dtype = cell_kwargs.get("dtype")  # the layer too, or it casts the cell's outputs back
    layer = keras.layers.RNN(PeepholeLSTMCell(units, **cell_kwargs), return_sequences=True,
                             return_state=True, dtype=dtype)
    layer.build((None, None, n_inputs))
    if params is not None:
        layer.set_weights(params.to_keras())
    return layer


def test_weights_are_the_lstm_weights_plus_three_peepholes():
    layer = _peephole_rnn(5, 3)
    names = [w.name for w in layer.weights]
    assert names == ["kernel", "recurrent_kernel", "bias", *(f"{g}_peephole" for g in PEEPHOLES)]
    assert [tuple(w.shape) for w in layer.weights] == [(3, 20), (5, 20), (20,), (5,), (5,), (5,)]
    for peephole in layer.weights[3:]:
        np.testing.assert_array_equal(peephole, 0.0)  # zeros by default: starts as an LSTM


def test_zero_peepholes_equal_keras_lstm_cell_with_the_same_weights(rng):
    x = rng.normal(size=(3, 7, 4)).astype("float32")
    peephole = _peephole_rnn(6, 4)
    plain = keras.layers.RNN(keras.layers.LSTMCell(6), return_sequences=True, return_state=True)
    plain.build((None, None, 4))
    plain.set_weights(peephole.get_weights()[:3])
    for ours, theirs in zip(peephole(x), plain(x), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_random_peepholes_equal_the_numpy_reference(rng):
    params = rn.PeepholeLSTMParams.random(4, 6, rng, dtype=np.float32)
    x = rng.normal(size=(3, 9, 4)).astype("float32")
    h0, c0 = (rng.normal(size=(3, 6)).astype("float32") for _ in range(2))
    hs, h_last, c_last = _peephole_rnn(6, 4, params)(x, initial_state=[h0, c0])
    expected, cache = rn.peephole_lstm_forward(x, h0, c0, params)
    np.testing.assert_allclose(hs, expected, atol=1e-5)
    np.testing.assert_allclose(h_last, expected[:, -1], atol=1e-5)
    np.testing.assert_allclose(c_last, cache["c"][:, -1], atol=1e-5)


def test_gradients_reach_the_peepholes_and_match_finite_differences(rng):
    params = rn.PeepholeLSTMParams.random(2, 3, rng)  # float64 throughout
    x = rng.normal(size=(2, 5, 2))
    c0 = rng.normal(size=(2, 3))
    h0 = np.zeros((2, 3))
    loss_weights = rng.normal(size=(2, 5, 3))
    layer = _peephole_rnn(3, 2, params, dtype="float64")
    with tf.GradientTape() as tape:
        hs = layer(x, initial_state=[h0, c0])[0]
        loss = tf.reduce_sum(loss_weights * hs)
    peepholes = layer.weights[3:]
    grads = tape.gradient(loss, [w.value for w in peepholes])

    def numpy_loss():
        return float(np.sum(loss_weights * rn.peephole_lstm_forward(x, h0, c0, params)[0]))

    numerical = rn.numerical_gradient(numpy_loss, params.P)
    for row, (gate, grad) in enumerate(zip(PEEPHOLES, grads, strict=True)):
        assert np.max(np.abs(grad)) > 1e-3, f"no gradient reaches the {gate} peephole"
        assert rn.relative_error(np.asarray(grad), numerical[row]) < 1e-8, gate


def test_a_model_with_the_cell_saves_and_loads_as_keras_file(tmp_path, rng):
    model = keras.Sequential([
        keras.Input((None, 3)),
        keras.layers.RNN(PeepholeLSTMCell(4, peephole_initializer="random_normal")),
        keras.layers.Dense(1),
    ])
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    path = tmp_path / "peephole.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode=True: no arbitrary code runs
    assert isinstance(loaded.layers[0].cell, PeepholeLSTMCell)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_config_round_trip_keeps_every_argument():
    cell = PeepholeLSTMCell(7, peephole_initializer="ones", peephole_regularizer="l2",
                            peephole_constraint="non_neg", dropout=0.1, recurrent_dropout=0.2,
                            unit_forget_bias=False, activation="relu")
    clone = PeepholeLSTMCell.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
    assert clone.units == 7 and clone.recurrent_dropout == 0.2
    assert isinstance(clone.peephole_initializer, keras.initializers.Ones)
    assert isinstance(clone.peephole_constraint, keras.constraints.NonNeg)
    assert keras.saving.get_registered_name(PeepholeLSTMCell) == "lstm_course>PeepholeLSTMCell"


def test_same_seed_same_weights():
    def build():
        keras.utils.set_random_seed(3)
        return _peephole_rnn(4, 2, peephole_initializer="glorot_uniform").get_weights()

    for a, b in zip(build(), build(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_dropout_acts_only_in_training(rng):
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    layer = _peephole_rnn(5, 3, dropout=0.5, recurrent_dropout=0.5, seed=1)
    plain = _peephole_rnn(5, 3)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x)[0], plain(x)[0], atol=1e-6)
    trained = layer(x, training=True)[0]
    assert np.max(np.abs(trained - plain(x)[0])) > 1e-3


@pytest.mark.parametrize("units", [0, -3, 2.5, True, "8"])
def test_bad_units_raise(units):
    with pytest.raises(ValueError, match=r"units must be an integer >= 1"):
        PeepholeLSTMCell(units)


# ----------------------------------------------------------------------------------------------
# cudnn_lstm_blockers


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        (dict(use_cudnn=False), "use_cudnn=False"),
        (dict(activation="relu"), "activation is relu, not tanh"),
        (dict(activation=lambda z: keras.ops.tanh(z)), "activation is <lambda>, not tanh"),
        (dict(recurrent_activation="hard_sigmoid"), "recurrent_activation is hard_sigmoid"),
        (dict(recurrent_dropout=0.2), "recurrent_dropout=0.2, not 0"),
        (dict(unroll=True), "unroll=True"),
        (dict(use_bias=False), "use_bias=False"),
    ],
)
def test_each_blocker_is_named(kwargs, reason):
    blockers = cudnn_lstm_blockers(keras.layers.LSTM(4, **kwargs))
    assert len(blockers) == 1 and blockers[0].startswith(reason), blockers


def test_default_lstm_and_harmless_options_are_eligible():
    for kwargs in [{}, dict(dropout=0.3), dict(go_backwards=True), dict(return_sequences=True),
                   dict(activation=tf.tanh, recurrent_activation=keras.ops.sigmoid)]:
        assert cudnn_lstm_blockers(keras.layers.LSTM(4, **kwargs)) == [], kwargs


def test_blockers_agree_with_keras_own_rule():
    from keras.src.backend.tensorflow.rnn import _do_lstm_arguments_support_cudnn

    activations = ["tanh", "relu", "sigmoid", "hard_sigmoid", tf.tanh, lambda z: z]
    for activation in activations:
        for recurrent_activation in activations:
            for unroll in (False, True):
                for use_bias in (False, True):
                    layer = keras.layers.LSTM(2, activation=activation, unroll=unroll,
                                              recurrent_activation=recurrent_activation,
                                              use_bias=use_bias)
                    keras_says = _do_lstm_arguments_support_cudnn(
                        layer.cell.activation, layer.cell.recurrent_activation, unroll, use_bias
                    )
                    assert (cudnn_lstm_blockers(layer) == []) == keras_says


def test_a_cell_inside_rnn_is_never_fused():
    (reason,) = cudnn_lstm_blockers(keras.layers.RNN(keras.layers.LSTMCell(4)))
    assert reason.startswith("RNN is not keras.layers.LSTM")


def test_masks_must_be_right_padded_without_empty_sequences():
    layer = keras.layers.LSTM(4)
    right = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    left = np.array([[0, 1, 1, 1], [1, 1, 1, 1]], bool)
    holes = np.array([[1, 0, 1, 0], [1, 1, 1, 1]], bool)
    empty = np.array([[0, 0, 0, 0], [1, 1, 0, 0]], bool)
    assert cudnn_lstm_blockers(layer, mask=right) == []
    assert cudnn_lstm_blockers(layer, mask=left) == ["the mask is not right-padded"]
    assert cudnn_lstm_blockers(layer, mask=holes) == ["the mask is not right-padded"]
    assert cudnn_lstm_blockers(layer, mask=empty) == ["a sequence is fully masked"]
    with pytest.raises(ValueError, match=r"mask must be a boolean array \(batch, time\)"):
        cudnn_lstm_blockers(layer, mask=np.ones((2, 4)))


@pytest.mark.skipif(bool(tf.config.list_logical_devices("GPU")), reason="needs a CPU-only run")
def test_without_a_gpu_use_cudnn_true_raises():
    layer = keras.layers.LSTM(4, use_cudnn=True)
    assert cudnn_lstm_blockers(layer) == []  # eligible, but there is no GPU
    with pytest.raises(ValueError, match="use_cudnn=True was specified"):
        layer(np.zeros((1, 3, 2), "float32"))
