"""The self-checking exercises: every check passes the solution the notebook shows, names each
mistake it knows with its own message, reports an unfilled scaffold as not attempted, and every
notebook's Exercises section holds its checks (tools/add_exercise_checks.py puts them there)."""

import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from utils import exercises as ex

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import add_exercise_checks as tool  # noqa: E402

BY_NAME = {e.name: e for e in tool.EXERCISES}
# notebooks long enough for two self-checking exercises (the list)
LONG = {"03", "04", "06", "08", "09", "11", "12"}


def _define(source: str, name: str):
    namespace = {"np": np}
    exec(source, namespace)
    return namespace[name]


def _verdict(capsys, name: str, function) -> str:
    getattr(ex, f"check_{name}")(function)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # one line, the verdict
    return out.strip()


# ----------------------------------------------------------------------------------------------
# The solutions pass, the scaffolds are "not attempted"


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_the_solution_shown_in_the_notebook_is_correct(capsys, name):
    verdict = _verdict(capsys, name, _define(BY_NAME[name].solution, name))
    assert verdict.startswith(f"{ex.CORRECT}: `{name}` agrees"), verdict


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_an_unfilled_scaffold_is_not_attempted(capsys, name):
    scaffold = BY_NAME[name].scaffold
    assert "...  # your code here" in scaffold
    assert _verdict(capsys, name, _define(scaffold, name)).startswith(ex.NOT_ATTEMPTED)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_a_scaffold_that_raises_not_implemented_is_not_attempted(capsys, name):
    def unfilled(*args):
        raise NotImplementedError

    assert _verdict(capsys, name, unfilled).startswith(ex.NOT_ATTEMPTED)


def test_every_check_has_an_exercise_and_every_exercise_a_check():
    checks = {name for names in ex.CHECKS.values() for name in names}
    assert checks == {f"check_{e.name}" for e in tool.EXERCISES}
    for exercise in tool.EXERCISES:
        assert f"check_{exercise.name}" in ex.CHECKS[exercise.notebook]
        assert callable(getattr(ex, f"check_{exercise.name}"))


# ----------------------------------------------------------------------------------------------
# Wrong answers: a recognised mistake gets its own message, anything else the first difference


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_wrong(order="ifco", f_act=sigmoid, i_act=sigmoid, g_act=np.tanh, keep_forget=True,
               keep_input=True, tanh_c=True, swap_result=False, transpose=False):
    def lstm_step(x_t, h_prev, c_prev, W, U, b):
        z = np.split(x_t @ W + h_prev @ U + b, 4, axis=-1)
        gate = dict(zip(order, z, strict=True))
        i, f, g, o = i_act(gate["i"]), f_act(gate["f"]), g_act(gate["c"]), sigmoid(gate["o"])
        c = (f * c_prev if keep_forget else c_prev) + (i * g if keep_input else g)
        h = o * np.tanh(c) if tanh_c else o * c
        result = (c, h) if swap_result else (h, c)
        return tuple(a.T for a in result) if transpose else result
    return lstm_step


def rnn_backward_wrong(derivative=lambda h, hp: 1 - h**2, transpose_u=True, sum_db=True,
                       dw_order="xt_da"):
    def rnn_step_backward(dh, h, h_prev, x_t, U):
        da = dh * derivative(h, h_prev)
        dW = x_t.T @ da if dw_order == "xt_da" else da.T @ x_t
        return dW, h_prev.T @ da, da.sum(0) if sum_db else da, da @ (U.T if transpose_u else U)
    return rnn_step_backward


def top_p_wrong(inclusive=False, renormalise=True, fill=-np.inf, as_probs=False,
                ascending=False):
    def top_p_filter(log_probs, p):
        probs = np.exp(log_probs)
        order = np.argsort(probs if ascending else -probs, axis=-1)
        ranked = np.take_along_axis(probs, order, -1)
        mass = np.cumsum(ranked, -1) if inclusive else np.cumsum(ranked, -1) - ranked
        keep_ranked = (mass < p) | (p >= 1)
        keep = np.zeros_like(keep_ranked)
        np.put_along_axis(keep, order, keep_ranked, -1)
        kept = np.where(keep, log_probs, -np.inf)
        if renormalise:
            with np.errstate(all="ignore"):  # keeping nothing (the mistake) gives NaN
                kept = kept - np.log(np.exp(kept).sum(-1, keepdims=True))
        if as_probs:
            return np.exp(kept)
        return np.where(keep, kept, fill)
    return top_p_filter


