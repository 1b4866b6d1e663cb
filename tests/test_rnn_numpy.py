import numpy as np
import pytest

from utils import rnn_numpy as rn


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_sigmoid_is_stable_and_correct():
    z = np.array([-1000.0, -2.0, 0.0, 3.0, 1000.0])
    with np.errstate(over="raise"):
        s = rn.sigmoid(z)
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.e**2), 0.5, 1 / (1 + np.e**-3), 1.0])


def test_rnn_forward_matches_the_equation(rng):
    p = rn.RNNParams.random(3, 4, rng)
    x = rng.normal(size=(2, 5, 3))
    h0 = rng.normal(size=(2, 4))
    hs, _ = rn.rnn_forward(x, h0, p)
    h = h0
    for t in range(5):
        h = np.tanh(x[:, t] @ p.W + h @ p.U + p.b)
        np.testing.assert_allclose(hs[:, t], h)


def test_spectral_radius_is_set(rng):
    p = rn.RNNParams.random(2, 30, rng, spectral_radius=1.3)
    assert np.max(np.abs(np.linalg.eigvals(p.U))) == pytest.approx(1.3)


def _loss_weights(rng, shape):
    return rng.normal(size=shape)


def test_rnn_backward_passes_a_gradient_check(rng):
    p = rn.RNNParams.random(3, 4, rng, spectral_radius=0.9)
    x = rng.normal(size=(2, 6, 3))
    h0 = rng.normal(size=(2, 4))
    v = _loss_weights(rng, (2, 6, 4))

    def loss():
        return float(np.sum(v * rn.rnn_forward(x, h0, p)[0]))

    grads = rn.rnn_backward(v, rn.rnn_forward(x, h0, p)[1])
    for name, array in [("W", p.W), ("U", p.U), ("b", p.b), ("x", x), ("h0", h0)]:
        assert rn.relative_error(grads[name], rn.numerical_gradient(loss, array)) < 1e-7, name


def test_rnn_backward_reports_the_gradient_at_every_step(rng):
    p = rn.RNNParams.random(2, 3, rng)
    x = rng.normal(size=(1, 4, 2))
    hs, cache = rn.rnn_forward(x, np.zeros((1, 3)), p)
    dhs = np.zeros_like(hs)
    dhs[:, -1] = 1.0  # loss = sum of the last state
    g = rn.rnn_backward(dhs, cache)
    np.testing.assert_allclose(g["dh"][:, -1], 1.0)
    # One step back: through tanh and U
    expected = (g["dh"][:, -1] * (1 - hs[:, -1] ** 2)) @ p.U.T
    np.testing.assert_allclose(g["dh"][:, -2], expected)


def test_lstm_step_equations_and_gate_order(rng):
    p = rn.LSTMParams.random(2, 3, rng)
    x, h, c = rng.normal(size=(1, 2)), rng.normal(size=(1, 3)), rng.normal(size=(1, 3))
    s = rn.lstm_step(x, h, c, p)
    z = x @ p.W + h @ p.U + p.b
    np.testing.assert_allclose(s["i"], rn.sigmoid(z[:, 0:3]))
    np.testing.assert_allclose(s["f"], rn.sigmoid(z[:, 3:6]))
    np.testing.assert_allclose(s["g"], np.tanh(z[:, 6:9]))
    np.testing.assert_allclose(s["o"], rn.sigmoid(z[:, 9:12]))
    np.testing.assert_allclose(s["c"], s["f"] * c + s["i"] * s["g"])
    np.testing.assert_allclose(s["h"], s["o"] * np.tanh(s["c"]))


def test_forget_bias_initialisation(rng):
    p = rn.LSTMParams.random(2, 5, rng, forget_bias=1.0)
    np.testing.assert_array_equal(p.b[5:10], 1.0)
    np.testing.assert_array_equal(np.delete(p.b, np.s_[5:10]), 0.0)


def test_lstm_backward_passes_a_gradient_check(rng):
    p = rn.LSTMParams.random(3, 4, rng)
    x = rng.normal(size=(2, 5, 3))
    h0, c0 = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    v = _loss_weights(rng, (2, 5, 4))

    def loss():
        return float(np.sum(v * rn.lstm_forward(x, h0, c0, p)[0]))

    grads = rn.lstm_backward(v, rn.lstm_forward(x, h0, c0, p)[1])
    for name, array in [("W", p.W), ("U", p.U), ("b", p.b), ("x", x), ("h0", h0), ("c0", c0)]:
        assert rn.relative_error(grads[name], rn.numerical_gradient(loss, array)) < 1e-7, name


def test_no_loss_no_gradient(rng):
    p = rn.LSTMParams.random(2, 3, rng)
    x = rng.normal(size=(1, 4, 2))
    hs, cache = rn.lstm_forward(x, np.zeros((1, 3)), np.zeros((1, 3)), p)
    g = rn.lstm_backward(np.zeros_like(hs), cache)
    assert np.all(g["W"] == 0) and np.all(g["c0"] == 0)


