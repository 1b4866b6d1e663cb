"""Training on several devices and several processes, and a launcher for local worker processes.

`fit_steps` trains the course's language model for a fixed number of steps under any
`tf.distribute` strategy (or none) and returns the per-step losses, so runs on one device, on two
mirrored devices and on two worker processes can be compared number by number.

`Workers` starts one process per worker with its ``TF_CONFIG`` (a cluster on 127.0.0.1 ports),
waits for all of them, and always cleans up: on an error, a timeout, an interrupt or a worker that
dies, every worker still running is stopped, and if the launching process itself dies (a notebook
kernel that crashes or is killed) the workers die with it. A port that is already taken is
reported by number before anything starts; ports chosen by `free_ports` that another process takes
before a worker binds them are chosen again. ``python -m utils.distributed train ...`` is the
worker program that trains with `MultiWorkerMirroredStrategy`. `unsynced_steps` is the negative
control for the equivalence check: replicas that never exchange gradients.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .checks import integer_at_least

HOST = "127.0.0.1"
STDERR_TAIL_CHARS = 2000
# Losses of a data-parallel run and of one device agree up to float32 rounding: the all-reduce
# adds the replicas' gradients in another order than one device's batch sum does.
EQUIVALENCE_RTOL = 1e-5
# What a worker prints when its port was taken after it was checked (gRPC, TensorFlow, Python).
PORT_CLASH_MESSAGES = ("address already in use", "could not start grpc server",
                       "failed to add port")
# Runs a worker's command so that it dies with the process that launched it: on Linux the kernel
# sends it SIGKILL when its parent dies (PR_SET_PDEATHSIG survives exec); elsewhere a small
# supervisor polls its parent and kills the command when the parent is gone.
_GUARD = """\
import os, signal, subprocess, sys, time
parent, command = int(sys.argv[1]), sys.argv[2:]
if sys.platform.startswith("linux"):
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        sys.exit(1)
    os.execvp(command[0], command)
child = subprocess.Popen(command)
while child.poll() is None:
    if os.getppid() != parent:
        child.kill()
        sys.exit(1)
    time.sleep(0.2)
sys.exit(child.returncode)
"""


class PortInUseError(OSError):
    """A port meant for a worker is already taken by another process."""


class WorkerFailedError(RuntimeError):
    """A worker exited with a non-zero code; the message has its code and the end of its stderr."""

    def __init__(self, index: int, returncode: int, stderr_tail: str):
        self.index, self.returncode, self.stderr_tail = index, returncode, stderr_tail
        super().__init__(
            f"worker {index} exited with code {returncode}; the end of its stderr:\n{stderr_tail}"
        )


@dataclass(frozen=True)
class WorkerResult:
    index: int
    returncode: int
    stdout: str
    stderr: str


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago (chosen by the OS)."""
    count = integer_at_least("count", count)
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((HOST, 0))  # all held open at once, so the ports differ
        return [s.getsockname()[1] for s in sockets]


def is_port_clash(stderr: str) -> bool:
    """Whether a worker's error output says it could not listen on its port (a port race)."""
    lowered = stderr.lower()
    return any(message in lowered for message in PORT_CLASH_MESSAGES)


def check_port_free(port: int) -> None:
    """Raise `PortInUseError` naming ``port`` if some process already listens on it."""
    port = integer_at_least("port", port, minimum=1)
    if port > 65535:
        raise ValueError(f"port must be an integer in [1, 65535], got {port}")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore connections closing
        try:
            s.bind(("", port))
        except OSError as err:
            raise PortInUseError(
                f"port {port} is already in use by another process, so a worker cannot listen on "
                f"it; pick other ports (or let free_ports choose) or stop that process ({err})"
            ) from None


