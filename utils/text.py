"""Text corpora as the language-model notebooks use them: cleaned, split, tokenised, as ids.

`gutenberg_body` cleans a raw Project Gutenberg file (byte-order mark, CRLF line endings, license
header); `split_tales` splits titled texts by whole text (never by position in one stream, which
would leak a tale's start into training and its end into the test set). Tokens are characters or
the book's character bigrams; `Vocabulary` maps them to ids with a Keras `StringLookup` layer
(id 0 is padding, `PAD_ID`, id 1 the unknown token), and `windows` cuts an id stream into
(input, next-token target) training windows with `tf.data`. `load_corpus` turns any plain text (a
registered dataset or a file) into a `Corpus`; `utils.grimm` builds notebook 06's from the tales.
"""

from __future__ import annotations

import collections
import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import datasets
from .checks import integer_at_least

START_MARK = "*** START OF"
END_MARK = "*** END OF"
PAD_ID = 0  # "no token": padding, and what decoding writes after end-of-sequence
PADDING = ""  # the padding id's token (StringLookup's mask token): it decodes to nothing
UNKNOWN = "[UNK]"  # id 1: a token outside the vocabulary
VOCABULARY_FORMAT = 2  # the layout `Vocabulary.save` writes (1: a bare list, [UNK] at id 0)


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


