"""Put the self-checking exercises into the notebooks' Exercises sections, or check they are there.

    python tools/add_exercise_checks.py            # insert or update them in notebooks 01-12
    python tools/add_exercise_checks.py --check    # exit 1 if a notebook lacks or differs

Each exercise of `EXERCISES` becomes four cells at the end of its notebook's "## Exercises"
section (before "## Summary"): the task (markdown, numbered after the section's own
exercises), a scaffold the learner fills (a function whose body is ``...``), a check cell
calling ``utils.exercises.check_<name>`` (tagged ``nbval-check-output``: its verdict is
deterministic, "Not attempted yet" while the scaffold is unfilled), and the solution folded in
``<details>``. Sections are found by their heading text, never by cell index, so the notebooks
may change around them. The cells carry ids ``exercise-<name>-<part>``; running the script again
replaces them by what the table says and keeps a cell whose source did not change as it is,
outputs included, so a second run changes nothing. An Exercises heading that shares its cell with
"## Summary" is split into two cells first.

tests/test_exercises.py runs every solution below against its check (it must say "Correct")
and every scaffold (it must say "Not attempted yet"), and fails for a notebook whose Exercises
section has no check.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHECK_TAG = "nbval-check-output"
EXERCISES_HEADING = "## Exercises"
SUMMARY_HEADING = "## Summary"
PARTS = ("task", "scaffold", "check", "solution")
INTRO = ("**Write it, and let the course check it.** Fill in the function, run its cell and the "
         "check under it. The check runs your function on several inputs, edge cases included, "
         "against the course's own code. It says what is right, names the mistake when it "
         "recognises it, and otherwise shows the first input where your answer differs; it "
         "never shows the reference's code. Open the solution only after.")


@dataclass(frozen=True)
class Exercise:
    notebook: str  # the two-digit prefix
    name: str  # the learner's function; its check is utils.exercises.check_<name>
    task: str  # markdown, without the number
    scaffold: str  # code: the function with a docstring and a body of `...`
    solution: str  # code: a correct body, shown folded
    note: str = ""  # markdown after the solution's code, inside <details>


EXERCISES = (
    Exercise(
        "01", "rnn_step",
        "Write one step of the vanilla RNN of section 1, $h_t = \\tanh(x_t W + h_{t-1} U + b)$, "
        "for a batch: `x_t` is (batch, inputs), `h_prev` (batch, units), `W` (inputs, units), "
        "`U` (units, units) and `b` (units,). Return $h_t$, (batch, units).",
        'def rnn_step(x_t, h_prev, W, U, b):\n'
        '    """h_t (batch, units) from x_t (batch, inputs) and h_{t-1} (batch, units)."""\n'
        '    ...  # your code here\n',
        'def rnn_step(x_t, h_prev, W, U, b):\n'
        '    return np.tanh(x_t @ W + h_prev @ U + b)\n',
        "`utils.rnn_numpy.rnn_forward` does the same at every step of a sequence.",
    ),
    Exercise(
        "01", "rnn_step_backward",
        "Write one step of BPTT (section 2) for that step: given `dh`, the total $\\partial L / "
        "\\partial h_t$ (batch, units), the step's output `h` $= h_t$, its inputs `h_prev` and "
        "`x_t`, and `U`, return the step's share of the gradients `(dW, dU, db, dh_prev)`, "
        "each shaped like what it is the gradient of.",
        'def rnn_step_backward(dh, h, h_prev, x_t, U):\n'
        '    """(dW, dU, db, dh_prev) of one step h = tanh(x_t W + h_prev U + b)."""\n'
        '    ...  # your code here\n',
        'def rnn_step_backward(dh, h, h_prev, x_t, U):\n'
        '    da = dh * (1 - h**2)  # back through the tanh: its derivative from its output\n'
        '    return x_t.T @ da, h_prev.T @ da, da.sum(axis=0), da @ U.T\n',
        "`utils.rnn_numpy.rnn_backward` runs this from the last step to the first, adding the "
        "step's own loss gradient to `dh_prev` of the step after.",
    ),
    Exercise(
        "02", "lstm_step",
        "Write one LSTM step in Keras' layout (section 4): from `x_t` (batch, inputs), `h_prev` "
        "and `c_prev` (batch, units), with `W` (inputs, 4 units), `U` (units, 4 units) and `b` "
        "(4 units) holding the four quarters in the order i, f, g, o (input, forget, candidate, "
        "output; Keras' source, and the docstring below, call the candidate's quarter c), "
        "return `(h, c)`, $h_t$ and $c_t$, each (batch, units).",
        'def lstm_step(x_t, h_prev, c_prev, W, U, b):\n'
        '    """(h_t, c_t) of one LSTM step, gates stacked i, f, c, o as in Keras."""\n'
        '    ...  # your code here\n',
        'def sigmoid(z):\n'
        '    return 1 / (1 + np.exp(-z))\n'
        '\n'
        '\n'
        'def lstm_step(x_t, h_prev, c_prev, W, U, b):\n'
        '    z_i, z_f, z_c, z_o = np.split(x_t @ W + h_prev @ U + b, 4, axis=-1)\n'
        '    i, f, g, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_c), sigmoid(z_o)\n'
        '    c = f * c_prev + i * g\n'
        '    return o * np.tanh(c), c\n',
        "`utils.rnn_numpy.lstm_step` is the course's version; it also returns every gate.",
    ),
    Exercise(
        "03", "cell_path_gradient",
        "Along the cell state alone (section 1's direct path), how much of "
        "$\\partial L / \\partial c_T = 1$ reaches each $c_t$? Given a run's forget gates "
        "`forget_gates` (batch, time, units), return $\\partial L / \\partial c_t$ for every "
        "step, same shape (the last step's is 1).",
        'def cell_path_gradient(forget_gates):\n'
        '    """dL/dc_t (batch, time, units) along the cell state, for dL/dc_T = 1."""\n'
        '    ...  # your code here\n',
        'def cell_path_gradient(forget_gates):\n'
        '    later = forget_gates[:, 1:]  # c_t is scaled by f_{t+1} ... f_T\n'
        '    products = np.cumprod(later[:, ::-1], axis=1)[:, ::-1]\n'
        '    return np.concatenate([products, np.ones_like(forget_gates[:, :1])], axis=1)\n',
        "This is what `rn.lstm_backward(..., cell_path_only=True)` computes when the loss looks "
        "at $c_T$ alone.",
    ),
    Exercise(
        "03", "cell_state_gradient",
        "Section 1 followed the direct path alone; the full backward step of the cell state "
        "(in `rn.lstm_backward`, notebook 02 section 5) also collects the path through $h_t$. "
        "Write it: from `dc_next` "
        "($\\partial L / \\partial c_{t+1}$), `f_next` ($f_{t+1}$), `dh` (the total "
        "$\\partial L / \\partial h_t$), and the step's output gate `o` and cell state `c`, "
        "return the total $\\partial L / \\partial c_t$. Every array is (batch, units).",
        'def cell_state_gradient(dc_next, f_next, dh, o, c):\n'
        '    """Total dL/dc_t: back along the cell state, plus through h_t = o * tanh(c_t)."""\n'
        '    ...  # your code here\n',
        'def cell_state_gradient(dc_next, f_next, dh, o, c):\n'
        '    return dc_next * f_next + dh * o * (1 - np.tanh(c) ** 2)\n',
        "The first term is the direct path: only the forget gate scales it.",
    ),
    Exercise(
        "04", "adding_batch",
        "Build an adding-problem batch (section 1) from its parts: `values` (n, T) in [0, 1), "
        "and for each row the two marked steps `first` and `second` (n,). Return the inputs "
        "(n, T, 2) (values, marks) and the targets (n, 1), as `tasks.adding_problem` does.",
        'def adding_batch(values, first, second):\n'
        '    """Inputs (n, T, 2) and targets (n, 1) of the adding problem."""\n'
        '    ...  # your code here\n',
        'def adding_batch(values, first, second):\n'
        '    rows = np.arange(len(values))\n'
        '    marks = np.zeros_like(values)\n'
        '    marks[rows, first] = 1.0\n'
        '    marks[rows, second] = 1.0\n'
        '    sums = values[rows, first] + values[rows, second]\n'
        '    return np.stack([values, marks], axis=-1), sums[:, None]\n',
    ),
    Exercise(
        "04", "copy_batch",
        "Build a copy-task batch (section 3) from its symbols: the input is `symbols` (n, "
        "n_copy), the data (ids 1 to `n_symbols`), followed by `delay - 1` blanks (0), the marker "
        "`n_symbols + 1` and `n_copy` blanks. The target is blank except in the last `n_copy` "
        "steps, which repeat the symbols. Return `(x, y)`, integers (n, n_copy + delay + n_copy).",
        'def copy_batch(symbols, delay, n_symbols):\n'
        '    """Inputs and targets of the copy task, as tasks.copy_task builds them."""\n'
        '    ...  # your code here\n',
        'def copy_batch(symbols, delay, n_symbols):\n'
        '    n, n_copy = symbols.shape\n'
        '    x = np.zeros((n, n_copy + delay + n_copy), np.int32)\n'
        '    y = np.zeros_like(x)\n'
        '    x[:, :n_copy] = symbols\n'
        '    x[:, n_copy + delay - 1] = n_symbols + 1  # "recall now"\n'
        '    y[:, -n_copy:] = symbols\n'
        '    return x, y\n',
    ),
    Exercise(
        "05", "lstm_output_shapes",
        "**Before running anything**: what does `keras.layers.LSTM(units, return_sequences=..., "
        "return_state=...)` return on inputs of shape (batch, time, features)? Return the list "
        "of shapes (tuples), in the order Keras returns the tensors (section 1).",
        'def lstm_output_shapes(batch, time, units, return_sequences, return_state):\n'
        '    """The shapes of what keras.layers.LSTM returns, as a list of tuples."""\n'
        '    ...  # your code here\n',
        'def lstm_output_shapes(batch, time, units, return_sequences, return_state):\n'
        '    output = (batch, time, units) if return_sequences else (batch, units)\n'
        '    states = [(batch, units), (batch, units)] if return_state else []  # h and c\n'
        '    return [output, *states]\n',
        "The states are always the last step's, whatever `return_sequences` says (section 1).",
    ),
    Exercise(
        "06", "perplexity_from_log_probs",
        "Write the perplexity of section 4 from the natural-log probabilities `log_probs` "
        "(a 1-D array) that a model gave the true next tokens.",
        'def perplexity_from_log_probs(log_probs):\n'
        '    """exp of the mean per-token loss."""\n'
        '    ...  # your code here\n',
        'def perplexity_from_log_probs(log_probs):\n'
        '    return float(np.exp(-np.mean(log_probs)))\n',
        "`lm.perplexity_of` is the course's version, with checks of its input.",
    ),
    Exercise(
        "06", "bits_per_character",
        "Turn a per-token perplexity into bits per character (section 4), for tokens of "
        "`characters_per_token` characters (2 for the bigrams of section 2).",
        'def bits_per_character(perplexity, characters_per_token):\n'
        '    """Bits per character of a per-token perplexity."""\n'
        '    ...  # your code here\n',
        'def bits_per_character(perplexity, characters_per_token):\n'
        '    return float(np.log2(perplexity) / characters_per_token)\n',
    ),
    Exercise(
        "07", "top_p_filter",
        "Write the nucleus filter of section 3 in NumPy: for log-probabilities `log_probs` "
        "[..., vocab], keep the most likely tokens until their probability reaches `p` (at "
        "least the most likely one; tokens tied with the last one kept are kept too), "
        "renormalise them, and give the others $-\\infty$.",
        'def top_p_filter(log_probs, p):\n'
        '    """Log-probs of the nucleus, renormalised; -inf elsewhere."""\n'
        '    ...  # your code here\n',
        'def top_p_filter(log_probs, p):\n'
        '    probs = np.exp(log_probs)\n'
        '    ranked = -np.sort(-probs, axis=-1)\n'
        '    mass_before = np.cumsum(ranked, axis=-1) - ranked\n'
        '    keep_ranked = (mass_before < p) | (p >= 1)\n'
        '    threshold = np.min(np.where(keep_ranked, ranked, np.inf), axis=-1, keepdims=True)\n'
        '    kept = np.where(probs >= threshold, log_probs, -np.inf)\n'
        '    return kept - np.log(np.sum(np.exp(kept), axis=-1, keepdims=True))\n',
        "Ties with the last kept token are kept too, as in `decoding.top_p_filter`.",
    ),
    Exercise(
        "07", "beam_step",
        "Write one step of beam search (section 4): the live hypotheses have scores `scores` "
        "[W] (their log-probabilities so far) and next-token log-probabilities `log_probs` "
        "[W, vocab]. Return the `width` best extensions, best first, as `(parents, tokens, "
        "new_scores)`, each [width]; of two equal scores, the one with the lower parent, then "
        "the lower token, comes first.",
        'def beam_step(scores, log_probs, width):\n'
        '    """The width best (parent, token, score) extensions, best first."""\n'
        '    ...  # your code here\n',
        'def beam_step(scores, log_probs, width):\n'
        '    total = (scores[:, None] + log_probs).ravel()  # every extension of every hypothesis\n'
        '    best = np.argsort(-total, kind="stable")[:width]\n'
        '    vocab = log_probs.shape[1]\n'
        '    return best // vocab, best % vocab, total[best]\n',
    ),
    Exercise(
        "08", "gru_param_count",
        "**Before running anything**: how many weights has `keras.layers.GRU(units)` (with its "
        "default `reset_after=True`) on `n_inputs` features? Write the formula.",
        'def gru_param_count(n_inputs, units):\n'
        '    """Weights of keras.layers.GRU(units) on n_inputs features."""\n'
        '    ...  # your code here\n',
        'def gru_param_count(n_inputs, units):\n'
        '    return 3 * units * (n_inputs + units + 2)  # two biases per block: reset_after\n',
    ),
    Exercise(
        "08", "peephole_param_count",
        "And `keras.layers.RNN(cells.PeepholeLSTMCell(units))`, the peephole variant "
        "(`peephole_layer` of section 1) that section 3 trains? Write the formula.",
        'def peephole_param_count(n_inputs, units):\n'
        '    """Weights of an RNN(PeepholeLSTMCell(units)) on n_inputs features."""\n'
        '    ...  # your code here\n',
        'def peephole_param_count(n_inputs, units):\n'
        '    return 4 * units * (n_inputs + units + 1) + 3 * units  # three peephole vectors\n',
    ),
    Exercise(
        "09", "merge_bidirectional",
        "Merge as `Bidirectional(LSTM(u, return_sequences=True), merge_mode=mode)` does (section "
        "2): `forward` is the forward layer's output (batch, time, u), `backward` the backward "
        "layer's, in the order it produced it (it read the sequence from the end). `mode` is "
        '`"concat"`, `"sum"`, `"ave"` or `"mul"`. Return the merged output, (batch, time, 2u) '
        'for `"concat"`, (batch, time, u) otherwise.',
        'def merge_bidirectional(forward, backward, mode):\n'
        '    """The Bidirectional layer\'s output from its two layers\' outputs."""\n'
        '    ...  # your code here\n',
        'def merge_bidirectional(forward, backward, mode):\n'
        '    backward = backward[:, ::-1]  # back to the forward time order\n'
        '    if mode == "concat":\n'
        '        return np.concatenate([forward, backward], axis=-1)\n'
        '    if mode == "sum":\n'
        '        return forward + backward\n'
        '    if mode == "ave":\n'
        '        return (forward + backward) / 2\n'
        '    return forward * backward\n',
    ),
    Exercise(
        "09", "bidirectional_state",
        "`Bidirectional(LSTM(u, return_state=True))` returns a list of five tensors (section 2 "
        "lists them). Return the initial state `(h, c)`, each (batch, 2u), of a decoder "
        "`LSTM(2 * u)` that continues from both directions, forward first, as notebook 10's "
        "bidirectional encoder does.",
        'def bidirectional_state(outputs):\n'
        '    """(h, c) of an LSTM(2u) from what Bidirectional(..., return_state=True) returns."""\n'
        '    ...  # your code here\n',
        'def bidirectional_state(outputs):\n'
        '    _, forward_h, forward_c, backward_h, backward_c = outputs\n'
        '    return (np.concatenate([forward_h, backward_h], axis=-1),\n'
        '            np.concatenate([forward_c, backward_c], axis=-1))\n',
    ),
    Exercise(
        "10", "teacher_forcing",
        "Write teacher forcing (section 2) for target id lists `rows` of any lengths: the "
        "decoder inputs `<s> y1 ... yn` and targets `y1 ... yn </s>`, right-padded with "
        "`pad_id` to the longest, both of shape (n, longest + 1).",
        'def teacher_forcing(rows, bos_id, eos_id, pad_id):\n'
        '    """Decoder inputs and targets (n, longest + 1), right-padded."""\n'
        '    ...  # your code here\n',
        'def teacher_forcing(rows, bos_id, eos_id, pad_id):\n'
        '    width = max(len(row) for row in rows) + 1\n'
        '    inputs = np.full((len(rows), width), pad_id)\n'
        '    targets = np.full((len(rows), width), pad_id)\n'
        '    for k, row in enumerate(rows):\n'
        '        inputs[k, : len(row) + 1] = [bos_id, *row]\n'
        '        targets[k, : len(row) + 1] = [*row, eos_id]\n'
        '    return inputs, targets\n',
        "`dates.encode_targets` does this for date strings.",
    ),
    Exercise(
        "11", "lstm_flops_per_token",
        "Count the forward matrix-product FLOPs per token of one `keras.layers.LSTM(units)` on "
        "`n_inputs` features (section 1: a multiply-add is 2 FLOPs; biases and activations "
        "are left out).",
        'def lstm_flops_per_token(n_inputs, units):\n'
        '    """Forward matmul FLOPs per token of an LSTM layer."""\n'
        '    ...  # your code here\n',
        'def lstm_flops_per_token(n_inputs, units):\n'
        '    return 2 * 4 * units * (n_inputs + units)  # x_t W and h_{t-1} U, four gate blocks\n',
    ),
    Exercise(
        "11", "fraction_of_ceiling",
        "A training step on a batch of `batch` sequences of `seq_len` tokens took `seconds`. "
        "What fraction of the ceiling (FLOP/s) did it reach, for a model of "
        "`forward_flops_per_token`? Count the step's FLOPs as section 1 does.",
        'def fraction_of_ceiling(forward_flops_per_token, batch, seq_len, seconds, ceiling):\n'
        '    """Achieved FLOP/s of one training step over the ceiling."""\n'
        '    ...  # your code here\n',
        'def fraction_of_ceiling(forward_flops_per_token, batch, seq_len, seconds, ceiling):\n'
        '    step_flops = 3 * forward_flops_per_token * batch * seq_len  # backward: 2 x forward\n'
        '    return step_flops / seconds / ceiling\n',
    ),
    Exercise(
        "12", "scale_chronologically",
        "Standardise a whole series (subtract a mean, divide by a standard deviation, NumPy's "
        "`std`) with statistics a forecaster may know (section 2): `split` is a "
        "`fc.Split` (`split.val_start`, `split.test_start`, `split.spans()`). Return the "
        "scaled series.",
        'def scale_chronologically(series, split):\n'
        '    """The series standardised without leaking the future."""\n'
        '    ...  # your code here\n',
        'def scale_chronologically(series, split):\n'
        '    train = series[: split.val_start]  # the training span only\n'
        '    return (series - train.mean()) / train.std()\n',
    ),
    Exercise(
        "12", "make_windows",
        "Cut windows (section 3): every origin $t$ whose `horizon` targets "
        "`series[t : t + horizon]` all lie in `[start, stop)`, with inputs "
        "`series[t - window : t]` (so $t \\geq$ `window`), in time order. Return `(x, y)`, "
        "(n, window) and (n, horizon).",
        'def make_windows(series, window, horizon, start, stop):\n'
        '    """Inputs (n, window) and targets (n, horizon) of every window in [start, stop)."""\n'
        '    ...  # your code here\n',
        'def make_windows(series, window, horizon, start, stop):\n'
        '    origins = range(max(start, window), stop - horizon + 1)  # inputs may precede start\n'
        '    x = np.stack([series[t - window : t] for t in origins])\n'
        '    y = np.stack([series[t : t + horizon] for t in origins])\n'
        '    return x, y\n',
    ),
)


