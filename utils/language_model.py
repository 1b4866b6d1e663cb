"""The course's LSTM language model: build it, measure perplexity, train it so a run can resume,
and run it one token at a time for generation.

The model maps token ids [batch, time] to next-token logits [batch, time, vocab]:
embedding -> recurrent layers (returning sequences) -> a ReLU dense layer -> logits. The book's
bigram model is ``build_model(705, 96, (512, 256), 1024)``.

`step_function` reuses the trained layers' cells to advance the model by one token with explicit
states, so generating a token costs one step, not a pass over the whole prefix.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras

from .checks import integer_at_least

CHECKPOINT_ENV = "COURSE_CHECKPOINTS"
RECURRENT = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_model(
    vocab_size: int,
    embedding_dim: int = 96,
    units: Sequence[int] = (512, 256),
    dense_units: int | None = 1024,
    dropout: float = 0.0,
    recurrent: str | Callable[[int], keras.layers.Layer] = "lstm",
    name: str = "language_model",
) -> keras.Model:
    """Embedding, one recurrent layer per entry of `units`, an optional ReLU layer, logits.

    `recurrent` is ``"lstm"``, ``"gru"`` or a function ``units -> layer`` (for example
    ``lambda n: keras.layers.RNN(PeepholeLSTMCell(n), return_sequences=True)``); its layers must
    return sequences and expose their cell as ``.cell``. `dropout` is applied to the outputs of
    every recurrent layer (not inside the recurrence, which would rule out the cuDNN kernel).
    """
    integer_at_least("vocab_size", vocab_size, 2)
    integer_at_least("embedding_dim", embedding_dim, 1)
    if not units:
        raise ValueError("units must name at least one recurrent layer, e.g. (256,)")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if isinstance(recurrent, str):
        if recurrent not in RECURRENT:
            raise ValueError(f"unknown recurrent layer {recurrent!r}; choose {sorted(RECURRENT)}")
        layer_class = RECURRENT[recurrent]

        def make(n, i):
            return layer_class(n, return_sequences=True, name=f"{recurrent}_{i}")
    else:
        def make(n, i):
            return recurrent(n)

    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(tokens)
    for i, n in enumerate(units, start=1):
        integer_at_least("units", n, 1)
        x = make(n, i)(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    if dense_units:
        x = keras.layers.Dense(dense_units, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")(x)
    return keras.Model(tokens, logits, name=name)


def recurrent_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's recurrent layers, in order (every layer that has a `.cell`)."""
    return [layer for layer in model.layers if hasattr(layer, "cell")]


def _state_sizes(cell) -> list[int]:
    size = cell.state_size
    return list(size) if isinstance(size, list | tuple) else [size]


def initial_state(model: keras.Model, batch_size: int = 1) -> tuple:
    """Zero states for `step_function`: (h, c) per LSTM layer, (h,) per GRU layer, flattened."""
    integer_at_least("batch_size", batch_size, 1)
    return tuple(
        keras.ops.zeros((batch_size, n))
        for layer in recurrent_layers(model)
        for n in _state_sizes(layer.cell)
    )


def step_function(model: keras.Model, forbidden_ids: Sequence[int] = ()):
    """``step(tokens [batch], state) -> (log_probs [batch, vocab], state)`` for `utils.decoding`.

    It calls the trained layers' cells directly (same weights, no copy), one token at a time.
    `forbidden_ids` (e.g. the unknown token) get probability 0 and the rest is renormalised.
    """
    layers = {layer.name: layer for layer in model.layers}
    cells = [layer.cell for layer in recurrent_layers(model)]
    sizes = [len(_state_sizes(cell)) for cell in cells]
    after = [
        layer for layer in model.layers[model.layers.index(recurrent_layers(model)[-1]) + 1 :]
        if isinstance(layer, keras.layers.Dense)
    ]
    embedding = layers["embedding"]
    vocab_size = after[-1].units
    forbid = None
    if forbidden_ids:
        for i in forbidden_ids:
            if not 0 <= int(i) < vocab_size:
                raise ValueError(f"forbidden id {i} outside the vocabulary [0, {vocab_size})")
        mask = [0.0] * vocab_size
        for i in forbidden_ids:
            mask[int(i)] = -1e9
        forbid = keras.ops.convert_to_tensor(mask)

    def step(tokens, state):
        x = embedding(tokens)
        new_state, offset = [], 0
        for cell, n in zip(cells, sizes, strict=True):
            own = list(state[offset : offset + n])
            offset += n
            x, cell_state = cell(x, own if n > 1 else own[0], training=False)
            cell_state = cell_state if isinstance(cell_state, list | tuple) else [cell_state]
            new_state.extend(cell_state)
        for dense in after:
            x = dense(x)
        logits = keras.ops.cast(x, "float32")
        if forbid is not None:
            logits = logits + forbid
        return keras.ops.log_softmax(logits, axis=-1), tuple(new_state)

    return step


