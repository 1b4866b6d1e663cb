import numpy as np
import pytest

from utils import rnn_numpy as rn


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_peephole_step_follows_the_equations(rng):
    p = rn.PeepholeLSTMParams.random(2, 3, rng)
    x, h, c = rng.normal(size=(4, 2)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    s = rn.peephole_lstm_step(x, h, c, p)
    z = x @ p.W + h @ p.U + p.b
    i = rn.sigmoid(z[:, 0:3] + p.P[0] * c)
    f = rn.sigmoid(z[:, 3:6] + p.P[1] * c)
    g = np.tanh(z[:, 6:9])
    c_new = f * c + i * g
    o = rn.sigmoid(z[:, 9:12] + p.P[2] * c_new)  # the output gate sees the new cell state
    for name, expected in [("i", i), ("f", f), ("g", g), ("c", c_new), ("o", o)]:
        np.testing.assert_allclose(s[name], expected, err_msg=name)
    np.testing.assert_allclose(s["h"], o * np.tanh(c_new))


def test_zero_peepholes_give_the_plain_lstm(rng):
    p = rn.PeepholeLSTMParams.random(3, 4, rng)
    p.P[:] = 0
    x = rng.normal(size=(2, 6, 3))
    h0, c0 = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    peephole_h, peephole_cache = rn.peephole_lstm_forward(x, h0, c0, p)
    plain_h, plain_cache = rn.lstm_forward(x, h0, c0, p)
    np.testing.assert_array_equal(peephole_h, plain_h)
    np.testing.assert_array_equal(peephole_cache["c"], plain_cache["c"])


def test_each_peephole_changes_the_output(rng):
    p = rn.PeepholeLSTMParams.random(3, 4, rng)
    x = rng.normal(size=(2, 5, 3))
    h0, c0 = np.zeros((2, 4)), rng.normal(size=(2, 4))
    reference, _ = rn.peephole_lstm_forward(x, h0, c0, p)
    for row, gate in enumerate(rn.PEEPHOLE_GATES):
        changed = rn.PeepholeLSTMParams(p.W, p.U, p.b, p.P.copy())
        changed.P[row] += 0.5
        hs, _ = rn.peephole_lstm_forward(x, h0, c0, changed)
        assert np.max(np.abs(hs - reference)) > 1e-3, gate


def test_forward_is_the_step_applied_in_a_loop(rng):
    p = rn.PeepholeLSTMParams.random(3, 4, rng)
    x = rng.normal(size=(2, 5, 3))
    h, c = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    hs, cache = rn.peephole_lstm_forward(x, h, c, p)
    assert hs.shape == (2, 5, 4) and cache["c"].shape == (2, 5, 4)
    for t in range(5):
        s = rn.peephole_lstm_step(x[:, t], h, c, p)
        h, c = s["h"], s["c"]
        np.testing.assert_array_equal(hs[:, t], h)
        np.testing.assert_array_equal(cache["o"][:, t], s["o"])


def test_random_is_deterministic_by_seed_and_keeps_the_lstm_options():
    a = rn.PeepholeLSTMParams.random(2, 3, np.random.default_rng(5), forget_bias=2.0)
    b = rn.PeepholeLSTMParams.random(2, 3, np.random.default_rng(5), forget_bias=2.0)
    for name in ("W", "U", "b", "P"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.b[3:6], 2.0)
    assert a.P.shape == (3, 3) and np.all(np.abs(a.P) <= 0.5)


def test_keras_weight_order_round_trips(rng):
    p = rn.PeepholeLSTMParams.random(2, 3, rng)
    weights = p.to_keras()
    assert [w.shape for w in weights] == [(2, 12), (3, 12), (12,), (3,), (3,), (3,)]

    class FakeLayer:
        def get_weights(self):
            return weights

    back = rn.PeepholeLSTMParams.from_keras(FakeLayer())
    for name in ("W", "U", "b", "P"):
        np.testing.assert_array_equal(getattr(back, name), getattr(p, name))


def test_bad_arguments_raise_clear_errors(rng):
    p = rn.LSTMParams.random(2, 3, rng)
    with pytest.raises(ValueError, match=r"P must have shape \(3, n_units\) = \(3, 3\)"):
        rn.PeepholeLSTMParams(p.W, p.U, p.b, np.zeros((3, 4)))

    class PlainLSTM:
        def get_weights(self):
            return p.to_keras()

    with pytest.raises(ValueError, match="expected 6 weights"):
        rn.PeepholeLSTMParams.from_keras(PlainLSTM())
    peephole = rn.PeepholeLSTMParams.random(2, 3, rng)
    with pytest.raises(ValueError, match=r"inputs must have shape \(batch, time, 2\)"):
        rn.peephole_lstm_forward(np.zeros((1, 4, 5)), np.zeros((1, 3)), np.zeros((1, 3)),
                                 peephole)
