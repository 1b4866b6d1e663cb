"""Tokens per second of the course's language-model training step, against PyTorch and per variant.

By default (engines) it times, side by side in one run on this machine, one training step
(forward, backward, Adam update; float32; softmax cross-entropy on the logits) of the book's
language model (`utils.grimm.BOOK`: Embedding -> LSTM -> LSTM -> Dense ReLU -> Dense logits) at
the same shapes and thread count in three processes, all on the CPU:

- TensorFlow with its oneDNN CPU kernels on (``TF_ENABLE_ONEDNN_OPTS=1``, the course's default:
  `utils.environment.setup()` turns it on unless the learner chose);
- TensorFlow with oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``, TensorFlow's own default on CPUs
  without AVX-512);
- PyTorch ``nn.LSTM`` (optional: ``pip install torch``; without it that column is skipped and
  the script says so).

Each engine runs in its own process (the oneDNN setting is read when TensorFlow is imported); the
parent sends "step" to each in turn, so step i of every engine runs before step i + 1 of any and
a burst of load from other processes slows all of them alike, while only one engine computes at
a time. Ratios are per training token, from the median and from the fastest step.

With ``--variants`` it instead measures, in this process, Keras variants (fused `LSTM`, generic
`RNN(LSTMCell)`, mixed precision) with their achieved FLOP/s as a fraction of the measured
matrix-multiply ceiling (`utils.speed`). The input is random token ids of the chosen shape: speed
does not depend on the values. Run from the repository root:

    .venv/bin/python benchmarks/train_step.py                       # engines, batch 128 x 128
    .venv/bin/python benchmarks/train_step.py --batch 256 --length 32 --steps 5
    .venv/bin/python benchmarks/train_step.py --variants fused,generic,mixed --batch 256 --length 32

What was tried and the latest results are in benchmarks/train_step.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utils.grimm import BOOK  # noqa: E402  (the book's sizes; this import loads no TensorFlow)

VOCAB = BOOK["vocab_size"]
VARIANTS = ("fused", "generic", "mixed")
ENGINES = {  # name: (worker, TF_ENABLE_ONEDNN_OPTS or None, label)
    "onednn-on": ("tensorflow", "1", "TensorFlow, oneDNN on (course default)"),
    "onednn-off": ("tensorflow", "0", "TensorFlow, oneDNN off"),
    "torch": ("torch", None, "PyTorch nn.LSTM"),
}
CEILING_REPEATS = 10  # the fastest of many products: a busy machine only lowers the ceiling


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="sequences per step")
    parser.add_argument("--length", type=int, default=128, help="tokens per sequence")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per engine/variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (>= 1)")
    parser.add_argument("--engines", default=",".join(ENGINES),
                        help=f"comma-separated subset of {','.join(ENGINES)} (the default mode)")
    parser.add_argument("--variants", default=None,
                        help="measure Keras variants in this process instead of engines: a "
                             f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=0,
                        help="engines mode: threads of every engine (TensorFlow intra-op, "
                             "torch.set_num_threads); 0: the cores this process may use")
    parser.add_argument("--worker", choices=("tensorflow", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--intra-threads", type=int, default=0,
                        help="threads inside one op (0: TensorFlow's default, all cores)")
    parser.add_argument("--inter-threads", type=int, default=0,
                        help="TensorFlow: ops run at the same time (0: TensorFlow's default); "
                             "in engines mode for both TensorFlow engines")
    parser.add_argument("--unroll", action="store_true",
                        help="unroll the time loop (no cuDNN on a GPU; a long compile)")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the steps with XLA (Keras turns it off for cuDNN layers)")
    args = parser.parse_args(argv)
    if args.variants is not None:
        args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = sorted(set(args.variants) - set(VARIANTS))
        if unknown:
            parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(args.engines) - set(ENGINES))
    if unknown or not args.engines:
        parser.error(f"unknown engines {unknown}; choose from {', '.join(ENGINES)}")
    if args.threads < 0:
        parser.error("--threads must be 0 (all usable cores) or more")
    args.threads = args.threads or usable_cores()
    for name in ("batch", "length", "steps", "warmup"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_features() -> str:
    """The flags that decide TensorFlow's CPU speed, present or not (Linux)."""
    from utils import speed

    flags = speed.cpu_flags()
    if not flags:
        return "CPU flags unknown (no /proc/cpuinfo)"
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16")
    return ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in wanted)