@keras.saving.register_keras_serializable(package="lstm_course")
class Perplexity(keras.metrics.Metric):
    """exp(mean next-token cross-entropy), accumulated over every token of an epoch."""

    def __init__(self, name: str = "perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        loss = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        self.total.assign_add(keras.ops.sum(keras.ops.cast(loss, "float32")))
        self.count.assign_add(keras.ops.cast(keras.ops.size(loss), "float32"))

    def result(self):
        return keras.ops.exp(self.total / keras.ops.maximum(self.count, 1.0))

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


def compile_model(model: keras.Model, learning_rate: float = 2e-3, clipnorm: float = 1.0):
    """Adam with gradient clipping, cross-entropy on logits, and perplexity as the metric."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Perplexity()],
    )
    return model


def bits_per_character(perplexity: float, characters_per_token: float) -> float:
    """A per-token perplexity as bits per character: log2(perplexity) / characters per token."""
    if perplexity < 1:
        raise ValueError(f"a perplexity is at least 1, got {perplexity}")
    if characters_per_token <= 0:
        raise ValueError(f"characters_per_token must be positive, got {characters_per_token}")
    return math.log2(perplexity) / characters_per_token


def checkpoint_dir(*parts: str) -> Path:
    """Where trained models live: $COURSE_CHECKPOINTS, else the checkout's checkpoints/, else
    ~/.cache/lstm-course/checkpoints; `parts` name a subfolder (created)."""
    if os.environ.get(CHECKPOINT_ENV):
        root = Path(os.environ[CHECKPOINT_ENV]).expanduser()
    else:
        checkout = Path(__file__).resolve().parent.parent
        if (checkout / "pyproject.toml").is_file():
            root = checkout / "checkpoints"
        else:
            root = Path.home() / ".cache" / "lstm-course" / "checkpoints"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


DRIVE = "/content/drive"
DRIVE_CHECKPOINTS = f"{DRIVE}/MyDrive/lstm-course/checkpoints"


def keep_checkpoints_on_drive() -> bool:
    """In Colab, mount Google Drive (Colab asks for permission) and point ``$COURSE_CHECKPOINTS``
    at a folder there, because a Colab runtime's disk is lost when the runtime is recycled; each
    notebook runs on its own runtime, so 07 finds the model 06 trained. Elsewhere, or where
    ``$COURSE_CHECKPOINTS`` is set already, it does nothing. Returns whether it mounted Drive."""
    if "google.colab" not in sys.modules or os.environ.get(CHECKPOINT_ENV):
        return False
    from google.colab import drive

    drive.mount(DRIVE)
    os.environ[CHECKPOINT_ENV] = DRIVE_CHECKPOINTS
    return True


@dataclass
class TrainingRun:
    history: dict[str, list[float]]
    best_path: Path
    epochs_run: int


def train(
    model: keras.Model,
    train_data,
    validation_data,
    epochs: int,
    run_dir: Path | str,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 2,
) -> TrainingRun:
    """`model.fit` that keeps the best model and survives interruptions.

    - ``run_dir/best.keras``: the model with the lowest validation loss so far (ModelCheckpoint;
      after a resume it starts from the best loss in the history, so a worse epoch never
      replaces it);
    - ``run_dir/backup/``: the state at the end of the last finished epoch (BackupAndRestore). If
      a run is interrupted (a Colab disconnect, a kernel restart, Ctrl-C), calling `train` again
      with the same `run_dir` resumes from there instead of from epoch 0. A backup that does not
      fit `model` is an error, never deleted;
    - ``run_dir/history.csv``: the per-epoch metrics, appended across resumed runs.

    Training windows from `text.windows` run through their ``epochs_from`` stream, whose order
    depends on (seed, epoch) only: a resumed run sees the same batches as an uninterrupted one.
    """
    integer_at_least("epochs", epochs, 1)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    best = run_dir / "best.keras"
    log = run_dir / "history.csv"
    backup = run_dir / "backup"
    if not backup.exists() and log.exists():
        log.unlink()  # a finished earlier run: start a fresh log
    best_so_far = None  # the best validation loss of the epochs before a resume
    if backup.exists() and best.exists() and log.exists():
        best_so_far = min(read_history(log).get("val_loss", []), default=None)
    steps = None
    if hasattr(train_data, "epochs_from"):  # text.windows: epoch k's order from (seed, k)
        steps = int(train_data.cardinality())
        train_data = train_data.epochs_from(resume_epoch(backup))
    epochs_seen = []
    callbacks = [
        _BackupAndRestore(str(backup)),
        keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True,
                                        initial_value_threshold=best_so_far),
        keras.callbacks.CSVLogger(str(log), append=True),
        keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, _: epochs_seen.append(epoch)),
        *extra_callbacks,
    ]
    model.fit(train_data, validation_data=validation_data, epochs=epochs, callbacks=callbacks,
              steps_per_epoch=steps, verbose=verbose)
    return TrainingRun(read_history(log), best, len(epochs_seen))


def resume_epoch(backup_dir: Path | str) -> int:
    """The epoch a run resumes at from `backup_dir` (BackupAndRestore's metadata): 0 without one."""
    metadata = Path(backup_dir) / "training_metadata.json"
    return int(json.loads(metadata.read_text())["epoch"]) if metadata.exists() else 0


def _random_states(model: keras.Model) -> list:
    """The states of the model's random generators (dropout): `save_weights` leaves them out."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class _BackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that also backs up the dropout random states (so that a resumed run
    drops the same units as an uninterrupted one), and that names the folder to deal with when
    its backup does not fit the model."""

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
            self._restore_random_states()
        except (ValueError, KeyError) as error:
            raise ValueError(
                f"The training backup in {self.backup_dir} does not fit this model: it was saved "
                "by a model with other layers, sizes or optimizer. Build the model as it was "
                "(the same sizes and profile) to resume that run, or move or delete that folder "
                f"to start a new run. Keras said: {error}"
            ) from error

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        states = [keras.ops.convert_to_numpy(v).tolist() for v in _random_states(self.model)]
        (Path(self.backup_dir) / "random_states.json").write_text(json.dumps(states))

    def _restore_random_states(self):
        path = Path(self.backup_dir) / "random_states.json"
        if not path.exists():
            return
        saved, variables = json.loads(path.read_text()), _random_states(self.model)
        if len(saved) != len(variables):
            raise ValueError(f"{len(saved)} random generator states saved, the model has "
                             f"{len(variables)}")
        for variable, state in zip(variables, saved, strict=True):
            variable.assign(state)


def read_history(path: Path | str) -> dict[str, list[float]]:
    """The per-epoch metrics a CSVLogger wrote, as lists by column."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def save_vocabulary(tokens: Sequence[str], path: Path | str) -> None:
    Path(path).write_text(json.dumps(list(tokens), ensure_ascii=False))


def load_vocabulary(path: Path | str) -> list[str]:
    return json.loads(Path(path).read_text())


# Notebook 06's model and training sizes per profile; notebooks 07, 08 and 11 reuse them.
GRIMM_SIZES = dict(
    smoke=dict(tokens="bigram", embedding_dim=32, units=(64,), dense_units=None, dropout=0.0,
               batch=32, seq_len=32, epochs=2, learning_rate=5e-3),
    cpu=dict(tokens="bigram", embedding_dim=96, units=(256, 256), dense_units=None, dropout=0.1,
             batch=32, seq_len=64, epochs=15, learning_rate=5e-3),
    gpu=dict(tokens="bigram", embedding_dim=96, units=(512, 256), dense_units=1024, dropout=0.2,
             batch=128, seq_len=128, epochs=50, learning_rate=2e-3),
)
GRIMM_RUN = "06_text_generation"


def grimm_windows(corpus, sizes) -> dict[str, object]:
    """The tf.data windows of notebook 06 for each split (training shuffled, evaluation whole)."""
    from . import text

    return {
        name: text.windows(corpus.ids[name], sizes["seq_len"], sizes["batch"],
                           shuffle=name == "train", drop_remainder=name == "train")
        for name in ("train", "validation", "test")
    }


def build_grimm_model(vocab_size: int, sizes) -> keras.Model:
    """Notebook 06's model for these sizes, compiled."""
    model = build_model(vocab_size, sizes["embedding_dim"], sizes["units"], sizes["dense_units"],
                        sizes["dropout"])
    return compile_model(model, sizes["learning_rate"])


def load_grimm_model(profile: str, verbose: int = 0):
    """Notebook 06's trained model and vocabulary for `profile`: loaded from its checkpoint
    folder, or, where notebook 06 has not run on this machine, trained now with its sizes."""
    from . import text

    run_dir = checkpoint_dir(GRIMM_RUN, profile)
    best, vocabulary_file = run_dir / "best.keras", run_dir / "vocabulary.json"
    if not (best.exists() and vocabulary_file.exists()):
        sizes = GRIMM_SIZES[profile]
        print(f"No trained model in {run_dir} (notebook 06 saves one there); training it now "
              f"with the {profile!r} sizes of notebook 06 ...")
        corpus = text.grimm_corpus(sizes["tokens"])
        data = grimm_windows(corpus, sizes)
        keras.utils.set_random_seed(0)
        train(build_grimm_model(corpus.vocabulary.size, sizes), data["train"], data["validation"],
              sizes["epochs"], run_dir, verbose=verbose)
        save_vocabulary(corpus.vocabulary.tokens[1:], vocabulary_file)
    return keras.models.load_model(best), text.Vocabulary(load_vocabulary(vocabulary_file))


def count_perplexity(train_ids, eval_ids, vocab_size: int, context: int) -> float:
    """Perplexity of a count-based baseline with add-one smoothing, fitted on `train_ids`:
    no context (``context=0``, the unigram model) or the previous token (``context=1``)."""
    import numpy as np

    integer_at_least("vocab_size", vocab_size, 2)
    if context not in (0, 1):
        raise ValueError(f"context must be 0 (unigram) or 1 (previous token), got {context!r}")
    train_ids, eval_ids = np.asarray(train_ids, int), np.asarray(eval_ids, int)
    if len(eval_ids) < 1 + context:
        raise ValueError(f"eval_ids needs at least {1 + context} token(s), got {len(eval_ids)}")
    for name, ids in (("train_ids", train_ids), ("eval_ids", eval_ids)):
        if len(ids) and not (ids.min() >= 0 and ids.max() < vocab_size):
            raise ValueError(f"{name} must lie in [0, {vocab_size})")
    if context == 0:
        counts = np.bincount(train_ids, minlength=vocab_size) + 1.0
        probs = counts / counts.sum()
        return float(np.exp(-np.mean(np.log(probs[eval_ids]))))
    pairs = np.ones((vocab_size, vocab_size))
    np.add.at(pairs, (train_ids[:-1], train_ids[1:]), 1.0)
    probs = pairs / pairs.sum(axis=1, keepdims=True)
    return float(np.exp(-np.mean(np.log(probs[eval_ids[:-1], eval_ids[1:]]))))
