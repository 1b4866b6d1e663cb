"""Self-checking exercises: the learner writes a function, a check says what is right and wrong.

Each ``check_*`` function runs the learner's function on several inputs (edge cases included)
against the course's own reference (`rnn_numpy`, `tasks`, `language_model`, `decoding`,
`dates`, `speed`, `forecasting`, Keras itself) and prints one short verdict:

- ``Correct: ...`` and what was checked;
- ``Not yet right: ...`` naming the kind of mistake when the answer equals a known wrong variant
  (a gate with the wrong activation, a forgotten forget gate, a leaking scaler, ...), otherwise
  the first input where it differs, expected against got (never the reference's code);
- ``Not attempted yet: ...`` while the scaffold still returns ``None`` (a body of ``...``) or
  raises ``NotImplementedError``; this is not a failure, so "Run All", nbval and the website
  build stay green with the scaffolds unfilled.

A check prints and returns ``None``, so a check cell shows the verdict and nothing else. Inputs
are drawn from fixed seeds: the same answer always gets the same verdict. Nothing here imports
TensorFlow until a check that needs it (the Keras and decoding references) runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import rnn_numpy as rn

NOT_ATTEMPTED = "Not attempted yet"
CORRECT = "Correct"
WRONG = "Not yet right"


@dataclass(frozen=True)
class Case:
    """One input of a check: a label the verdict can name, the arguments, and (optionally) the
    expected answer where it comes straight from the course's code rather than a reference
    function."""

    label: str
    args: tuple
    expected: object = None


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: a function computing it, and what to tell the learner."""

    message: str
    compute: Callable


