"""Recurrent cells from scratch in NumPy: the vanilla (Elman) RNN and the LSTM, forward and BPTT.

Conventions follow Keras, so weights copy across unchanged: batch-major arrays (batch, time,
features), row vectors times matrices (``x_t @ W``), and the LSTM's four gates stacked along the
last axis in the order input, forget, candidate, output (i, f, c, o).

    RNN:   h_t = tanh(x_t W + h_{t-1} U + b)
    LSTM:  i, f, o = sigmoid(.),  g = tanh(.)   (each of x_t W + h_{t-1} U + b, one quarter)
           c_t = f * c_{t-1} + i * g
           h_t = o * tanh(c_t)
    Peephole LSTM (forward only): as the LSTM, but i and f also see c_{t-1} and o sees c_t,
           through element-wise weights P (notebook 05, utils.cells.PeepholeLSTMCell)

Each ``*_backward`` takes the gradient of a loss with respect to every hidden state ``h_t`` (zero
where the loss does not look) and returns the gradients of the weights, the inputs, the initial
state, and of the loss with respect to each state along the way (what notebooks 01 and 03 plot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large negative z."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _check_sequence(x: np.ndarray, n_inputs: int) -> None:
    if x.ndim != 3 or x.shape[-1] != n_inputs:
        raise ValueError(
            f"inputs must have shape (batch, time, {n_inputs}), got {x.shape}"
        )
    if x.shape[1] == 0:
        raise ValueError("inputs must have at least one time step")


# ----------------------------------------------------------------------------------------------
# Vanilla RNN


@dataclass
class RNNParams:
    W: np.ndarray  # input kernel (n_inputs, n_units)
    U: np.ndarray  # recurrent kernel (n_units, n_units)
    b: np.ndarray  # bias (n_units,)

    @classmethod
    def random(cls, n_inputs: int, n_units: int, rng: np.random.Generator,
               spectral_radius: float | None = None, dtype=np.float64) -> RNNParams:
        """Glorot-uniform input kernel, Gaussian recurrent kernel (optionally rescaled)."""
        limit = np.sqrt(6 / (n_inputs + n_units))
        W = rng.uniform(-limit, limit, (n_inputs, n_units))
        U = rng.normal(0, 1 / np.sqrt(n_units), (n_units, n_units))
        if spectral_radius is not None:
            U *= spectral_radius / np.max(np.abs(np.linalg.eigvals(U)))
        return cls(W.astype(dtype), U.astype(dtype), np.zeros(n_units, dtype))


def rnn_forward(x: np.ndarray, h0: np.ndarray, p: RNNParams) -> tuple[np.ndarray, dict]:
    """Hidden states (batch, time, units) for inputs (batch, time, inputs), and a cache for BPTT."""
    _check_sequence(x, p.W.shape[0])
    hs = np.empty(x.shape[:2] + (p.U.shape[0],), dtype=np.result_type(x, p.U))
    h = h0
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ p.W + h @ p.U + p.b)
        hs[:, t] = h
    return hs, {"x": x, "h0": h0, "hs": hs, "params": p}


def rnn_backward(dhs: np.ndarray, cache: dict) -> dict[str, np.ndarray]:
    """Backpropagation through time for `rnn_forward`.

    ``dhs[:, t]`` is dL/dh_t from the loss directly. Returns dL/dW, dU, db, dx, dh0 and ``dh``:
    the total dL/dh_t at every step (direct plus through all later steps).
    """
    x, hs, p = cache["x"], cache["hs"], cache["params"]
    h_prev_all = np.concatenate([cache["h0"][:, None], hs[:, :-1]], axis=1)
    grads = {"W": np.zeros_like(p.W), "U": np.zeros_like(p.U), "b": np.zeros_like(p.b),
             "x": np.zeros_like(x), "dh": np.zeros_like(hs)}
    carry = np.zeros_like(hs[:, 0])  # dL/dh_t arriving from step t + 1
    for t in reversed(range(x.shape[1])):
        dh = dhs[:, t] + carry
        grads["dh"][:, t] = dh
        da = dh * (1 - hs[:, t] ** 2)  # through tanh
        grads["W"] += x[:, t].T @ da
        grads["U"] += h_prev_all[:, t].T @ da
        grads["b"] += da.sum(axis=0)
        grads["x"][:, t] = da @ p.W.T
        carry = da @ p.U.T
    grads["h0"] = carry
    return grads


# ----------------------------------------------------------------------------------------------
# LSTM

GATES = ("input", "forget", "candidate", "output")  # Keras' order along the last axis: i, f, c, o


@dataclass
class LSTMParams:
    W: np.ndarray  # input kernel (n_inputs, 4 * n_units), gates i, f, c, o
    U: np.ndarray  # recurrent kernel (n_units, 4 * n_units)
    b: np.ndarray  # bias (4 * n_units,)

    @property
    def n_units(self) -> int:
        return self.U.shape[0]

    @classmethod
    def random(cls, n_inputs: int, n_units: int, rng: np.random.Generator,
               forget_bias: float = 1.0, scale: float = 1.0, dtype=np.float64) -> LSTMParams:
        """Random weights (uniform, Glorot-like scale), biases zero except the forget gate's."""
        limit = scale * np.sqrt(6 / (n_inputs + n_units))
        W = rng.uniform(-limit, limit, (n_inputs, 4 * n_units))
        U = rng.uniform(-limit, limit, (n_units, 4 * n_units))
        b = np.zeros(4 * n_units)
        b[n_units:2 * n_units] = forget_bias
        return cls(W.astype(dtype), U.astype(dtype), b.astype(dtype))

    @classmethod
    def from_keras(cls, layer) -> LSTMParams:
        """The weights of a built ``keras.layers.LSTM`` (kernel, recurrent kernel, bias)."""
        W, U, b = (np.asarray(w) for w in layer.get_weights())
        return cls(W, U, b)

    def to_keras(self) -> list[np.ndarray]:
        """Weights in the order ``keras.layers.LSTM.set_weights`` expects."""
        return [self.W, self.U, self.b]


