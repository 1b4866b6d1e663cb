"""How fast a training step runs, and how fast it could run: FLOPs, the matmul ceiling, timings.

A recurrent language model spends almost all of its arithmetic in matrix products, so its cost
per token is two FLOPs per weight that takes part in one (`matmul_flops_per_token`), and a
training step costs about three times the forward pass. The ceiling is the fastest large matrix
product this device can do (`matmul_ceiling`); a step's achieved FLOP/s divided by it says how
much of the hardware the step uses (`StepTiming.fraction_of`).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .checks import integer_at_least
from .environment import onednn_enabled  # noqa: F401 (notebook 11 calls speed.onednn_enabled)

# The backward pass computes two products per forward product: the gradient with respect to the
# layer's input and the one with respect to its weights.
TRAINING_FLOPS_PER_FORWARD_FLOP = 3
MATMUL_WEIGHTS = ("kernel", "recurrent_kernel")


def matmul_flops_per_token(model) -> dict[str, int]:
    """Forward FLOPs per token of each layer that multiplies by a weight matrix (2 per weight).

    Counts ``kernel`` and ``recurrent_kernel`` of every layer (an LSTM's cell holds them), so an
    ``LSTM(units)`` on ``d`` inputs costs ``2 * 4 * units * (d + units)``. Embedding lookups,
    biases, activations and gate products are left out: they grow like ``units``, not
    ``units**2``, and are a few percent at most (`elementwise_share` says how many).
    """
    counts = {}
    for layer in model.layers:
        holder = getattr(layer, "cell", layer)
        total = sum(
            2 * int(np.prod(getattr(holder, name).shape))
            for name in MATMUL_WEIGHTS
            if getattr(holder, name, None) is not None
        )
        if total:
            counts[layer.name] = total
    if not counts:
        raise ValueError("the model has no layer with a kernel; build it before counting FLOPs")
    return counts


def recurrent_flops_per_token(model) -> int:
    """The part of `matmul_flops_per_token` spent on ``h[t-1] @ recurrent_kernel``.

    These products need the previous step's output, so they run one time step after another;
    the input products ``x[t] @ kernel`` could all run at once, as one large matrix product.
    """
    return sum(
        2 * int(np.prod(layer.cell.recurrent_kernel.shape))
        for layer in model.layers
        if getattr(getattr(layer, "cell", None), "recurrent_kernel", None) is not None
    )


def elementwise_share(units: int, input_dim: int) -> float:
    """Elementwise FLOPs of an LSTM step relative to its matrix products (a rough upper bound).

    Per unit and step: 4 bias adds, 3 sigmoids and 2 tanh (about 10 FLOPs each), 3 products and
    1 sum: about 58 FLOPs, against ``8 * (input_dim + units)`` in the matrix products.
    """
    units = integer_at_least("units", units)
    input_dim = integer_at_least("input_dim", input_dim)
    return 58 / (8 * (input_dim + units))


def _best_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm up: tracing, thread pools, first-touch of memory
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_flops_per_second(
    n: int = 2048, dtype: str = "float32", engine: str = "tensorflow", repeats: int = 5
) -> float:
    """Best FLOP/s of one ``n x n`` by ``n x n`` matrix product (``2 n**3`` FLOPs).

    ``engine="tensorflow"`` times ``tf.matmul`` on TensorFlow's default device (a GPU if there is
    one), in any dtype TensorFlow has; ``engine="numpy"`` times NumPy's BLAS (CPU only).
    """
    n = integer_at_least("n", n, minimum=16)
    repeats = integer_at_least("repeats", repeats)
    if engine == "numpy":
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype for engine='numpy' must be float32 or float64, got {dtype!r}")
        a = np.random.default_rng(0).random((n, n), dtype=dtype)
        seconds = _best_seconds(lambda: a @ a, repeats)
    elif engine == "tensorflow":
        import tensorflow as tf

        a = tf.random.stateless_uniform((n, n), seed=(0, 0), dtype=tf.float32)
        a = tf.cast(a, tf.as_dtype(dtype))
        product = tf.function(lambda x: tf.reduce_sum(tf.cast(tf.matmul(x, x)[:1], tf.float32)))
        seconds = _best_seconds(lambda: product(a).numpy(), repeats)
    else:
        raise ValueError(f"engine must be 'tensorflow' or 'numpy', got {engine!r}")
    return 2 * n**3 / seconds


def matmul_rates(
    dtype: str = "float32", sizes: tuple[int, ...] = (1024, 2048), repeats: int = 5
) -> dict[tuple[int, str], float]:
    """FLOP/s of a square matrix product per (size, engine): NumPy and TensorFlow for float32,
    TensorFlow alone for other dtypes. Their maximum is `matmul_ceiling`."""
    if not sizes:
        raise ValueError("sizes must name at least one matrix size")
    engines = ("tensorflow", "numpy") if dtype == "float32" else ("tensorflow",)
    return {(n, engine): matmul_flops_per_second(n, dtype, engine, repeats)
            for n in sizes for engine in engines}


def matmul_ceiling(
    dtype: str = "float32", sizes: tuple[int, ...] = (1024, 2048), repeats: int = 5
) -> float:
    """The fastest matrix product measured here (FLOP/s): the best over sizes and engines.

    Taking the best of NumPy and TensorFlow (NumPy only for float32) makes the ceiling as high as
    this machine allows, so a step's fraction of it is never flattered by a slow reference.
    """
    return max(matmul_rates(dtype, sizes, repeats).values())


@dataclass(frozen=True)
class StepTiming:
    """Wall-clock seconds of repeated training steps, and what they amount to.

    Rates use the fastest repeat (`best`): other processes on the machine can only slow a step
    down, so the minimum is the most repeatable estimate of what the step itself costs.
    """

    seconds: tuple[float, ...]
    tokens_per_step: int
    flops_per_step: float

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def slowest(self) -> float:
        return max(self.seconds)

    @property
    def median_tokens_per_second(self) -> float:
        return self.tokens_per_step / self.median

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_per_step / self.best

    @property
    def flops_per_second(self) -> float:
        return self.flops_per_step / self.best

    def fraction_of(self, ceiling: float) -> float:
        """Achieved FLOP/s as a fraction of a ceiling (from `matmul_ceiling`)."""
        if not ceiling > 0:
            raise ValueError(f"ceiling must be a positive FLOP/s, got {ceiling!r}")
        return self.flops_per_second / ceiling


def time_calls(run: Callable[[], object], repeats: int = 5, warmup: int = 2) -> tuple[float, ...]:
    """Seconds of each of ``repeats`` calls of ``run`` after ``warmup`` untimed ones.

    ``run`` must wait for its result (return NumPy values, not pending tensors), or the time of
    asynchronous device work would be missed.
    """
    repeats = integer_at_least("repeats", repeats)
    warmup = integer_at_least("warmup", warmup, minimum=0)
    for _ in range(warmup):
        run()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return tuple(seconds)


def time_train_step(model, x, y, repeats: int = 5, warmup: int = 2) -> StepTiming:
    """Time ``model.train_on_batch(x, y)`` on one fixed batch of token ids ``x`` [batch, time].

    The FLOPs per step are ``3 x`` the forward matrix-product FLOPs per token times the tokens.
    """
    seconds = time_calls(lambda: model.train_on_batch(x, y), repeats, warmup)
    return _train_step_timing(model, x, seconds)


def _train_step_timing(model, x, seconds) -> StepTiming:
    """The timing of a training step on batch ``x``: its tokens and ``3 x`` the forward FLOPs."""
    tokens = int(np.prod(np.shape(x)[:2]))
    forward = sum(matmul_flops_per_token(model).values())
    return StepTiming(seconds, tokens, TRAINING_FLOPS_PER_FORWARD_FLOP * forward * tokens)


def time_interleaved(
    runs: Mapping[str, Callable[[], object]], repeats: int = 5, warmup: int = 1
) -> dict[str, tuple[float, ...]]:
    """Seconds of each of ``repeats`` calls of every run, the runs taken in turns.

    Round ``i`` calls every run once before round ``i + 1`` starts, so a burst of load from other
    processes slows all runs alike instead of whichever happened to be timed then. Each run gets
    ``warmup`` untimed calls first (tracing a new shape, first-touch of memory).
    """
    if not runs:
        raise ValueError("runs must name at least one function to time")
    repeats = integer_at_least("repeats", repeats)
    warmup = integer_at_least("warmup", warmup, minimum=0)
    for run in runs.values():
        for _ in range(warmup):
            run()
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return {name: tuple(times) for name, times in seconds.items()}


def time_train_steps(
    steps: Mapping[str, tuple[object, np.ndarray, np.ndarray]], repeats: int = 5, warmup: int = 1
) -> dict[str, StepTiming]:
    """`time_train_step` for several ``name: (model, x, y)`` at once, interleaved (see
    `time_interleaved`): the fair way to compare steps on a machine shared with other work."""
    runs = {name: (lambda m=model, a=x, b=y: m.train_on_batch(a, b))
            for name, (model, x, y) in steps.items()}
    seconds = time_interleaved(runs, repeats, warmup)
    return {name: _train_step_timing(model, x, seconds[name])
            for name, (model, x, _) in steps.items()}


def cell_matmuls_per_step(cell, input_dim: int, training: bool = True) -> int:
    """How many matrix products one time step of a Keras RNN cell runs (counted in its graph).

    Keras 3's `LSTMCell` runs 2 (``x @ kernel`` and ``h @ recurrent_kernel``, all four gates at
    once); with ``recurrent_dropout`` it switches to its per-gate form and runs 8 products a
    quarter as wide. The cell is built here if it was not.
    """
    import tensorflow as tf

    input_dim = integer_at_least("input_dim", input_dim)
    batch = 2
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    if not cell.built:
        cell.build((batch, input_dim))
    inputs = tf.zeros((batch, input_dim))
    states = [tf.zeros((batch, size)) for size in sizes]
    step = tf.function(lambda x, s: cell(x, s, training=training))
    graph = step.get_concrete_function(inputs, states).graph
    return sum("MatMul" in op.type for op in graph.get_operations())


def naive_batches(
    tokens: Sequence[str], token_ids: dict[str, int], seq_len: int, batch_size: int, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (input, target) batches made in Python, token by token: the slow baseline.

    What a first version often does: shuffle window starts with `random`, look every token up in
    a dict, and build each batch from Python lists. The windows are those of `text.windows`
    (consecutive, overlapping by one token); only the way they are made differs.
    """
    seq_len = integer_at_least("seq_len", seq_len)
    batch_size = integer_at_least("batch_size", batch_size)
    starts = list(range(0, len(tokens) - seq_len, seq_len))
    if len(starts) < batch_size:
        raise ValueError(f"{len(tokens)} tokens make fewer windows than batch_size={batch_size}")
    rng = random.Random(seed)
    while True:
        rng.shuffle(starts)
        for first in range(0, len(starts) - batch_size + 1, batch_size):
            inputs, targets = [], []
            for start in starts[first : first + batch_size]:
                window = [token_ids[token] for token in tokens[start : start + seq_len + 1]]
                inputs.append(window[:-1])
                targets.append(window[1:])
            yield np.array(inputs, dtype=np.int32), np.array(targets, dtype=np.int32)


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty where that file is missing."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bfloat16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX512-BF16 or AMX-BF16, Linux only).

    Without them TensorFlow emulates bfloat16, which is correct but slower than float32.
    """
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def mixed_precision_policy(
    on_gpu: bool, flags: frozenset[str] | None = None, onednn: bool | None = None
) -> tuple[str | None, str]:
    """The Keras mixed-precision policy worth using here, and why (``None`` when there is none).

    GPUs compute float16 on their tensor cores; recent x86 CPUs compute bfloat16 (same range as
    float32, fewer mantissa bits, so no loss scaling is needed), but TensorFlow uses those
    instructions only through its oneDNN kernels (``onednn``; ``None`` asks TensorFlow). With
    oneDNN off it emulates bfloat16, which is correct but no faster than float32.
    """
    if on_gpu:
        return "mixed_float16", "GPU: float16 matrix products on the tensor cores"
    if not (sys.platform.startswith("linux") and cpu_has_bfloat16(flags)):
        return None, "this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 flag): skipped"
    if not (onednn_enabled() if onednn is None else onednn):
        return None, ("this CPU has native bfloat16, but TensorFlow's oneDNN kernels are off "
                      "(TF_ENABLE_ONEDNN_OPTS=0), so bfloat16 would be emulated: skipped")
    return "mixed_bfloat16", "CPU with native bfloat16 (AVX512-BF16 or AMX) and oneDNN on"


# How `memory_needed` can measure, best first. Only "allocator" separates one device's memory
# from the rest of the process; the others see the whole process (Python, NumPy, TensorFlow's
# thread stacks), in whole pages.
MEMORY_METHODS = {
    "allocator": "TensorFlow's allocator statistics for the device: the peak during the call "
                 "minus what the allocator held before it",
    "peak-rss": "the process's peak resident memory during the call (Linux: VmHWM, reset "
                "through /proc/self/clear_refs just before it) minus its resident memory before",
    "sampled-rss": "the process's resident memory sampled every millisecond during the call "
                   "(Linux: /proc/self/statm), highest sample minus the value before",
    "max-rss": "growth of the process's lifetime peak resident memory (getrusage): a lower "
               "bound, zero when the call stays below an earlier peak of the process",
    "unmeasured": "no way to measure memory here (no /proc, no getrusage): reported as 0",
}


@dataclass(frozen=True, order=True)
class MemoryUse:
    """Bytes a call needed at its peak beyond what was held before it, and how that was measured
    (`method`, a key of `MEMORY_METHODS`; `description` says it in words)."""

    bytes: int
    method: str

    @property
    def description(self) -> str:
        return MEMORY_METHODS[self.method]

    @property
    def is_peak(self) -> bool:
        """False for "max-rss", which can miss a call's peak entirely, and for "unmeasured"."""
        return self.method not in ("max-rss", "unmeasured")