def test_gradient_of_the_final_cell_state(rng):
    p = rn.LSTMParams.random(2, 3, rng)
    x = rng.normal(size=(2, 5, 2))
    h0, c0 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    v = rng.normal(size=(2, 3))

    def loss():
        return float(np.sum(v * rn.lstm_forward(x, h0, c0, p)[1]["c"][:, -1]))

    hs, cache = rn.lstm_forward(x, h0, c0, p)
    g = rn.lstm_backward(np.zeros_like(hs), cache, dc_last=v)
    for name, array in [("c0", c0), ("U", p.U), ("x", x)]:
        assert rn.relative_error(g[name], rn.numerical_gradient(loss, array)) < 1e-7, name
    # With U = 0 the gates do not see h, so only the cell-state path connects c_0 and c_T:
    # dc_T/dc_0 is exactly the product of the forget gates.
    p.U[:] = 0
    hs, cache = rn.lstm_forward(x, h0, c0, p)
    g = rn.lstm_backward(np.zeros_like(hs), cache, dc_last=v)
    np.testing.assert_allclose(g["c0"], v * np.prod(cache["f"], axis=1))


def _frozen_gates_forward(x, c0, frozen_h, p):
    """The LSTM forward pass whose gates read a fixed sequence instead of the live h_{t-1}."""
    c, hs = c0, []
    for t in range(x.shape[1]):
        step = rn.lstm_step(x[:, t], frozen_h[:, t], c, p)
        c = step["c"]
        hs.append(step["h"])
    return np.stack(hs, axis=1), c


def test_cell_path_only_is_the_gradient_of_a_cell_whose_gates_read_a_frozen_h(rng):
    p = rn.LSTMParams.random(3, 4, rng)
    x = rng.normal(size=(2, 6, 3))
    h0, c0 = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    v, w = _loss_weights(rng, (2, 6, 4)), rng.normal(size=(2, 4))
    hs, cache = rn.lstm_forward(x, h0, c0, p)
    frozen_h = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)  # h_{t-1}, held constant

    def loss():
        hs_frozen, c_last = _frozen_gates_forward(x, c0, frozen_h, p)
        return float(np.sum(v * hs_frozen) + np.sum(w * c_last))

    np.testing.assert_allclose(_frozen_gates_forward(x, c0, frozen_h, p)[0], hs)  # same values
    cut = rn.lstm_backward(v, cache, dc_last=w, cell_path_only=True)
    for name, array in [("x", x), ("c0", c0), ("W", p.W), ("b", p.b)]:
        assert rn.relative_error(cut[name], rn.numerical_gradient(loss, array)) < 1e-7, name
    assert np.all(cut["h0"] == 0)
    full = rn.lstm_backward(v, cache, dc_last=w)
    assert rn.relative_error(cut["x"], full["x"]) > 1e-3  # the cut changes the gradient ...
    np.testing.assert_allclose(cut["x"][:, -1], full["x"][:, -1])  # ... except at the last step


def test_cell_path_only_gives_the_forget_gate_product_with_a_recurrent_kernel(rng):
    p = rn.LSTMParams.random(2, 3, rng)
    x = rng.normal(size=(2, 7, 2))
    h0, c0, v = (rng.normal(size=(2, 3)) for _ in range(3))
    hs, cache = rn.lstm_forward(x, h0, c0, p)
    cut = rn.lstm_backward(np.zeros_like(hs), cache, dc_last=v, cell_path_only=True)
    np.testing.assert_allclose(cut["c0"], v * np.prod(cache["f"], axis=1))
    full = rn.lstm_backward(np.zeros_like(hs), cache, dc_last=v)
    assert not np.allclose(full["c0"], cut["c0"])  # U != 0: the gates' paths add to it


def test_lstm_matches_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    layer = keras.layers.LSTM(4, return_sequences=True)
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    keras_out = np.asarray(layer(x))
    p = rn.LSTMParams.from_keras(layer)
    ours, _ = rn.lstm_forward(x, np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32"), p)
    assert np.max(np.abs(ours - keras_out)) < 1e-5
    layer.set_weights(rn.LSTMParams.random(3, 4, rng, dtype=np.float32).to_keras())


def test_bad_shapes_are_clear_errors(rng):
    p = rn.LSTMParams.random(3, 4, rng)
    with pytest.raises(ValueError, match=r"\(batch, time, 3\)"):
        rn.lstm_forward(np.zeros((5, 3)), np.zeros((1, 4)), np.zeros((1, 4)), p)
    with pytest.raises(ValueError, match="at least one time step"):
        rn.rnn_forward(np.zeros((1, 0, 3)), np.zeros((1, 4)), rn.RNNParams.random(3, 4, rng))


def test_gradient_check_needs_float64():
    with pytest.raises(TypeError, match="float64"):
        rn.numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_relative_error():
    assert rn.relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert rn.relative_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 1.1)
