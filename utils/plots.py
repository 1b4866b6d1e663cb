"""Plots the course draws more than once: the LSTM cell diagram, gate heatmaps, beam trees.

`draw_lstm_cell` draws one LSTM cell in the style of colah's "Understanding LSTM Networks"; the
part under discussion (a gate, or the cell-state path) is highlighted, so every section of a
notebook shows the same picture with a different part lit. `draw_beam_tree` draws the hypotheses
a beam search kept at each step, with the winner's path lit.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .text import PAD_ID  # a finished hypothesis carried along

PARTS = ("forget", "input", "candidate", "output", "cell_state")
_HIGHLIGHT = "#d62728"
_BASE = "#4a4a4a"


def _arrow(ax, start, end, color, lw=1.6, style="-|>"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color,
                                 lw=lw, shrinkA=0, shrinkB=0))


def _node(ax, xy, text, color, kind="op"):
    if kind == "op":
        circle = plt.Circle(xy, 0.22, fc="white", ec=color, lw=1.8, zorder=3)
        ax.add_patch(circle)
        ax.text(*xy, text, ha="center", va="center", fontsize=12, color=color, zorder=4)
    else:  # a layer: sigmoid or tanh
        w, h = 0.7, 0.45
        box = FancyBboxPatch((xy[0] - w / 2, xy[1] - h / 2), w, h, boxstyle="round,pad=0.03",
                             fc="#fff4d6" if color == _BASE else "#ffd8d8", ec=color, lw=1.8,
                             zorder=3)
        ax.add_patch(box)
        ax.text(*xy, text, ha="center", va="center", fontsize=11, color=color, zorder=4)


def draw_lstm_cell(highlight: str | None = None, ax=None, title: str | None = None):
    """Draw an LSTM cell; ``highlight`` is one of `PARTS` or None. Returns the Axes."""
    if highlight is not None and highlight not in PARTS:
        raise ValueError(f"highlight must be one of {', '.join(PARTS)} or None, got {highlight!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))

    def color(part):
        return _HIGHLIGHT if part == highlight else _BASE

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
    _node(ax, (x_g, y_cell), "+", color("input") if highlight in ("input", "candidate") else cs)
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
    gate_color = color("candidate") if highlight == "candidate" else color("input")
    _node(ax, (x_mul, y_mul), "×", gate_color)
    _arrow(ax, (x_i, y_layer + 0.25), (x_mul - 0.16, y_mul - 0.16), color("input"))
    _arrow(ax, (x_g, y_layer + 0.25), (x_mul + 0.16, y_mul - 0.16), color("candidate"))
    _arrow(ax, (x_mul + 0.16, y_mul + 0.16), (x_g - 0.16, y_cell - 0.16),
           _HIGHLIGHT if highlight in ("input", "candidate") else _BASE)
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
    ax.set_xlim(-0.2, 9.2)
    ax.set_ylim(-0.2, 4.9)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def _visible(text: str) -> str:
    """A token as it can be read in a small label: space as ␣, newline as ↵."""
    return str(text).replace(" ", "␣").replace("\n", "↵")


def draw_beam_tree(beams, token_text, ax=None, title: str | None = None):
    """Draw a beam search as a tree: one column per step, the hypotheses kept at that step ranked
    top (best) to bottom, each labelled with its last token and its total log-probability, joined
    to the hypothesis it extended. The final best hypothesis is highlighted; hypotheses that no
    final one descends from (pruned later) are faded; finished ones carried along are dotted.

    ``beams`` is a `utils.decoding.Beams`; ``token_text`` maps a token id to its text (a list
    indexed by id, or a function). Returns the Axes.
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
    parents = np.asarray(beams.parents)
    tokens = np.asarray(beams.step_tokens)
    log_probs = np.asarray(beams.step_log_probs)
    steps, width = parents.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.25 * (steps + 1), 1.0 + 0.7 * width))
    # which nodes (step, rank) lie on the best path, and which some final hypothesis descends from
    best, ancestors = set(), set()
    for j in range(width):
        rank = j
        for t in range(steps - 1, -1, -1):
            ancestors.add((t, rank))
            if j == 0:
                best.add((t, rank))
            rank = parents[t, rank]
    box = dict(boxstyle="round,pad=0.25", lw=1.2)
    ax.text(0, 0, "start", ha="center", va="center", fontsize=9, zorder=3,
            bbox={**box, "fc": "#fff4d6", "ec": _HIGHLIGHT})
    for t in range(steps):
        for j in range(width):
            parent_xy = (t, 0 if t == 0 else -parents[t, j])
            on_best = (t, j) in best
            alpha = 1.0 if (t, j) in ancestors else 0.35
            color = _HIGHLIGHT if on_best else _BASE
            if tokens[t, j] == PAD_ID:  # a finished hypothesis carried along unchanged
                ax.plot([parent_xy[0], t + 1], [parent_xy[1], -j], ":", color=color, lw=1.2,
                        alpha=alpha, zorder=1)
                continue
            ax.plot([parent_xy[0], t + 1], [parent_xy[1], -j], "-", color=color,
                    lw=2.4 if on_best else 1.0, alpha=alpha, zorder=1)
            label = f"{_visible(text_of(int(tokens[t, j])))}\n{log_probs[t, j]:.2f}"
            ax.text(t + 1, -j, label, ha="center", va="center", fontsize=8, alpha=alpha,
                    zorder=3, color=color,
                    bbox={**box, "fc": "#ffd8d8" if on_best else "white", "ec": color,
                          "alpha": alpha})
    ax.set_xlim(-0.6, steps + 0.6)
    ax.set_ylim(-width + 0.4, 0.6)
    ax.set_xticks(range(steps + 1))
    ax.set_yticks([-j for j in range(width)], [str(j) for j in range(width)])
    ax.set_xlabel("decoding step (tokens generated)")
    ax.set_ylabel("rank in the beam (0 = best)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles = [
        Line2D([], [], color=_HIGHLIGHT, lw=2.4, label="final best hypothesis"),
        Line2D([], [], color=_BASE, lw=1.0, label="kept, leads to a final hypothesis"),
        Line2D([], [], color=_BASE, lw=1.0, alpha=0.35, label="kept, pruned later"),
        Line2D([], [], color=_BASE, lw=1.2, ls=":", label="ended (eos), carried along"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              frameon=False)
    ax.set_title(title or "Beam search: each node is a kept hypothesis (token, total log-prob)")
    return ax