class _NotAttempted(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# The engine shared by every check


def _as_numpy(value):
    """Tensors and nested tuples/lists as NumPy arrays (scalars stay scalars)."""
    if isinstance(value, (tuple, list)):
        return tuple(_as_numpy(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_numpy(v) for k, v in value.items()}
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    return value


def _difference(expected, got, rtol: float, atol: float, where: str = "") -> str | None:
    """None when ``got`` equals ``expected`` (arrays to a tolerance), else what differs first."""
    prefix = f"{where}: " if where else ""
    if _is_shape(expected):
        if not (isinstance(got, tuple) and tuple(got) == expected):
            return f"{prefix}expected {expected}, got {_show(got)}"
        return None
    if isinstance(expected, tuple):
        if not isinstance(got, tuple):
            return f"{prefix}expected {len(expected)} values, got one"
        if len(got) != len(expected):
            return f"{prefix}expected {len(expected)} values, got {len(got)}"
        for k, (e, g) in enumerate(zip(expected, got, strict=True)):
            found = _difference(e, g, rtol, atol, f"{where}[{k}]" if where else f"value {k}")
            if found:
                return found
        return None
    if isinstance(expected, np.ndarray):
        try:
            got_array = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            return f"{prefix}expected an array of shape {expected.shape}, got {_show(got)}"
        if got_array.shape != expected.shape:
            return f"{prefix}shape {expected.shape} expected, got {got_array.shape}"
        expected_float = expected.astype(np.float64)
        same_inf = np.array_equal(np.isneginf(expected_float), np.isneginf(got_array))
        finite = np.isfinite(expected_float)
        if not same_inf or not np.array_equal(finite, np.isfinite(got_array)):
            bad = np.argwhere(np.isfinite(expected_float) != np.isfinite(got_array))
            index = tuple(int(i) for i in bad[0]) if len(bad) else ()
            return (f"{prefix}at index {index} expected {expected_float[index]:.4g}, "
                    f"got {got_array[index]:.4g}")
        close = np.isclose(got_array[finite], expected_float[finite], rtol=rtol, atol=atol)
        if not close.all():
            index = tuple(int(i) for i in np.argwhere(finite)[np.argmin(close)])
            return (f"{prefix}at index {index} expected {expected_float[index]:.6g}, "
                    f"got {got_array[index]:.6g}")
        return None
    if isinstance(expected, (int, float, np.number)) and not isinstance(expected, bool):
        try:
            got_number = float(got)
        except (TypeError, ValueError):
            return f"{prefix}expected a number, got {_show(got)}"
        if not np.isclose(got_number, float(expected), rtol=rtol, atol=atol):
            return f"{prefix}expected {expected:.6g}, got {got_number:.6g}"
        return None
    if got != expected:
        return f"{prefix}expected {_show(expected)}, got {_show(got)}"
    return None


def _is_shape(value) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in value)


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _call(function, args):
    """The function's result on a private copy of the arguments (it may change them in place)."""
    result = function(*copy.deepcopy(args))
    if result is None or result is Ellipsis:
        raise _NotAttempted
    return _as_numpy(result)


def _check(name: str, learner, cases: Sequence[Case], reference: Callable,
           mistakes: Sequence[Mistake] = (), checked: str = "", rtol: float = 1e-6,
           atol: float = 1e-9) -> None:
    """Run the learner's function on every case and print the verdict."""
    if not callable(learner):
        raise TypeError(f"pass your function `{name}` itself (not a call or a value), "
                        f"got {type(learner).__name__}")
    got, errors = [], []
    for case in cases:
        try:
            got.append(_call(learner, case.args))
            errors.append(None)
        except (_NotAttempted, NotImplementedError):
            if not got:
                print(f"{NOT_ATTEMPTED}: fill in `{name}` above (its body is still `...`, or it "
                      f"returns nothing), run its cell, then this one.")
                return
            got.append(None)
            errors.append(f"returned None on {case.label}: did you forget `return`?")
        except Exception as error:  # the learner's code: any error is a verdict, not a crash
            got.append(None)
            errors.append(f"raised {type(error).__name__} on {case.label}: {error}")
    expected = [_as_numpy(case.expected if case.expected is not None
                          else reference(*copy.deepcopy(case.args))) for case in cases]
    differences = [
        err if err else _difference(e, g, rtol, atol)
        for e, g, err in zip(expected, got, errors, strict=True)
    ]
    if not any(differences):
        what = f" ({checked})" if checked else ""
        print(f"{CORRECT}: `{name}` agrees with the course's reference on {len(cases)} "
              f"inputs{what}.")
        return
    for mistake in mistakes:
        if _matches(mistake, cases, expected, got, rtol, atol):
            print(f"{WRONG}: {mistake.message}")
            return
    first = next(k for k, d in enumerate(differences) if d)
    detail = differences[first]
    if errors[first]:
        print(f"{WRONG}: your `{name}` {detail}")
    else:
        print(f"{WRONG}: on {cases[first].label}, {detail}.")


def _matches(mistake: Mistake, cases, expected, got, rtol, atol) -> bool:
    """True when the learner's results equal this wrong variant's on every case (where the
    variant fails, as on a window past the series' end, the learner's code failed too), and the
    variant differs from the reference somewhere (so the two can be told apart)."""
    differs = False
    for case, e, g in zip(cases, expected, got, strict=True):
        try:
            with np.errstate(all="ignore"):  # a wrong variant may divide by zero
                wrong = _as_numpy(mistake.compute(*copy.deepcopy(case.args)))
        except Exception:
            if g is None:
                differs = True
                continue
            return False
        if g is None or _difference(wrong, g, rtol, atol) is not None:
            return False
        differs = differs or _difference(e, wrong, rtol, atol) is not None
    return differs


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------------
# 01: one RNN step, and one step of backpropagation through time


def _rnn_cases(seed: int = 1) -> list[Case]:
    rng = _rng(seed)
    cases = []
    for label, batch, n_in, n_units, scale in (
        ("a batch of 1, 2 inputs, 3 units", 1, 2, 3, 1.0),
        ("a batch of 4, 3 inputs, 5 units", 4, 3, 5, 1.0),
        ("large pre-activations (tanh saturates)", 2, 2, 3, 4.0),
    ):
        p = rn.RNNParams.random(n_in, n_units, rng)
        b = rng.normal(0, 0.5, n_units)
        cases.append(Case(label, (scale * rng.normal(size=(batch, n_in)),
                                  rng.normal(0, 0.5, (batch, n_units)), p.W, scale * p.U, b)))
    return cases


def _rnn_step_reference(x_t, h_prev, W, U, b):
    hs, _ = rn.rnn_forward(x_t[:, None], h_prev, rn.RNNParams(W, U, b))
    return hs[:, 0]


def check_rnn_step(rnn_step: Callable) -> None:
    """Exercise of notebook 01: ``rnn_step(x_t, h_prev, W, U, b)`` returns h_t (batch, units)."""
    _check("rnn_step", rnn_step, _rnn_cases(), _rnn_step_reference, [
        Mistake("your step uses a sigmoid; the vanilla RNN of this notebook squashes with tanh, "
                "so h_t lies in (-1, 1), not (0, 1).",
                lambda x, h, W, U, b: rn.sigmoid(x @ W + h @ U + b)),
        Mistake("your step has no activation: h_t = tanh(x_t W + h_{t-1} U + b), the tanh is "
                "what keeps the state bounded.", lambda x, h, W, U, b: x @ W + h @ U + b),
        Mistake("you forgot the recurrent term h_{t-1} U: without it the RNN has no memory.",
                lambda x, h, W, U, b: np.tanh(x @ W + b)),
        Mistake("you forgot the bias b.", lambda x, h, W, U, b: np.tanh(x @ W + h @ U)),
        Mistake("you multiplied h_{t-1} by U transposed: with row vectors the step is "
                "h_{t-1} @ U (U maps the old state's units to the new state's).",
                lambda x, h, W, U, b: np.tanh(x @ W + h @ U.T + b)),
        Mistake("shape (batch, units) expected, got (units, batch): keep the batch first "
                "(row vectors times matrices, x_t @ W).",
                lambda x, h, W, U, b: np.tanh(x @ W + h @ U + b).T),
    ], checked="batches of 1 and 4, saturated tanh")


def _rnn_backward_cases() -> list[Case]:
    cases = []
    for k, case in enumerate(_rnn_cases(seed=2)):
        x_t, h_prev, W, U, b = case.args
        h = _rnn_step_reference(x_t, h_prev, W, U, b)
        dh = _rng(10 + k).normal(size=h.shape)
        cases.append(Case(case.label, (dh, h, h_prev, x_t, U)))
    return cases


def _rnn_step_backward_reference(dh, h, h_prev, x_t, U):
    # the course's BPTT on a one-step sequence; W and b do not enter the gradients asked for
    W = np.zeros((x_t.shape[1], U.shape[0]))
    cache = {"x": x_t[:, None], "h0": h_prev, "hs": h[:, None],
             "params": rn.RNNParams(W, U, np.zeros(U.shape[0]))}
    grads = rn.rnn_backward(dh[:, None], cache)
    return grads["W"], grads["U"], grads["b"], grads["h0"]


def check_rnn_step_backward(rnn_step_backward: Callable) -> None:
    """Exercise of notebook 01: ``rnn_step_backward(dh, h, h_prev, x_t, U)`` returns
    ``(dW, dU, db, dh_prev)`` for one step of BPTT (``dh`` is the total dL/dh_t)."""

    def wrong(da_of, dh_prev_of=lambda da, U: da @ U.T, db_of=lambda da: da.sum(axis=0),
              dW_of=lambda x, da: x.T @ da):
        def compute(dh, h, h_prev, x_t, U):
            da = da_of(dh, h, h_prev)
            return dW_of(x_t, da), h_prev.T @ da, db_of(da), dh_prev_of(da, U)
        return compute

    through_tanh = lambda dh, h, h_prev: dh * (1 - h**2)  # noqa: E731
    _check("rnn_step_backward", rnn_step_backward, _rnn_backward_cases(),
           _rnn_step_backward_reference, [
               Mistake("you skipped the tanh's derivative: the gradient reaching the "
                       "pre-activation is dh * (1 - h_t**2).", wrong(lambda dh, h, hp: dh)),
               Mistake("you took the tanh's derivative at h_{t-1}; it belongs to this step's "
                       "output: 1 - h_t**2.", wrong(lambda dh, h, hp: dh * (1 - hp**2))),
               Mistake("you used 1 - h_t as the tanh's derivative; it is 1 - h_t**2.",
                       wrong(lambda dh, h, hp: dh * (1 - h))),
               Mistake("you used a sigmoid's derivative h (1 - h); the tanh's is 1 - h**2.",
                       wrong(lambda dh, h, hp: dh * h * (1 - h))),
               Mistake("dh_prev must go back through U transposed: da @ U.T (the forward "
                       "step multiplied h_{t-1} @ U).",
                       wrong(through_tanh, dh_prev_of=lambda da, U: da @ U)),
               Mistake("db must be summed over the batch: shape (units,), like b.",
                       wrong(through_tanh, db_of=lambda da: da)),
               Mistake("dW has W's shape (inputs, units): x_t.T @ da, not da.T @ x_t.",
                       wrong(through_tanh, dW_of=lambda x, da: da.T @ x)),
           ], checked="dW, dU, db and dh_prev, batches of 1 and 4, saturated tanh")


# ----------------------------------------------------------------------------------------------
# 02: one LSTM step


def _lstm_cases(seed: int = 3) -> list[Case]:
    rng = _rng(seed)
    cases = []
    for label, batch, n_in, n_units, scale in (
        ("a batch of 1, 2 inputs, 3 units", 1, 2, 3, 1.0),
        ("a batch of 4, 3 inputs, 5 units", 4, 3, 5, 1.0),
        ("large pre-activations (gates near 0 or 1)", 2, 2, 3, 4.0),
    ):
        p = rn.LSTMParams.random(n_in, n_units, rng)
        b = p.b + rng.normal(0, 0.5, p.b.shape)
        cases.append(Case(label, (scale * rng.normal(size=(batch, n_in)),
                                  rng.normal(0, 0.5, (batch, n_units)),
                                  rng.normal(0, 1.0, (batch, n_units)), p.W, scale * p.U, b)))
    return cases


def _lstm_step_reference(x_t, h_prev, c_prev, W, U, b):
    step = rn.lstm_step(x_t, h_prev, c_prev, rn.LSTMParams(W, U, b))
    return step["h"], step["c"]


def _lstm_variant(order="ifco", forget=rn.sigmoid, candidate=np.tanh, input_gate=rn.sigmoid,
                  cell=lambda f, c_prev, i, g: f * c_prev + i * g,
                  out=lambda o, c: o * np.tanh(c)):
    def compute(x_t, h_prev, c_prev, W, U, b):
        n = U.shape[0]
        z = x_t @ W + h_prev @ U + b
        quarter = {name: z[..., k * n:(k + 1) * n] for k, name in enumerate(order)}
        i, f = input_gate(quarter["i"]), forget(quarter["f"])
        g, o = candidate(quarter["c"]), rn.sigmoid(quarter["o"])
        c = cell(f, c_prev, i, g)
        return out(o, c), c
    return compute


def check_lstm_step(lstm_step: Callable) -> None:
    """Exercise of notebook 02: ``lstm_step(x_t, h_prev, c_prev, W, U, b)`` returns ``(h, c)``,
    with Keras' layout (gates stacked i, f, c, o along the last axis)."""
    _check("lstm_step", lstm_step, _lstm_cases(), _lstm_step_reference, [
        Mistake("your forget gate uses tanh; a gate must be a sigmoid (a fraction in (0, 1) "
                "that multiplies).", _lstm_variant(forget=np.tanh)),
        Mistake("your input gate uses tanh; a gate must be a sigmoid.",
                _lstm_variant(input_gate=np.tanh)),
        Mistake("your candidate uses a sigmoid; the candidate g is a tanh (it writes values in "
                "(-1, 1), a gate decides how much).", _lstm_variant(candidate=rn.sigmoid)),
        Mistake("you forgot the forget gate on c_{t-1}: c_t = f * c_{t-1} + i * g.",
                _lstm_variant(cell=lambda f, c_prev, i, g: c_prev + i * g)),
        Mistake("you forgot the input gate on the candidate: c_t = f * c_{t-1} + i * g.",
                _lstm_variant(cell=lambda f, c_prev, i, g: f * c_prev + g)),
        Mistake("h_t = o * tanh(c_t): you left out the tanh of the cell state.",
                _lstm_variant(out=lambda o, c: o * c)),
        Mistake("the Keras gate order is i, f, c, o (c: the candidate g); yours looks like "
                "i, f, o, c.",
                _lstm_variant(order="ifoc")),
        Mistake("the Keras gate order is i, f, c, o (c: the candidate g); yours looks like "
                "i, c, f, o.",
                _lstm_variant(order="icfo")),
        Mistake("the Keras gate order is i, f, c, o (c: the candidate g); yours looks like "
                "f, i, c, o.",
                _lstm_variant(order="fico")),
        Mistake("you return (c, h); the order asked for is (h, c).",
                lambda *args: _lstm_step_reference(*args)[::-1]),
        Mistake("shape (batch, units) expected, got (units, batch): keep the batch first.",
                lambda *args: tuple(a.T for a in _lstm_step_reference(*args))),
    ], checked="h and c, batches of 1 and 4, gates near 0 and 1")


# ----------------------------------------------------------------------------------------------
# 03: the cell state's gradient, through the forget gates


def _lstm_run(seed: int, batch: int, time: int, n_units: int, forget_bias: float,
              with_losses: bool):
    rng = _rng(seed)
    p = rn.LSTMParams.random(2, n_units, rng, forget_bias=forget_bias)
    x = rng.normal(size=(batch, time, 2))
    zeros = np.zeros((batch, n_units))
    _, cache = rn.lstm_forward(x, zeros, zeros, p)
    dhs = rng.normal(size=(batch, time, n_units)) if with_losses else np.zeros((batch, time,
                                                                               n_units))
    return cache, dhs, rng


def _cell_path_cases() -> list[Case]:
    cases = []
    for label, seed, batch, time, units, bias in (
        ("one sequence of 1 step", 20, 1, 1, 2, 1.0),
        ("2 sequences of 6 steps, forget bias 1", 21, 2, 6, 3, 1.0),
        ("3 sequences of 12 steps, forget bias 3", 22, 3, 12, 4, 3.0),
    ):
        cache, _, _ = _lstm_run(seed, batch, time, units, bias, with_losses=False)
        cases.append(Case(label, (cache["f"],)))
    return cases


def _cell_path_reference(forget_gates):
    """dL/dc_t for L = sum(c_T), along the cell state only: `lstm_backward` with the
    recurrence through the gates cut and no loss on h."""
    batch, time, units = forget_gates.shape
    ones, zeros = np.ones((batch, time, units)), np.zeros((batch, units))
    cache = {"x": np.zeros((batch, time, 1)), "h0": zeros, "c0": zeros,
             "params": rn.LSTMParams(np.zeros((1, 4 * units)), np.zeros((units, 4 * units)),
                                     np.zeros(4 * units)),
             "i": ones, "f": forget_gates, "g": ones, "o": ones, "c": ones, "h": ones}
    return rn.lstm_backward(np.zeros_like(ones), cache, dc_last=np.ones((batch, units)),
                            cell_path_only=True)["dc"]


def _reversed_cumprod(f, axis=1):
    return np.flip(np.cumprod(np.flip(f, axis), axis), axis)


def check_cell_path_gradient(cell_path_gradient: Callable) -> None:
    """Exercise of notebook 03: ``cell_path_gradient(forget_gates)`` takes the forget gates
    f_t (batch, time, units) of a run and returns dL/dc_t (batch, time, units) for the loss
    L = sum(c_T), along the cell state's path only."""
    def shifted(f):
        return np.concatenate([_reversed_cumprod(f)[:, 1:], np.ones_like(f[:, :1])], axis=1)

    _check("cell_path_gradient", cell_path_gradient, _cell_path_cases(), _cell_path_reference, [
        Mistake("off by one: you multiplied f_t into the gradient of c_t; c_t is scaled by the "
                "forget gates of the later steps only, f_{t+1} ... f_T (at t = T: 1).",
                _reversed_cumprod),
        Mistake("you multiplied the forget gates from the start (f_1 ... f_t); the gradient "
                "flows back from c_T, through f_T, f_{T-1}, ...",
                lambda f: np.cumprod(f, axis=1)),
        Mistake("you added the forget gates; along the cell state they multiply "
                "(dc_{t-1} = dc_t * f_t).",
                lambda f: np.concatenate([np.flip(np.cumsum(np.flip(f[:, 1:], 1), 1), 1),
                                          np.ones_like(f[:, :1])], axis=1)),
        Mistake("the time axis is reversed: dL/dc_t for t = T (the last step) must be 1.",
                lambda f: np.flip(shifted(f), 1)),
    ], checked="1 to 12 steps, forget biases 1 and 3")


def _cell_state_cases() -> list[Case]:
    cases = []
    for label, seed, batch, time, units, t in (
        ("a batch of 1, 3 units", 30, 1, 4, 3, 1),
        ("a batch of 3, 4 units", 31, 3, 6, 4, 2),
        ("a saturated cell state", 32, 2, 5, 3, 3),
    ):
        cache, dhs, rng = _lstm_run(seed, batch, time, units, 1.0, with_losses=True)
        if "saturated" in label:
            cache["c"] = cache["c"] * 4
        grads = rn.lstm_backward(dhs, cache, dc_last=rng.normal(size=(batch, units)))
        cases.append(Case(label, (grads["dc"][:, t + 1], cache["f"][:, t + 1],
                                  grads["dh"][:, t], cache["o"][:, t], cache["c"][:, t])))
    return cases


def _cell_state_reference(dc_next, f_next, dh, o, c):
    """`lstm_backward`'s dc at one step, from what it receives there."""
    batch, units = dc_next.shape
    ones = np.ones((batch, 2, units))
    cache = {"x": np.zeros((batch, 2, 1)), "h0": np.zeros((batch, units)),
             "c0": np.zeros((batch, units)),
             "params": rn.LSTMParams(np.zeros((1, 4 * units)), np.zeros((units, 4 * units)),
                                     np.zeros(4 * units)),
             "i": ones, "g": ones, "f": np.stack([ones[:, 0], f_next], 1),
             "o": np.stack([o, ones[:, 1]], 1), "c": np.stack([c, ones[:, 1]], 1), "h": ones}
    # step 1 receives no loss; its dc is dc_next, passed back through f_next to step 0
    dhs = np.stack([dh, np.zeros_like(dh)], 1)
    return rn.lstm_backward(dhs, cache, dc_last=dc_next, cell_path_only=True)["dc"][:, 0]


def check_cell_state_gradient(cell_state_gradient: Callable) -> None:
    """Exercise of notebook 03: ``cell_state_gradient(dc_next, f_next, dh, o, c)`` returns the
    total dL/dc_t (batch, units): what comes back from c_{t+1} plus what comes from h_t."""
    _check("cell_state_gradient", cell_state_gradient, _cell_state_cases(),
           _cell_state_reference, [
               Mistake("you forgot the forget gate on dc_{t+1}: what comes back along the cell "
                       "state is dc_{t+1} * f_{t+1}.",
                       lambda dcn, fn, dh, o, c: dcn + dh * o * (1 - np.tanh(c) ** 2)),
               Mistake("you left out the path through h_t = o * tanh(c_t): "
                       "add dh * o * (1 - tanh(c_t)**2).",
                       lambda dcn, fn, dh, o, c: dcn * fn),
               Mistake("the tanh's derivative is missing: h_t = o * tanh(c_t) gives "
                       "dh * o * (1 - tanh(c_t)**2).",
                       lambda dcn, fn, dh, o, c: dcn * fn + dh * o),
               Mistake("you used tanh(c_t) where its derivative 1 - tanh(c_t)**2 belongs.",
                       lambda dcn, fn, dh, o, c: dcn * fn + dh * o * np.tanh(c)),
               Mistake("the forget gate scales only what comes back from c_{t+1}, not the "
                       "term from h_t.",
                       lambda dcn, fn, dh, o, c: (dcn + dh * o * (1 - np.tanh(c) ** 2)) * fn),
           ], checked="batches of 1 and 3, a saturated cell state")


# ----------------------------------------------------------------------------------------------
# 04: the adding problem's and the copy task's batches


def _adding_cases() -> list[Case]:
    from .tasks import adding_problem

    cases = []
    for label, n, length, seed in (("2 sequences of 4 steps", 2, 4, 0),
                                   ("5 sequences of 10 steps", 5, 10, 1),
                                   ("3 sequences of 2 steps (the shortest)", 3, 2, 2)):
        x, y = adding_problem(n, length, seed)  # the course's generator gives the answer
        marks = [np.flatnonzero(row) for row in x[..., 1]]
        cases.append(Case(label, (x[..., 0].copy(), np.array([m[0] for m in marks]),
                                  np.array([m[1] for m in marks])), expected=(x, y)))
    return cases


def _adding_arrays(values, first, second):
    """The adding problem's arrays built from values and marks (for the wrong variants)."""
    x = np.stack([values, np.zeros_like(values)], axis=-1)
    rows = np.arange(len(values))
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    return x, (values[rows, first] + values[rows, second])[:, None]


def check_adding_batch(adding_batch: Callable) -> None:
    """Exercise of notebook 04: ``adding_batch(values, first, second)`` returns the inputs
    (n, T, 2) and targets (n, 1) of the adding problem, as `utils.tasks.adding_problem` does."""
    def variant(x_of=None, y_of=None):
        def compute(values, first, second):
            x, y = _adding_arrays(values, first, second)
            return (x_of(x) if x_of else x), (y_of(x, y) if y_of else y)
        return compute

    _check("adding_batch", adding_batch, _adding_cases(), _adding_arrays, [
        Mistake("targets must have shape (n, 1), one column as Dense(1) predicts; yours are (n,).",
                variant(y_of=lambda x, y: y[:, 0])),
        Mistake("the channels are swapped: channel 0 holds the values, channel 1 the marks.",
                variant(x_of=lambda x: x[..., ::-1])),
        Mistake("inputs must be (batch, time, features) = (n, T, 2); yours are (n, 2, T).",
                variant(x_of=lambda x: np.swapaxes(x, 1, 2))),
        Mistake("your target adds up every value; only the two marked ones count.",
                variant(y_of=lambda x, y: x[..., 0].sum(axis=1, keepdims=True))),
        Mistake("your target is the mean of the two marked values; the task asks for the sum.",
                variant(y_of=lambda x, y: y / 2)),
    ], checked="inputs and targets, 2 to 10 steps", rtol=1e-6, atol=1e-6)


def _copy_cases() -> list[Case]:
    from .tasks import copy_task

    cases = []
    for label, n, delay, seed, n_symbols, n_copy in (
        ("2 sequences, delay 3, 4 symbols to copy", 2, 3, 0, 8, 4),
        ("3 sequences, delay 1 (the marker right after the symbols)", 3, 1, 1, 5, 3),
        ("1 sequence, delay 10, 10 symbols", 1, 10, 2, 8, 10),
    ):
        x, y = copy_task(n, delay, seed, n_symbols=n_symbols, n_copy=n_copy)
        cases.append(Case(label, (x[:, :n_copy].copy(), delay, n_symbols), expected=(x, y)))
    return cases


def _copy_arrays(symbols, delay, n_symbols):
    """The copy task's arrays built from the symbols (for the wrong variants)."""
    n, n_copy = symbols.shape
    x = np.zeros((n, 2 * n_copy + delay), np.int32)
    y = np.zeros_like(x)
    x[:, :n_copy] = symbols
    x[:, n_copy + delay - 1] = n_symbols + 1
    y[:, -n_copy:] = symbols
    return x, y


def check_copy_batch(copy_batch: Callable) -> None:
    """Exercise of notebook 04: ``copy_batch(symbols, delay, n_symbols)`` returns the copy task's
    inputs and targets (n, n_copy + delay + n_copy), as `utils.tasks.copy_task` does."""
    def variant(change):
        def compute(symbols, delay, n_symbols):
            x, y = _copy_arrays(symbols, delay, n_symbols)
            return change(x.copy(), y.copy(), symbols.shape[1], delay, n_symbols)
        return compute

    def late_marker(x, y, n_copy, delay, n_symbols):
        x[:, n_copy + delay - 1] = 0
        x[:, n_copy + delay] = n_symbols + 1
        return x, y

    def answer_in_input(x, y, n_copy, delay, n_symbols):
        x[:, -n_copy:] = y[:, -n_copy:]
        return x, y

    def target_at_start(x, y, n_copy, delay, n_symbols):
        y[:, :n_copy] = x[:, :n_copy]
        return x, y

    def marker_id(value):
        def change(x, y, n_copy, delay, n_symbols):
            x[x == n_symbols + 1] = value(n_symbols)
            return x, y
        return change

    _check("copy_batch", copy_batch, _copy_cases(), _copy_arrays, [
        Mistake("the marker comes one step late: it sits at index n_copy + delay - 1, so that "
                "the answer starts right after it.", variant(late_marker)),
        Mistake("your inputs show the symbols again in the recall span: the input must not "
                "contain the answer (blanks there).", variant(answer_in_input)),
        Mistake("your targets ask for the symbols at the start too: the target is blank except "
                "in the last n_copy steps.", variant(target_at_start)),
        Mistake("the marker must be n_symbols + 1, a token no data symbol uses; yours is "
                "n_symbols.", variant(marker_id(lambda n: n))),
        Mistake("the marker must be n_symbols + 1; 0 is the blank.",
                variant(marker_id(lambda n: 0))),
    ], checked="delays 1 to 10, 3 to 10 symbols")


# ----------------------------------------------------------------------------------------------
# 05: what an LSTM layer returns


def _lstm_shape_cases() -> list[Case]:
    return [
        Case(f"batch {b}, {t} steps, {u} units, return_sequences={s}, return_state={r}",
             (b, t, u, s, r))
        for b, t, u, s, r in ((2, 5, 3, False, False), (2, 5, 3, True, False),
                              (4, 7, 6, False, True), (1, 3, 2, True, True))
    ]


def _lstm_shapes_reference(batch, time, units, return_sequences, return_state):
    """What ``keras.layers.LSTM`` returns, by calling one on zeros."""
    import keras

    layer = keras.layers.LSTM(units, return_sequences=return_sequences,
                              return_state=return_state)
    out = layer(np.zeros((batch, time, 3), np.float32))
    outs = out if isinstance(out, (list, tuple)) else [out]
    return tuple(tuple(int(d) for d in o.shape) for o in outs)


def check_lstm_output_shapes(lstm_output_shapes: Callable) -> None:
    """Exercise of notebook 05: ``lstm_output_shapes(batch, time, units, return_sequences,
    return_state)`` returns the list of shapes (tuples) that ``keras.layers.LSTM`` returns."""

    def learner(*args):
        result = lstm_output_shapes(*args)
        if isinstance(result, tuple) and result and all(isinstance(d, int) for d in result):
            result = [result]  # one shape, not wrapped in a list: accepted
        return None if result is None else tuple(tuple(s) for s in result)

    def variant(output, states):
        def compute(b, t, u, s, r):
            return (output(b, t, u, s),) + (states(b, t, u, s) if r else ())
        return compute

    last = lambda b, t, u, s: (b, t, u) if s else (b, u)  # noqa: E731
    _check("lstm_output_shapes", learner, _lstm_shape_cases(), _lstm_shapes_reference, [
        Mistake("shape (batch, units) expected, got (units, batch): the batch comes first.",
                variant(lambda b, t, u, s: (b, t, u) if s else (u, b),
                        lambda b, t, u, s: ((u, b), (u, b)))),
        Mistake("the states are the last step's only: h and c are (batch, units) even with "
                "return_sequences=True.",
                variant(last, lambda b, t, u, s: (last(b, t, u, s),) * 2)),
        Mistake("an LSTM returns two states, h and c (a GRU or SimpleRNN returns one).",
                variant(last, lambda b, t, u, s: ((b, u),))),
        Mistake("without return_sequences the output is the last step only: (batch, units).",
                variant(lambda b, t, u, s: (b, t, u), lambda b, t, u, s: ((b, u), (b, u)))),
    ], checked="every combination of return_sequences and return_state")


# ----------------------------------------------------------------------------------------------
# 06: perplexity and bits per character


def _perplexity_cases() -> list[Case]:
    rng = _rng(60)
    return [
        Case("one token", (np.log(np.array([0.25])),)),
        Case("five tokens of different probability", (np.log(rng.uniform(0.05, 0.9, 5)),)),
        Case("a certain model (every log-probability 0)", (np.zeros(4),)),
        Case("1,000 tokens of a 700-token vocabulary", (np.log(rng.dirichlet(np.ones(700),
                                                                            1000)[:, 3]),)),
    ]


def check_perplexity_from_log_probs(perplexity_from_log_probs: Callable) -> None:
    """Exercise of notebook 06: ``perplexity_from_log_probs(log_probs)``, from the natural-log
    probabilities the model gave the true next tokens, as `utils.language_model.perplexity_of`."""
    from .language_model import perplexity_of

    _check("perplexity_from_log_probs", perplexity_from_log_probs, _perplexity_cases(),
           perplexity_of, [
        Mistake("the sign is wrong: perplexity = exp(-mean log p), at least 1.",
                lambda lp: np.exp(lp.mean())),
        Mistake("you summed the log-probabilities; perplexity uses their mean "
                "(it is per token).", lambda lp: np.exp(-lp.sum())),
        Mistake("you averaged the per-token perplexities 1/p; perplexity is exp of the mean "
                "loss (a geometric mean of 1/p, not an arithmetic one).",
                lambda lp: np.mean(np.exp(-lp))),
        Mistake("the log-probabilities are natural logs: exp(-mean), not 2 ** (-mean).",
                lambda lp: 2.0 ** (-lp.mean())),
        Mistake("you returned the mean loss (the cross-entropy); perplexity is its exp.",
                lambda lp: -lp.mean()),
    ], checked="1 to 1,000 tokens, a certain model")


def _bpc_cases() -> list[Case]:
    return [Case("perplexity 1 (a certain model)", (1.0, 2)),
            Case("perplexity 8 per character", (8.0, 1)),
            Case("perplexity 20 per bigram", (20.0, 2)),
            Case("perplexity 300 per token of 3.5 characters", (300.0, 3.5))]


def check_bits_per_character(bits_per_character: Callable) -> None:
    """Exercise of notebook 06: ``bits_per_character(perplexity, characters_per_token)`` as
    `utils.language_model.bits_per_character`."""
    from . import language_model

    _check("bits_per_character", bits_per_character, _bpc_cases(),
           language_model.bits_per_character, [
               Mistake("bits come from log base 2: log2(perplexity) / characters per token; "
                       "you used the natural log.", lambda ppl, cpt: np.log(ppl) / cpt),
               Mistake("a token of several characters spreads its bits over them: divide by "
                       "the characters per token, do not multiply.",
                       lambda ppl, cpt: np.log2(ppl) * cpt),
               Mistake("divide the bits, not the perplexity: log2(perplexity) / characters.",
                       lambda ppl, cpt: np.log2(ppl / cpt)),
               Mistake("you forgot to divide by the characters per token: that is bits per "
                       "token.", lambda ppl, cpt: np.log2(ppl)),
           ], checked="1 to 3.5 characters per token, a certain model")


# ----------------------------------------------------------------------------------------------
# 07: top-p filtering and one step of beam search


def _top_p_cases() -> list[Case]:
    rng = _rng(70)

    def logp(probs):
        probs = np.asarray(probs, np.float64)
        return np.log(probs / probs.sum(axis=-1, keepdims=True)).astype(np.float32)

    return [
        Case("p = 0.6 on [0.5, 0.3, 0.15, 0.05]", (logp([0.5, 0.3, 0.15, 0.05]), 0.6)),
        Case("p = 0.5 where one token has 0.7", (logp([0.1, 0.7, 0.15, 0.05]), 0.5)),
        Case("p = 1.0 (keeps everything)", (logp([0.4, 0.3, 0.2, 0.1]), 1.0)),
        Case("3 rows of 8 tokens, p = 0.9", (logp(rng.dirichlet(np.ones(8) * 0.7, 3)), 0.9)),
    ]


def _top_p_reference(log_probs, p):
    from .decoding import top_p_filter

    return np.asarray(top_p_filter(log_probs, p))


def check_top_p_filter(top_p_filter: Callable) -> None:
    """Exercise of notebook 07: ``top_p_filter(log_probs, p)`` on a NumPy array [..., vocab] of
    log-probabilities, as `utils.decoding.top_p_filter`: the nucleus kept and renormalised,
    -inf elsewhere."""

    def variant(keep_rule, renormalise=True, fill=-np.inf, probabilities=False,
                ascending=False):
        def compute(log_probs, p):
            lp = np.asarray(log_probs, np.float64)
            order = np.argsort(lp if ascending else -lp, axis=-1, kind="stable")
            ranked = np.exp(np.take_along_axis(lp, order, -1))
            keep_ranked = keep_rule(ranked, p)
            keep = np.zeros_like(keep_ranked)
            np.put_along_axis(keep, order, keep_ranked, -1)
            kept = np.where(keep, lp, -np.inf)
            if renormalise:
                kept = kept - np.log(np.exp(kept).sum(axis=-1, keepdims=True))
            if probabilities:
                return np.exp(kept)
            return np.where(keep, kept, fill)
        return compute

    right = lambda ranked, p: (np.cumsum(ranked, -1) - ranked < p) | (p >= 1)  # noqa: E731
    _check("top_p_filter", top_p_filter, _top_p_cases(), _top_p_reference, [
        Mistake("your top-p keeps the token that crosses p out: keep tokens while the mass "
                "*before* them is below p, so the nucleus reaches p (and the most likely token "
                "is always kept).",
                variant(lambda ranked, p: (np.cumsum(ranked, -1) < p) | (p >= 1))),
        Mistake("the kept tokens must be renormalised so that their probabilities sum to 1.",
                variant(right, renormalise=False)),
        Mistake("return log-probabilities (with -inf for the dropped tokens), not "
                "probabilities.", variant(right, probabilities=True)),
        Mistake("a dropped token gets log-probability -inf (probability 0); you gave it 0, "
                "which is probability 1.", variant(right, fill=0.0)),
        Mistake("you kept the least likely tokens: rank from the most likely down.",
                variant(right, ascending=True)),
    ], checked="one row and three, p from 0.5 to 1, a token above p alone",
        rtol=1e-5, atol=1e-5)


def _beam_cases() -> list[Case]:
    """No two of the best extensions tie, so any correct order of the best is the order."""
    rng = _rng(71)

    def logp(shape):
        return np.log(rng.dirichlet(np.ones(shape[-1]), shape[0]))

    return [
        Case("width 2, vocabulary 4, two live hypotheses",
             (np.array([-0.5, -1.2]), logp((2, 4)), 2)),
        Case("width 3, vocabulary 5, a weak beam with a likely token",
             (np.array([-0.1, -3.0, -3.2]), np.log(np.array([
                 [0.35, 0.3, 0.2, 0.1, 0.05], [0.01, 0.01, 0.96, 0.01, 0.01],
                 [0.2, 0.2, 0.2, 0.2, 0.2]])), 3)),
        Case("width 4, vocabulary 6", (np.array([-1.0, -1.1, -2.5, -4.0]), logp((4, 6)), 4)),
    ]


def _beam_step_reference(scores, log_probs, width):
    """The ``width`` best extensions of all hypotheses, best first: (parents, tokens, scores)."""
    total = (scores[:, None] + log_probs).ravel()
    best = np.argsort(-total, kind="stable")[:width]
    vocab = log_probs.shape[1]
    return best // vocab, best % vocab, total[best]


def check_beam_step(beam_step: Callable) -> None:
    """Exercise of notebook 07: ``beam_step(scores, log_probs, width)`` takes the live
    hypotheses' scores [W] and their next-token log-probabilities [W, vocab] and returns
    ``(parents, tokens, new_scores)``, each [width], best first."""

    def per_parent(scores, log_probs, width):
        token = log_probs.argmax(axis=1)
        total = scores + log_probs.max(axis=1)
        order = np.argsort(-total, kind="stable")[:width]
        return order, token[order], total[order]

    def no_scores(scores, log_probs, width):
        return _beam_step_reference(np.zeros_like(scores), log_probs, width)

    def swapped(scores, log_probs, width):
        parents, tokens, new = _beam_step_reference(scores, log_probs, width)
        flat = parents * log_probs.shape[1] + tokens
        return flat % len(scores), flat // len(scores), new

    _check("beam_step", beam_step, _beam_cases(), _beam_step_reference, [
        Mistake("you ranked the extensions by the new token's log-probability alone; add the "
                "hypothesis' score: a likely token after an unlikely prefix is still unlikely.",
                no_scores),
        Mistake("you extended every hypothesis with its own best token; beam search ranks all "
                "W x vocab extensions together, so one hypothesis can fill several rows.",
                per_parent),
        Mistake("best first: sort the extensions from the highest score down.",
                lambda s, lp, w: tuple(a[::-1] for a in _beam_step_reference(s, lp, w))),
        Mistake("parent and token from the flat index: parent = index // vocab, "
                "token = index % vocab.", swapped),
    ], checked="widths 2 to 4, vocabularies 4 to 6")


# ----------------------------------------------------------------------------------------------
# 08: parameter counts of the GRU and the peephole LSTM


_SIZES = ((5, 16), (1, 1), (96, 512), (32, 7))


def _count_cases() -> list[Case]:
    return [Case(f"{n} inputs, {u} units", (n, u)) for n, u in _SIZES]


def _keras_count(layer, n_inputs: int) -> int:
    layer.build((None, None, n_inputs))
    return int(layer.count_params())


def check_gru_param_count(gru_param_count: Callable) -> None:
    """Exercise of notebook 08: ``gru_param_count(n_inputs, units)`` as Keras counts a
    ``keras.layers.GRU(units)`` (``reset_after=True``, the default) on ``n_inputs`` features."""
    import keras

    _check("gru_param_count", gru_param_count, _count_cases(),
           lambda n, u: _keras_count(keras.layers.GRU(u), n), [
               Mistake("Keras' GRU has reset_after=True: two biases per gate block "
                       "(input and recurrent), so 3u(n + u + 2); you counted one.",
                       lambda n, u: 3 * u * (n + u + 1)),
               Mistake("that is an LSTM's count (four blocks); a GRU has three: update, reset "
                       "and candidate.", lambda n, u: 4 * u * (n + u + 1)),
               Mistake("you left out the recurrent weights (u x 3u).",
                       lambda n, u: 3 * u * (n + 2)),
               Mistake("you left out the biases.", lambda n, u: 3 * u * (n + u)),
           ], checked="1 to 96 inputs, 1 to 512 units, against Keras")


def check_peephole_param_count(peephole_param_count: Callable) -> None:
    """Exercise of notebook 08: ``peephole_param_count(n_inputs, units)`` as Keras counts
    ``keras.layers.RNN(utils.cells.PeepholeLSTMCell(units))`` on ``n_inputs`` features."""
    import keras

    from .cells import PeepholeLSTMCell

    _check("peephole_param_count", peephole_param_count, _count_cases(),
           lambda n, u: _keras_count(keras.layers.RNN(PeepholeLSTMCell(u)), n), [
               Mistake("you forgot the peepholes: three vectors of u weights (input, forget "
                       "and output gate) on top of the LSTM's 4u(n + u + 1).",
                       lambda n, u: 4 * u * (n + u + 1)),
               Mistake("the candidate has no peephole: three vectors (i, f, o), not four.",
                       lambda n, u: 4 * u * (n + u + 1) + 4 * u),
               Mistake("a peephole is a vector (each unit sees only its own cell), not a u x u "
                       "matrix.", lambda n, u: 4 * u * (n + u + 1) + 3 * u * u),
               Mistake("you left out the biases (4u).", lambda n, u: 4 * u * (n + u) + 3 * u),
           ], checked="1 to 96 inputs, 1 to 512 units, against Keras")


# ----------------------------------------------------------------------------------------------
# 09: merging a bidirectional layer's outputs and states


def _merge_cases() -> list[Case]:
    rng = _rng(90)
    cases = []
    for mode in ("concat", "sum", "ave", "mul"):
        batch, time, units = (1, 3, 2) if mode == "concat" else (2, 4, 3)
        cases.append(Case(f"merge_mode={mode!r}, {time} steps",
                          (rng.normal(size=(batch, time, units)),
                           rng.normal(size=(batch, time, units)), mode)))
    cases.append(Case("merge_mode='concat', 1 step", (rng.normal(size=(2, 1, 3)),
                                                      rng.normal(size=(2, 1, 3)), "concat")))
    return cases


def _merge(forward, backward, mode):
    if mode == "concat":
        return np.concatenate([forward, backward], axis=-1)
    return {"sum": forward + backward, "ave": (forward + backward) / 2,
            "mul": forward * backward}[mode]


def _merge_reference(forward, backward, mode):
    """Keras' Bidirectional: the backward layer's outputs flipped back to the forward time
    order, then merged (tests/test_exercises.py checks this against the layer itself)."""
    return _merge(forward, backward[:, ::-1], mode)


def check_merge_bidirectional(merge_bidirectional: Callable) -> None:
    """Exercise of notebook 09: ``merge_bidirectional(forward, backward, mode)`` returns what
    ``Bidirectional(LSTM(u, return_sequences=True), merge_mode=mode)`` returns, given the
    forward layer's outputs and the backward layer's outputs in the order it produced them."""
    _check("merge_bidirectional", merge_bidirectional, _merge_cases(), _merge_reference, [
        Mistake("the backward layer read the sequence from the end: its first output belongs to "
                "the last step. Flip it along time before merging.",
                lambda f, b, m: _merge(f, b, m)),
        Mistake("concat puts the forward features first, then the backward ones.",
                lambda f, b, m: _merge(b[:, ::-1], f, m)),
        Mistake("concatenate along the features (the last axis), not along time.",
                lambda f, b, m: np.concatenate([f, b[:, ::-1]], axis=1) if m == "concat"
                else _merge_reference(f, b, m)),
        Mistake("'ave' is the mean of the two directions: (forward + backward) / 2.",
                lambda f, b, m: _merge(f, b[:, ::-1], "sum" if m == "ave" else m)),
    ], checked="concat, sum, ave and mul, 1 to 4 steps")


def _state_cases() -> list[Case]:
    rng = _rng(91)
    cases = []
    for label, batch, units in (("a batch of 1, 2 units", 1, 2), ("a batch of 3, 4 units", 3, 4)):
        fh, fc, bh, bc = (rng.normal(size=(batch, units)) for _ in range(4))
        cases.append(Case(label, ([np.concatenate([fh, bh], -1), fh, fc, bh, bc],)))
    return cases


def _state_reference(outputs):
    _, forward_h, forward_c, backward_h, backward_c = outputs
    return (np.concatenate([forward_h, backward_h], -1),
            np.concatenate([forward_c, backward_c], -1))


def check_bidirectional_state(bidirectional_state: Callable) -> None:
    """Exercise of notebook 09: ``bidirectional_state(outputs)`` takes the list returned by
    ``Bidirectional(LSTM(u, return_state=True))`` and returns ``(h, c)`` for a decoder
    ``LSTM(2 * u)``: each the two directions' states side by side, forward first."""
    _check("bidirectional_state", bidirectional_state, _state_cases(), _state_reference, [
        Mistake("the list is [output, forward h, forward c, backward h, backward c]: you paired "
                "a direction's h with its c. The decoder's h joins the two h's, its c the two "
                "c's.", lambda o: (np.concatenate([o[1], o[2]], -1),
                                   np.concatenate([o[3], o[4]], -1))),
        Mistake("forward first: the decoder's h is [forward h, backward h].",
                lambda o: tuple(a for a in (np.concatenate([o[3], o[1]], -1),
                                            np.concatenate([o[4], o[2]], -1)))),
        Mistake("you summed the directions: a decoder LSTM(2u) needs them side by side "
                "(concatenated), shape (batch, 2u).", lambda o: (o[1] + o[3], o[2] + o[4])),
        Mistake("you return (c, h); the order asked for is (h, c), as Keras passes states.",
                lambda o: _state_reference(o)[::-1]),
    ], checked="batches of 1 and 3")


# ----------------------------------------------------------------------------------------------
# 10: teacher-forced decoder inputs


_TARGET_STRINGS = (("one date", ["2026-11-24"]),
                   ("two targets of different length", ["1999-01-01", "7-3"]),
                   ("three short targets", ["1", "-", "12"]))


def _teacher_cases() -> list[Case]:
    from . import dates

    return [Case(label, ([[dates.TARGET_TOKENS.index(ch) for ch in s] for s in strings],
                         dates.BOS_ID, dates.EOS_ID, dates.PAD_ID))
            for label, strings in _TARGET_STRINGS]


def _teacher_reference(rows, bos_id, eos_id, pad_id):
    """`utils.dates.encode_targets` of the strings these ids spell."""
    from . import dates

    return dates.encode_targets(["".join(dates.TARGET_TOKENS[i] for i in row) for row in rows])


def check_teacher_forcing(teacher_forcing: Callable) -> None:
    """Exercise of notebook 10: ``teacher_forcing(rows, bos_id, eos_id, pad_id)`` takes target
    id lists of any lengths and returns the decoder inputs and targets, int [n, longest + 1]
    each, right-padded, as `utils.dates.encode_targets`."""

    def build(inputs_of, targets_of, left=False):
        def compute(rows, bos, eos, pad):
            ins, outs = [inputs_of(r, bos, eos) for r in rows], [targets_of(r, bos, eos)
                                                                   for r in rows]
            width = max(map(len, ins + outs))

            def padded(seqs):
                return np.array([[pad] * (width - len(s)) + s if left else
                                 s + [pad] * (width - len(s)) for s in seqs])
            return padded(ins), padded(outs)
        return compute

    _check("teacher_forcing", teacher_forcing, _teacher_cases(), _teacher_reference, [
        Mistake("inputs and targets are swapped: the decoder reads <s> y1 ... yn and predicts "
                "y1 ... yn </s>.", build(lambda r, b, e: r + [e], lambda r, b, e: [b] + r)),
        Mistake("the targets need the end token: y1 ... yn </s> (the model must learn to stop).",
                build(lambda r, b, e: [b] + r, lambda r, b, e: r)),
        Mistake("the inputs must start with <s>: at step 1 the decoder has no true previous "
                "character yet.", build(lambda r, b, e: r, lambda r, b, e: r + [e])),
        Mistake("not shifted: the input at step t must be the target of step t - 1, so the "
                "decoder predicts what it has not seen yet.",
                build(lambda r, b, e: [b] + r + [e], lambda r, b, e: [b] + r + [e])),
        Mistake("pad on the right: step t of every row must be the t-th token of its target.",
                build(lambda r, b, e: [b] + r, lambda r, b, e: r + [e], left=True)),
    ], checked="one to three targets, of equal and different lengths")


# ----------------------------------------------------------------------------------------------
# 11: FLOPs per token, and the fraction of the ceiling


def check_lstm_flops_per_token(lstm_flops_per_token: Callable) -> None:
    """Exercise of notebook 11: ``lstm_flops_per_token(n_inputs, units)``: the forward
    matrix-product FLOPs of one ``keras.layers.LSTM(units)`` per token, as
    `utils.speed.matmul_flops_per_token` counts them."""
    import keras

    from . import speed

    def reference(n, u):
        model = keras.Sequential([keras.Input((None, n)), keras.layers.LSTM(u)])
        return sum(speed.matmul_flops_per_token(model).values())

    _check("lstm_flops_per_token", lstm_flops_per_token, _count_cases(), reference, [
        Mistake("a multiply-add is 2 FLOPs: count 2 per weight of the products.",
                lambda n, u: 4 * u * (n + u)),
        Mistake("you counted only x_t W; the recurrent product h_{t-1} U costs 2 * u * 4u more.",
                lambda n, u: 2 * 4 * u * n),
        Mistake("the gates' four blocks are one product of width 4u: 2 * 4u * (n + u).",
                lambda n, u: 2 * u * (n + u)),
        Mistake("that is a training step's count (3 x forward); the question asks for the "
                "forward pass.", lambda n, u: 3 * 2 * 4 * u * (n + u)),
    ], checked="1 to 96 inputs, 1 to 512 units, against the model's weights")


def _fraction_cases() -> list[Case]:
    return [Case("1.6 MFLOP per token, batch 32 x 64, 0.1 s, ceiling 300 GFLOP/s",
                 (1.6e6, 32, 64, 0.1, 300e9)),
            Case("100 FLOP per token, batch 1 x 1, 1 ms, ceiling 1 MFLOP/s",
                 (100.0, 1, 1, 1e-3, 1e6)),
            Case("3.3 MFLOP per token, batch 128 x 128, 1.45 s, ceiling 389 GFLOP/s",
                 (3.3e6, 128, 128, 1.45, 389e9))]


def check_fraction_of_ceiling(fraction_of_ceiling: Callable) -> None:
    """Exercise of notebook 11: ``fraction_of_ceiling(forward_flops_per_token, batch, seq_len,
    seconds, ceiling)``: the share of the ceiling a training step of that many seconds reaches,
    as `utils.speed.StepTiming.fraction_of`."""
    from . import speed

    def reference(flops, batch, seq_len, seconds, ceiling):
        tokens = batch * seq_len
        timing = speed.StepTiming((seconds,), tokens,
                                  speed.TRAINING_FLOPS_PER_FORWARD_FLOP * flops * tokens)
        return timing.fraction_of(ceiling)

    _check("fraction_of_ceiling", fraction_of_ceiling, _fraction_cases(), reference, [
        Mistake("a training step costs about 3 x the forward FLOPs (the backward pass does two "
                "products per forward one); you counted the forward pass only.",
                lambda f, b, t, s, c: f * b * t / s / c),
        Mistake("every token of every sequence costs the FLOPs: multiply by batch x seq_len; "
                "you left out the sequence length.", lambda f, b, t, s, c: 3 * f * b / s / c),
        Mistake("you inverted the fraction: achieved FLOP/s divided by the ceiling.",
                lambda f, b, t, s, c: c / (3 * f * b * t / s)),
    ], checked="steps from 1 ms to 1.45 s")


# ----------------------------------------------------------------------------------------------
# 12: a leak-free chronological scaler, and forecasting windows


def _series_cases() -> list[Case]:
    from .forecasting import chronological_split

    rng = _rng(120)
    trend = np.arange(40, dtype=np.float64) * 0.5 + rng.normal(size=40)
    walk = np.cumsum(rng.normal(0.3, 1.0, 100)) + 10
    seasonal = 5 * np.sin(np.arange(60) * 2 * np.pi / 12) + rng.normal(size=60) + 20
    return [Case("a trending series of 40 steps", (trend, chronological_split(40))),
            Case("a random walk of 100 steps", (walk, chronological_split(100, 0.2, 0.2))),
            Case("a seasonal series of 60 steps", (seasonal, chronological_split(60)))]


def _scale_reference(series, split):
    from .forecasting import Scaler

    return Scaler.fit(series, split).transform(series)


def check_scale_chronologically(scale_chronologically: Callable) -> None:
    """Exercise of notebook 12: ``scale_chronologically(series, split)`` standardises the
    whole series with statistics it may know (a `forecasting.Split` gives the spans), as
    `utils.forecasting.Scaler` does."""

    def with_stats(of):
        def compute(series, split):
            part = of(series, split)
            return (series - part.mean()) / part.std()
        return compute

    def per_span(series, split):
        out = np.empty_like(series)
        for start, stop in split.spans().values():
            part = series[start:stop]
            out[start:stop] = (part - part.mean()) / part.std()
        return out

    _check("scale_chronologically", scale_chronologically, _series_cases(), _scale_reference, [
        Mistake("you scaled with statistics of the whole series: that leaks the test span "
                "(its level and spread) into training. Fit on the training span only.",
                with_stats(lambda s, sp: s)),
        Mistake("you fitted on training and validation spans together: the validation span "
                "must stay unseen, as the test span. Fit on the training span only.",
                with_stats(lambda s, sp: s[: sp.test_start])),
        Mistake("you scaled each span with its own statistics: the test span's mean and spread "
                "are not known when forecasting. Use the training span's for every span.",
                per_span),
        Mistake("standardise (subtract the mean, divide by the standard deviation); you "
                "min-max scaled.", lambda s, sp: (s - s[: sp.val_start].min())
                / (s[: sp.val_start].max() - s[: sp.val_start].min())),
        Mistake("the course's scaler uses NumPy's std (ddof=0); yours uses ddof=1.",
                lambda s, sp: (s - s[: sp.val_start].mean()) / s[: sp.val_start].std(ddof=1)),
    ], checked="a trend, a random walk and a seasonal series")


def _window_cases() -> list[Case]:
    series = np.arange(30, dtype=np.float64) * 1.5 + 1
    return [Case("window 4, horizon 1, span [10, 20)", (series, 4, 1, 10, 20)),
            Case("window 5, horizon 3, span [0, 15) (the series' start)", (series, 5, 3, 0, 15)),
            Case("window 3, horizon 2, span [25, 30) (the series' end)", (series, 3, 2, 25, 30))]


def _windows_reference(series, window, horizon, start, stop):
    from .forecasting import make_windows

    w = make_windows(series, window, horizon, start, stop)
    return w.x, w.y


def check_make_windows(make_windows: Callable) -> None:
    """Exercise of notebook 12: ``make_windows(series, window, horizon, start, stop)`` returns
    ``(x, y)``: every window whose targets all lie in [start, stop), as
    `utils.forecasting.make_windows` (walk-forward order)."""

    def variant(first_of, last_of, target_shift=0):
        def compute(series, window, horizon, start, stop):
            origins = np.arange(first_of(start, window), last_of(stop, horizon))
            x = np.stack([series[t - window:t] for t in origins])
            y = np.stack([series[t - target_shift:t - target_shift + horizon]
                          for t in origins])
            return x, y
        return compute

    first, last = (lambda s, w: max(s, w)), (lambda e, h: e - h + 1)
    _check("make_windows", make_windows, _window_cases(), _windows_reference, [
        Mistake("your windows' targets run past stop: that is the next span (validation or "
                "test) leaking in. The last origin is stop - horizon.",
                variant(first, lambda e, h: e)),
        Mistake("your first window starts window steps after start: inputs may reach back "
                "before start (the past is known); only the targets must lie in [start, stop).",
                variant(lambda s, w: s + w, last)),
        Mistake("your target overlaps the inputs by one step: y starts at the origin t, the "
                "first value not in x.", variant(first, last, target_shift=1)),
    ], checked="spans at the series' start, middle and end, horizons 1 to 3")


CHECKS = {
    "01": ("check_rnn_step", "check_rnn_step_backward"),
    "02": ("check_lstm_step",),
    "03": ("check_cell_path_gradient", "check_cell_state_gradient"),
    "04": ("check_adding_batch", "check_copy_batch"),
    "05": ("check_lstm_output_shapes",),
    "06": ("check_perplexity_from_log_probs", "check_bits_per_character"),
    "07": ("check_top_p_filter", "check_beam_step"),
    "08": ("check_gru_param_count", "check_peephole_param_count"),
    "09": ("check_merge_bidirectional", "check_bidirectional_state"),
    "10": ("check_teacher_forcing",),
    "11": ("check_lstm_flops_per_token", "check_fraction_of_ceiling"),
    "12": ("check_scale_chronologically", "check_make_windows"),
}
"""The checks each notebook's Exercises section calls (tests/test_exercises.py holds them to it)."""
