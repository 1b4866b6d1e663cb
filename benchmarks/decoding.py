"""How fast does `utils.decoding` generate, per output token, against three slower loops?

Run from the repository root:  .venv/bin/python benchmarks/decoding.py  (--help for the flags)

Part 1, the language model: the course's model at the book's sizes (`utils.grimm.BOOK`, random
weights: speed does not depend on training), padding and [UNK] forbidden as in notebook 07,
prompts of --prompt random ids. Timed side by side in one process, interleaved (every run once
per round, so a burst of other work slows all alike), with one rule for every side: one untimed
warm-up, then --repeats timed runs, reported as median and best:

- baselines (`utils.decoding_baselines`, greedy, --naive-tokens per prompt, they are slow): the
  book's ``model.predict`` on the whole prefix per token (B = 1), a compiled full forward pass on
  the growing prefix (B = 1), and the batched naive loops (the same two at B = --batch);
- `utils.decoding.Decoder`: greedy, sampling, top-k, top-p (B = 1), greedy at B = --batch, beam
  width 4 and 8 at B = 1 and B = --batch, all at the baselines' output length (for the ratios),
  and again at --tokens (but the batched beams, the slowest runs).

Throughput is counted per OUTPUT token: B prompts x n tokens (beam search outputs one sequence
per prompt); beam search's hypothesis-tokens (B x width x n) are printed separately, labelled.
Ratios compare runs of the same B and the same output length.

Part 2, notebook 10's dates: the attention encoder-decoder at notebook 10's cpu sizes (units 64,
random weights: speed does not depend on training) decodes the 1,000 test dates greedily and
with beam width 4, one source at a time (notebook 10's old loop), in batches of --dates-batch,
and all at once; the outputs must be identical. Target (issue 15): all at once >= 10x faster
than one by one.

A measurement, not a test: the numbers depend on the machine and what else runs on it (the load
average is printed before and after).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils import dates, grimm, seq2seq, speed, text  # noqa: E402
from utils import decoding_baselines as baselines  # noqa: E402
from utils import language_model as lm  # noqa: E402
from utils.decoding import Decoder  # noqa: E402

TARGET_DATES_SPEEDUP = 10  # the 1,000 test dates decoded at once against one by one
DATES_SIZES = dict(n_train=15_000, n_validation=1000, n_test=1000, units=64, beam_width=4)
FORBIDDEN = (text.PAD_ID, 1)  # padding and [UNK] (id 1 in a utils.text.Vocabulary)
VERDICT = {True: "met", False: "MISSED"}


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


@dataclass
class Run:
    """One timed way of decoding: ``batch`` prompts x ``width`` hypotheses x ``n`` tokens."""

    name: str
    batch: int
    n: int
    call: Callable[[], object]
    width: int = 1
    seconds: tuple[float, ...] = ()

    @property
    def output_tokens(self) -> int:
        return self.batch * self.n

    def per_token(self, which: str) -> float:
        """Seconds per output token, of the median or the best run."""
        pick = statistics.median if which == "median" else min
        return pick(self.seconds) / self.output_tokens


def ratio(value: float) -> str:
    return f"{value:,.1f}x" if value < 10 else f"{value:,.0f}x"


def both(slow: Run, fast: Run) -> str:
    """How many times faster per output token ``fast`` is: median (best)."""
    return (f"{ratio(slow.per_token('median') / fast.per_token('median'))} "
            f"({ratio(slow.per_token('best') / fast.per_token('best'))})")


def print_runs(runs: list[Run]) -> None:
    header = (f"{'run':<34}{'B':>4}{'W':>3}{'n':>5}{'median s':>10}{'best s':>9}"
              f"{'out tok/s med':>15}{'(best)':>10}{'hyp-tok/s med':>15}")
    print(header)
    print("-" * len(header))
    for run in runs:
        hyp = (f"{run.width / run.per_token('median'):>15,.0f}" if run.width > 1 else "")
        print(f"{run.name:<34}{run.batch:>4}{run.width:>3}{run.n:>5}"
              f"{statistics.median(run.seconds):>10.3f}{min(run.seconds):>9.3f}"
              f"{1 / run.per_token('median'):>15,.1f}{1 / run.per_token('best'):>10,.1f}{hyp}")


def time_runs(runs: list[Run], repeats: int) -> None:
    """Fill in each run's seconds: one untimed warm-up each, then ``repeats`` rounds in turns."""
    seconds = speed.time_interleaved({r.name: r.call for r in runs}, repeats, warmup=1)
    for run in runs:
        run.seconds = seconds[run.name]