def random_batch(args):
    import numpy as np

    rng = np.random.default_rng(0)
    shape = (args.batch, args.length)
    return (rng.integers(0, VOCAB, shape, dtype=np.int32),
            rng.integers(0, VOCAB, shape, dtype=np.int32))


def tensorflow_step(args):
    """One Keras training step of the course's model (as `language_model.compile_model` trains
    it: Adam 2e-3 with clipnorm 1.0, cross-entropy on logits), and a description."""
    from utils import environment

    environment.setup(seed=0, verbose=False)  # keeps TensorFlow's start-up lines out
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    if args.inter_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_threads)
    from utils import language_model, speed

    keras.utils.set_random_seed(0)
    model = language_model.compile_model(language_model.build_model(**BOOK))
    x, y = random_batch(args)
    onednn = "on" if speed.onednn_enabled() else "off"
    return (lambda: model.train_on_batch(x, y),
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}, oneDNN {onednn}, "
            f"{args.threads} intra-op threads, inter-op {args.inter_threads or 'default'}")


def torch_step(args):
    """The same model and step in PyTorch: nn.LSTM layers, Adam 2e-3, each gradient clipped to
    norm 1.0 on its own (as Keras' clipnorm does), cross-entropy on logits, float32."""
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    class LanguageModel(nn.Module):
        def __init__(self, vocab_size, embedding_dim, units, dense_units):
            super().__init__()
            first, second = units
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            self.lstm_1 = nn.LSTM(embedding_dim, first, batch_first=True)
            self.lstm_2 = nn.LSTM(first, second, batch_first=True)
            self.hidden = nn.Linear(second, dense_units)
            self.logits = nn.Linear(dense_units, vocab_size)

        def forward(self, tokens):
            h, _ = self.lstm_1(self.embedding(tokens))
            h, _ = self.lstm_2(h)
            return self.logits(torch.relu(self.hidden(h)))

    model = LanguageModel(**BOOK)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    parameters = list(model.parameters())
    x, y = (torch.from_numpy(a).long() for a in random_batch(args))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        for parameter in parameters:
            torch.nn.utils.clip_grad_norm_(parameter, 1.0)
        optimizer.step()
        return loss.item()

    return step, (f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN "
                  f"(mkldnn) {'available' if torch.backends.mkldnn.is_available() else 'absent'}")