def teacher_wrong(inputs_of, targets_of, left=False):
    def teacher_forcing(rows, bos_id, eos_id, pad_id):
        ins = [inputs_of(list(r), bos_id, eos_id) for r in rows]
        outs = [targets_of(list(r), bos_id, eos_id) for r in rows]
        width = max(len(s) for s in ins + outs)
        pad = (lambda s: [pad_id] * (width - len(s)) + s) if left else (
            lambda s: s + [pad_id] * (width - len(s)))
        return np.array([pad(s) for s in ins]), np.array([pad(s) for s in outs])
    return teacher_forcing


def windows_wrong(first=lambda start, window: max(start, window),
                  last=lambda stop, horizon: stop - horizon + 1, shift=0):
    def make_windows(series, window, horizon, start, stop):
        origins = range(first(start, window), last(stop, horizon))
        return (np.stack([series[t - window:t] for t in origins]),
                np.stack([series[t - shift:t - shift + horizon] for t in origins]))
    return make_windows


def _merge(f, b, mode):
    return {"concat": lambda: np.concatenate([f, b], -1), "sum": lambda: f + b,
            "ave": lambda: (f + b) / 2, "mul": lambda: f * b}[mode]()


def _cumprod_later(f):
    later = np.flip(np.cumprod(np.flip(f[:, 1:], 1), 1), 1)
    return np.concatenate([later, np.ones_like(f[:, :1])], 1)


def _adding(values, first, second):
    rows = np.arange(len(values))
    marks = np.zeros_like(values)
    marks[rows, first] = marks[rows, second] = 1
    return np.stack([values, marks], -1), (values[rows, first] + values[rows, second])[:, None]


def _copy(symbols, delay, n_symbols, marker_at=-1, marker=None, answer_in_x=False,
          target_at_start=False):
    n, k = symbols.shape
    x, y = np.zeros((n, 2 * k + delay), int), np.zeros((n, 2 * k + delay), int)
    x[:, :k], y[:, -k:] = symbols, symbols
    x[:, k + delay + marker_at] = n_symbols + 1 if marker is None else marker(n_symbols)
    if answer_in_x:
        x[:, -k:] = symbols
    if target_at_start:
        y[:, :k] = symbols
    return x, y


def _shapes(output, states):
    def lstm_output_shapes(batch, time, units, return_sequences, return_state):
        shapes = [output(batch, time, units, return_sequences)]
        return shapes + (states(batch, time, units, return_sequences) if return_state else [])
    return lstm_output_shapes


def _last(b, t, u, s):
    return (b, t, u) if s else (b, u)


def _scale(fit_on):
    def scale_chronologically(series, split):
        part = fit_on(series, split)
        return (series - part.mean()) / part.std()
    return scale_chronologically


def _scale_per_span(series, split):
    out = series.copy()
    for start, stop in split.spans().values():
        out[start:stop] = (series[start:stop] - series[start:stop].mean()) / series[
            start:stop].std()
    return out


def _beam_top(scores, log_probs, width, add_scores=True, reverse=False, swap=False):
    total = ((scores[:, None] if add_scores else 0) + log_probs).ravel()
    best = np.argsort(-total, kind="stable")[:width]
    if reverse:
        best = best[::-1]
    vocab, beams = log_probs.shape[1], log_probs.shape[0]
    if swap:
        return best % beams, best // beams, total[best]
    return best // vocab, best % vocab, total[best]


def _beam_per_parent(scores, log_probs, width):
    tokens = log_probs.argmax(1)
    totals = scores + log_probs.max(1)
    order = np.argsort(-totals)[:width]
    return order, tokens[order], totals[order]


def _perplexity_of_the_sum(log_probs):
    with np.errstate(over="ignore"):  # 1,000 tokens: inf, as the learner's code gives
        return np.exp(-np.sum(log_probs))


