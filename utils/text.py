"""Text corpora as the language-model notebooks use them: Grimm's tales, split by tale, as tokens.

The Gutenberg file is kept raw on purpose (byte-order mark, CRLF line endings, license header,
front matter); `gutenberg_body` and `parse_tales` clean it, and `grimm_tales` returns the 61 tales.
`split_tales` splits by tale (never by position in one stream, which would leak a tale's start
into training and its end into the test set). Tokens are characters or the book's character
bigrams; `Vocabulary` maps them to ids with a Keras `StringLookup` layer, and `windows` cuts an
id stream into (input, next-token target) training windows with `tf.data`.
"""

from __future__ import annotations

import collections
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from . import datasets
from .checks import integer_at_least

START_MARK = "*** START OF"
END_MARK = "*** END OF"
# A tale title is a line in capitals at the left margin (e.g. "THE FROG-PRINCE",
# "LITTLE RED-CAP [LITTLE RED RIDING HOOD]").
TITLE_LINE = re.compile(r"[A-Z][A-Z0-9 '\-,.\[\]]*[A-Z\]]")
FIRST_TITLE = "THE GOLDEN BIRD"
# Two titled parts of one tale in the Gutenberg edition.
PART_TITLES = ("FIRST STORY", "SECOND STORY")
UNKNOWN = "[UNK]"
AFTERWORD_MARK = "*****"


@dataclass(frozen=True)
class Tale:
    title: str
    text: str


@dataclass(frozen=True)
class Splits:
    train: list[Tale]
    validation: list[Tale]
    test: list[Tale]