def language_model_part(args) -> None:
    model = lm.build_model(args.vocab, embedding_dim=args.embedding, units=tuple(args.units),
                           dense_units=args.dense)
    print(f"language model: Embedding {args.embedding}, LSTM {args.units}, Dense {args.dense}, "
          f"vocabulary {args.vocab}: {model.count_params():,} parameters (random weights); "
          f"ids {list(FORBIDDEN)} (padding, [UNK]) forbidden")
    decoder = Decoder(lm.step_function(model, forbidden_ids=FORBIDDEN), args.vocab,
                      jit_compile=args.jit)
    rng = np.random.default_rng(args.seed)
    prompts = rng.integers(len(FORBIDDEN), args.vocab, (args.batch, args.prompt)).astype(np.int32)
    one, many = prompts[:1], prompts
    state1, start1 = decoder.prime(lm.initial_state(model, 1), one)
    state_b, start_b = decoder.prime(lm.initial_state(model, args.batch), many)
    big = args.batch

    def decoder_runs(n: int, batched_beams: bool) -> list[Run]:
        at = f", n={n}"
        runs = [
            Run(f"Decoder greedy{at}", 1, n, lambda: decoder.greedy(state1, start1, n)),
            Run(f"Decoder sample T=1{at}", 1, n,
                lambda: decoder.sample(state1, start1, n, seed=1)),
            Run(f"Decoder top-k 40{at}", 1, n,
                lambda: decoder.sample(state1, start1, n, top_k=40, seed=1)),
            Run(f"Decoder top-p 0.9{at}", 1, n,
                lambda: decoder.sample(state1, start1, n, top_p=0.9, seed=1)),
            Run(f"Decoder beam 4{at}", 1, n,
                lambda: decoder.beam_search(state1, start1, n, width=4), width=4),
            Run(f"Decoder beam 8{at}", 1, n,
                lambda: decoder.beam_search(state1, start1, n, width=8), width=8),
            Run(f"Decoder greedy B={big}{at}", big, n,
                lambda: decoder.greedy(state_b, start_b, n)),
        ]
        return runs + ([
            Run(f"Decoder beam 4 B={big}{at}", big, n,
                lambda: decoder.beam_search(state_b, start_b, n, width=4), width=4),
            Run(f"Decoder beam 8 B={big}{at}", big, n,
                lambda: decoder.beam_search(state_b, start_b, n, width=8), width=8),
        ] if batched_beams else [])

    n0 = args.naive_tokens
    predict1 = Run("model.predict loop (the book)", 1, n0,
                   lambda: baselines.predict_greedy(model, one, n0, FORBIDDEN))
    forward1 = Run("compiled forward, growing prefix", 1, n0,
                   lambda: baselines.forward_greedy(model, one, n0, FORBIDDEN))
    forward_b = Run("batched loop: compiled forward", big, n0,
                    lambda: baselines.forward_greedy(model, many, n0, FORBIDDEN))
    predict_b = Run("batched loop: model.predict", big, n0,
                    lambda: baselines.predict_greedy(model, many, n0, FORBIDDEN))
    runs = [predict1, forward1, forward_b] + ([predict_b] if args.batched_predict else [])
    short = decoder_runs(n0, batched_beams=True)
    # at --tokens the batched beams are left out: the slowest runs, and their ratios are at n0
    long = decoder_runs(args.tokens, batched_beams=False) if args.tokens != n0 else []
    started = time.perf_counter()
    time_runs(runs + short + long, args.repeats)
    print(f"timed in {time.perf_counter() - started:.0f} s; prompt {args.prompt} tokens; "
          f"one untimed warm-up, then {args.repeats} runs each, interleaved; B prompts x W "
          f"hypotheses x n output tokens per prompt\n")
    print_runs(runs + short + long)

    # the tokens: the baselines and the compiled greedy search must agree
    naive = baselines.predict_greedy(model, one, n0, FORBIDDEN)
    forward = baselines.forward_greedy(model, many, n0, FORBIDDEN)
    compiled1 = decoder.greedy(state1, start1, n0).tokens
    compiled_b = decoder.greedy(state_b, start_b, n0).tokens
    print(f"\ntokens: model.predict loop and Decoder greedy (B=1) agree on "
          f"{int((naive == compiled1).sum())} of {naive.size}; compiled forward and Decoder "
          f"greedy (B={big}) on {int((forward == compiled_b).sum())} of {forward.size}; "
          f"Decoder greedy B=1 and row 0 of B={big} on {int((compiled1[0] == compiled_b[0]).sum())}"
          f" of {n0}")

    print(f"\nratios per OUTPUT token, median (best) of the same {args.repeats} runs, at the same "
          f"output length n={n0} and the same B: B=1 rows against the B=1 baselines, B={big} "
          f"rows against the batched naive loops (B={big})")
    predict_col = f"x predict (B=1 | B={big})"
    forward_col = f"x forward (B=1 | B={big})"
    header = f"{'Decoder':<28}{'B':>4}{predict_col:>30}{forward_col:>30}"
    print(header)
    print("-" * len(header))
    for run in short:
        slow_predict = predict1 if run.batch == 1 else (predict_b if args.batched_predict
                                                        else None)
        slow_forward = forward1 if run.batch == 1 else forward_b
        name = run.name.split(",")[0].replace(f" B={big}", "").replace("Decoder ", "")
        print(f"{name:<28}{run.batch:>4}"
              f"{both(slow_predict, run) if slow_predict else 'not run':>30}"
              f"{both(slow_forward, run):>30}")
    print("the baselines against each other, per output token:")
    for label, slow, fast in [("compiled forward B=1 vs model.predict B=1", predict1, forward1),
                              (f"batched forward B={big} vs model.predict B=1", predict1,
                               forward_b),
                              (f"batched forward B={big} vs compiled forward B=1", forward1,
                               forward_b)]:
        print(f"  {label}: {both(slow, fast)}")

    for runs_at in (short, long):
        if not runs_at:
            continue
        named = {r.name.split(",")[0]: r for r in runs_at}
        n = runs_at[0].n
        greedy1, greedy_b = named["Decoder greedy"], named[f"Decoder greedy B={big}"]
        print(f"\nn={n}: Decoder greedy at B={big} makes {both(greedy1, greedy_b)} the output "
              f"tokens per second of B=1 ({1 / greedy_b.per_token('median'):,.0f} against "
              f"{1 / greedy1.per_token('median'):,.0f} tokens/s, medians)")
        for b, suffix in [(1, ""), (big, f" B={big}")]:
            if f"Decoder beam 8{suffix}" not in named:
                continue
            beam8, greedy = named[f"Decoder beam 8{suffix}"], named[f"Decoder greedy{suffix}"]
            cost_med = beam8.per_token("median") / greedy.per_token("median")
            cost_best = beam8.per_token("best") / greedy.per_token("best")
            print(f"n={n}, B={b}: beam 8 costs {cost_med:.1f}x greedy per output token "
                  f"(best runs: {cost_best:.1f}x); per hypothesis-token it costs "
                  f"{cost_med / 8:.2f}x a greedy token")