MISTAKES = {
    "rnn_step": [
        (lambda x, h, W, U, b: sigmoid(x @ W + h @ U + b), "uses a sigmoid"),
        (lambda x, h, W, U, b: x @ W + h @ U + b, "has no activation"),
        (lambda x, h, W, U, b: np.tanh(x @ W + b), "forgot the recurrent term"),
        (lambda x, h, W, U, b: np.tanh(x @ W + h @ U), "forgot the bias"),
        (lambda x, h, W, U, b: np.tanh(x @ W + h @ U.T + b), "U transposed"),
        (lambda x, h, W, U, b: np.tanh(x @ W + h @ U + b).T,
         "shape (batch, units) expected, got (units, batch)"),
    ],
    "rnn_step_backward": [
        (rnn_backward_wrong(derivative=lambda h, hp: 1), "skipped the tanh's derivative"),
        (rnn_backward_wrong(derivative=lambda h, hp: 1 - hp**2), "derivative at h_{t-1}"),
        (rnn_backward_wrong(derivative=lambda h, hp: 1 - h), "used 1 - h_t"),
        (rnn_backward_wrong(derivative=lambda h, hp: h * (1 - h)), "a sigmoid's derivative"),
        (rnn_backward_wrong(transpose_u=False), "through U transposed"),
        (rnn_backward_wrong(sum_db=False), "summed over the batch"),
        (rnn_backward_wrong(dw_order="da_xt"), "dW has W's shape"),
    ],
    "lstm_step": [
        (lstm_wrong(f_act=np.tanh), "forget gate uses tanh; a gate must be a sigmoid"),
        (lstm_wrong(i_act=np.tanh), "input gate uses tanh"),
        (lstm_wrong(g_act=sigmoid), "candidate uses a sigmoid"),
        (lstm_wrong(keep_forget=False), "forgot the forget gate on c_{t-1}"),
        (lstm_wrong(keep_input=False), "forgot the input gate"),
        (lstm_wrong(tanh_c=False), "left out the tanh of the cell state"),
        (lstm_wrong(order="ifoc"), "yours looks like i, f, o, c"),
        (lstm_wrong(order="icfo"), "yours looks like i, c, f, o"),
        (lstm_wrong(order="fico"), "yours looks like f, i, c, o"),
        (lstm_wrong(swap_result=True), "you return (c, h)"),
        (lstm_wrong(transpose=True), "shape (batch, units) expected, got (units, batch)"),
    ],
    "cell_path_gradient": [
        (lambda f: np.flip(np.cumprod(np.flip(f, 1), 1), 1), "off by one"),
        (lambda f: np.cumprod(f, 1), "from the start"),
        (lambda f: np.concatenate([np.flip(np.cumsum(np.flip(f[:, 1:], 1), 1), 1),
                                   np.ones_like(f[:, :1])], 1), "you added the forget gates"),
        (lambda f: np.flip(_cumprod_later(f), 1), "time axis is reversed"),
    ],
    "cell_state_gradient": [
        (lambda dcn, fn, dh, o, c: dcn + dh * o * (1 - np.tanh(c) ** 2),
         "forgot the forget gate on dc_{t+1}"),
        (lambda dcn, fn, dh, o, c: dcn * fn, "left out the path through h_t"),
        (lambda dcn, fn, dh, o, c: dcn * fn + dh * o, "tanh's derivative is missing"),
        (lambda dcn, fn, dh, o, c: dcn * fn + dh * o * np.tanh(c),
         "used tanh(c_t) where its derivative"),
        (lambda dcn, fn, dh, o, c: (dcn + dh * o * (1 - np.tanh(c) ** 2)) * fn,
         "not the term from h_t"),
    ],
    "adding_batch": [
        (lambda v, f, s: (_adding(v, f, s)[0], _adding(v, f, s)[1][:, 0]), "shape (n, 1)"),
        (lambda v, f, s: (_adding(v, f, s)[0][..., ::-1], _adding(v, f, s)[1]),
         "channels are swapped"),
        (lambda v, f, s: (np.swapaxes(_adding(v, f, s)[0], 1, 2), _adding(v, f, s)[1]),
         "yours are (n, 2, T)"),
        (lambda v, f, s: (_adding(v, f, s)[0], v.sum(1)[:, None]), "adds up every value"),
        (lambda v, f, s: (_adding(v, f, s)[0], _adding(v, f, s)[1] / 2), "the mean of the two"),
    ],
    "copy_batch": [
        (lambda s, d, n: _copy(s, d, n, marker_at=0), "one step late"),
        (lambda s, d, n: _copy(s, d, n, answer_in_x=True), "show the symbols again"),
        (lambda s, d, n: _copy(s, d, n, target_at_start=True), "at the start too"),
        (lambda s, d, n: _copy(s, d, n, marker=lambda k: k), "yours is n_symbols"),
        (lambda s, d, n: _copy(s, d, n, marker=lambda k: 0), "0 is the blank"),
    ],
    "lstm_output_shapes": [
        (_shapes(lambda b, t, u, s: (b, t, u) if s else (u, b), lambda b, t, u, s: [(u, b)] * 2),
         "got (units, batch)"),
        (_shapes(_last, lambda b, t, u, s: [_last(b, t, u, s)] * 2), "the last step's only"),
        (_shapes(_last, lambda b, t, u, s: [(b, u)]), "returns two states"),
        (_shapes(lambda b, t, u, s: (b, t, u), lambda b, t, u, s: [(b, u)] * 2),
         "without return_sequences"),
    ],
    "perplexity_from_log_probs": [
        (lambda lp: np.exp(np.mean(lp)), "the sign is wrong"),
        (_perplexity_of_the_sum, "you summed"),
        (lambda lp: np.mean(1 / np.exp(lp)), "averaged the per-token perplexities"),
        (lambda lp: 2 ** -np.mean(lp), "not 2 ** (-mean)"),
        (lambda lp: -np.mean(lp), "returned the mean loss"),
    ],
    "bits_per_character": [
        (lambda ppl, cpt: np.log(ppl) / cpt, "used the natural log"),
        (lambda ppl, cpt: np.log2(ppl) * cpt, "do not multiply"),
        (lambda ppl, cpt: np.log2(ppl / cpt), "divide the bits, not the perplexity"),
        (lambda ppl, cpt: np.log2(ppl), "bits per token"),
    ],
    "top_p_filter": [
        (top_p_wrong(inclusive=True), "keeps the token that crosses p out"),
        (top_p_wrong(renormalise=False), "must be renormalised"),
        (top_p_wrong(as_probs=True), "not probabilities"),
        (top_p_wrong(fill=0.0), "you gave it 0"),
        (top_p_wrong(ascending=True), "kept the least likely"),
    ],
    "beam_step": [
        (lambda s, lp, w: _beam_top(s, lp, w, add_scores=False), "add the hypothesis' score"),
        (_beam_per_parent, "with its own best token"),
        (lambda s, lp, w: _beam_top(s, lp, w, reverse=True), "best first"),
        (lambda s, lp, w: _beam_top(s, lp, w, swap=True), "from the flat index"),
    ],
    "gru_param_count": [
        (lambda n, u: 3 * (u * n + u * u + u), "you counted one"),
        (lambda n, u: 4 * (u * n + u * u + u), "an LSTM's count"),
        (lambda n, u: 3 * (u * n + 2 * u), "left out the recurrent weights"),
        (lambda n, u: 3 * (u * n + u * u), "left out the biases"),
    ],
    "peephole_param_count": [
        (lambda n, u: 4 * (u * n + u * u + u), "forgot the peepholes"),
        (lambda n, u: 4 * (u * n + u * u + u) + 4 * u, "three vectors (i, f, o), not four"),
        (lambda n, u: 4 * (u * n + u * u + u) + 3 * u * u, "not a u x u matrix"),
        (lambda n, u: 4 * (u * n + u * u) + 3 * u, "left out the biases (4u)"),
    ],
    "merge_bidirectional": [
        (lambda f, b, m: _merge(f, b, m), "Flip it along time"),
        (lambda f, b, m: _merge(b[:, ::-1], f, m), "forward features first"),
        (lambda f, b, m: np.concatenate([f, b[:, ::-1]], 1) if m == "concat"
         else _merge(f, b[:, ::-1], m), "not along time"),
        (lambda f, b, m: _merge(f, b[:, ::-1], "sum" if m == "ave" else m), "'ave' is the mean"),
    ],
    "bidirectional_state": [
        (lambda o: (np.concatenate(o[1:3], -1), np.concatenate(o[3:5], -1)),
         "paired a direction's h with its c"),
        (lambda o: (np.concatenate([o[3], o[1]], -1), np.concatenate([o[4], o[2]], -1)),
         "forward first"),
        (lambda o: (o[1] + o[3], o[2] + o[4]), "you summed the directions"),
        (lambda o: (np.concatenate([o[2], o[4]], -1), np.concatenate([o[1], o[3]], -1)),
         "you return (c, h)"),
    ],
    "teacher_forcing": [
        (teacher_wrong(lambda r, b, e: r + [e], lambda r, b, e: [b] + r), "are swapped"),
        (teacher_wrong(lambda r, b, e: [b] + r, lambda r, b, e: r), "need the end token"),
        (teacher_wrong(lambda r, b, e: r, lambda r, b, e: r + [e]), "must start with <s>"),
        (teacher_wrong(lambda r, b, e: [b] + r + [e], lambda r, b, e: [b] + r + [e]),
         "not shifted"),
        (teacher_wrong(lambda r, b, e: [b] + r, lambda r, b, e: r + [e], left=True),
         "pad on the right"),
    ],
    "lstm_flops_per_token": [
        (lambda n, u: 4 * u * (n + u), "a multiply-add is 2 FLOPs"),
        (lambda n, u: 8 * u * n, "counted only x_t W"),
        (lambda n, u: 2 * u * (n + u), "one product of width 4u"),
        (lambda n, u: 24 * u * (n + u), "a training step's count"),
    ],
    "fraction_of_ceiling": [
        (lambda f, b, t, s, c: f * b * t / s / c, "forward pass only"),
        (lambda f, b, t, s, c: 3 * f * b / s / c, "left out the sequence length"),
        (lambda f, b, t, s, c: c * s / (3 * f * b * t), "inverted the fraction"),
    ],
    "scale_chronologically": [
        (_scale(lambda s, sp: s), "statistics of the whole series: that leaks the test span"),
        (_scale(lambda s, sp: s[: sp.test_start]), "training and validation spans together"),
        (_scale_per_span, "each span with its own statistics"),
        (lambda s, sp: (s - s[: sp.val_start].min()) / np.ptp(s[: sp.val_start]),
         "min-max scaled"),
        (lambda s, sp: (s - s[: sp.val_start].mean()) / np.std(s[: sp.val_start], ddof=1),
         "ddof=1"),
    ],
    "make_windows": [
        (windows_wrong(last=lambda stop, horizon: stop), "run past stop"),
        (windows_wrong(first=lambda start, window: start + window), "reach back before start"),
        (windows_wrong(shift=1), "overlaps the inputs by one step"),
    ],
}


