"""Plots the course draws more than once: cell diagrams, the unrolled RNN, beam trees.

`draw_lstm_cell` draws one LSTM cell in the style of colah's "Understanding LSTM Networks"; the
part under discussion (a gate, or the cell-state path) is highlighted, so every section of a
notebook shows the same picture with a different part lit. `draw_gru_cell` draws the GRU in the
same style, `draw_unrolled_rnn` the vanilla RNN unrolled over time with the gradients of
backpropagation through time, and `draw_beam_tree` the hypotheses a beam search kept at each
step, with the winner's path lit.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

PARTS = ("forget", "input", "candidate", "write", "output", "cell_state")
"""Parts of `draw_lstm_cell` that can be lit; "write" is the input gate and candidate together."""
GRU_PARTS = ("update", "reset", "candidate", "hidden_state")
"""Parts of `draw_gru_cell` that can be lit."""
_HIGHLIGHT = "#d62728"
_BASE = "#4a4a4a"


def _arrow(ax, start, end, color, lw=1.6, style="-|>"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color,
                                 lw=lw, shrinkA=0, shrinkB=0))


def _node(ax, xy, text, color, kind="op", fontsize=12):
    if kind == "op":
        circle = plt.Circle(xy, 0.22, fc="white", ec=color, lw=1.8, zorder=3)
        ax.add_patch(circle)
        ax.text(*xy, text, ha="center", va="center", fontsize=fontsize, color=color, zorder=4)
    else:  # a layer: sigmoid or tanh
        w, h = 0.7, 0.45
        box = FancyBboxPatch((xy[0] - w / 2, xy[1] - h / 2), w, h, boxstyle="round,pad=0.03",
                             fc="#fff4d6" if color == _BASE else "#ffd8d8", ec=color, lw=1.8,
                             zorder=3)
        ax.add_patch(box)
        ax.text(*xy, text, ha="center", va="center", fontsize=11, color=color, zorder=4)


def _check_part(highlight, parts) -> None:
    if highlight is not None and highlight not in parts:
        raise ValueError(f"highlight must be one of {', '.join(parts)} or None, got {highlight!r}")


def _cell_frame(ax, title: str | None):
    """The frame every cell diagram shares: the same extent and scale, no axes, a title."""
    ax.set_xlim(-0.2, 9.2)
    ax.set_ylim(-0.2, 4.9)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def draw_lstm_cell(highlight: str | None = None, ax=None, title: str | None = None):
    """Draw an LSTM cell; ``highlight`` is one of `PARTS` or None. Returns the Axes.

    "write" lights what writes into the memory: the input gate, the candidate and their product.
    """
    _check_part(highlight, PARTS)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    lit = {"write": ("input", "candidate")}.get(highlight, (highlight,))

    def color(part):
        return _HIGHLIGHT if part in lit else _BASE

    ax.add_patch(FancyBboxPatch((0.6, 0.5), 7.8, 4.2, boxstyle="round,pad=0.1", fc="#f2f6fb",
                                ec="#9db3cc", lw=1.5))
    y_cell, y_hidden, y_layer = 4.1, 0.9, 2.0
    x_f, x_i, x_g, x_o = 1.8, 3.0, 4.2, 5.9
    # cell state line c_{t-1} -> x -> + -> c_t
    cs = color("cell_state")
    _arrow(ax, (0.0, y_cell), (x_f - 0.22, y_cell), cs, lw=2.6, style="-")
    _arrow(ax, (x_f + 0.22, y_cell), (x_g - 0.22, y_cell), cs, lw=2.6, style="-")
    _arrow(ax, (x_g + 0.22, y_cell), (9.0, y_cell), cs, lw=2.6)
    _node(ax, (x_f, y_cell), "×", color("forget") if highlight == "forget" else cs)
    writing = highlight in ("input", "candidate", "write")
    _node(ax, (x_g, y_cell), "+", _HIGHLIGHT if writing else cs)
    ax.text(0.0, y_cell + 0.25, r"$c_{t-1}$", fontsize=12)
    ax.text(8.7, y_cell + 0.25, r"$c_t$", fontsize=12)
    # hidden/input bus: h_{t-1} and x_t feed all four layers
    _arrow(ax, (0.0, y_hidden), (x_o, y_hidden), _BASE, style="-")
    _arrow(ax, (1.0, 0.0), (1.0, y_hidden), _BASE, style="-")
    ax.text(0.0, y_hidden - 0.35, r"$h_{t-1}$", fontsize=12)
    ax.text(1.1, 0.05, r"$x_t$", fontsize=12)
    layers = [(x_f, r"$\sigma$", "forget", r"$f_t$"), (x_i, r"$\sigma$", "input", r"$i_t$"),
              (x_g, "tanh", "candidate", r"$g_t$"), (x_o, r"$\sigma$", "output", r"$o_t$")]
    for x, text, part, label in layers:
        _arrow(ax, (x, y_hidden), (x, y_layer - 0.25), color(part))
        _node(ax, (x, y_layer), text, color(part), kind="layer")
        ax.text(x + 0.4, y_layer + 0.35, label, fontsize=11, color=color(part))
    # forget gate multiplies the old cell state
    _arrow(ax, (x_f, y_layer + 0.25), (x_f, y_cell - 0.22), color("forget"))
    # input gate times candidate, added to the cell state
    x_mul = (x_i + x_g) / 2
    y_mul = 3.1
    _node(ax, (x_mul, y_mul), "×", _HIGHLIGHT if writing else _BASE)
    _arrow(ax, (x_i, y_layer + 0.25), (x_mul - 0.16, y_mul - 0.16), color("input"))
    _arrow(ax, (x_g, y_layer + 0.25), (x_mul + 0.16, y_mul - 0.16), color("candidate"))
    _arrow(ax, (x_mul + 0.16, y_mul + 0.16), (x_g - 0.16, y_cell - 0.16),
           _HIGHLIGHT if writing else _BASE)
    # output: h_t = o_t * tanh(c_t)
    x_tanh, x_out = 7.2, 7.2
    _arrow(ax, (x_tanh, y_cell), (x_tanh, 3.25), color("output"))
    _node(ax, (x_tanh, 3.0), "tanh", color("output"), kind="layer")
    _node(ax, (x_out, y_hidden + 0.9), "×", color("output"))
    _arrow(ax, (x_tanh, 2.75), (x_out, y_hidden + 1.12), color("output"))
    _arrow(ax, (x_o, y_layer), (x_out - 0.22, y_hidden + 0.9), color("output"))
    _arrow(ax, (x_out, y_hidden + 0.68), (x_out, y_hidden), color("output"), style="-")
    _arrow(ax, (x_out, y_hidden), (9.0, y_hidden), color("output"))
    ax.text(8.7, y_hidden - 0.35, r"$h_t$", fontsize=12)
    return _cell_frame(ax, title)


def draw_gru_cell(highlight: str | None = None, ax=None, title: str | None = None):
    """Draw a GRU cell (Cho et al. 2014) in the style of `draw_lstm_cell`. Returns the Axes.

    Keras' convention: update gate z_t, reset gate r_t, candidate h~_t and
    h_t = z_t * h_{t-1} + (1 - z_t) * h~_t (z_t keeps the old state). The hidden state runs along
    the top, as the LSTM's cell state does; there is no second state. ``highlight`` is one of
    `GRU_PARTS` or None.
    """
    _check_part(highlight, GRU_PARTS)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))

    def color(part):
        return _HIGHLIGHT if part == highlight else _BASE

    ax.add_patch(FancyBboxPatch((0.6, 0.5), 7.8, 4.2, boxstyle="round,pad=0.1", fc="#f2f6fb",
                                ec="#9db3cc", lw=1.5))
    y_top, y_bus, y_layer, y_mid = 4.1, 0.9, 2.0, 3.0
    x_r, x_z, x_one, x_h, x_mix = 1.8, 3.0, 4.0, 5.0, 6.4
    # hidden state line h_{t-1} -> x (keep z_t of it) -> + -> h_t
    hs = color("hidden_state")
    _arrow(ax, (0.0, y_top), (x_z - 0.22, y_top), hs, lw=2.6, style="-")
    _arrow(ax, (x_z + 0.22, y_top), (x_mix - 0.22, y_top), hs, lw=2.6, style="-")
    _arrow(ax, (x_mix + 0.22, y_top), (9.0, y_top), hs, lw=2.6)
    _node(ax, (x_z, y_top), "×", _HIGHLIGHT if highlight in ("update", "hidden_state") else _BASE)
    _node(ax, (x_mix, y_top), "+",
          _HIGHLIGHT if highlight in ("candidate", "hidden_state") else _BASE)
    ax.text(0.0, y_top + 0.25, r"$h_{t-1}$", fontsize=12)
    ax.text(8.7, y_top + 0.25, r"$h_t$", fontsize=12)
    # h_{t-1} also goes down to the bus, where x_t joins it; the bus feeds the three layers
    _arrow(ax, (0.9, y_top), (0.9, y_bus), _BASE, style="-")
    _arrow(ax, (0.9, y_bus), (x_h, y_bus), _BASE, style="-")
    _arrow(ax, (1.2, 0.0), (1.2, y_bus), _BASE, style="-")
    ax.text(1.3, 0.05, r"$x_t$", fontsize=12)
    layers = [(x_r, r"$\sigma$", "reset", r"$r_t$"), (x_z, r"$\sigma$", "update", r"$z_t$"),
              (x_h, "tanh", "candidate", r"$\tilde h_t$")]
    for x, text, part, label in layers:
        _arrow(ax, (x, y_bus), (x, y_layer - 0.25), color(part))
        _node(ax, (x, y_layer), text, color(part), kind="layer")
        ax.text(x + 0.4, y_layer + 0.35 if part != "candidate" else y_layer - 0.6, label,
                fontsize=11, color=color(part))
    # reset: r_t scales what h_{t-1} contributes to the candidate
    _arrow(ax, (x_r, y_top), (x_r, y_mid + 0.22), color("reset"))
    _node(ax, (x_r, y_mid), "×", color("reset"))
    _arrow(ax, (x_r, y_layer + 0.25), (x_r, y_mid - 0.22), color("reset"))
    _arrow(ax, (x_r + 0.2, y_mid - 0.1), (x_h - 0.3, y_layer + 0.25), color("reset"))
    # update: z_t keeps a share of h_{t-1}; 1 - z_t lets the candidate in
    _arrow(ax, (x_z, y_layer + 0.25), (x_z, y_top - 0.22), color("update"))
    _arrow(ax, (x_z, y_mid), (x_one - 0.22, y_mid), color("update"))
    _node(ax, (x_one, y_mid), "1−", color("update"), fontsize=9)
    _arrow(ax, (x_one + 0.22, y_mid), (x_mix - 0.22, y_mid), color("update"))
    _node(ax, (x_mix, y_mid), "×", _HIGHLIGHT if highlight in ("update", "candidate") else _BASE)
    _arrow(ax, (x_h + 0.1, y_layer + 0.25), (x_mix - 0.16, y_mid - 0.16), color("candidate"))
    _arrow(ax, (x_mix, y_mid + 0.22), (x_mix, y_top - 0.22), color("candidate"))
    # the new hidden state is also the cell's output
    _arrow(ax, (7.6, y_top), (7.6, y_bus), hs, style="-")
    _arrow(ax, (7.6, y_bus), (9.0, y_bus), hs)
    ax.text(8.7, y_bus - 0.35, r"$h_t$", fontsize=12)
    return _cell_frame(ax, title)


def draw_unrolled_rnn(steps: int = 4, ax=None, title: str | None = None, backward: bool = True):
    """Draw a vanilla RNN unrolled over ``steps`` time steps: the computational graph of BPTT.

    Inputs x_t below, hidden states h_t in a chain (h_0 on the left), a loss l_t on top of each
    step; the same W (input) and U (recurrent) label every copy, because every step shares them.
    With ``backward`` the gradients are drawn in the highlight colour: dL/dh_t flows right to
    left along the h chain, and each l_t sends its own term down into h_t. Returns the Axes.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    steps = int(steps)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.9 * steps, 3.8))
    gap, w, h = 2.0, 0.8, 0.55  # distance between steps; size of an h_t box
    y_x, y_h, y_loss = 0.0, 1.6, 3.2
    ax.text(0.0, y_h, r"$h_0$", ha="center", va="center", fontsize=12, color=_BASE)
    for t in range(1, steps + 1):
        x = gap * t
        ax.add_patch(FancyBboxPatch((x - w / 2, y_h - h / 2), w, h, boxstyle="round,pad=0.05",
                                    fc="#f2f6fb", ec="#9db3cc", lw=1.5, zorder=3))
        ax.text(x, y_h, rf"$h_{{{t}}}$", ha="center", va="center", fontsize=12, color=_BASE,
                zorder=4)
        ax.text(x, y_x, rf"$x_{{{t}}}$", ha="center", va="center", fontsize=12, color=_BASE)
        _arrow(ax, (x, y_x + 0.25), (x, y_h - h / 2 - 0.05), _BASE)
        ax.text(x - 0.3, (y_x + y_h) / 2 - 0.1, "$W$", ha="center", fontsize=11, color=_BASE)
        # forward along the chain: h_{t-1} -> h_t through U
        start = 0.3 if t == 1 else x - gap + w / 2 + 0.05
        _arrow(ax, (start, y_h + 0.1), (x - w / 2 - 0.05, y_h + 0.1), _BASE)
        ax.text(x - gap / 2, y_h + 0.22, "$U$", ha="center", fontsize=11, color=_BASE)
        # the loss of this step
        ax.add_patch(plt.Circle((x, y_loss), 0.28, fc="white", ec=_BASE, lw=1.8, zorder=3))
        ax.text(x, y_loss, rf"$\ell_{{{t}}}$", ha="center", va="center", fontsize=12,
                color=_BASE, zorder=4)
        _arrow(ax, (x - 0.12, y_h + h / 2 + 0.05), (x - 0.12, y_loss - 0.28), _BASE)
        if backward:
            _arrow(ax, (x + 0.12, y_loss - 0.28), (x + 0.12, y_h + h / 2 + 0.05), _HIGHLIGHT)
            _arrow(ax, (x - w / 2 - 0.05, y_h - 0.12), (start, y_h - 0.12), _HIGHLIGHT)
            ax.text(x + 0.2, y_h - h / 2 - 0.3, rf"$\partial L/\partial h_{{{t}}}$", ha="left",
                    fontsize=10, color=_HIGHLIGHT)
    ax.set_xlim(-0.4, gap * steps + 1.0)
    ax.set_ylim(-0.4, y_loss + 0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    if backward:
        ax.legend(handles=[Line2D([], [], color=_BASE, lw=1.6, label="forward"),
                           Line2D([], [], color=_HIGHLIGHT, lw=1.6, label="backward (gradients)")],
                  loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return ax


def _visible(text: str) -> str:
    """A token as it can be read in a small label: space as ␣, newline as ↵."""
    return str(text).replace(" ", "␣").replace("\n", "↵")


def _path_in_tree(sequence, parents, tokens) -> list[tuple[int, int]]:
    """The live-beam nodes (step, rank) a hypothesis's tokens pass through, from the start; it
    stops where the hypothesis left the beam (it ended with eos and went to the pool)."""
    path, node = [], None
    for t, token in enumerate(sequence[: len(parents)]):
        ranks = [j for j in range(parents.shape[1])
                 if tokens[t, j] == token and (t == 0 or parents[t, j] == node)]
        if not ranks:
            break
        node = ranks[0]
        path.append((t, node))
    return path


def draw_beam_tree(beams, token_text, ax=None, title: str | None = None, prompt: int = 0):
    """Draw one prompt's beam search as a tree: one column per step, the live hypotheses kept at
    that step ranked top (best) to bottom, each labelled with its last token and its total
    log-probability, joined to the hypothesis it extended. The final best hypothesis is
    highlighted; hypotheses that no final one descends from (pruned later) are faded; final
    hypotheses that ended with end-of-sequence left the live beam for the pool: their last token
    is drawn below the beam, joined by a dotted line.

    ``beams`` is a `utils.decoding.Beams` and ``prompt`` which of its prompts to draw;
    ``token_text`` maps a token id to its text (a list indexed by id, or a function). Returns the
    Axes.
    """
    if callable(token_text):
        text_of = token_text
    elif isinstance(token_text, (list, tuple, dict)) or hasattr(token_text, "__getitem__"):
        def text_of(token):
            try:
                return token_text[token]
            except (IndexError, KeyError):
                raise ValueError(f"token_text has no entry for token id {token}") from None
    else:
        raise TypeError(f"token_text must be a function or a list of token texts, got "
                        f"{type(token_text).__name__}")
    one = beams.prompt(prompt)
    parents = np.asarray(one.parents)[:, 0]
    tokens = np.asarray(one.step_tokens)[:, 0]
    log_probs = np.asarray(one.step_log_probs)[:, 0]
    steps, width = parents.shape
    finals = [(seq, lp) for seq, lp in zip(one.sequences()[0], one.log_probs[0], strict=True)
              if seq]
    paths = [_path_in_tree(seq, parents, tokens) for seq, _ in finals]
    best = set(paths[0]) if paths else set()
    ancestors = set().union(*paths) if paths else set()
    # final hypotheses that left the beam with eos: drawn below it, one row each
    ended = [(path, seq, lp) for path, (seq, lp) in zip(paths, finals, strict=True)
             if len(path) < len(seq)]
    rows = width + len(ended)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.25 * (steps + 1), 1.0 + 0.7 * rows))
    box = dict(boxstyle="round,pad=0.25", lw=1.2)
    ax.text(0, 0, "start", ha="center", va="center", fontsize=9, zorder=3,
            bbox={**box, "fc": "#fff4d6", "ec": _HIGHLIGHT})
    for t in range(steps):
        for j in range(width):
            if not np.isfinite(log_probs[t, j]):  # fewer than `width` hypotheses exist
                continue
            parent_xy = (t, 0 if t == 0 else -parents[t, j])
            on_best = (t, j) in best
            alpha = 1.0 if (t, j) in ancestors else 0.35
            color = _HIGHLIGHT if on_best else _BASE
            ax.plot([parent_xy[0], t + 1], [parent_xy[1], -j], "-", color=color,
                    lw=2.4 if on_best else 1.0, alpha=alpha, zorder=1)
            label = f"{_visible(text_of(int(tokens[t, j])))}\n{log_probs[t, j]:.2f}"
            ax.text(t + 1, -j, label, ha="center", va="center", fontsize=8, alpha=alpha,
                    zorder=3, color=color,
                    bbox={**box, "fc": "#ffd8d8" if on_best else "white", "ec": color,
                          "alpha": alpha})
    for i, (path, seq, lp) in enumerate(ended):
        on_best = paths[0] is path
        color = _HIGHLIGHT if on_best else _BASE
        t, y = len(path), -(width + i)
        parent_xy = (t, -path[-1][1]) if path else (0, 0)
        ax.plot([parent_xy[0], t + 1], [parent_xy[1], y], ":", color=color, lw=1.6, zorder=1)
        ax.text(t + 1, y, f"{_visible(text_of(int(seq[t])))}\n{lp:.2f}", ha="center",
                va="center", fontsize=8, zorder=3, color=color,
                bbox={**box, "fc": "#ffd8d8" if on_best else "#eef3ff", "ec": color})
    ax.set_xlim(-0.6, steps + 0.6)
    ax.set_ylim(-rows + 0.4, 0.6)
    ax.set_xticks(range(steps + 1))
    ax.set_yticks([-j for j in range(rows)],
                  [str(j) for j in range(width)] + ["ended"] * len(ended))
    ax.set_xlabel("decoding step (tokens generated)")
    ax.set_ylabel("rank in the live beam (0 = best)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles = [
        Line2D([], [], color=_HIGHLIGHT, lw=2.4, label="final best hypothesis"),
        Line2D([], [], color=_BASE, lw=1.0, label="kept, leads to a final hypothesis"),
        Line2D([], [], color=_BASE, lw=1.0, alpha=0.35, label="kept, pruned later"),
        Line2D([], [], color=_BASE, lw=1.6, ls=":", label="ended (eos): left for the pool"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              frameon=False)
    ax.set_title(title or "Beam search: each node is a kept hypothesis (token, total log-prob)")
    return ax
