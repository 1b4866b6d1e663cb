import math
import os

import keras
import numpy as np
import pytest
from test_text import RAW  # a tiny Gutenberg file with two tales

from utils import datasets, grimm, text, training
from utils import language_model as lm

needs_mirror = pytest.mark.skipif(not os.environ.get(datasets.MIRROR_ENV),
                                  reason="needs the data mirror")


def test_parse_tales_splits_at_titles_and_joins_the_two_stories():
    tales = grimm.parse_tales(text.gutenberg_body(RAW))
    assert [t.title for t in tales] == ["THE GOLDEN BIRD", "THE WEDDING OF MRS FOX"]
    assert tales[0].text == "A certain king had a beautiful garden.\n'Good morning,' he said."
    assert tales[1].text == "First story.\nThere was once a fox.\nSecond story.\nThe fox died."


def test_parse_tales_refuses_another_book():
    with pytest.raises(ValueError, match="is this Grimm's Fairy Tales"):
        grimm.parse_tales("SOME OTHER BOOK\n\nOnce.\n")


@needs_mirror
def test_the_62_tales_from_the_registered_file():
    tales = grimm.tales()
    titles = [t.title for t in tales]
    assert len(tales) == 62 and len(set(titles)) == 62
    assert titles[0] == "THE GOLDEN BIRD" and titles[-1] == "SNOW-WHITE AND ROSE-RED"
    assert "FIRST STORY" not in titles and "SECOND STORY" not in titles
    assert all(len(t.text) > 500 for t in tales)
    everything = "".join(t.text for t in tales)
    assert "Gutenberg" not in everything and "Hanau" not in everything and "_" not in everything


@needs_mirror
def test_corpus_tokenises_each_split_with_the_training_vocabulary():
    corpus = grimm.corpus("bigram")
    splits = grimm.split()
    assert splits == text.split_tales(grimm.tales(), seed=grimm.SPLIT_SEED)
    test_text = text.join_tales(splits.test)
    assert corpus.vocabulary.decode(corpus.ids["test"]).replace("[UNK]", "") != ""
    assert len(corpus.ids["test"]) == len(text.bigrams(test_text))
    assert corpus.characters_per_token == 2
    train_bigrams = text.bigrams(text.join_tales(splits.train))
    rare = [t for t in set(train_bigrams) if train_bigrams.count(t) < grimm.MIN_COUNT["bigram"]]
    assert rare and not set(rare) & set(corpus.vocabulary.tokens)
    chars = grimm.corpus("char")
    assert chars.vocabulary.decode(chars.ids["train"]) == text.join_tales(splits.train)
    assert chars.characters_per_token == 1
    with pytest.raises(ValueError, match="unknown tokenizer"):
        grimm.corpus("word")


def test_the_gpu_profile_trains_the_books_model():
    gpu = grimm.build_model(grimm.BOOK["vocab_size"], grimm.SIZES["gpu"])
    book = lm.build_model(**grimm.BOOK)
    assert [w.shape for w in gpu.weights] == [w.shape for w in book.weights]


def test_build_model_draws_its_weights_from_the_seed():
    sizes = dict(grimm.SIZES["smoke"], embedding_dim=4, units=(8,), stateful=False)
    a, b = grimm.build_model(20, sizes), grimm.build_model(20, sizes)
    other = grimm.build_model(20, sizes, seed=grimm.SEED + 1)
    x = np.arange(1, 11, dtype="int32")[None]
    np.testing.assert_array_equal(a(x), b(x))
    assert not np.allclose(a(x), other(x))
    assert a.optimizer is not None and a.output_shape == (None, None, 20)


def test_the_recipe_trains_any_corpus(tmp_path):
    raw = "".join(f"line {i} of my own text, with words.\n" for i in range(300))
    corpus = text.corpus_from_text(raw, "bigram", seq_len=16)
    sizes = dict(grimm.SIZES["smoke"], embedding_dim=4, units=(8,), seq_len=16, batch=8,
                 epochs=1)
    data = grimm.windows(corpus, sizes)
    assert hasattr(data["train"], "epochs_from")
    run = grimm.train(grimm.build_model(corpus.vocabulary.size, sizes), data, sizes, tmp_path,
                      verbose=0)
    assert run.history["epoch"] == [0] and run.best_path == tmp_path / "best.keras"


