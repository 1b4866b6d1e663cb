"""Space restoration: a sequence-labelling task where the right context matters (notebook 09).

Take a text, remove its spaces, and ask a model to put them back: for every remaining character
the label is 1 when a space followed it and 0 otherwise. ``"the king"`` becomes the characters
``"theking"`` with labels ``0010000``. Reading left to right, a model at ``"the"`` cannot know
whether ``"the"``, ``"there"`` or ``"then"`` is coming: the answer lies to the right, which is
what a bidirectional LSTM can see and a one-directional LSTM cannot.

Model inputs are character ids from a `utils.text.Vocabulary`, whose id 0 (`PAD_ID`) is padding,
so ``keras.layers.Embedding(vocab.size, ..., mask_zero=True)`` masks it.
Restored boundaries are scored like any detection task: precision, recall and F1 of the label 1.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .checks import integer_at_least
from .text import PAD_ID  # model input id of padding (a Vocabulary never encodes text to it)


def normalize(text: str) -> str:
    """Every run of white space (spaces, newlines, tabs) as one space, none at either end."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return " ".join(text.split())


def remove_spaces(text: str) -> tuple[str, np.ndarray]:
    """The characters of `text` without white space, and per character 1 if a space followed.

    The text is normalised first (`normalize`), so ``restore_spaces(*remove_spaces(t))`` gives
    back ``normalize(t)``.
    """
    words = normalize(text).split(" ")
    chars = "".join(words)
    labels = np.zeros(len(chars), dtype=np.int8)
    ends = np.cumsum([len(w) for w in words])[:-1]  # index after each word but the last
    labels[ends - 1] = 1
    return chars, labels


def _check_labels(name: str, labels, length: int | None = None) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {labels.shape}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1, got values {np.unique(labels)[:5]}")
    if length is not None and len(labels) != length:
        raise ValueError(f"{name} has {len(labels)} entries, expected {length}")
    return labels.astype(np.int8)


def restore_spaces(chars: str, labels) -> str:
    """Put a space after every character whose label is 1: the inverse of `remove_spaces`."""
    if not isinstance(chars, str):
        raise TypeError(f"chars must be a str, got {type(chars).__name__}")
    if any(c.isspace() for c in chars):
        raise ValueError("chars must not contain white space: remove_spaces() removes it")
    labels = _check_labels("labels", labels, len(chars))
    return "".join(c + " " * int(b) for c, b in zip(chars, labels, strict=True))


def char_ids(chars: str, vocab) -> np.ndarray:
    """Model input ids of `chars`: the vocabulary's ids (never `PAD_ID`).

    Characters outside the vocabulary get the id of its unknown token.
    """
    return np.asarray(vocab.encode(list(chars)), dtype=np.int32)