def paragraphs(lines: Iterable[str]) -> str:
    """Join a Gutenberg text's wrapped lines into paragraphs: one line per paragraph, single
    spaces, no ``_italics_`` marks."""
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
    """Tokens <-> ids through `keras.layers.StringLookup`.

    Id 0 (`PAD_ID`) is padding, StringLookup's mask token: no text ever encodes to it, so a
    padded position or a finished sequence can never be mistaken for a token. Id 1 is the unknown
    token ``[UNK]``; the vocabulary's own tokens follow, most frequent first. `size` counts all of
    them, since each is a row of a model's embedding and logits.

    Built from training tokens only: tokens seen fewer than `min_count` times there map to
    ``[UNK]`` when encoding corpora (`encode`), but a prompt with an unknown token is an error
    (`encode_strict`), because the model would silently read something else.
    """

    def __init__(self, tokens: Sequence[str]):
        import keras

        tokens = list(tokens)
        if not tokens:
            raise ValueError("a vocabulary needs at least one token")
        if len(set(tokens)) != len(tokens) or {UNKNOWN, PADDING} & set(tokens):
            raise ValueError(f"vocabulary tokens must be unique, not empty, and must not "
                             f"contain {UNKNOWN!r}")
        self.lookup = keras.layers.StringLookup(vocabulary=tokens, mask_token=PADDING,
                                                num_oov_indices=1)
        self.tokens: list[str] = [PADDING, UNKNOWN, *tokens]
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
        """The number of ids: padding, ``[UNK]`` and the tokens."""
        return len(self.tokens)

    @property
    def unknown_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return self.size

    def encode(self, tokens: Sequence[str]):
        """Token ids as an int32 NumPy array, unknown tokens as `unknown_id` (`StringLookup`)."""

        if not len(tokens):
            return np.zeros(0, np.int32)
        return np.asarray(self.lookup(list(tokens)), dtype=np.int32)

    def encode_strict(self, tokens: Sequence[str]):
        """Like `encode`, but an empty input or a token outside the vocabulary is a ValueError."""
        if not len(tokens):
            raise ValueError("empty input: give at least one token")
        unknown = sorted({t for t in tokens if self._ids.get(t, PAD_ID) < 2})
        if unknown:
            raise ValueError(
                f"{len(unknown)} token(s) not in the vocabulary of {self.size}: "
                f"{', '.join(map(repr, unknown[:10]))}"
            )
        return self.encode(tokens)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids (tokens joined without separator; padding is empty)."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < self.size:
                raise ValueError(f"id {i} outside the vocabulary [0, {self.size})")
            out.append(self.tokens[i])
        return "".join(out)

    def save(self, path: Path | str) -> None:
        """Write the vocabulary as JSON (next to a model's checkpoint): its layout and tokens."""
        header = dict(format=VOCABULARY_FORMAT, padding_id=PAD_ID, unknown_id=self.unknown_id)
        Path(path).write_text(json.dumps(dict(header, tokens=self.tokens[2:]), ensure_ascii=False))

    @classmethod
    def load(cls, path: Path | str) -> Vocabulary:
        """The vocabulary `save` wrote. A file in another layout is an error, never ids shifted
        in silence (a model trained with it would read other tokens)."""
        path = Path(path)
        saved = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(saved, list):
            raise ValueError(
                f"{path} is a vocabulary in the old layout (a bare list of tokens, [UNK] at id 0, "
                f"no padding id); ids have moved since (0 is padding, 1 is [UNK]), so the model "
                f"saved next to it reads other tokens. Train it again (notebook 06 does), or "
                f"move that folder away."
            )
        if not isinstance(saved, dict) or saved.get("format") != VOCABULARY_FORMAT or (
                saved.get("padding_id"), saved.get("unknown_id")) != (PAD_ID, 1):
            raise ValueError(f"{path} is not a vocabulary of format {VOCABULARY_FORMAT} "
                             f"(padding id {PAD_ID}, [UNK] id 1); Vocabulary.save writes one")
        return cls(saved["tokens"])


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
    only on ``(seed, epoch)`` (see `epoch_stream`); `training.train` uses it.
    """
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


def stateful_batches(ids, seq_len: int, batch_size: int, shift: bool = True, seed: int = 0):
    """(input, target) batches for an LSTM that carries its state from one batch to the next
    (``stateful=True``: truncated backpropagation through time, the book's setup).

    The stream is cut into `batch_size` contiguous rows of equal length, and batch k holds the
    k-th window of `seq_len` ids of every row, so row r of batch k + 1 continues row r of batch
    k: the state the model ends a batch with is the right start for the next one. Rows keep their
    order (shuffling would break that continuity); with `shift`, epoch e starts the rows at an
    offset in [0, seq_len) drawn from (seed, e), so the windows' boundaries move from epoch to
    epoch. One epoch as a `tf.data.Dataset`; ``epochs_from(first_epoch)`` is the endless,
    resumable stream of epochs that `training.train` uses (as for `windows`)."""
    import tensorflow as tf

    integer_at_least("seq_len", seq_len, 1)
    integer_at_least("batch_size", batch_size, 1)
    ids = np.asarray(ids, dtype=np.int32)
    room = seq_len - 1 if shift else 0  # the largest offset
    row = (len(ids) - 1 - room) // batch_size // seq_len * seq_len
    if row < seq_len:
        raise ValueError(
            f"{len(ids)} ids make no {batch_size} rows of at least seq_len={seq_len} ids; use a "
            "smaller batch_size or seq_len, or more text"
        )
    stream = tf.constant(ids)

    def one_epoch(epoch):
        offset = 0
        if shift:
            key = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
            offset = tf.random.stateless_uniform([], key, maxval=seq_len, dtype=tf.int32,
                                                 alg="philox")
        used = stream[offset : offset + batch_size * row + 1]

        def cut(part):  # [batch, row] -> [steps, batch, seq_len]
            rows = tf.reshape(part, [batch_size, row // seq_len, seq_len])
            return tf.transpose(rows, [1, 0, 2])

        inputs = cut(used[:-1])
        targets = cut(tf.reshape(tf.reshape(used[1:], [batch_size, row]), [-1]))
        return tf.data.Dataset.from_tensor_slices((inputs, targets))

    data = one_epoch(0).prefetch(tf.data.AUTOTUNE)
    data.epochs_from = lambda first_epoch: (
        tf.data.Dataset.counter(first_epoch).flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)
    )
    return data


@dataclass(frozen=True)
class Corpus:
    """A tokenised corpus: its vocabulary (from the training split) and the id stream per split."""

    tokens: str
    vocabulary: Vocabulary
    ids: dict[str, object]  # "train" / "validation" / "test" -> int32 NumPy array

    @property
    def characters_per_token(self) -> int:
        return 2 if self.tokens == "bigram" else 1


def _ids_per_split(streams: dict[str, list[str]], tokens: str, min_count: int) -> Corpus:
    """A `Corpus` from token streams per split, with a vocabulary of the training tokens."""
    vocabulary = Vocabulary.from_tokens(streams["train"], min_count=min_count)
    return Corpus(tokens, vocabulary, {name: vocabulary.encode(s) for name, s in streams.items()})


def corpus_from_tales(splits: Splits, tokens: str = "bigram", min_count: int = 1) -> Corpus:
    """Split tales as a `Corpus`: each split's tales joined (`join_tales`, lower case),
    tokenised, and encoded with a vocabulary of the training tokens seen `min_count` times."""
    tokenize = tokenizer(tokens)
    streams = {name: tokenize(join_tales(getattr(splits, name)))
               for name in ("train", "validation", "test")}
    return _ids_per_split(streams, tokens, min_count)


def split_text(raw: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> list[str]:
    """Train, validation and test text: three contiguous blocks of `raw`, in order, cut at the
    line boundaries nearest to `fractions` of its characters. They join back to `raw`."""
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1: {fractions}")
    lines = raw.splitlines(keepends=True)
    ends = np.cumsum([len(line) for line in lines])  # the offset after each line
    cuts = [0]
    for share in np.cumsum(fractions)[:2]:
        after = int(np.argmin(np.abs(ends - share * len(raw))))  # the nearest line end
        cuts.append(max(int(ends[after]), cuts[-1]))
    cuts.append(len(raw))
    return [raw[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def corpus_from_text(raw: str, tokens: str = "bigram", *, min_count: int = 1, lower: bool = True,
                     fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                     seq_len: int = 32, name: str = "the text") -> Corpus:
    """Any plain text as a `Corpus`: split into contiguous train/validation/test blocks
    (`split_text`), each its own id stream (so no window straddles two splits), tokenised, with
    a vocabulary of the training tokens seen `min_count` times.

    Every split must hold more than `seq_len` tokens: one training window, and at least one window
    of validation and of test text to measure. `name` names the text in error messages.
    """
    integer_at_least("seq_len", seq_len, 1)
    raw = raw.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if lower:
        raw = raw.lower()
    tokenize = tokenizer(tokens)
    blocks = split_text(raw, fractions)
    streams = {split: tokenize(block)
               for split, block in zip(("train", "validation", "test"), blocks, strict=True)}
    streams_sizes = {split: len(s) for split, s in streams.items()}
    if min(streams_sizes.values()) <= seq_len:
        raise ValueError(
            f"{name} is too short: cut {' / '.join(map(str, fractions))} at line boundaries, "
            f"it gives {', '.join(f'{k} {n}' for k, n in streams_sizes.items())} {tokens} "
            f"tokens; "
            f"each split needs more than seq_len={seq_len} (a training window, and text to "
            f"validate and test on). Use a longer text (with several lines) or a smaller seq_len."
        )
    return _ids_per_split(streams, tokens, min_count)


def read_text(path: Path | str, encoding: str = "utf-8") -> str:
    """A plain text file's contents, or a ValueError that says what is wrong with the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no file {path}: give the path of a plain text file, or one of the registered "
            f"datasets: {', '.join(datasets.names())}")
    data = path.read_bytes()
    return _decode(data, str(path), encoding)


def _decode(data: bytes, name: str, encoding: str) -> str:
    if not data.strip():
        raise ValueError(f"{name} is empty: a corpus needs text")
    if b"\x00" in data:
        raise ValueError(f"{name} is a binary file (it holds NUL bytes), not plain text")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{name} is not {encoding} text (byte {error.start}: {data[error.start:][:4]!r}); "
            f"convert it first, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`"
        ) from None


def load_corpus(source: str | Path, tokens: str = "bigram", **options) -> Corpus:
    """`corpus_from_text` of a registered dataset (``"tinyshakespeare"``, see
    `utils.datasets.names`) or of a plain UTF-8 text file; `options` go to `corpus_from_text`."""
    if isinstance(source, str) and source in datasets.names():
        raw = _decode(datasets.read_bytes(source), f"dataset {source!r}", "utf-8")
    else:
        raw = read_text(source)
    return corpus_from_text(raw, tokens, name=str(source), **options)