def allocator_stats_available(device: str = "CPU:0") -> bool:
    """Whether TensorFlow keeps allocator statistics for ``device`` in this process.

    GPUs always have them. On CPUs TensorFlow 2.21 has them only with its oneDNN kernels on
    (``onednn_enabled()``); with oneDNN off, ``get_memory_info`` raises "Allocator stats not
    available" and ``reset_memory_stats`` "Cannot reset memory stats".
    """
    import tensorflow as tf

    try:
        tf.config.experimental.get_memory_info(device)
    except ValueError:
        return False
    return True


def _status_bytes(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # the kernel writes kB
    raise OSError(f"/proc/self/status has no {key}")


def _reset_peak_rss() -> bool:
    """Reset the process's VmHWM to its current resident memory (Linux); False where refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        _status_bytes("VmHWM")
    except OSError:
        return False
    return True


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _can_read_rss() -> bool:
    try:
        _rss_bytes()
    except (OSError, ValueError, IndexError):
        return False
    return True


def _has_getrusage() -> bool:
    try:
        import resource  # noqa: F401  (not on Windows)
    except ImportError:
        return False
    return True


def rss_method() -> str:
    """The best `MEMORY_METHODS` key this machine allows without allocator statistics."""
    if _reset_peak_rss():
        return "peak-rss"
    if _can_read_rss():
        return "sampled-rss"
    return "max-rss" if _has_getrusage() else "unmeasured"


def _release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc's malloc_trim), so that a
    call reusing them shows up in the resident memory again."""
    import gc

    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass


def _peak_rss(run: Callable[[], object]) -> int:
    _release_free_memory()
    _reset_peak_rss()
    before = _status_bytes("VmRSS")
    run()
    return max(0, _status_bytes("VmHWM") - before)


def _sampled_rss(run: Callable[[], object], interval: float = 1e-3) -> int:
    import threading

    _release_free_memory()
    before = _rss_bytes()
    peak = [before]
    stop = threading.Event()

    def sample():
        while not stop.wait(interval):
            peak[0] = max(peak[0], _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run()
    finally:
        stop.set()
        sampler.join()
    return max(0, peak[0], _rss_bytes()) - before


def _unmeasured(run: Callable[[], object]) -> int:
    run()
    return 0


def _max_rss(run: Callable[[], object]) -> int:
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kB on Linux and BSDs
    _release_free_memory()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run()
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * scale


def memory_needed(
    run: Callable[[], object], device: str = "CPU:0", method: str = "auto"
) -> MemoryUse:
    """Bytes needed at the peak of ``run()`` beyond what was already held before it, measured by
    ``method`` (a key of `MEMORY_METHODS`, or ``"auto"``: the allocator where TensorFlow keeps
    statistics for ``device``, else `rss_method()`; "auto" never fails: where nothing can
    measure, the record says "unmeasured" and `MemoryUse.is_peak` is False).

    With the allocator, weights, optimizer state and other live tensors are not counted. The
    resident-memory methods see the whole process instead of one device (on a GPU machine they
    measure host memory, not the GPU's), count whole pages, and count a tensor only when its
    pages are new to the process; freed heap memory is handed back to the OS first, so that
    reusing it counts. They work with any TensorFlow build, oneDNN on or off.
    """
    if method == "auto":
        method = "allocator" if allocator_stats_available(device) else rss_method()
    if method == "allocator":
        import gc

        import tensorflow as tf

        if not allocator_stats_available(device):
            raise ValueError(
                f"TensorFlow keeps no allocator statistics for {device!r} in this process (on a "
                "CPU only with oneDNN on); use method='auto' or one of " +
                ", ".join(repr(m) for m in MEMORY_METHODS if m != "allocator"))
        gc.collect()  # free unreachable tensors now, not in the middle of run()
        tf.config.experimental.reset_memory_stats(device)  # the peak restarts from current use
        before = tf.config.experimental.get_memory_info(device)["current"]
        run()
        peak = tf.config.experimental.get_memory_info(device)["peak"]
        return MemoryUse(int(peak - before), method)
    measures = {"peak-rss": (_reset_peak_rss, _peak_rss),
                "sampled-rss": (_can_read_rss, _sampled_rss),
                "max-rss": (_has_getrusage, _max_rss),
                "unmeasured": (lambda: True, _unmeasured)}
    if method not in measures:
        raise ValueError(f"method must be 'auto' or one of {', '.join(map(repr, MEMORY_METHODS))}"
                         f", got {method!r}")
    works, measure = measures[method]
    if not works():
        raise ValueError(f"memory method {method!r} does not work on this machine; use "
                         "method='auto'")
    return MemoryUse(int(measure(run)), method)


def load_average() -> float:
    """The 1-minute load average (other processes competing for the cores), NaN where unknown."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")
