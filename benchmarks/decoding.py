"""How fast does `utils.decoding` generate, against the book's one-`model.predict`-per-token loop?

Run from the repository root:  .venv/bin/python benchmarks/decoding.py  (--help for the flags)

Builds the course's language model (`utils.language_model`, the book's sizes `utils.grimm.BOOK`
by default)
with random weights (speed does not depend on training), then measures side by side, in this one
process: the naive loop (`model.predict` on the whole prefix for every new token, greedy), and
the compiled greedy, sampling, top-k, top-p and beam-search loops of `utils.decoding`. It prints
tokens per second, hypothesis-tokens per second (width x tokens for beam search) and the ratio of
each to the naive loop, then checks the course's targets. It is a measurement, not a test: the
numbers depend on the machine and on what else runs on it (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils import decoding, grimm, speed  # noqa: E402
from utils import language_model as lm  # noqa: E402

TARGET_BEAM8_RATIO = 300  # beam width 8, hypothesis-tokens/s against the naive loop's tokens/s
TARGET_GREEDY_SECONDS = 0.5  # for 500 greedy tokens


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min)".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def naive_generate(model, prompt: list[int], n_tokens: int) -> list[int]:
    """The book's loop: run the whole prefix through the model for every new token."""
    ids = list(prompt)
    for _ in range(n_tokens):
        logits = model.predict(np.array([ids], np.int32), verbose=0)[0, -1]
        ids.append(int(np.argmax(logits)))
    return ids[len(prompt):]


def python_loop_greedy(step, state, start: int, n_tokens: int):
    """Half way: a compiled one-token step (no prefix re-read), but Python calls it per token."""
    @tf.function(reduce_retracing=True)
    def next_token(token, state):
        log_probs, state = step(token, state)
        return tf.argmax(log_probs, axis=-1, output_type=tf.int32), state

    def run(n=n_tokens):
        token, current, tokens = tf.constant([start], tf.int32), state, []
        for _ in range(n):
            token, current = next_token(token, current)
            tokens.append(int(token[0]))
        return tokens

    return run