def tf_config(ports: Sequence[int], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers on 127.0.0.1 ``ports``."""
    if not 0 <= index < len(ports):
        raise ValueError(f"index must be in [0, {len(ports)}) for {len(ports)} ports, got {index}")
    cluster = {"worker": [f"{HOST}:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


class Workers:
    """Run ``command(index)`` once per worker, each with its ``TF_CONFIG``; a context manager.

    ``with Workers(command, n=2) as workers: results = workers.wait()`` starts the processes,
    waits until all have exited (at most ``timeout`` seconds) and returns their outputs. Leaving
    the ``with`` block in any way stops every worker still running (SIGTERM, then SIGKILL), and a
    worker dies with the process that started it (on Linux: with the thread that started it,
    so start workers from a thread that outlives them, as a notebook's cells do).

    When the ports are left to `free_ports` (``ports=None``), a port that another process takes
    between the choice and a worker's bind (a race no choice can exclude) is retried on new ports,
    at most ``attempts`` times in all; `port_retries` counts the retries. Ports given explicitly
    are never changed: a taken one raises `PortInUseError`.
    """

    def __init__(
        self,
        command: Callable[[int], Sequence[str]],
        n: int = 2,
        ports: Sequence[int] | None = None,
        timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
        attempts: int = 3,
    ):
        self.n = integer_at_least("n", n)
        self.attempts = integer_at_least("attempts", attempts)
        self._choose_ports = ports is None
        self.port_retries = 0
        self.ports = list(ports) if ports is not None else free_ports(self.n)
        if len(self.ports) != self.n:
            raise ValueError(f"ports must list one port per worker ({self.n}), got {self.ports}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.command, self.timeout = command, timeout
        self.env = dict(os.environ if env is None else env)
        self.processes: list[subprocess.Popen] = []
        self._logs = None

    def __enter__(self) -> Workers:
        while True:
            try:
                for port in self.ports:
                    check_port_free(port)
                break
            except PortInUseError:
                if not self._can_retry():
                    raise
                self._new_ports()
        self._logs = tempfile.TemporaryDirectory(prefix="workers-")
        self._start()
        return self

    def _can_retry(self) -> bool:
        return self._choose_ports and self.port_retries + 1 < self.attempts

    def _new_ports(self) -> None:
        self.port_retries += 1
        self.ports = free_ports(self.n)

    def _start(self) -> None:
        self.processes = []
        try:
            for index in range(self.n):
                env = {**self.env, "TF_CONFIG": tf_config(self.ports, index)}
                command = [sys.executable, "-c", _GUARD, str(os.getpid()), *self.command(index)]
                with open(self._log(index, "out"), "wb") as out, \
                        open(self._log(index, "err"), "wb") as err:
                    self.processes.append(subprocess.Popen(
                        command, stdout=out, stderr=err, env=env,
                        stdin=subprocess.DEVNULL, start_new_session=True,
                    ))
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()
        if self._logs is not None:
            self._logs.cleanup()
            self._logs = None

    def _log(self, index: int, stream: str) -> Path:
        return Path(self._logs.name) / f"worker-{index}.{stream}"

    def _read(self, index: int, stream: str) -> str:
        return self._log(index, stream).read_text(encoding="utf-8", errors="replace")

    def wait(self, poll_s: float = 0.05) -> list[WorkerResult]:
        """Wait for every worker; raise as soon as one fails, or when the timeout passes."""
        deadline = time.monotonic() + self.timeout
        while True:
            codes = [p.poll() for p in self.processes]
            failed = [(index, code) for index, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                index, code = failed[0]
                stderr = self._read(index, "err")
                self.stop()
                if is_port_clash(stderr) and self._can_retry():
                    self._new_ports()  # another process took a chosen port: start again
                    self._start()
                    continue
                raise WorkerFailedError(index, code, stderr[-STDERR_TAIL_CHARS:])
            if all(code == 0 for code in codes):
                return [
                    WorkerResult(i, 0, self._read(i, "out"), self._read(i, "err"))
                    for i in range(self.n)
                ]
            if time.monotonic() > deadline:
                running = [i for i, code in enumerate(codes) if code is None]
                self.stop()
                raise TimeoutError(
                    f"worker(s) {running} still running after {self.timeout:g} s; all stopped"
                )
            time.sleep(poll_s)

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop every worker still running: SIGTERM to its process group, SIGKILL after a grace."""
        for p in self.processes:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def run_workers(
    command: Callable[[int], Sequence[str]], n: int = 2, **kwargs
) -> list[WorkerResult]:
    """Start ``n`` workers, wait for all, clean up: `Workers` in one call."""
    with Workers(command, n, **kwargs) as workers:
        return workers.wait()


def _dataset(x, y, global_batch: int, steps: int):
    import numpy as np
    import tensorflow as tf

    global_batch = integer_at_least("global_batch", global_batch)
    steps = integer_at_least("steps", steps)
    if len(x) < global_batch * steps:
        raise ValueError(f"{len(x)} windows are fewer than steps * global_batch = "
                         f"{steps} * {global_batch}")
    data = tf.data.Dataset.from_tensor_slices((np.asarray(x), np.asarray(y)))
    return data.take(global_batch * steps).batch(global_batch, drop_remainder=True)


def _fresh_model(model_kwargs: Mapping, learning_rate: float, seed: int,
                 clipnorm: float | None = None):
    import keras

    from . import language_model

    keras.utils.set_random_seed(seed)
    model = language_model.build_model(**model_kwargs)
    optimizer = keras.optimizers.Adam(learning_rate, clipnorm=clipnorm)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, optimizer


def fit_steps(x, y, model_kwargs: Mapping, global_batch: int, steps: int,
              learning_rate: float = 2e-3, strategy=None, seed: int = 0,
              clipnorm: float | None = None) -> list[float]:
    """`model.fit` of a fresh `language_model` for ``steps`` batches; each step's loss.

    The batches are ``x``/``y`` in order and the weights start from ``seed``, so the same call
    on one device or under a strategy sees the same data and the same initial model. A strategy
    splits each global batch across its replicas and sums their gradients, so the losses match
    a single-device run up to rounding. Gradient clipping (``clipnorm``) is off by default:
    Keras clips each replica's gradient before the sum, so runs differ once clipping is active.
    """
    import keras
    import numpy as np

    data = _dataset(x, y, global_batch, steps)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model, _ = _fresh_model(model_kwargs, learning_rate, seed, clipnorm)
    running = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: running.append(float(logs["loss"])))
    model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=[record])
    # Keras logs the mean over the epoch so far; undo it to get each step's own loss.
    total = np.asarray(running) * np.arange(1, len(running) + 1)
    return list(np.diff(total, prepend=0.0))