def lstm_step(x_t: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray,
              p: LSTMParams) -> dict[str, np.ndarray]:
    """One LSTM step; returns every intermediate: pre-activations z, gates i, f, g, o, c and h."""
    n = p.n_units
    z = x_t @ p.W + h_prev @ p.U + p.b
    i = sigmoid(z[..., :n])
    f = sigmoid(z[..., n:2 * n])
    g = np.tanh(z[..., 2 * n:3 * n])
    o = sigmoid(z[..., 3 * n:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return {"z": z, "i": i, "f": f, "g": g, "o": o, "c": c, "h": h}


def lstm_forward(x: np.ndarray, h0: np.ndarray, c0: np.ndarray,
                 p: LSTMParams) -> tuple[np.ndarray, dict]:
    """Hidden states (batch, time, units) and a cache holding every gate at every step."""
    _check_sequence(x, p.W.shape[0])
    steps = []
    h, c = h0, c0
    for t in range(x.shape[1]):
        step = lstm_step(x[:, t], h, c, p)
        h, c = step["h"], step["c"]
        steps.append(step)
    stacked = {k: np.stack([s[k] for s in steps], axis=1) for k in ("i", "f", "g", "o", "c", "h")}
    return stacked["h"], {"x": x, "h0": h0, "c0": c0, "params": p, **stacked}


def lstm_backward(
    dhs: np.ndarray, cache: dict, dc_last: np.ndarray | None = None,
    cell_path_only: bool = False,
) -> dict[str, np.ndarray]:
    """BPTT for `lstm_forward`: dL/dW, dU, db, dx, dh0, dc0, and the totals dL/dh_t and dL/dc_t.

    ``dc_last`` is dL/dc_T when the loss also looks at the final cell state (notebook 03).
    ``cell_path_only=True`` cuts the recurrence through the gates: no gradient flows from the
    gates' pre-activations back into h_{t-1} (``dh0`` is then zero), so between steps the gradient
    travels only along the cell state, scaled by the forget gates. That is the gradient of a cell
    whose gates read a frozen copy of h_{t-1} (the truncation of the original LSTM, Hochreiter &
    Schmidhuber 1997); notebook 03 compares it with the full gradient.
    """
    x, p = cache["x"], cache["params"]
    i, f, g, o, cs, hs = (cache[k] for k in ("i", "f", "g", "o", "c", "h"))
    h_prev_all = np.concatenate([cache["h0"][:, None], hs[:, :-1]], axis=1)
    c_prev_all = np.concatenate([cache["c0"][:, None], cs[:, :-1]], axis=1)
    grads = {"W": np.zeros_like(p.W), "U": np.zeros_like(p.U), "b": np.zeros_like(p.b),
             "x": np.zeros_like(x), "dh": np.zeros_like(hs), "dc": np.zeros_like(cs)}
    dh_next = np.zeros_like(hs[:, 0])
    dc_next = np.zeros_like(cs[:, 0]) if dc_last is None else dc_last
    for t in reversed(range(x.shape[1])):
        dh = dhs[:, t] + dh_next
        tanh_c = np.tanh(cs[:, t])
        dc = dc_next + dh * o[:, t] * (1 - tanh_c**2)
        grads["dh"][:, t], grads["dc"][:, t] = dh, dc
        dz = np.concatenate(
            [
                dc * g[:, t] * i[:, t] * (1 - i[:, t]),  # input gate
                dc * c_prev_all[:, t] * f[:, t] * (1 - f[:, t]),  # forget gate
                dc * i[:, t] * (1 - g[:, t] ** 2),  # candidate
                dh * tanh_c * o[:, t] * (1 - o[:, t]),  # output gate
            ],
            axis=-1,
        )
        grads["W"] += x[:, t].T @ dz
        grads["U"] += h_prev_all[:, t].T @ dz
        grads["b"] += dz.sum(axis=0)
        grads["x"][:, t] = dz @ p.W.T
        dh_next = np.zeros_like(dh) if cell_path_only else dz @ p.U.T
        dc_next = dc * f[:, t]  # the cell state's additive path: only the forget gate scales it
    grads["h0"], grads["c0"] = dh_next, dc_next
    return grads


# ----------------------------------------------------------------------------------------------
# Peephole LSTM (Gers & Schmidhuber 2000): the reference for utils.cells.PeepholeLSTMCell

PEEPHOLE_GATES = ("input", "forget", "output")  # the rows of PeepholeLSTMParams.P


@dataclass
class PeepholeLSTMParams(LSTMParams):
    P: np.ndarray  # peephole weights (3, n_units): rows input, forget, output gate

    def __post_init__(self):
        if self.P.shape != (3, self.n_units):
            raise ValueError(f"P must have shape (3, n_units) = (3, {self.n_units}), "
                             f"got {self.P.shape}")

    @classmethod
    def random(cls, n_inputs: int, n_units: int, rng: np.random.Generator,
               peephole_scale: float = 0.5, **lstm_kwargs) -> PeepholeLSTMParams:
        """`LSTMParams.random` plus peepholes drawn uniformly from +-``peephole_scale``."""
        base = LSTMParams.random(n_inputs, n_units, rng, **lstm_kwargs)
        P = rng.uniform(-peephole_scale, peephole_scale, (3, n_units)).astype(base.W.dtype)
        return cls(base.W, base.U, base.b, P)

    @classmethod
    def from_keras(cls, layer) -> PeepholeLSTMParams:
        """The weights of a built ``PeepholeLSTMCell`` or of the ``keras.layers.RNN`` around it."""
        weights = [np.asarray(w) for w in layer.get_weights()]
        if len(weights) != 6:
            raise ValueError(f"expected 6 weights (kernel, recurrent kernel, bias, three "
                             f"peepholes), got {len(weights)}")
        W, U, b, *peepholes = weights
        return cls(W, U, b, np.stack(peepholes))

    def to_keras(self) -> list[np.ndarray]:
        """Weights in the order ``PeepholeLSTMCell.set_weights`` expects."""
        return [self.W, self.U, self.b, *self.P]


def peephole_lstm_step(x_t: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray,
                       p: PeepholeLSTMParams) -> dict[str, np.ndarray]:
    """One peephole LSTM step: i and f also see c_{t-1}, o sees c_t (element-wise weights P)."""
    n = p.n_units
    z = x_t @ p.W + h_prev @ p.U + p.b
    i = sigmoid(z[..., :n] + p.P[0] * c_prev)
    f = sigmoid(z[..., n:2 * n] + p.P[1] * c_prev)
    g = np.tanh(z[..., 2 * n:3 * n])
    c = f * c_prev + i * g
    o = sigmoid(z[..., 3 * n:] + p.P[2] * c)  # the output gate looks at the new cell state
    h = o * np.tanh(c)
    return {"z": z, "i": i, "f": f, "g": g, "o": o, "c": c, "h": h}


def peephole_lstm_forward(x: np.ndarray, h0: np.ndarray, c0: np.ndarray,
                          p: PeepholeLSTMParams) -> tuple[np.ndarray, dict]:
    """Hidden states (batch, time, units) and every gate at every step, as `lstm_forward`."""
    _check_sequence(x, p.W.shape[0])
    h, c, steps = h0, c0, []
    for x_t in np.moveaxis(x, 1, 0):
        steps.append(peephole_lstm_step(x_t, h, c, p))
        h, c = steps[-1]["h"], steps[-1]["c"]
    stacked = {k: np.stack([s[k] for s in steps], axis=1) for k in "ifgoch"}
    return stacked["h"], {"x": x, "h0": h0, "c0": c0, "params": p, **stacked}


# ----------------------------------------------------------------------------------------------
# Gradient checking


def numerical_gradient(
    loss: Callable[[], float], array: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Central differences of ``loss()`` for every entry of ``array`` (perturbed in place)."""
    if array.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays, got {array.dtype}")
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        plus = loss()
        array[index] = saved - eps
        minus = loss()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a|, |b|), the usual yardstick for a gradient check."""
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b)) / scale)