def gutenberg_body(raw: bytes | str) -> str:
    """The text between Gutenberg's START and END lines: no BOM, ``\\n`` line endings."""
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.lstrip("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < 0 or end < start:
        raise ValueError(
            f"not a Project Gutenberg text: no {START_MARK!r} ... {END_MARK!r} lines found"
        )
    body = text[start:end]
    return body[body.index("\n") + 1 :]  # drop the START line itself


def _paragraphs(lines: Iterable[str]) -> str:
    """Join wrapped lines into paragraphs: one line per paragraph, single spaces."""
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    # _word_ marks italics in Gutenberg texts
    return "\n".join(re.sub(r"\s+", " ", p).replace("_", "") for p in paragraphs)


def parse_tales(body: str) -> list[Tale]:
    """Split the cleaned Grimm text at its title lines, after the front matter."""
    lines = body.split("\n")
    # The contents list also names the first tale, indented; the tale's own title is not.
    starts = [i for i, line in enumerate(lines) if line == FIRST_TITLE]
    if not starts:
        raise ValueError(f"no title line {FIRST_TITLE!r} found: is this Grimm's Fairy Tales?")
    first = starts[0]
    tales: list[tuple[str, list[str]]] = []
    for line in lines[first:]:
        if line.strip() == AFTERWORD_MARK:
            break  # an afterword on the brothers follows the last tale
        title = line.strip()
        if line == line.lstrip() and TITLE_LINE.fullmatch(title) and title not in PART_TITLES:
            tales.append((title, []))
        elif title in PART_TITLES:
            tales[-1][1].extend(["", title.capitalize() + ".", ""])
        else:
            tales[-1][1].append(line)
    return [Tale(title, _paragraphs(body_lines)) for title, body_lines in tales]


def grimm_tales() -> list[Tale]:
    """The 61 tales of Grimm's Fairy Tales (Gutenberg #2591), via the verified loader."""
    return parse_tales(gutenberg_body(datasets.read_bytes("grimm")))


def split_tales(
    tales: Sequence[Tale], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> Splits:
    """Shuffle whole tales with a seed and split them train/validation/test by count."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1: {fractions}")
    if len(tales) < 3:
        raise ValueError(f"need at least 3 tales to split, got {len(tales)}")
    order = list(tales)
    random.Random(seed).shuffle(order)
    n_val = max(1, round(fractions[1] * len(order)))
    n_test = max(1, round(fractions[2] * len(order)))
    n_train = len(order) - n_val - n_test
    if n_train < 1:
        raise ValueError(f"fractions {fractions} leave no training tale out of {len(tales)}")
    return Splits(order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])


def join_tales(tales: Iterable[Tale], lower: bool = True) -> str:
    """One text stream: each tale's text, separated by a blank line (lower-cased by default)."""
    text = "\n\n".join(tale.text for tale in tales) + "\n\n"
    return text.lower() if lower else text


def characters(text: str) -> list[str]:
    """Character tokens."""
    return list(text)


def bigrams(text: str) -> list[str]:
    """The book's tokens: non-overlapping character pairs, "once" -> ["on", "ce"].

    A text of odd length gets a space in front, so that it still ends on a token boundary (a
    prompt's last characters are the ones that matter for what comes next).
    """
    if len(text) % 2:
        text = " " + text
    return [text[i : i + 2] for i in range(0, len(text), 2)]


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"char": characters, "bigram": bigrams}


def tokenizer(name: str) -> Callable[[str], list[str]]:
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {sorted(TOKENIZERS)}")
    return TOKENIZERS[name]


class Vocabulary:
    """Tokens <-> ids through `keras.layers.StringLookup`; id 0 is the unknown token ``[UNK]``.

    Built from training tokens only: tokens seen fewer than `min_count` times there map to
    ``[UNK]`` when encoding corpora (`encode`), but a prompt with an unknown token is an error
    (`encode_strict`), because the model would silently read something else.
    """

    def __init__(self, tokens: Sequence[str]):
        import keras

        tokens = list(tokens)
        if not tokens:
            raise ValueError("a vocabulary needs at least one token")
        if len(set(tokens)) != len(tokens) or UNKNOWN in tokens:
            raise ValueError(f"vocabulary tokens must be unique and must not contain {UNKNOWN!r}")
        self.lookup = keras.layers.StringLookup(vocabulary=tokens, num_oov_indices=1)
        self.tokens: list[str] = [UNKNOWN, *tokens]
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], min_count: int = 1) -> Vocabulary:
        """The tokens seen at least `min_count` times, most frequent first (ties by token)."""
        integer_at_least("min_count", min_count, 1)
        counts = collections.Counter(tokens)
        kept = [t for t, n in counts.items() if n >= min_count]
        kept.sort(key=lambda t: (-counts[t], t))
        return cls(kept)

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def unknown_id(self) -> int:
        return 0

    def __len__(self) -> int:
        return self.size

    def encode(self, tokens: Sequence[str]):
        """Token ids as an int32 NumPy array, unknown tokens as 0 (`StringLookup`)."""
        import numpy as np

        if not len(tokens):
            return np.zeros(0, np.int32)
        return np.asarray(self.lookup(list(tokens)), dtype=np.int32)

    def encode_strict(self, tokens: Sequence[str]):
        """Like `encode`, but an empty input or a token outside the vocabulary is a ValueError."""
        if not len(tokens):
            raise ValueError("empty input: give at least one token")
        unknown = sorted({t for t in tokens if t not in self._ids or t == UNKNOWN})
        if unknown:
            raise ValueError(
                f"{len(unknown)} token(s) not in the vocabulary of {self.size}: "
                f"{', '.join(map(repr, unknown[:10]))}"
            )
        return self.encode(tokens)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids (tokens joined without separator)."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < self.size:
                raise ValueError(f"id {i} outside the vocabulary [0, {self.size})")
            out.append(self.tokens[i])
        return "".join(out)