def check_source(name: str) -> str:
    return f"from utils.exercises import check_{name}\n\ncheck_{name}({name})"


def _strip(code: str) -> str:
    return code.rstrip("\n")


def wrap(text: str, indent: str = "") -> str:
    """Markdown wrapped at 100 characters as the notebooks' prose is, never inside `code` or
    $math$ (a line must not start with a "+ b" that Markdown would read as a list)."""
    protected = re.sub(r"(`[^`]*`|\$[^$]*\$)", lambda m: m.group(0).replace(" ", "\0"), text)
    lines = textwrap.wrap(protected, width=100, subsequent_indent=indent,
                          break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines).replace("\0", " ")


def exercise_cells(exercise: Exercise, number: int, first: bool) -> list:
    """The four cells of one exercise, with stable ids."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    task = wrap(f"{number}. {exercise.task}", indent=" " * (len(str(number)) + 2))
    if first:
        task = f"{wrap(INTRO)}\n\n{task}"
    note = f"{wrap(exercise.note)}\n\n" if exercise.note else ""
    solution = (f"<details><summary>Solution</summary>\n\n```python\n{_strip(exercise.solution)}"
                f"\n```\n\n{note}</details>")
    cells = [md(task), code(_strip(exercise.scaffold)), code(check_source(exercise.name)),
             md(solution)]
    cells[2].metadata["tags"] = [CHECK_TAG]
    for part, cell in zip(PARTS, cells, strict=True):
        cell.id = f"exercise-{exercise.name}-{part}".replace("_", "-")
    return cells


def _has_line(cell, heading: str) -> bool:
    return cell.cell_type == "markdown" and any(
        line.strip() == heading for line in cell.source.splitlines())


def _is_generated(cell) -> bool:
    return str(cell.get("id", "")).startswith("exercise-")


def section_bounds(nb) -> tuple[int, int]:
    """Indices of the Exercises heading's cell and of the Summary heading's cell."""
    start = next((k for k, c in enumerate(nb.cells) if _has_line(c, EXERCISES_HEADING)), None)
    if start is None:
        raise ValueError(f"no {EXERCISES_HEADING!r} heading")
    stop = next((k for k in range(start, len(nb.cells))
                 if _has_line(nb.cells[k], SUMMARY_HEADING)), None)
    if stop is None:
        raise ValueError(f"no {SUMMARY_HEADING!r} heading after {EXERCISES_HEADING!r}")
    return start, stop


def _split_summary(nb) -> None:
    """Give "## Summary" its own cell when it shares one with "## Exercises"."""
    start, stop = section_bounds(nb)
    if start != stop:
        return
    cell = nb.cells[start]
    match = re.search(rf"^{re.escape(SUMMARY_HEADING)}\s*$", cell.source, flags=re.M)
    summary = nbformat.v4.new_markdown_cell(cell.source[match.start():])
    summary.id = f"{cell.get('id', 'exercises')}-summary"[:64]
    cell.source = cell.source[:match.start()].rstrip("\n")
    nb.cells.insert(start + 1, summary)


def _last_number(cells) -> int:
    numbers = [int(m.group(1)) for c in cells if c.cell_type == "markdown"
               for m in re.finditer(r"^(\d+)\.\s", c.source, flags=re.M)]
    return max(numbers, default=0)


def updated(nb, exercises) -> nbformat.NotebookNode:
    """The notebook with these exercises at the end of its Exercises section (a copy)."""
    nb = nbformat.from_dict(nb)  # deep copy
    _split_summary(nb)
    old = {c.id: c for c in nb.cells if _is_generated(c)}
    nb.cells = [c for c in nb.cells if not _is_generated(c)]
    start, stop = section_bounds(nb)
    number = _last_number(nb.cells[start:stop])
    new = []
    for k, exercise in enumerate(exercises):
        for cell in exercise_cells(exercise, number + k + 1, first=k == 0):
            kept = old.get(cell.id)
            same = (kept is not None and kept.source == cell.source
                    and kept.cell_type == cell.cell_type
                    and kept.metadata.get("tags") == cell.metadata.get("tags"))
            new.append(kept if same else cell)
    nb.cells[stop:stop] = new
    return nb


def section_problems(nb, names) -> list[str]:
    """What is missing from a notebook's Exercises section for the checks ``names``: a check
    cell (tagged), the scaffold right above it, the folded solution right under it."""
    try:
        start, stop = section_bounds(nb)
    except ValueError as error:
        return [str(error)]
    if not names:
        return ["the Exercises section has no self-checking exercise"]
    cells = nb.cells[start:stop]
    problems = []
    for name in names:
        found = [k for k, c in enumerate(cells)
                 if c.cell_type == "code" and c.source == check_source(name)]
        if not found:
            problems.append(f"no check cell `check_{name}({name})` in the Exercises section")
            continue
        k = found[0]
        if CHECK_TAG not in cells[k].metadata.get("tags", []):
            problems.append(f"the check of {name} is not tagged {CHECK_TAG}")
        above = cells[k - 1] if k > 0 else None
        if above is None or above.cell_type != "code" or f"def {name}(" not in above.source:
            problems.append(f"no scaffold defining {name} right above its check")
        below = cells[k + 1] if k + 1 < len(cells) else None
        if below is None or below.cell_type != "markdown" or "<details>" not in below.source:
            problems.append(f"no folded solution right under the check of {name}")
    return problems


def notebook_exercises() -> dict[Path, list[Exercise]]:
    by_prefix: dict[str, list[Exercise]] = {}
    for exercise in EXERCISES:
        by_prefix.setdefault(exercise.notebook, []).append(exercise)
    paths = {}
    for prefix, exercises in sorted(by_prefix.items()):
        matches = sorted(NOTEBOOKS.glob(f"{prefix}_*.ipynb"))
        if len(matches) != 1:
            raise ValueError(f"expected one notebook {prefix}_*.ipynb, found {len(matches)}")
        paths[matches[0]] = exercises
    return paths


def main(argv: list[str]) -> int:
    check_only = "--check" in argv[1:]
    unknown = [a for a in argv[1:] if a != "--check"]
    if unknown:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems = []
    for path, exercises in notebook_exercises().items():
        before = path.read_text(encoding="utf-8")
        nb = nbformat.reads(before, as_version=4)
        after = nbformat.writes(updated(nb, exercises)) + "\n"
        if after == before:
            continue
        if check_only:
            problems.append(f"{path.name}: its self-checking exercises are missing or out of date")
        else:
            path.write_text(after, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("run: python tools/add_exercise_checks.py", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