def worker(args) -> int:
    """One engine, driven by the parent through stdin: "step" times one step, "quit" ends."""
    step, description = (tensorflow_step if args.worker == "tensorflow" else torch_step)(args)
    started = time.perf_counter()
    step()
    first = time.perf_counter() - started
    for _ in range(args.warmup - 1):
        step()
    print(json.dumps({"ready": description, "first": first}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        started = time.perf_counter()
        step()
        print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
    return 0


def start_engine(name, args):
    kind, onednn, _ = ENGINES[name]
    env = dict(os.environ)
    if kind == "tensorflow":
        env["CUDA_VISIBLE_DEVICES"] = "-1"  # a CPU comparison, also on a GPU machine
    if onednn is None:
        env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    else:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn  # before the worker imports TensorFlow
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind,
               "--batch", str(args.batch), "--length", str(args.length),
               "--warmup", str(args.warmup), "--threads", str(args.threads),
               "--inter-threads", str(args.inter_threads)]
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def reply(process, name) -> dict:
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the {name} worker ended (exit code {process.wait()}); see above")
    return json.loads(line)


def compare_engines(args) -> int:
    import importlib.util

    from utils import speed

    print(f"machine: {cpu_name()}, {os.cpu_count()} logical cores ({usable_cores()} usable)")
    print(f"CPU features: {cpu_features()}")
    print(f"Python {platform.python_version()}; every engine: {args.threads} threads, float32")
    print(f"load average before: {speed.load_average():.2f} (other processes on these cores)")
    engines = list(args.engines)
    if "torch" in engines and importlib.util.find_spec("torch") is None:
        print("PyTorch is not installed here: its column is skipped "
              "(pip install torch, or the course's 'bench' extra, to include it)")
        engines.remove("torch")
    if not engines:
        return 0
    processes = {}
    try:
        for name in engines:  # started one after another: each compiles and warms up alone
            processes[name] = start_engine(name, args)
            ready = reply(processes[name], name)
            print(f"{ENGINES[name][2]}: {ready['ready']}; first step {ready['first']:.1f} s")
        seconds = {name: [] for name in engines}
        for _ in range(args.steps):  # round-robin: one step of each engine in turn
            for name, process in processes.items():
                process.stdin.write("step\n")
                process.stdin.flush()
                seconds[name].append(reply(process, name)["seconds"])
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.stdin.close()
                process.wait(timeout=60)
    tokens = args.batch * args.length
    reference = "torch" if "torch" in seconds else None
    print(f"\nbatch {args.batch} x length {args.length} = {tokens} tokens per step; "
          f"{args.steps} timed steps of each engine, taken in turns, after {args.warmup} "
          "warm-up steps")
    header = f"{'engine':<40} {'median s':>8} {'best s':>7} {'tokens/s':>9}"
    if reference:
        header += f" {'x PyTorch (median)':>18} {'x PyTorch (best)':>16}"
    print(header)
    for name in engines:
        median, best = statistics.median(seconds[name]), min(seconds[name])
        row = f"{ENGINES[name][2]:<40} {median:>8.3f} {best:>7.3f} {tokens / median:>9.0f}"
        if reference:
            row += (f" {statistics.median(seconds[reference]) / median:>17.2f}x"
                    f" {min(seconds[reference]) / best:>15.2f}x")
        print(row)
    if {"onednn-on", "onednn-off"} <= set(seconds):
        on, off = seconds["onednn-on"], seconds["onednn-off"]
        print(f"oneDNN on vs off, per token: {statistics.median(off) / statistics.median(on):.2f}x"
              f" (median), {min(off) / min(on):.2f}x (best)")
    if reference and "onednn-on" in seconds:
        ratio = statistics.median(seconds[reference]) / statistics.median(seconds["onednn-on"])
        print(f"target: the course's default (oneDNN on) >= 1.0x PyTorch per token: {ratio:.2f}x "
              f"(median), {'met' if ratio >= 1.0 else 'missed'}")
    print(f"load average after: {speed.load_average():.2f}")
    return 0


def recurrent_layer(kind: str, on_gpu: bool, unroll: bool):
    import keras

    if kind == "generic":
        return lambda n: keras.layers.RNN(keras.layers.LSTMCell(n), return_sequences=True,
                                          unroll=unroll)
    # On a GPU, use_cudnn=True makes Keras raise instead of silently falling back.
    use_cudnn = True if on_gpu and not unroll else "auto"
    return lambda n: keras.layers.LSTM(n, return_sequences=True, unroll=unroll,
                                       use_cudnn=use_cudnn)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.variants is None:
        return compare_engines(args)
    return compare_variants(args)


def compare_variants(args) -> int:
    from utils import environment

    environment.quiet_tensorflow()
    import keras
    import numpy as np
    import tensorflow as tf

    if args.intra_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_threads)
    if args.inter_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_threads)

    from utils import language_model, speed

    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    device = tf.config.experimental.get_device_details(
        tf.config.list_physical_devices("GPU")[0]).get("device_name", "GPU") if on_gpu else (
        f"{cpu_name()}, {os.cpu_count()} logical cores")
    print(f"machine: {device}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python "
          f"{platform.python_version()}; TF_ENABLE_ONEDNN_OPTS="
          f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(unset)')}; intra-op threads "
          f"{args.intra_threads or 'default'}, inter-op threads {args.inter_threads or 'default'}"
          f"{', unrolled' if args.unroll else ''}{', XLA' if args.jit_compile else ''}")
    print(f"load average before: {speed.load_average():.2f} (other processes on these cores)")

    policy, why = speed.mixed_precision_policy(on_gpu)
    variants = [v for v in args.variants if v != "mixed" or policy]
    if "mixed" in args.variants and not policy:
        print(f"mixed precision: {why}")

    ceilings = {"float32": speed.matmul_ceiling("float32", repeats=CEILING_REPEATS)}
    if policy and "mixed" in variants:
        compute = policy.removeprefix("mixed_")
        ceilings[compute] = speed.matmul_ceiling(compute, repeats=CEILING_REPEATS)
    print("matmul ceiling before the steps: " + ", ".join(
        f"{dtype} {flops / 1e9:.0f} GFLOP/s" for dtype, flops in ceilings.items()))

    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (args.batch, args.length), dtype=np.int32)
    y = rng.integers(0, VOCAB, (args.batch, args.length), dtype=np.int32)

    models = {}
    for variant in variants:
        keras.mixed_precision.set_global_policy(policy if variant == "mixed" else "float32")
        keras.utils.set_random_seed(0)
        kind = "generic" if variant == "generic" else "fused"
        models[variant] = language_model.compile_model(language_model.build_model(
            **BOOK, recurrent=recurrent_layer(kind, on_gpu, args.unroll)))
        if args.jit_compile:
            models[variant].jit_compile = True  # Keras warns and keeps False where unsupported
        keras.mixed_precision.set_global_policy("float32")
    for variant, model in models.items():
        started = time.perf_counter()
        model.train_on_batch(x, y)
        print(f"{variant}: first step (tracing{' and XLA compiling' if model.jit_compile else ''})"
              f" {time.perf_counter() - started:.1f} s")
        for _ in range(args.warmup - 1):
            model.train_on_batch(x, y)
    # Round-robin: step i of every variant runs before step i + 1 of any, so a burst of load
    # from other processes slows all variants alike instead of one of them.
    seconds = {variant: [] for variant in models}
    for _ in range(args.steps):
        for variant, model in models.items():
            seconds[variant] += speed.time_calls(
                lambda model=model: model.train_on_batch(x, y), repeats=1, warmup=0)
    tokens = args.batch * args.length
    rows = []
    for variant, model in models.items():
        forward = sum(speed.matmul_flops_per_token(model).values())
        timing = speed.StepTiming(tuple(seconds[variant]), tokens,
                                  speed.TRAINING_FLOPS_PER_FORWARD_FLOP * forward * tokens)
        dtype = policy.removeprefix("mixed_") if variant == "mixed" else "float32"
        rows.append((variant, dtype, timing))

    # Measured again after the steps; the higher of the two is the ceiling (load only lowers it).
    after = {dtype: speed.matmul_ceiling(dtype, repeats=CEILING_REPEATS) for dtype in ceilings}
    print("matmul ceiling after the steps: " + ", ".join(
        f"{dtype} {flops / 1e9:.0f} GFLOP/s" for dtype, flops in after.items()))
    ceilings = {dtype: max(ceilings[dtype], after[dtype]) for dtype in ceilings}

    print(f"\nbatch {args.batch} x length {args.length} = {args.batch * args.length} tokens per "
          f"step; {args.steps} timed steps of each variant, taken in turns, after "
          f"{args.warmup} warm-up steps; rates from the fastest step; ceiling: the higher of the "
          "two measurements")
    print(f"{'variant':<8} {'dtype':<9} {'best s':>7} {'median s':>8} {'tokens/s':>9} "
          f"{'GFLOP/s':>8} {'ceiling':>8} {'of ceiling':>10}")
    for variant, dtype, timing in rows:
        print(f"{variant:<8} {dtype:<9} {timing.best:>7.3f} {timing.median:>8.3f} "
              f"{timing.tokens_per_second:>9.0f} {timing.flops_per_second / 1e9:>8.1f} "
              f"{ceilings[dtype] / 1e9:>8.0f} {timing.fraction_of(ceilings[dtype]):>10.1%}")
    print(f"load average after: {speed.load_average():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