def test_every_exercise_has_mistake_fixtures():
    assert set(MISTAKES) == set(BY_NAME)


@pytest.mark.parametrize(
    ("name", "index"), [(name, k) for name, cases in sorted(MISTAKES.items())
                        for k in range(len(cases))])
def test_each_recognised_mistake_gets_its_own_message(capsys, name, index):
    wrong, fragment = MISTAKES[name][index]
    verdict = _verdict(capsys, name, wrong)
    assert verdict.startswith(f"{ex.WRONG}: "), verdict
    assert fragment in verdict, verdict
    others = [f for k, (_, f) in enumerate(MISTAKES[name]) if k != index]
    assert not any(other in verdict for other in others), verdict


def test_an_unrecognised_mistake_shows_the_first_input_where_it_differs(capsys):
    verdict = _verdict(capsys, "rnn_step", lambda x, h, W, U, b: np.tanh(x @ W + h @ U + b) + 1)
    assert verdict.startswith(f"{ex.WRONG}: on a batch of 1, 2 inputs, 3 units, "), verdict
    assert re.search(r"at index \(0, 0\) expected -?[\d.]+, got -?[\d.]+\.$", verdict), verdict


def test_a_shape_mistake_it_does_not_know_is_named_by_shape(capsys):
    verdict = _verdict(capsys, "perplexity_from_log_probs", lambda lp: np.array([1.0, 2.0]))
    assert verdict.startswith(f"{ex.WRONG}: on one token,"), verdict
    verdict = _verdict(capsys, "make_windows", lambda s, w, h, a, b: (np.zeros((2, w)),) * 2)
    assert "shape" in verdict and "expected, got (2, " in verdict, verdict


