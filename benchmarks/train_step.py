"""Tokens per second of the course's language-model training step, and its share of the hardware.

Measures, side by side in one run on this machine, the training step (forward, backward, Adam
update) of the language model at the `gpu` profile's shapes (Embedding 96, LSTM 512, LSTM 256,
Dense 1024, Dense 705) for:

- fused: `keras.layers.LSTM` (the cuDNN kernel on a GPU, asserted with ``use_cudnn=True``);
- generic: `keras.layers.RNN(keras.layers.LSTMCell(n))`, the per-step loop;
- mixed: the fused model under ``mixed_float16`` (GPU) or ``mixed_bfloat16`` (CPUs with native
  bfloat16), skipped with a message elsewhere;

each with its achieved FLOP/s as a fraction of the measured matrix-multiply ceiling of its
compute dtype (`utils.speed`). The input is random token ids of the chosen shape: speed does not
depend on the values. Run from the repository root:

    .venv/bin/python benchmarks/train_step.py --batch 128 --length 128
    .venv/bin/python benchmarks/train_step.py --batch 256 --length 64 --inter-threads 1

What was tried and the latest results are in benchmarks/train_step.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VOCAB = 705  # the book's bigram vocabulary
VARIANTS = ("fused", "generic", "mixed")
CEILING_REPEATS = 10  # the fastest of many products: a busy machine only lowers the ceiling


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="sequences per step")
    parser.add_argument("--length", type=int, default=128, help="tokens per sequence")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (>= 1)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--intra-threads", type=int, default=0,
                        help="threads inside one op (0: TensorFlow's default, all cores)")
    parser.add_argument("--inter-threads", type=int, default=0,
                        help="ops run at the same time (0: TensorFlow's default)")
    parser.add_argument("--unroll", action="store_true",
                        help="unroll the time loop (no cuDNN on a GPU; a long compile)")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the steps with XLA (Keras turns it off for cuDNN layers)")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
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
            VOCAB, recurrent=recurrent_layer(kind, on_gpu, args.unroll)))
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
