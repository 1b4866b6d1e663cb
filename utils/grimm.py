"""Notebook 06's language model of Grimm's tales, as one recipe: the corpus, the split, the
vocabulary, the sizes per profile, the seed, the run folder, and the calls that build, train and
load the model. Notebook 06 trains through these functions; 07, 08, 11 and the benchmarks import
them, so that a number of the recipe is written here and nowhere else.

The book's model (Embedding 96, LSTM 512, LSTM 256, Dense 1024, a bigram vocabulary of 705) is
`BOOK`; the gpu profile trains it at that size. The recipe's functions take any `text.Corpus`, so
the same model trains on your own text (`text.load_corpus`). Importing this module does not
import TensorFlow (the benchmarks read `BOOK` before they choose TensorFlow's settings).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from . import datasets, text
from .environment import DEFAULT_SEED

if TYPE_CHECKING:  # importing this module is cheap: TensorFlow loads when a model is built
    from .training import TrainingRun

# ----------------------------------------------------------------------------------------------
# The corpus: Grimm's Fairy Tales (Gutenberg #2591), 62 tales

FIRST_TITLE = "THE GOLDEN BIRD"
# A tale title is a line in capitals at the left margin (e.g. "THE FROG-PRINCE",
# "LITTLE RED-CAP [LITTLE RED RIDING HOOD]").
TITLE_LINE = re.compile(r"[A-Z][A-Z0-9 '\-,.\[\]]*[A-Z\]]")
# Two titled parts of one tale in the Gutenberg edition.
PART_TITLES = ("FIRST STORY", "SECOND STORY")
AFTERWORD_MARK = "*****"

SPLIT_SEED = 0  # which tales go to training, validation and test
MIN_COUNT = {"char": 1, "bigram": 5}  # rarer training tokens become [UNK]


def parse_tales(body: str) -> list[text.Tale]:
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
    return [text.Tale(title, text.paragraphs(body_lines)) for title, body_lines in tales]


def tales() -> list[text.Tale]:
    """The 62 tales of Grimm's Fairy Tales, via the verified loader."""
    return parse_tales(text.gutenberg_body(datasets.read_bytes("grimm")))


def split(all_tales: list[text.Tale] | None = None) -> text.Splits:
    """The tales split 80/10/10 by whole tale, with the recipe's `SPLIT_SEED`."""
    return text.split_tales(tales() if all_tales is None else all_tales, seed=SPLIT_SEED)


def corpus(tokens: str = "bigram") -> text.Corpus:
    """Notebook 06's data in one call: the split tales, lower-cased, as character or bigram ids,
    with a vocabulary of the training tokens seen `MIN_COUNT` times."""
    text.tokenizer(tokens)  # an unknown kind fails here, before the file is read
    return text.corpus_from_tales(split(), tokens, MIN_COUNT[tokens])


# ----------------------------------------------------------------------------------------------
# The model and its training, per profile

BOOK_VOCABULARY = 705  # the book's bigram vocabulary (its own Grimm corpus)
BOOK_LAYERS = dict(embedding_dim=96, units=(512, 256), dense_units=1024)
BOOK = dict(vocab_size=BOOK_VOCABULARY, **BOOK_LAYERS)  # lm.build_model(**BOOK)

# Training: stateful windows (each batch continues the last one's rows, the state carried over),
# and a learning rate that falls along a cosine from `learning_rate` towards 1 % of it, per epoch.
SIZES = dict(
    smoke=dict(tokens="bigram", embedding_dim=32, units=(64,), dense_units=None, dropout=0.0,
               batch=32, seq_len=32, epochs=3, learning_rate=5e-3, stateful=True),
    cpu=dict(tokens="bigram", embedding_dim=96, units=(384,), dense_units=None, dropout=0.1,
             batch=32, seq_len=64, epochs=18, learning_rate=1e-2, stateful=True),
    gpu=dict(tokens="bigram", **BOOK_LAYERS, dropout=0.2, batch=128, seq_len=128, epochs=50,
             learning_rate=2e-3, stateful=True),
)
FINAL_LEARNING_RATE = 0.01  # where the cosine ends (one epoch after the last), as a share
SEED = DEFAULT_SEED  # the model's initial weights and dropout (the course's seed)
RUN = "06_text_generation"  # the checkpoint folder of notebook 06's training run
VOCABULARY_FILE = "vocabulary.json"  # saved next to the model, in the run folder