def test_an_error_in_the_learners_code_is_a_verdict_not_a_crash(capsys):
    def rnn_step(x_t, h_prev, W, U, b):
        return np.tanh(x_t @ U + h_prev @ W + b)

    verdict = _verdict(capsys, "rnn_step", rnn_step)
    assert verdict.startswith(f"{ex.WRONG}: your `rnn_step` raised ValueError on a batch of 1"), (
        verdict)


def test_a_function_that_forgets_return_later_is_told_so(capsys):
    def perplexity_from_log_probs(log_probs):
        if len(log_probs) > 1:
            np.exp(-np.mean(log_probs))  # no return
            return None
        return float(np.exp(-np.mean(log_probs)))

    verdict = _verdict(capsys, "perplexity_from_log_probs", perplexity_from_log_probs)
    assert "returned None on five tokens" in verdict and "forget `return`" in verdict, verdict


def test_a_check_needs_the_function_itself():
    with pytest.raises(TypeError, match="pass your function `rnn_step` itself"):
        ex.check_rnn_step(3.0)


def test_the_learners_inputs_are_copies(capsys):
    def lstm_step(x_t, h_prev, c_prev, W, U, b):
        W *= 0  # changes its own copy only
        return _define(BY_NAME["lstm_step"].solution, "lstm_step")(x_t, h_prev, c_prev, W, U, b)

    assert _verdict(capsys, "lstm_step", lstm_step).startswith(ex.WRONG)
    solution = _define(BY_NAME["lstm_step"].solution, "lstm_step")
    assert _verdict(capsys, "lstm_step", solution).startswith(ex.CORRECT)


