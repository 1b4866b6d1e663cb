import matplotlib

matplotlib.use("Agg")  # this test process only; notebooks keep the inline backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

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


def _beams():
    """A width-3 search of 3 steps: rank 0 ends with eos (id 1) at step 2 and is carried."""
    from utils.decoding import PAD_ID, Beams

    parents = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 2]])
    step_tokens = np.array([[2, 3, 4], [1, 3, 2], [PAD_ID, 2, 3]])
    step_log_probs = np.array([[-0.5, -1.0, -2.0], [-0.9, -1.2, -1.5], [-0.9, -1.6, -1.7]])
    return Beams(tokens=np.array([[2, 1, PAD_ID], [2, 3, 2], [3, 2, 3]]),
                 lengths=np.array([2, 3, 3]), log_probs=step_log_probs[-1],
                 scores=step_log_probs[-1], parents=parents, step_tokens=step_tokens,
                 step_log_probs=step_log_probs)


@pytest.mark.parametrize("token_text", [["", "<eos>", "a", "b c", "d"],
                                        lambda i: "<eos>" if i == 1 else "abc"[i - 2]])
def test_beam_tree_labels_every_kept_hypothesis_and_lights_the_best(token_text):
    ax = plots.draw_beam_tree(_beams(), token_text=token_text)
    labels = [t.get_text() for t in ax.texts]
    assert labels[0] == "start" and len(labels) == 1 + 8  # one padded node has no label
    assert "<eos>\n-0.90" in labels
    lit = [line for line in ax.lines if matplotlib.colors.to_hex(line.get_color())
           == plots._HIGHLIGHT]
    assert len(lit) == 3  # start -> a -> <eos> -> carried
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    plt.close("all")


def test_beam_tree_rejects_bad_token_text():
    with pytest.raises(TypeError, match="token_text must be a function or a list"):
        plots.draw_beam_tree(_beams(), token_text=3)
    with pytest.raises(ValueError, match="token_text has no entry for token id 4"):
        plots.draw_beam_tree(_beams(), token_text=["", "<eos>", "a", "b"])
    plt.close("all")
