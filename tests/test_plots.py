import matplotlib

matplotlib.use("Agg")  # this test process only; notebooks keep the inline backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from utils import plots  # noqa: E402


@pytest.mark.parametrize("part", [None, *plots.PARTS])
def test_cell_diagram_draws_and_highlights(part):
    ax = plots.draw_lstm_cell(part, title="cell")
    colours = {matplotlib.colors.to_hex(p.get_edgecolor()) for p in ax.patches}
    assert (plots._HIGHLIGHT in colours) == (part is not None)
    assert ax.get_title() == "cell"
    plt.close("all")


def test_unknown_part_is_a_clear_error():
    with pytest.raises(ValueError, match="highlight must be one of forget, input"):
        plots.draw_lstm_cell("memory")


def _lit_labels(ax, labels):
    """Which of the given text labels are drawn in the highlight colour."""
    return {t.get_text() for t in ax.texts if t.get_text() in labels
            and matplotlib.colors.to_hex(t.get_color()) == plots._HIGHLIGHT}


_LSTM_LABELS = {"forget": r"$f_t$", "input": r"$i_t$", "candidate": r"$g_t$", "output": r"$o_t$"}


@pytest.mark.parametrize(("part", "lit"), [
    (None, set()), ("forget", {"forget"}), ("input", {"input"}), ("candidate", {"candidate"}),
    ("write", {"input", "candidate"}), ("output", {"output"}), ("cell_state", set()),
])
def test_each_lstm_part_lights_exactly_its_layers(part, lit):
    ax = plots.draw_lstm_cell(part)
    assert _lit_labels(ax, set(_LSTM_LABELS.values())) == {_LSTM_LABELS[p] for p in lit}
    plt.close("all")


def test_write_lights_the_input_gate_and_the_candidate_together():
    """Notebook 02's "input gate and candidate" picture lights both layers, not the gate alone."""
    ax = plots.draw_lstm_cell("write")
    assert _lit_labels(ax, {r"$i_t$", r"$g_t$"}) == {r"$i_t$", r"$g_t$"}
    lit_layers = [p for p in ax.patches if isinstance(p, FancyBboxPatch)
                  and matplotlib.colors.to_hex(p.get_edgecolor()) == plots._HIGHLIGHT]
    assert len(lit_layers) == 2  # the sigma of i_t and the tanh of g_t
    plt.close("all")


_GRU_LABELS = {"update": r"$z_t$", "reset": r"$r_t$", "candidate": r"$\tilde h_t$"}


@pytest.mark.parametrize("part", [None, *plots.GRU_PARTS])
def test_gru_diagram_draws_and_highlights(part):
    ax = plots.draw_gru_cell(part, title="gru")
    colours = {matplotlib.colors.to_hex(p.get_edgecolor()) for p in ax.patches}
    assert (plots._HIGHLIGHT in colours) == (part is not None)
    expected = {_GRU_LABELS[part]} if part in _GRU_LABELS else set()
    assert _lit_labels(ax, set(_GRU_LABELS.values())) == expected
    assert ax.get_title() == "gru"
    plt.close("all")


def test_gru_unknown_part_is_a_clear_error():
    with pytest.raises(ValueError, match="highlight must be one of update, reset, candidate"):
        plots.draw_gru_cell("forget")


@pytest.mark.parametrize("steps", [1, 4, 7])
@pytest.mark.parametrize("backward", [True, False])
def test_unrolled_rnn_draws_one_copy_per_step(steps, backward):
    ax = plots.draw_unrolled_rnn(steps, title="BPTT", backward=backward)
    texts = [t.get_text() for t in ax.texts]
    assert [t for t in texts if t.startswith("$h_")] == [f"$h_{{{t}}}$" if t else "$h_0$"
                                                         for t in range(steps + 1)]
    assert sum(t.startswith("$x_") for t in texts) == steps
    assert sum(t.startswith(r"$\ell_") for t in texts) == steps
    assert texts.count("$W$") == steps and texts.count("$U$") == steps  # shared by every copy
    lit_arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)
                  and matplotlib.colors.to_hex(p.get_edgecolor()) == plots._HIGHLIGHT]
    # backward: one gradient arrow along the chain and one from the step's loss, per step
    assert len(lit_arrows) == (2 * steps if backward else 0)
    gradient_labels = [t for t in texts if t.startswith(r"$\partial L")]
    assert len(gradient_labels) == (steps if backward else 0)
    assert (ax.get_legend() is not None) == backward
    assert ax.get_title() == "BPTT"
    plt.close("all")


@pytest.mark.parametrize("steps", [0, -2, 2.5, "4", True, None])
def test_unrolled_rnn_rejects_bad_steps(steps):
    with pytest.raises(ValueError, match="steps must be a whole number >= 1"):
        plots.draw_unrolled_rnn(steps)


def _beams():
    """A width-3 search of 3 steps: the best hypothesis "a <eos>" (eos is id 1) ended at step 1
    and left the live beam for the pool; the other two finals ran all 3 steps."""
    from utils.decoding import PAD_ID, Beams

    parents = np.array([[0, 0, 0], [0, 1, 0], [0, 1, 0]])[:, None]
    step_tokens = np.array([[2, 3, 4], [3, 2, 2], [2, 3, 4]])[:, None]
    step_log_probs = np.array([[-0.5, -1.0, -2.0], [-1.2, -1.5, -1.6], [-1.6, -1.7, -2.5]])[:, None]
    return Beams(tokens=np.array([[[2, 1, PAD_ID], [2, 3, 2], [3, 2, 3]]]),
                 lengths=np.array([[2, 3, 3]]), log_probs=np.array([[-0.9, -1.6, -1.7]]),
                 scores=np.array([[-0.9, -1.6, -1.7]]), parents=parents,
                 step_tokens=step_tokens, step_log_probs=step_log_probs, steps=np.array([3]))


@pytest.mark.parametrize("token_text", [["", "<eos>", "a", "b c", "d"],
                                        lambda i: "<eos>" if i == 1 else "abc"[i - 2]])
def test_beam_tree_labels_every_kept_hypothesis_and_lights_the_best(token_text):
    ax = plots.draw_beam_tree(_beams(), token_text=token_text)
    labels = [t.get_text() for t in ax.texts]
    assert labels[0] == "start" and len(labels) == 1 + 9 + 1  # 9 live nodes, 1 ended
    assert labels[-1] == "<eos>\n-0.90"  # the best hypothesis's end, below the live beam
    lit = [line for line in ax.lines if matplotlib.colors.to_hex(line.get_color())
           == plots._HIGHLIGHT]
    assert len(lit) == 2  # start -> a, then a -> <eos> (dotted: it left the beam)
    assert lit[1].get_linestyle() == ":"
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "ended"
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    plt.close("all")


def test_beam_tree_rejects_bad_token_text():
    with pytest.raises(TypeError, match="token_text must be a function or a list"):
        plots.draw_beam_tree(_beams(), token_text=3)
    with pytest.raises(ValueError, match="token_text has no entry for token id 4"):
        plots.draw_beam_tree(_beams(), token_text=["", "<eos>", "a", "b"])
    plt.close("all")