def test_tensors_are_accepted_as_answers(capsys):
    import tensorflow as tf

    solution = _define(BY_NAME["top_p_filter"].solution, "top_p_filter")
    verdict = _verdict(capsys, "top_p_filter", lambda lp, p: tf.constant(solution(lp, p)))
    assert verdict.startswith(ex.CORRECT), verdict


# ----------------------------------------------------------------------------------------------
# The NumPy references agree with Keras and with the course's decoder


def test_the_bidirectional_references_are_what_keras_does():
    import keras

    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    for mode in ("concat", "sum", "ave", "mul"):
        layer = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True),
                                           merge_mode=mode)
        merged = np.asarray(layer(x))
        forward = np.asarray(layer.forward_layer(x))
        backward = np.asarray(layer.backward_layer(x))  # go_backwards=True: its own order
        np.testing.assert_allclose(ex._merge_reference(forward, backward, mode), merged,
                                   rtol=1e-5, atol=1e-6)
    layer = keras.layers.Bidirectional(keras.layers.LSTM(4, return_state=True))
    outputs = [np.asarray(o) for o in layer(x)]
    assert len(outputs) == 5
    h, c = ex._state_reference(outputs)
    np.testing.assert_allclose(h, outputs[0], rtol=1e-6)  # the output is the two last h's
    assert h.shape == c.shape == (2, 8)


def test_the_beam_step_reference_is_the_decoders_first_step():
    import tensorflow as tf

    from utils.decoding import Decoder

    log_probs = np.log(np.random.default_rng(3).dirichlet(np.ones(6), 6)).astype("float32")

    def step(tokens, state):
        return tf.gather(log_probs, tokens), state

    beams = Decoder(step, 6).beam_search((tf.zeros([1, 1]),), 0, 2, width=3)
    first = log_probs[0]
    parents, tokens, scores = ex._beam_step_reference(np.zeros(1), first[None], 3)
    assert beams.step_tokens[0, 0].tolist() == tokens.tolist()
    np.testing.assert_allclose(beams.step_log_probs[0, 0], scores, rtol=1e-6)
    # step 2 extends the three live hypotheses together
    parents, tokens, scores = ex._beam_step_reference(scores, log_probs[tokens], 3)
    assert beams.parents[1, 0].tolist() == parents.tolist()
    assert beams.step_tokens[1, 0].tolist() == tokens.tolist()
    np.testing.assert_allclose(beams.step_log_probs[1, 0], scores, rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# Hygiene: every notebook's Exercises section holds its checks


NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if p.name[:2] != "00")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_exercise_section_has_self_checking_exercises(path):
    prefix = path.name[:2]
    names = [check.removeprefix("check_") for check in ex.CHECKS.get(prefix, ())]
    assert len(names) >= (2 if prefix in LONG else 1), f"{path.name}: too few checks"
    nb = nbformat.read(path, as_version=4)
    assert tool.section_problems(nb, names) == []
    assert tool.updated(nb, [BY_NAME[n] for n in names]) == nb, (
        "out of date: run python tools/add_exercise_checks.py")


