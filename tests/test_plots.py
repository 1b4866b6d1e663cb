import matplotlib

matplotlib.use("Agg")  # this test process only; notebooks keep the inline backend

import matplotlib.pyplot as plt  # noqa: E402
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