def windows(
    ids, seq_len: int, batch_size: int, shuffle: bool = True, seed: int = 0,
    drop_remainder: bool = True,
):
    """(input, target) windows for next-token training as a `tf.data.Dataset`.

    The id stream is cut into consecutive windows of ``seq_len + 1`` ids that overlap by one (so
    every id but the first is a target exactly once per epoch); input is ``window[:-1]``, target
    ``window[1:]``. The windows are cached, shuffled each epoch (seeded), batched and
    prefetched. Training drops a last partial batch so every step has the same shape; evaluation
    keeps it (``drop_remainder=False``) so that every window counts.

    Each pass over a shuffled dataset draws a new order, but the orders start again whenever
    `model.fit` is called again. For training that can be interrupted and resumed, a shuffled
    dataset also has ``epochs_from(first_epoch)``: an endless stream of epochs whose order depends
    only on ``(seed, epoch)`` (see `epoch_stream`); `language_model.train` uses it.
    """
    import numpy as np
    import tensorflow as tf

    integer_at_least("seq_len", seq_len, 1)
    integer_at_least("batch_size", batch_size, 1)
    ids = np.asarray(ids, dtype=np.int32)
    starts = np.arange(0, len(ids) - seq_len, seq_len)
    if len(starts) < (batch_size if drop_remainder else 1):
        raise ValueError(
            f"{len(ids)} ids make {len(starts)} windows of seq_len={seq_len}, fewer than one "
            f"batch of batch_size={batch_size}"
        )
    index = starts[:, None] + np.arange(seq_len + 1)[None, :]
    cut = ids[index]
    data = tf.data.Dataset.from_tensor_slices((cut[:, :-1], cut[:, 1:])).cache()
    if shuffle:
        data = data.shuffle(len(cut), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    if shuffle:
        data.epochs_from = lambda first_epoch: epoch_stream(cut, batch_size, seed, first_epoch,
                                                            drop_remainder)
    return data


def epoch_order(n: int, seed: int, epoch):
    """A permutation of ``range(n)`` that depends only on (seed, epoch): the order of the windows
    in that epoch of `epoch_stream` (a stateless shuffle, Philox, as a tf int32 tensor)."""
    import numpy as np
    import tensorflow as tf

    integer_at_least("n", n, 1)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n), seed=key, alg="philox")


def epoch_stream(cut, batch_size: int, seed: int = 0, first_epoch: int = 0,
                 drop_remainder: bool = True):
    """Epochs ``first_epoch, first_epoch + 1, ...`` of the windows `cut` [n, seq_len + 1], without
    end, as (input, target) batches: each window once per epoch, in the order `epoch_order`.

    Fit it with ``steps_per_epoch`` = the batches of one epoch. A run that stops after epoch k and
    continues with ``epoch_stream(..., first_epoch=k + 1)`` sees the very batches that one
    uninterrupted run sees."""
    import numpy as np
    import tensorflow as tf

    integer_at_least("batch_size", batch_size, 1)
    integer_at_least("first_epoch", first_epoch, 0)
    cut = np.asarray(cut, dtype=np.int32)
    if cut.ndim != 2 or cut.shape[1] < 2:
        raise ValueError(f"cut must be windows [n, seq_len + 1] with seq_len >= 1, got shape "
                         f"{cut.shape}")
    if len(cut) < (batch_size if drop_remainder else 1):  # else every epoch would be empty
        raise ValueError(f"{len(cut)} windows make no batch of batch_size={batch_size}")
    inputs, targets = tf.constant(cut[:, :-1]), tf.constant(cut[:, 1:])

    def one_epoch(epoch):
        order = tf.data.Dataset.from_tensor_slices(epoch_order(len(cut), seed, epoch))
        return order.batch(batch_size, drop_remainder=drop_remainder)

    return (
        tf.data.Dataset.counter(first_epoch)
        .flat_map(one_epoch)
        .map(lambda i: (tf.gather(inputs, i), tf.gather(targets, i)))
        .prefetch(tf.data.AUTOTUNE)
    )


@dataclass(frozen=True)
class Corpus:
    """A tokenised corpus: its vocabulary (from the training split) and the id stream per split."""

    tokens: str
    vocabulary: Vocabulary
    ids: dict[str, object]  # "train" / "validation" / "test" -> int32 NumPy array

    @property
    def characters_per_token(self) -> int:
        return 2 if self.tokens == "bigram" else 1


MIN_COUNT = {"char": 1, "bigram": 5}


def grimm_corpus(tokens: str = "bigram", seed: int = 0) -> Corpus:
    """Notebook 06's data in one call: Grimm's tales split by tale (`seed`), lower-cased, as
    character or bigram ids, with a vocabulary of the training tokens seen `MIN_COUNT` times."""
    tokenize = tokenizer(tokens)
    splits = split_tales(grimm_tales(), seed=seed)
    streams = {name: tokenize(join_tales(getattr(splits, name)))
               for name in ("train", "validation", "test")}
    vocabulary = Vocabulary.from_tokens(streams["train"], min_count=MIN_COUNT[tokens])
    return Corpus(tokens, vocabulary, {name: vocabulary.encode(s) for name, s in streams.items()})