def test_the_hygiene_check_fails_for_a_section_without_checks():
    md = nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook(cells=[
        md("## Exercises\n\n1. Predict.\n\n<details><summary>Solution</summary>\n\n"
           "x\n\n</details>"), md("## Summary\n\n- ...")])
    assert tool.section_problems(nb, []) == [
        "the Exercises section has no self-checking exercise"]
    problems = tool.section_problems(nb, ["rnn_step"])
    assert problems == ["no check cell `check_rnn_step(rnn_step)` in the Exercises section"]
    filled = tool.updated(nb, [BY_NAME["rnn_step"]])
    assert tool.section_problems(filled, ["rnn_step"]) == []
    untagged = nbformat.from_dict(filled)
    del untagged.cells[3].metadata["tags"]
    assert tool.section_problems(untagged, ["rnn_step"]) == [
        f"the check of rnn_step is not tagged {tool.CHECK_TAG}"]
    no_scaffold = nbformat.from_dict(filled)
    del no_scaffold.cells[2]
    assert tool.section_problems(no_scaffold, ["rnn_step"]) == [
        "no scaffold defining rnn_step right above its check"]


def test_the_tool_is_idempotent_and_keeps_outputs_and_the_rest():
    md = nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook(cells=[
        md("## 3. Something"),
        md("## Exercises\n\n1. One.\n\n2. Two.\n\n## Summary\n\n- s\n\n## What's next\n\nn")])
    once = tool.updated(nb, [BY_NAME["rnn_step"], BY_NAME["rnn_step_backward"]])
    sources = [c.source for c in once.cells]
    assert sources[1] == "## Exercises\n\n1. One.\n\n2. Two."
    assert sources[2].startswith(tool.wrap(tool.INTRO)) and "\n\n3. Write one step" in sources[2]
    assert sources[6].startswith("4. Write one step of BPTT")
    assert sources[-1].startswith("## Summary") and len(once.cells) == 2 + 8 + 1
    once.cells[4].outputs = [nbformat.v4.new_output("stream", text="Not attempted yet: ...\n")]
    once.cells[4].execution_count = 7
    twice = tool.updated(once, [BY_NAME["rnn_step"], BY_NAME["rnn_step_backward"]])
    assert twice == once  # outputs kept, nothing moved
    shorter = tool.updated(once, [BY_NAME["rnn_step"]])
    assert len(shorter.cells) == 2 + 4 + 1 and shorter.cells[4].execution_count == 7


def test_the_stored_verdicts_say_not_attempted():
    """Where a check cell has stored outputs (after `make execute`), they are the unfilled
    scaffold's verdict: the notebooks ship with the exercises open."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and str(cell.get("id", "")).endswith("-check"):
                text = "".join(o.get("text", "") for o in cell.outputs)
                assert not cell.outputs or text.startswith(ex.NOT_ATTEMPTED), (path.name, text)


def test_the_tool_reports_then_fixes_a_notebook_without_its_exercises(tmp_path, monkeypatch,
                                                                       capsys):
    md = nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook(cells=[md("## Exercises\n\n1. One.\n\n## Summary\n\n- s")])
    path = tmp_path / "01_example.ipynb"
    nbformat.write(nb, path)
    monkeypatch.setattr(tool, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    monkeypatch.setattr(tool, "EXERCISES", (BY_NAME["rnn_step"],))
    assert tool.main(["add_exercise_checks.py", "--check"]) == 1
    assert "01_example.ipynb: its self-checking exercises are missing" in capsys.readouterr().err
    assert tool.main(["add_exercise_checks.py"]) == 0
    assert tool.section_problems(nbformat.read(path, as_version=4), ["rnn_step"]) == []
    assert tool.main(["add_exercise_checks.py", "--check"]) == 0
    assert tool.main(["add_exercise_checks.py", "--bad"]) == 2
