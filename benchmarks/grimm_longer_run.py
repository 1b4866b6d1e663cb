"""When does notebook 06's LSTM alone beat Kneser-Ney? The same recipe, trained longer.

Run from the repository root:  .venv/bin/python benchmarks/grimm_longer_run.py  (--help)

Notebook 06 trains the `cpu` recipe of `utils.grimm` within its 10-minute budget. This script
trains that recipe (stateful windows, cosine learning rate) for more epochs, with its own dropout
and first learning rate (the stored run: 48 epochs, dropout 0.2, 5e-3), resumably in the
checkpoint folder ``06_text_generation/cpu-longer`` (stop it and run it again to continue), then
scores the best model on the validation and test tales with `language_model.token_log_probs`,
beside modified Kneser-Ney of orders 2-6 fitted on the training tales. It writes
``benchmarks/results/grimm_longer_run.csv`` (one row per epoch: updates so far, learning rate,
validation perplexity) and ``grimm_longer_run.json`` (the final numbers, the CPU, the load, the
time), which notebook 06 draws. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utils import environment  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() \
            else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--dropout", type=float, default=0.2,
                        help="more than the cpu profile's 0.1: a longer run overfits sooner")
    parser.add_argument("--learning-rate", type=float, default=5e-3,
                        help="the first epoch's rate (the stored run: 5e-3)")
    args = parser.parse_args()
    environment.setup(verbose=False)

    import numpy as np

    from utils import grimm, kneser_ney, training
    from utils import language_model as lm

    sizes = dict(grimm.SIZES["cpu"], epochs=args.epochs, dropout=args.dropout,
                 learning_rate=args.learning_rate)
    corpus = grimm.corpus(sizes["tokens"])
    data = grimm.windows(corpus, sizes)
    folder = training.checkpoint_dir(grimm.RUN, "cpu-longer")
    start = time.perf_counter()
    run = grimm.train(grimm.build_model(corpus.vocabulary.size, sizes), data, sizes, folder,
                      verbose=2)
    seconds = time.perf_counter() - start
    import keras

    best = lm.stateless_copy(keras.models.load_model(run.best_path))
    lstm = {name: lm.perplexity_of(lm.token_log_probs(best, corpus.ids[name]))
            for name in ("validation", "test")}
    kn = {}
    for order in range(2, 7):
        model = kneser_ney.KneserNey.fit(corpus.ids["train"], corpus.vocabulary.size, order)
        kn[order] = {name: model.perplexity(corpus.ids[name]) for name in ("validation", "test")}
    steps = int(data["train"].cardinality())
    RESULTS.mkdir(exist_ok=True)
    history = run.history
    with open(RESULTS / "grimm_longer_run.csv", "w") as f:
        f.write("epoch,updates,learning_rate,loss,val_loss\n")
        for i, epoch in enumerate(history["epoch"]):
            rate, loss, val_loss = (history[k][i] for k in ("learning_rate", "loss", "val_loss"))
            f.write(f"{int(epoch) + 1},{(int(epoch) + 1) * steps},{rate:.6g},{loss:.5f},"
                    f"{val_loss:.5f}\n")
    summary = dict(
        sizes={k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
        updates_per_epoch=steps, epochs=len(history["epoch"]),
        lstm_perplexity=lstm, kneser_ney_perplexity=kn,
        seconds_this_call=round(seconds), cpu=cpu_model(), cores=os.cpu_count(),
        load_average_at_end=os.getloadavg(),
    )
    (RESULTS / "grimm_longer_run.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print("best epoch by validation:", 1 + int(np.argmin(history["val_loss"])))


if __name__ == "__main__":
    main()