def windows(corpus: text.Corpus, sizes) -> dict[str, object]:
    """The tf.data batches of each split: with ``sizes["stateful"]``, `text.stateful_batches`
    (rows that continue from batch to batch; training shifts them each epoch); else
    `text.windows` (independent windows; training shuffled, evaluation whole)."""
    if sizes.get("stateful"):
        return {
            name: text.stateful_batches(corpus.ids[name], sizes["seq_len"], sizes["batch"],
                                        shift=name == "train")
            for name in ("train", "validation", "test")
        }
    return {
        name: text.windows(corpus.ids[name], sizes["seq_len"], sizes["batch"],
                           shuffle=name == "train", drop_remainder=name == "train")
        for name in ("train", "validation", "test")
    }


def build_model(vocab_size: int, sizes, seed: int = SEED):
    """The model for these sizes, its weights drawn from `seed`, compiled."""
    import keras

    from . import language_model as lm

    keras.utils.set_random_seed(seed)
    model = lm.build_model(vocab_size, sizes["embedding_dim"], sizes["units"],
                           sizes["dense_units"], sizes["dropout"],
                           stateful_batch=sizes["batch"] if sizes.get("stateful") else None)
    return lm.compile_model(model, sizes["learning_rate"])


def learning_rate(sizes, epoch: int) -> float:
    """The learning rate of `epoch` (from 0): a cosine from ``sizes["learning_rate"]`` at the
    first epoch down towards `FINAL_LEARNING_RATE` of it, which it would reach one epoch after the
    last (so even a 2-epoch run trains its second epoch at half the rate, not at the floor).
    Large steps while the model is far from good, small ones to settle at the end; a function of
    the epoch alone, so a resumed run continues the same curve."""
    import math

    first, epochs = sizes["learning_rate"], sizes["epochs"]
    last = first * FINAL_LEARNING_RATE
    return last + (first - last) * 0.5 * (1 + math.cos(math.pi * min(epoch / epochs, 1.0)))


def train(model, data: dict[str, object], sizes, run_dir, **options) -> TrainingRun:
    """`training.train` with the recipe: the training batches of `data` (from `windows`),
    validated on its validation batches, for ``sizes["epochs"]`` epochs at the `learning_rate`
    of each epoch, resumable in `run_dir`."""
    from . import training

    return training.train(model, data["train"], data["validation"], sizes["epochs"], run_dir,
                          learning_rate=lambda epoch: learning_rate(sizes, epoch), **options)


def run_dir(profile: str) -> Path:
    """Where notebook 06 trains the model of `profile` (created): ``checkpoints/06_.../profile``."""
    if profile not in SIZES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(SIZES)}")
    from . import training

    return training.checkpoint_dir(RUN, profile)


def load_model(profile: str, verbose: int = 0):
    """Notebook 06's trained model and vocabulary for `profile`: loaded from its run folder, or,
    where notebook 06 has not run on this machine, trained now with its recipe and seed. The
    model comes without stateful layers (`language_model.stateless_copy`), for any batch size."""
    import keras

    from . import language_model as lm

    folder = run_dir(profile)
    best, vocabulary_file = folder / "best.keras", folder / VOCABULARY_FILE
    if not (best.exists() and vocabulary_file.exists()):
        sizes = SIZES[profile]
        print(f"No trained model in {folder} (notebook 06 saves one there); training it now "
              f"with the {profile!r} sizes of notebook 06 ...")
        data = corpus(sizes["tokens"])
        model = build_model(data.vocabulary.size, sizes)
        train(model, windows(data, sizes), sizes, folder, verbose=verbose)
        data.vocabulary.save(vocabulary_file)
    model = lm.compile_model(lm.stateless_copy(keras.models.load_model(best)))
    return model, text.Vocabulary.load(vocabulary_file)
