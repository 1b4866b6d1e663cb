"""Training loops of the course: on a stream of generated data (the synthetic tasks), and on a
corpus with checkpoints that survive an interruption (the language models).

A generator such as `tasks.adding_problem` can make unlimited data, so the models never see the
same sequence twice and cannot memorise a training set. `train_on_stream` trains ``chunk`` steps
at a time on new data, evaluates after each chunk, and stops early when asked to.

`train` is `model.fit` that keeps the best model and resumes an interrupted run (a Colab
disconnect, a kernel restart) from its last finished epoch; `checkpoint_dir` says where runs live.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from . import tasks
from .checks import integer_at_least

CHECKPOINT_ENV = "COURSE_CHECKPOINTS"


@dataclass
class StreamRun:
    curve: np.ndarray  # rows of (training steps so far, score after them)
    seconds: float

    @property
    def steps(self) -> int:
        return int(self.curve[-1, 0])

    @property
    def final(self) -> float:
        return float(self.curve[-1, 1])


def train_on_stream(
    model,
    make_data: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    max_steps: int,
    batch_size: int,
    evaluate: Callable[[object], float],
    chunk: int = 100,
    stop: Callable[[float], bool] | None = None,
    give_up: Callable[[np.ndarray], bool] | None = None,
) -> StreamRun:
    """Fit a compiled Keras model on ``make_data(n, seed)``, ``chunk`` steps (batches) at a time.

    Chunk k uses seed ``k * chunk`` (so every model trained with the same arguments sees the same
    data), then ``evaluate(model)`` gives the score recorded in the curve; training stops after
    ``max_steps`` steps, as soon as ``stop(score)`` is true, or as soon as ``give_up(curve)`` is
    true for the curve so far (rows of steps and score), for a run that is going nowhere.
    """
    max_steps = integer_at_least("max_steps", max_steps)
    batch_size = integer_at_least("batch_size", batch_size)
    chunk = integer_at_least("chunk", chunk)
    curve, started = [], time.perf_counter()
    for done in range(0, max_steps, chunk):
        steps = min(chunk, max_steps - done)
        x, y = make_data(steps * batch_size, done)
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        score = float(evaluate(model))
        curve.append((done + steps, score))
        if stop is not None and stop(score):
            break
        if give_up is not None and give_up(np.array(curve)):
            break
    return StreamRun(np.array(curve), time.perf_counter() - started)


def train_on_adding(
    model,
    length: int,
    max_steps: int,
    batch_size: int = 64,
    stop_below: float | None = None,
    test_size: int = 1000,
    test_seed: int = 1_000_000,
    give_up_after: int | None = None,
    plateau_mse: float = tasks.ADDING_BASELINE_MSE / 2,
) -> StreamRun:
    """`train_on_stream` on the adding problem; the score is the MSE on held-out sequences.

    The held-out set is drawn with ``test_seed``, which must not be one of the training chunks'
    seeds (0, 100, 200, ...), so no test sequence is ever trained on. Training stops early once
    the MSE is below ``stop_below``, or gives up after ``give_up_after`` steps if the MSE has not
    once been below ``plateau_mse`` by then (the run never left the mean predictor's plateau).
    """
    chunk = 100
    if give_up_after is not None:
        give_up_after = integer_at_least("give_up_after", give_up_after)
    if test_seed < max_steps and test_seed % chunk == 0:
        raise ValueError(f"test_seed {test_seed} is also the seed of a training chunk; "
                         f"use one that is not a multiple of {chunk} below max_steps")
    x_test, y_test = tasks.adding_problem(test_size, length, seed=test_seed)
    return train_on_stream(
        model,
        lambda n, seed: tasks.adding_problem(n, length, seed),
        max_steps=max_steps,
        batch_size=batch_size,
        evaluate=lambda m: m.evaluate(x_test, y_test, verbose=0),
        chunk=chunk,
        stop=None if stop_below is None else (lambda mse: mse < stop_below),
        give_up=None if give_up_after is None else (
            lambda curve: curve[-1, 0] >= give_up_after and curve[:, 1].min() >= plateau_mse),
    )


# ----------------------------------------------------------------------------------------------
# Resumable training on a corpus, and where its checkpoints live


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
    learning_rate: Callable[[int], float] | None = None,
) -> TrainingRun:
    """`model.fit` that keeps the best model and survives interruptions.

    - ``run_dir/best.keras``: the model with the lowest validation loss so far (ModelCheckpoint;
      after a resume it starts from the best loss in the history, so a worse epoch never
      replaces it);
    - ``run_dir/backup/``: the state at the end of the last finished epoch (BackupAndRestore). If
      a run is interrupted (a Colab disconnect, a kernel restart, Ctrl-C), calling `train` again
      with the same `run_dir` resumes from there instead of from epoch 0. A backup that does not
      fit `model` is an error, never deleted;
    - ``run_dir/history.csv``: the per-epoch metrics, appended across resumed runs (with the
      epoch's learning rate where `learning_rate`, a function of the epoch, sets it).

    Training windows from `text.windows` (or `text.stateful_batches`) run through their
    ``epochs_from`` stream, whose order depends on (seed, epoch) only: a resumed run sees the same
    batches as an uninterrupted one. A model with stateful layers starts every epoch and every
    validation pass from zero states.
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
    if learning_rate is not None:  # before CSVLogger, which then logs it
        callbacks.insert(0, keras.callbacks.LearningRateScheduler(learning_rate))
    if any(getattr(layer, "stateful", False) for layer in model.layers):
        callbacks.insert(0, _ResetStates())
    model.fit(train_data, validation_data=validation_data, epochs=epochs, callbacks=callbacks,
              steps_per_epoch=steps, shuffle=False, verbose=verbose)  # data is shuffled
    return TrainingRun(read_history(log), best, len(epochs_seen))


class _ResetStates(keras.callbacks.Callback):
    """Zero a stateful model's states where a new pass over a stream begins."""

    def on_epoch_begin(self, epoch, logs=None):
        from .language_model import reset_states

        reset_states(self.model)

    def on_test_begin(self, logs=None):
        self.on_epoch_begin(0)


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
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}