def unsynced_steps(x, y, model_kwargs: Mapping, global_batch: int, steps: int, replicas: int = 2,
                   learning_rate: float = 2e-3, seed: int = 0) -> list[float]:
    """Data parallelism *without* gradient synchronisation: the negative control of `fit_steps`.

    Every replica starts from the same weights (``seed``) and takes, at each step, its own
    ``global_batch / replicas`` sequences of the global batch (replica ``r`` the ``r``-th
    consecutive share), but updates with its own gradient alone, so the replicas drift apart.
    The loss of a step is the mean of the replicas' losses, which is the loss of the whole global
    batch, as a synchronised run reports it. Step 1 equals the synchronised run's (the same
    weights see the same data); later steps differ by much more than rounding.
    """
    import numpy as np

    replicas = integer_at_least("replicas", replicas)
    global_batch = integer_at_least("global_batch", global_batch)
    steps = integer_at_least("steps", steps)
    if global_batch % replicas:
        raise ValueError(f"global_batch={global_batch} must split evenly over {replicas} replicas")
    if len(x) < global_batch * steps:
        raise ValueError(f"{len(x)} windows are fewer than steps * global_batch = "
                         f"{steps} * {global_batch}")
    local = global_batch // replicas

    def share(array, replica):
        batches = np.asarray(array)[: global_batch * steps].reshape(steps, global_batch, -1)
        return batches[:, replica * local:(replica + 1) * local].reshape(steps * local, -1)

    losses = [fit_steps(share(x, r), share(y, r), model_kwargs, local, steps, learning_rate,
                        seed=seed) for r in range(replicas)]
    return list(np.mean(losses, axis=0))


def max_relative_difference(losses, reference) -> float:
    """The largest ``|losses - reference| / |reference|`` over the steps (what rtol bounds)."""
    import numpy as np

    losses, reference = np.asarray(losses, dtype=float), np.asarray(reference, dtype=float)
    if losses.shape != reference.shape or losses.ndim != 1 or not len(losses):
        raise ValueError(f"need two equally long, non-empty loss lists, got shapes "
                         f"{losses.shape} and {reference.shape}")
    return float(np.max(np.abs(losses - reference) / np.abs(reference)))