def best_time(run, repeats: int) -> float:
    """The fastest of `repeats` runs after one untimed (the least disturbed by other work)."""
    return min(speed.time_calls(run, repeats=repeats, warmup=1))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    book = grimm.BOOK  # the defaults: the book's bigram model
    parser.add_argument("--vocab", type=int, default=book["vocab_size"],
                        help=f"vocabulary size ({book['vocab_size']}: the book's bigrams)")
    parser.add_argument("--embedding", type=int, default=book["embedding_dim"])
    parser.add_argument("--units", type=int, nargs="+", default=list(book["units"]),
                        help="units of each LSTM layer")
    parser.add_argument("--dense", type=int, default=book["dense_units"],
                        help="ReLU layer before the logits")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per strategy")
    parser.add_argument("--naive-tokens", type=int, default=None,
                        help="tokens for the naive loop (default: --tokens; it is slow)")
    parser.add_argument("--greedy-tokens", type=int, default=500,
                        help="tokens for the greedy timing target")
    parser.add_argument("--prompt", type=int, default=20, help="prompt length in tokens")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per compiled strategy; the fastest counts")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--jit", action="store_true", help="compile the loops with XLA")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.naive_tokens = args.naive_tokens or args.tokens

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores | Python {platform.python_version()} | "
          f"TensorFlow {tf.__version__} | Keras {keras.__version__} | "
          f"threads: {args.threads or 'default'} | XLA loops: {args.jit}")
    print(f"before: {load()}")

    model = lm.build_model(args.vocab, embedding_dim=args.embedding, units=tuple(args.units),
                           dense_units=args.dense)
    print(f"model: Embedding {args.embedding}, LSTM {args.units}, Dense {args.dense}, "
          f"vocabulary {args.vocab}: {model.count_params():,} parameters (random weights)")
    decoder = decoding.Decoder(lm.step_function(model), args.vocab, jit_compile=args.jit)
    prompt = np.random.default_rng(args.seed).integers(0, args.vocab, args.prompt).tolist()
    state, start = decoder.prime(lm.initial_state(model, 1), prompt)

    strategies = {
        "greedy": lambda n: decoder.greedy(state, start, n),
        "sample (T=1)": lambda n: decoder.sample(state, start, n, seed=1),
        "top-k (k=40)": lambda n: decoder.sample(state, start, n, top_k=40, seed=1),
        "top-p (p=0.9)": lambda n: decoder.sample(state, start, n, top_p=0.9, seed=1),
        "beam (width 4)": lambda n: decoder.beam_search(state, start, n, width=4),
        "beam (width 8)": lambda n: decoder.beam_search(state, start, n, width=8),
    }
    per_token_loop = python_loop_greedy(decoder.step, state, start, args.tokens)
    per_token_loop(2)  # trace
    rows = [("greedy, Python loop", 1, args.tokens,
             best_time(per_token_loop, args.repeats))]
    for name, run in strategies.items():
        hypotheses = run(2).tokens.shape[0]  # the first call traces and compiles
        seconds = best_time(lambda run=run: run(args.tokens), args.repeats)
        rows.append((name, hypotheses, args.tokens, seconds))

    model.predict(np.array([prompt], np.int32), verbose=0)  # Keras builds its predict function
    started = time.perf_counter()
    naive_tokens = naive_generate(model, prompt, args.naive_tokens)
    naive_seconds = time.perf_counter() - started
    naive_rate = args.naive_tokens / naive_seconds
    fast_tokens = decoder.greedy(state, start, args.naive_tokens).tokens[0].tolist()
    agree = sum(a == b for a, b in zip(naive_tokens, fast_tokens, strict=True))

    greedy_seconds = best_time(lambda: decoder.greedy(state, start, args.greedy_tokens),
                               args.repeats)
    after = load()

    header = (f"{'strategy':<24}{'hyps x tokens':>14}{'seconds':>10}{'tokens/s':>11}"
              f"{'hyp-tokens/s':>14}{'x naive (tok)':>15}{'x naive (hyp)':>15}")
    print(f"\nprompt {args.prompt} tokens; fastest of {args.repeats} runs per strategy\n")
    print(header)
    print("-" * len(header))
    print(f"{'naive (predict/token)':<24}{f'1 x {args.naive_tokens}':>14}{naive_seconds:>10.3f}"
          f"{naive_rate:>11.1f}{naive_rate:>14.1f}{1:>15.1f}{1:>15.1f}")
    for name, hypotheses, tokens, seconds in rows:
        rate = tokens / seconds
        print(f"{name:<24}{f'{hypotheses} x {tokens}':>14}{seconds:>10.3f}{rate:>11.1f}"
              f"{rate * hypotheses:>14.1f}{rate / naive_rate:>15.1f}"
              f"{rate * hypotheses / naive_rate:>15.1f}")
    print(f"\nnaive and compiled greedy agree on {agree} of {args.naive_tokens} tokens")
    beam8 = next(r for r in rows if r[0] == "beam (width 8)")
    beam8_ratio = beam8[1] * beam8[2] / beam8[3] / naive_rate
    verdict = {True: "met", False: "MISSED"}
    print(f"target: beam width 8 >= {TARGET_BEAM8_RATIO}x naive per hypothesis-token: "
          f"{beam8_ratio:.0f}x, {verdict[beam8_ratio >= TARGET_BEAM8_RATIO]}")
    print(f"target: {args.greedy_tokens} greedy tokens in < {TARGET_GREEDY_SECONDS} s: "
          f"{greedy_seconds:.3f} s, {verdict[greedy_seconds < TARGET_GREEDY_SECONDS]}")
    print(f"after: {after}")


if __name__ == "__main__":
    main()