def test_every_profile_trains_stateful_with_the_cosine_learning_rate():
    for sizes in grimm.SIZES.values():
        model = grimm.build_model(30, dict(sizes, embedding_dim=4, units=(8,), dense_units=None))
        assert all(layer.stateful for layer in lm.recurrent_layers(model))
        assert model.input_shape == (sizes["batch"], None)
    sizes = dict(grimm.SIZES["cpu"], learning_rate=1e-2, epochs=5)
    rates = [grimm.learning_rate(sizes, epoch) for epoch in range(5)]
    assert rates[0] == pytest.approx(1e-2)
    # epoch 4 of 5 is 4/5 of the way down the cosine towards 1 % of the first rate
    assert rates[4] == pytest.approx(1e-4 + (1e-2 - 1e-4) * 0.5 * (1 + math.cos(0.8 * math.pi)))
    assert 1e-4 < rates[4] < 2e-3
    two = [grimm.learning_rate(dict(sizes, epochs=2), epoch) for epoch in range(2)]
    assert two[1] == pytest.approx((1e-2 + 1e-4) / 2)  # a short run's last epoch still learns
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))


def test_stateful_training_logs_the_learning_rate_and_carries_state(tmp_path):
    raw = "".join(f"line {i} of my own text, with words.\n" for i in range(300))
    corpus = text.corpus_from_text(raw, "bigram", seq_len=8)
    sizes = dict(grimm.SIZES["smoke"], embedding_dim=4, units=(8,), seq_len=8, batch=4, epochs=3)
    data = grimm.windows(corpus, sizes)
    x, _ = next(iter(data["train"]))
    assert x.shape == (4, 8)
    run = grimm.train(grimm.build_model(corpus.vocabulary.size, sizes), data, sizes, tmp_path,
                      verbose=0)
    np.testing.assert_allclose(run.history["learning_rate"],
                               [grimm.learning_rate(sizes, e) for e in range(3)], rtol=1e-6)


def test_run_dir_is_per_profile(tmp_path, monkeypatch):
    monkeypatch.setenv(training.CHECKPOINT_ENV, str(tmp_path))
    assert grimm.run_dir("smoke") == tmp_path / grimm.RUN / "smoke"
    with pytest.raises(ValueError, match="unknown profile 'tiny'"):
        grimm.run_dir("tiny")


@needs_mirror
def test_load_model_trains_once_then_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(training.CHECKPOINT_ENV, str(tmp_path))
    tiny = dict(grimm.SIZES["smoke"], embedding_dim=4, units=(8,), seq_len=16, batch=256,
                epochs=1)
    monkeypatch.setitem(grimm.SIZES, "smoke", tiny)
    model, vocab = grimm.load_model("smoke")
    assert "training it now" in capsys.readouterr().out
    assert model.output_shape == (None, None, vocab.size)
    assert vocab.tokens == grimm.corpus("bigram").vocabulary.tokens
    # trained with the recipe's seed: the weights it started from are those of build_model
    start = grimm.build_model(vocab.size, tiny)
    history = training.read_history(grimm.run_dir("smoke") / "history.csv")
    x = np.arange(10, dtype="int32")[None]
    again, _ = grimm.load_model("smoke")
    assert capsys.readouterr().out == ""  # loaded, not trained again
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)
    data = grimm.windows(grimm.corpus("bigram"), tiny)
    keras.utils.set_random_seed(0)  # the global seed does not matter, the recipe's does
    retrained = grimm.train(start, data, tiny, tmp_path / "again", verbose=0)
    np.testing.assert_allclose(retrained.history["val_loss"], history["val_loss"], rtol=1e-5)


def test_load_model_refuses_a_vocabulary_in_the_old_layout(tmp_path, monkeypatch):
    monkeypatch.setenv(training.CHECKPOINT_ENV, str(tmp_path))
    folder = grimm.run_dir("smoke")
    lm.build_model(10, 4, (8,)).save(folder / "best.keras")
    (folder / grimm.VOCABULARY_FILE).write_text('["ab", "cd"]')
    with pytest.raises(ValueError, match="old layout"):
        grimm.load_model("smoke")


def test_a_resumed_stateful_run_is_the_uninterrupted_one(tmp_path):
    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    raw = "".join(f"line {i} of my own text, with words.\n" for i in range(300))
    corpus = text.corpus_from_text(raw, "bigram", seq_len=8)
    sizes = dict(grimm.SIZES["smoke"], embedding_dim=4, units=(8,), seq_len=8, batch=4, epochs=3,
                 dropout=0.2)
    data = grimm.windows(corpus, sizes)
    vocab = corpus.vocabulary.size
    whole = grimm.train(grimm.build_model(vocab, sizes), data, sizes, tmp_path / "a", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        grimm.train(grimm.build_model(vocab, sizes), data, sizes, tmp_path / "b", verbose=0,
                    extra_callbacks=[StopAfterFirstEpoch()])
    resumed = grimm.train(grimm.build_model(vocab, sizes, seed=grimm.SEED + 1), data, sizes,
                          tmp_path / "b", verbose=0)
    assert resumed.epochs_run == 2
    # the same shifted rows, learning rates, dropout and zeroed states: the same losses
    np.testing.assert_allclose(resumed.history["loss"], whole.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.history["val_loss"], whole.history["val_loss"], rtol=1e-5)
    assert resumed.history["learning_rate"] == whole.history["learning_rate"]