def loop_steps(x, y, model_kwargs: Mapping, global_batch: int, steps: int,
               learning_rate: float = 2e-3, strategy=None, seed: int = 0) -> list[float]:
    """The same training as `fit_steps`, written as the loop that `model.fit` runs for you.

    Each replica computes the loss of its share of the global batch divided by the *global*
    batch size, so summing the replicas' gradients (which the optimizer does in
    ``apply_gradients``) gives the gradient of the global mean loss. Works under any strategy,
    including `MultiWorkerMirroredStrategy`, where Keras 3's `model.fit` fails
    (keras-team/keras#20585).
    """
    import keras
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    data = _dataset(x, y, global_batch, steps)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = iter(strategy.experimental_distribute_dataset(data.with_options(options)))
    with strategy.scope():
        model, optimizer = _fresh_model(model_kwargs, learning_rate, seed)
        optimizer.build(model.trainable_variables)

    def replica_step(tokens, targets):
        with tf.GradientTape() as tape:
            logits = model(tokens, training=True)
            per_token = keras.losses.sparse_categorical_crossentropy(
                targets, logits, from_logits=True)
            loss = tf.nn.compute_average_loss(
                tf.reduce_mean(per_token, axis=1), global_batch_size=global_batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(tokens, targets):
        per_replica = strategy.run(replica_step, args=(tokens, targets))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return [float(train_step(*next(batches))) for _ in range(steps)]


def tpu_strategy():
    """`TPUStrategy` on a TPU runtime (Colab, a Cloud TPU VM), or ``None`` where there is no TPU.

    Colab's older TPU runtimes announce the TPU in ``COLAB_TPU_ADDR`` (the resolver finds it
    there); on a TPU VM the chips are local devices (``tpu="local"``).
    """
    import tensorflow as tf

    local = bool(tf.config.list_physical_devices("TPU"))
    if not (local or os.environ.get("COLAB_TPU_ADDR")):
        return None
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local" if local else "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _train_worker(args: argparse.Namespace) -> None:
    """The worker program: `loop_steps` under MultiWorkerMirroredStrategy; worker 0 writes JSON."""
    from . import environment

    environment.quiet_tensorflow()
    import numpy as np
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    data = np.load(args.data)
    started = time.perf_counter()
    losses = loop_steps(data["x"], data["y"], json.loads(args.model), args.global_batch,
                        args.steps, args.learning_rate, strategy, args.seed)
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    if task["index"] == 0:
        Path(args.out).write_text(json.dumps({
            "losses": losses,
            "replicas": strategy.num_replicas_in_sync,
            "seconds": time.perf_counter() - started,
        }))


def worker_command(data: str | Path, out: str | Path, model_kwargs: Mapping, global_batch: int,
                   steps: int, learning_rate: float = 2e-3, seed: int = 0) -> list[str]:
    """The command line that runs `_train_worker` in a fresh Python with this package."""
    return [
        sys.executable, "-m", "utils.distributed", "train", "--data", str(data), "--out", str(out),
        "--model", json.dumps(dict(model_kwargs)), "--global-batch", str(global_batch),
        "--steps", str(steps), "--learning-rate", repr(learning_rate), "--seed", str(seed),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m utils.distributed", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="one worker of a MultiWorkerMirroredStrategy run")
    train.add_argument("--data", required=True, help=".npz file with arrays x and y")
    train.add_argument("--out", required=True, help="JSON file worker 0 writes its losses to")
    train.add_argument("--model", required=True, help="build_model keyword arguments as JSON")
    train.add_argument("--global-batch", type=int, required=True)
    train.add_argument("--steps", type=int, required=True)
    train.add_argument("--learning-rate", type=float, default=2e-3)
    train.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if "TF_CONFIG" not in os.environ:
        parser.error("TF_CONFIG is not set: start workers with utils.distributed.Workers")
    _train_worker(args)


if __name__ == "__main__":
    main()