def dates_part(args) -> None:
    sizes = DATES_SIZES
    splits = dates.date_splits(sizes["n_train"], sizes["n_validation"], sizes["n_test"], seed=0)
    sources = dates.encode_sources([p.source for p in splits.test])
    model = seq2seq.build_model(dates.SOURCE_VOCAB_SIZE, dates.TARGET_VOCAB_SIZE,
                                units=sizes["units"], attention=True)
    decoder = Decoder(seq2seq.step_function(model), dates.TARGET_VOCAB_SIZE,
                      eos_id=dates.EOS_ID, jit_compile=args.jit)
    max_len, width = dates.TARGET_LENGTH + 1, sizes["beam_width"]
    state = seq2seq.initial_state(model, sources)  # encoded once, outside every timing
    n = len(sources)
    one_by_one = seq2seq.per_example(state)
    chunk = args.dates_batch
    chunks = [tuple(s[i : i + chunk] for s in state) for i in range(0, n, chunk)]
    print(f"\ndates (notebook 10): attention encoder-decoder, units {sizes['units']}, "
          f"{model.count_params():,} parameters, random weights (speed does not depend on "
          f"training); {n:,} test sources (utils.dates.date_splits, notebook 10's cpu sizes), "
          f"max_len {max_len}, beam width {width}")

    outputs = {}  # each way's outputs from its last timed run

    def greedy(key, states):
        outputs[key] = [decoder.greedy(s, dates.BOS_ID, max_len) for s in states]

    def beam(key, states):
        outputs[key] = [decoder.beam_search(s, dates.BOS_ID, max_len, width=width)
                        for s in states]

    ways = {"one by one": one_by_one, f"batches of {chunk}": chunks, f"all {n} at once": [state]}
    runs = {}
    for way, states in ways.items():
        runs[f"greedy, {way}"] = lambda key=f"greedy, {way}", states=states: greedy(key, states)
        runs[f"beam 4, {way}"] = lambda key=f"beam 4, {way}", states=states: beam(key, states)
    started = time.perf_counter()
    seconds = speed.time_interleaved(runs, args.repeats, warmup=1)
    print(f"timed in {time.perf_counter() - started:.0f} s; one untimed warm-up, then "
          f"{args.repeats} runs each, interleaved\n")
    header = f"{'decoding the test set':<30}{'median s':>10}{'best s':>9}{'sources/s med':>15}"
    print(header)
    print("-" * len(header))
    for name, times in seconds.items():
        print(f"{name:<30}{statistics.median(times):>10.3f}{min(times):>9.3f}"
              f"{n / statistics.median(times):>15,.0f}")

    # identical outputs: every hypothesis's tokens, and log-probabilities to float precision
    greedy_sequences = [outputs[f"greedy, {way}"] for way in ways]
    beam_sequences = [outputs[f"beam 4, {way}"] for way in ways]

    def flat(outs):
        return [seq for out in outs for seq in out.sequences()]

    same_greedy = flat(greedy_sequences[0]) == flat(greedy_sequences[1]) == flat(
        greedy_sequences[2])
    same_beam = flat(beam_sequences[0]) == flat(beam_sequences[1]) == flat(beam_sequences[2])
    log_prob_gap = max(
        float(np.max(np.abs(np.concatenate([o.log_probs.ravel() for o in outs])
                            - np.concatenate([o.log_probs.ravel() for o in beam_sequences[0]]))))
        for outs in beam_sequences[1:])
    print(f"\noutputs identical one by one, in batches of {chunk} and all at once: greedy "
          f"{same_greedy}, beam {width} (all {width} hypotheses per source) {same_beam}; "
          f"largest beam log-prob difference {log_prob_gap:.1e}")
    assert same_greedy and same_beam, "batched decoding changed the outputs"

    def speedup(method: str, size: str, which) -> float:
        return which(seconds[f"{method}, one by one"]) / which(seconds[f"{method}, {size}"])

    for size in (f"batches of {chunk}", f"all {n} at once"):
        for method in ("greedy", "beam 4"):
            print(f"{method}, {size}: {speedup(method, size, statistics.median):.1f}x faster "
                  f"than one by one (best runs: {speedup(method, size, min):.1f}x)")
    both_one = statistics.median(seconds["greedy, one by one"]) + statistics.median(
        seconds["beam 4, one by one"])
    both_all = statistics.median(seconds[f"greedy, all {n} at once"]) + statistics.median(
        seconds[f"beam 4, all {n} at once"])
    total = both_one / both_all
    print(f"target: notebook 10's job (greedy and beam {width} on the {n:,} test dates) all at "
          f"once >= {TARGET_DATES_SPEEDUP}x faster than one by one: {both_all:.3f} s against "
          f"{both_one:.3f} s (medians), {total:.1f}x, {VERDICT[total >= TARGET_DATES_SPEEDUP]}")


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
    parser.add_argument("--tokens", type=int, default=200,
                        help="output tokens per prompt for the Decoder's second timing")
    parser.add_argument("--naive-tokens", type=int, default=30,
                        help="output tokens per prompt for the baselines (they are slow) and "
                             "for the Decoder timings the ratios use")
    parser.add_argument("--prompt", type=int, default=20, help="prompt length in tokens")
    parser.add_argument("--batch", type=int, default=64, help="prompts decoded together")
    parser.add_argument("--batched-predict", action=argparse.BooleanOptionalAction,
                        default=True, help="also time model.predict's loop at --batch prompts")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of everything, after one untimed warm-up")
    parser.add_argument("--dates", action=argparse.BooleanOptionalAction, default=True,
                        help="part 2: notebook 10's 1,000 test dates")
    parser.add_argument("--dates-batch", type=int, default=250,
                        help="the batch size between one by one and all at once")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra- and inter-op threads (0: TensorFlow's default)")
    parser.add_argument("--jit", action="store_true", help="compile the Decoder's loops with XLA")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("tokens", "naive_tokens", "prompt", "batch", "repeats", "dates_batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)
    tf.get_logger().setLevel("ERROR")  # retracing notes: each strategy and batch size traces once
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores | Python {platform.python_version()} | "
          f"TensorFlow {tf.__version__} | Keras {keras.__version__} | "
          f"threads: {args.threads or 'default'} | XLA loops: {args.jit}")
    print(f"before: {load()}")
    started = time.perf_counter()
    language_model_part(args)
    if args.dates:
        dates_part(args)
    print(f"\nafter: {load()}; {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