def windows(ids, labels, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut a stream into non-overlapping training windows: inputs and labels, (n, length) each.

    The last partial window is dropped, so every window has `length` characters (no padding).
    """
    length = integer_at_least("length", length, 1)
    ids = np.asarray(ids, dtype=np.int32)
    labels = _check_labels("labels", labels, len(ids))
    n = len(ids) // length
    if n == 0:
        raise ValueError(f"{len(ids)} characters make no window of length={length}")
    cut = n * length
    return ids[:cut].reshape(n, length), labels[:cut].reshape(n, length)


def delayed_windows(ids, labels, length: int, delay: int,
                    end_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training windows for a one-directional model that gives each label `delay` steps late.

    The streaming answer to right context: a left-to-right model that may read `delay` more
    characters before it decides. Window k reads the `length + delay` ids from ``k * length`` on
    (past the end of the stream, `end_id`: "the text ends here"), and its target at step t is the
    label of character ``k * length + t - delay``, so every label of the first
    ``n * length`` characters is a target exactly once, as in `windows`. The first `delay` steps
    decide nothing: their weight is 0 (their target is 0). Returns inputs, targets and weights,
    each (n, length + delay); ``delay=0`` gives `windows` with all weights 1.

    `end_id` must not be `PAD_ID` (a masking model would skip the end marker and give no output
    there) and must not occur in `ids`.
    """
    length = integer_at_least("length", length, 1)
    delay = integer_at_least("delay", delay, 0)
    end_id = integer_at_least("end_id", end_id, 0)
    if end_id == PAD_ID:
        raise ValueError(f"end_id must not be PAD_ID={PAD_ID}: a masking model skips padding, "
                         "so the delayed steps at the end would give no output")
    ids = np.asarray(ids, dtype=np.int32)
    labels = _check_labels("labels", labels, len(ids))
    if np.any(ids == end_id):
        raise ValueError(f"end_id={end_id} occurs in ids: the end marker must be an id of its own")
    n = len(ids) // length
    if n == 0:
        raise ValueError(f"{len(ids)} characters make no window of length={length}")
    stream = np.concatenate([ids, np.full(max(0, n * length + delay - len(ids)), end_id,
                                          np.int32)])
    starts = np.arange(n)[:, None] * length
    inputs = stream[starts + np.arange(length + delay)[None, :]]
    targets = np.zeros((n, length + delay), np.int8)
    targets[:, delay:] = labels[: n * length].reshape(n, length)
    weights = np.zeros((n, length + delay), np.float32)
    weights[:, delay:] = 1.0
    return inputs, targets, weights


def context_windows(ids, positions, left: int, right: int,
                    right_fill: int = PAD_ID) -> np.ndarray:
    """For each position, the ids from ``left`` characters before it to ``right`` after it.

    Returns an array (len(positions), left + 1 + right) whose column `left` is the character at
    the position; a model's output there decides that position's label having seen exactly
    `right` characters of right context. Where the window runs past either end of the stream it is
    filled with `PAD_ID` (a masking model ignores it); past the end, with `right_fill` if given
    (the `end_id` a delayed model was trained with, see `delayed_windows`).
    """
    left = integer_at_least("left", left, 0)
    right = integer_at_least("right", right, 0)
    right_fill = integer_at_least("right_fill", right_fill, 0)
    ids = np.asarray(ids, dtype=np.int32)
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size and (positions.min() < 0 or positions.max() >= len(ids)):
        raise ValueError(f"positions must lie in [0, {len(ids)}), got "
                         f"{positions.min()}..{positions.max()}")
    padded = np.concatenate([np.full(left, PAD_ID, np.int32), ids,
                             np.full(right, right_fill, np.int32)])
    index = positions[:, None] + np.arange(left + 1 + right)[None, :]
    return padded[index]


@dataclass(frozen=True)
class BoundaryScores:
    """Precision, recall and F1 of restored spaces (label 1), with the counts they come from."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int

    def __str__(self) -> str:
        return f"precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f}"


def boundary_scores(true_labels, predicted_labels) -> BoundaryScores:
    """Score predicted spaces against the true ones.

    Precision: the share of predicted spaces that are real; recall: the share of real spaces
    found; F1: their harmonic mean. A ratio with nothing to count (no predicted or no true space)
    is 0.
    """
    true_labels = _check_labels("true_labels", np.ravel(true_labels))
    predicted_labels = _check_labels("predicted_labels", np.ravel(predicted_labels),
                                     len(true_labels))
    tp = int(np.sum((true_labels == 1) & (predicted_labels == 1)))
    fp = int(np.sum((true_labels == 0) & (predicted_labels == 1)))
    fn = int(np.sum((true_labels == 1) & (predicted_labels == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BoundaryScores(precision, recall, f1, tp, fp, fn)


MISSED_STYLE = "background:#f8b4b4;color:#8b0000"  # a real space the model did not restore
SPURIOUS_STYLE = "background:#ffd98a;color:#7a4a00"  # a space the model put where none was


def cut_at_word(text: str, max_chars: int) -> str:
    """The start of `text` (normalised), at most `max_chars` characters, ending with a whole word.

    A sample cut this way still has an unknown last label: in the full text a space, a
    punctuation mark or nothing may follow its last character (see `scored_positions`).
    """
    max_chars = integer_at_least("max_chars", max_chars, 1)
    text = normalize(text)
    if len(text) <= max_chars:
        return text
    head = text[: max_chars + 1]  # a word ending at max_chars is kept whole
    if " " not in head:
        raise ValueError(f"the first word of the text is longer than max_chars={max_chars}")
    return head.rsplit(" ", 1)[0]


def scored_positions(length: int) -> np.ndarray:
    """Which labels of a cut sample of `length` characters can be scored: all but the last.

    The last character's label depends on what follows it in the full text, which the sample no
    longer holds (``"hold the"`` cut from ``"hold the spoon"`` has a space after ``"the"``, cut
    from ``"hold them"`` none), so a model's answer there is neither right nor wrong.
    """
    length = integer_at_least("length", length, 0)
    return np.arange(length) < length - 1


def highlight_errors(chars: str, true_labels, predicted_labels: Sequence[int],
                     scored=None) -> str:
    """HTML of the restored text with its errors marked.

    Correct spaces are plain spaces; a missed space shows as a red ``␣``, a spurious one as an
    orange ``·`` (each with a tooltip). Where `scored` (one bool per character, default all
    True) is False the label is unknown: the character is shown with no mark and no space.
    """
    true_labels = _check_labels("true_labels", true_labels, len(chars))
    predicted_labels = _check_labels("predicted_labels", predicted_labels, len(chars))
    scored = np.ones(len(chars), bool) if scored is None else np.asarray(scored, bool)
    if scored.shape != (len(chars),):
        raise ValueError(f"scored must have one entry per character ({len(chars)}), "
                         f"got shape {scored.shape}")
    out = []
    for char, truth, guess, known in zip(chars, true_labels, predicted_labels, scored,
                                         strict=True):
        out.append(html.escape(char))
        if not known:
            continue
        if truth and guess:
            out.append(" ")
        elif truth:
            out.append(f'<span style="{MISSED_STYLE}" title="missed space">&#9251;</span>')
        elif guess:
            out.append(f'<span style="{SPURIOUS_STYLE}" title="spurious space">&middot;</span>')
    return "".join(out)


def right_context_needed(chars: str, labels, lexicon, max_context: int = 8) -> np.ndarray:
    """For each character, how many characters to its right decide its label, given a lexicon.

    A reader who knows the words so far (the true boundaries to the left) and a lexicon of words
    (those of the training text) has two readings at every character: a word ends here, or it goes
    on. The label is decided by the smallest number k of characters to the right after which the
    wrong reading no longer fits the lexicon: ``"the|king"`` needs k = 1 (``"thek"`` starts no
    word), ``"the|re"`` in ``"there"`` needs more, and ``"ki|ng"`` needs 0 (``"ki"`` is no word).
    Returns one int per character: 0 .. max_context, ``max_context + 1`` when even that many
    characters leave both readings open (or the text ends first), and -1 when the true reading is
    not in the lexicon (an unknown word), where the count says nothing.
    """
    max_context = integer_at_least("max_context", max_context, 0)
    labels = _check_labels("labels", labels, len(chars))
    words = frozenset(lexicon)
    if not words or not all(isinstance(w, str) and w and " " not in w for w in words):
        raise ValueError("lexicon must be a non-empty collection of words without spaces")
    prefixes = {w[:j] for w in words for j in range(1, len(w) + 1)}
    proper_prefixes = {w[:j] for w in words for j in range(1, len(w))}
    starts_cache: dict[str, bool] = {}

    def starts_words(text: str) -> bool:
        """Whether `text` can be the beginning of a sequence of lexicon words."""
        if text not in starts_cache:
            starts_cache[text] = (not text or text in prefixes or any(
                text[:j] in words and starts_words(text[j:]) for j in range(1, len(text))))
        return starts_cache[text]

    def fits(word_so_far: str, ends_here: bool, after: str) -> bool:
        """Whether a reading fits the lexicon, given the characters `after` it."""
        if ends_here:
            return word_so_far in words and starts_words(after)
        if not after:
            return word_so_far in proper_prefixes
        longer = word_so_far + after  # the word goes on into `after`
        return longer in prefixes or any(
            longer[:j] in words and starts_words(longer[j:])
            for j in range(len(word_so_far) + 1, len(longer)))

    needed = np.full(len(chars), max_context + 1, dtype=np.int64)
    start = 0
    for i in range(len(chars)):
        word_so_far, truth = chars[start : i + 1], bool(labels[i])
        if not fits(word_so_far, truth, ""):
            needed[i] = -1
        else:
            for k in range(max_context + 1):
                if i + k >= len(chars):
                    break  # the text ends: no more context to read
                if not fits(word_so_far, not truth, chars[i + 1 : i + 1 + k]):
                    needed[i] = k
                    break
        if truth:
            start = i + 1
    return needed
