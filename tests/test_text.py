import os

import numpy as np
import pytest

from utils import datasets, text

RAW = (
    "\ufeffThe Project Gutenberg EBook of Tales\r\n\r\nlicense words\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK TALES ***\r\n\r\n"
    "CONTENTS:\r\n\r\n     THE GOLDEN BIRD\r\n     THE WEDDING OF MRS FOX\r\n\r\n\r\n"
    "THE GOLDEN BIRD\r\n\r\nA certain king had a\r\nbeautiful garden.\r\n\r\n"
    "'Good _morning_,' he said.\r\n\r\n\r\n"
    "THE WEDDING OF MRS FOX\r\n\r\nFIRST STORY\r\n\r\nThere was once a fox.\r\n\r\n"
    "SECOND STORY\r\n\r\nThe fox died.\r\n\r\n*****\r\n\r\nThe Brothers Grimm were born.\r\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK TALES ***\r\nlicense again\r\n"
)


def test_gutenberg_body_strips_bom_crlf_header_and_license():
    body = text.gutenberg_body(RAW.encode("utf-8"))
    assert "\r" not in body and "\ufeff" not in body
    assert "license" not in body and "START OF" not in body and "END OF" not in body
    assert body == text.gutenberg_body(RAW)  # bytes or str


def test_gutenberg_body_rejects_other_files():
    with pytest.raises(ValueError, match="not a Project Gutenberg text"):
        text.gutenberg_body(b"just some text")


def test_parse_tales_splits_at_titles_and_joins_the_two_stories():
    tales = text.parse_tales(text.gutenberg_body(RAW))
    assert [t.title for t in tales] == ["THE GOLDEN BIRD", "THE WEDDING OF MRS FOX"]
    assert tales[0].text == "A certain king had a beautiful garden.\n'Good morning,' he said."
    assert tales[1].text == "First story.\nThere was once a fox.\nSecond story.\nThe fox died."


@pytest.mark.skipif(not os.environ.get(datasets.MIRROR_ENV), reason="needs the data mirror")
def test_grimm_tales_from_the_registered_file():
    tales = text.grimm_tales()
    titles = [t.title for t in tales]
    assert len(tales) == 62 and len(set(titles)) == 62
    assert titles[0] == "THE GOLDEN BIRD" and titles[-1] == "SNOW-WHITE AND ROSE-RED"
    assert "FIRST STORY" not in titles and "SECOND STORY" not in titles
    assert all(len(t.text) > 500 for t in tales)
    everything = "".join(t.text for t in tales)
    assert "Gutenberg" not in everything and "Hanau" not in everything and "_" not in everything


def _tales(n):
    return [text.Tale(f"T{i}", f"tale number {i}") for i in range(n)]


def test_split_tales_is_a_seeded_partition_by_tale():
    tales = _tales(20)
    a, b = text.split_tales(tales, seed=3), text.split_tales(tales, seed=3)
    assert a == b
    assert (len(a.train), len(a.validation), len(a.test)) == (16, 2, 2)
    titles = [t.title for t in a.train + a.validation + a.test]
    assert sorted(titles) == sorted(t.title for t in tales)
    assert text.split_tales(tales, seed=4) != a


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.3, -0.1), (0.5, 0.2, 0.2)])
def test_split_tales_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        text.split_tales(_tales(10), fractions)


def test_split_tales_needs_three_tales():
    with pytest.raises(ValueError, match="at least 3 tales"):
        text.split_tales(_tales(2))


def test_join_tales_lower_cases_and_separates():
    joined = text.join_tales([text.Tale("A", "One."), text.Tale("B", "Two.")])
    assert joined == "one.\n\ntwo.\n\n"
    assert text.join_tales([text.Tale("A", "One.")], lower=False) == "One.\n\n"


def test_bigrams_and_characters():
    assert text.bigrams("once") == ["on", "ce"]
    assert text.bigrams("upon a") == ["up", "on", " a"]
    assert text.bigrams("odd") == [" o", "dd"]  # odd length: a space in front
    assert text.characters("abc") == ["a", "b", "c"]
    assert text.tokenizer("bigram") is text.bigrams
    with pytest.raises(ValueError, match="unknown tokenizer"):
        text.tokenizer("word")


def test_vocabulary_orders_by_frequency_and_round_trips():
    tokens = list("abracadabra")
    vocab = text.Vocabulary.from_tokens(tokens)
    assert vocab.tokens == ["[UNK]", "a", "b", "r", "c", "d"]
    assert vocab.size == len(vocab) == 6 and vocab.unknown_id == 0
    ids = vocab.encode(tokens)
    assert ids.dtype == np.int32 and vocab.decode(ids) == "abracadabra"
    assert list(vocab.encode(["a", "z"])) == [1, 0]  # unknown -> [UNK] when encoding a corpus
    assert len(vocab.encode([])) == 0


def test_vocabulary_min_count_drops_rare_tokens():
    vocab = text.Vocabulary.from_tokens(list("abracadabra"), min_count=2)
    assert vocab.tokens == ["[UNK]", "a", "b", "r"]
    with pytest.raises(ValueError, match="min_count"):
        text.Vocabulary.from_tokens(["a"], min_count=0)


def test_encode_strict_refuses_unknown_tokens_and_empty_input():
    vocab = text.Vocabulary.from_tokens(list("abc"))
    assert list(vocab.encode_strict(list("cab"))) == list(vocab.encode(list("cab")))
    with pytest.raises(ValueError, match=r"not in the vocabulary.*'x'"):
        vocab.encode_strict(list("axb"))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode_strict(["[UNK]"])
    with pytest.raises(ValueError, match="empty"):
        vocab.encode_strict([])


def test_vocabulary_rejects_bad_token_lists_and_ids():
    with pytest.raises(ValueError, match="unique"):
        text.Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="at least one"):
        text.Vocabulary([])
    vocab = text.Vocabulary(["a"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([2])


def test_windows_give_next_token_targets_in_fixed_batches():
    ids = np.arange(101)
    data = text.windows(ids, seq_len=10, batch_size=3, shuffle=False)
    batches = list(data.as_numpy_iterator())
    assert len(batches) == 3  # 10 windows, 3 full batches of 3
    x, y = batches[0]
    assert x.shape == y.shape == (3, 10)
    np.testing.assert_array_equal(x[0], np.arange(10))
    np.testing.assert_array_equal(y[0], np.arange(1, 11))
    np.testing.assert_array_equal(x[1], np.arange(10, 20))  # windows overlap by one id


def test_windows_for_evaluation_keep_the_last_partial_batch():
    batches = list(text.windows(np.arange(101), 10, 3, shuffle=False, drop_remainder=False))
    assert [len(x) for x, _ in batches] == [3, 3, 3, 1]
    assert len(list(text.windows(np.arange(12), 10, 3, drop_remainder=False))) == 1


def test_windows_shuffle_is_seeded():
    ids = np.arange(1001)

    def first_epoch(seed):
        return np.concatenate([x[:, 0] for x, _ in text.windows(ids, 10, 5, seed=seed)])

    np.testing.assert_array_equal(first_epoch(1), first_epoch(1))
    assert sorted(first_epoch(1)) == list(range(0, 1000, 10))
    assert not np.array_equal(first_epoch(1), first_epoch(2))


def _starts(batches):
    return np.concatenate([np.asarray(x)[:, 0] for x, _ in batches])


def test_epoch_order_depends_on_seed_and_epoch_only():
    def order(seed, epoch):
        return text.epoch_order(50, seed, epoch).numpy()

    np.testing.assert_array_equal(order(1, 3), order(1, 3))
    assert sorted(order(1, 3)) == list(range(50))
    assert not np.array_equal(order(1, 3), order(1, 4))
    assert not np.array_equal(order(1, 3), order(2, 3))
    with pytest.raises(ValueError, match="n must be"):
        text.epoch_order(0, 1, 3)
    with pytest.raises(ValueError, match="seed must be an integer"):
        text.epoch_order(50, 1.5, 3)


def test_epochs_from_resumes_the_same_order_of_windows():
    ids = np.arange(1001)  # 100 windows of 10: 6 batches of 16 per epoch, 4 windows left over
    data = text.windows(ids, 10, 16, seed=7)
    assert int(data.cardinality()) == 6
    stream = _starts(data.epochs_from(0).take(3 * 6))
    epochs = stream.reshape(3, 96)
    for epoch in epochs:  # each window at most once per epoch, all but the 4 left over
        assert len(set(epoch)) == 96 and set(epoch) <= set(range(0, 1000, 10))
    assert not np.array_equal(epochs[1], epochs[2])
    # a run that resumes at epoch 2 sees what an uninterrupted run sees in its epoch 2
    np.testing.assert_array_equal(_starts(data.epochs_from(2).take(6)), epochs[2])
    again = text.windows(ids, 10, 16, seed=7)  # in a new kernel
    np.testing.assert_array_equal(_starts(again.epochs_from(1).take(6)), epochs[1])
    other_seed = text.windows(ids, 10, 16, seed=8)
    assert not np.array_equal(_starts(other_seed.epochs_from(1).take(6)), epochs[1])
    x, y = next(iter(data.epochs_from(0)))
    np.testing.assert_array_equal(np.asarray(x)[:, 1:], np.asarray(y)[:, :-1])
    assert not hasattr(text.windows(ids, 10, 16, shuffle=False), "epochs_from")


def test_epoch_stream_keeps_a_last_partial_batch_on_request():
    cut = np.arange(10 * 3).reshape(10, 3)
    sizes = [len(x) for x, _ in text.epoch_stream(cut, 4, drop_remainder=False).take(6)]
    assert sizes == [4, 4, 2, 4, 4, 2]
    with pytest.raises(ValueError, match="first_epoch"):
        text.epoch_stream(cut, 4, first_epoch=-1)
    with pytest.raises(ValueError, match="make no batch"):
        text.epoch_stream(cut, 11)  # would be an endless stream of empty epochs
    with pytest.raises(ValueError, match="cut must be windows"):
        text.epoch_stream(np.arange(10), 4)


def test_windows_reject_too_little_data_and_bad_sizes():
    with pytest.raises(ValueError, match="fewer than one batch"):
        text.windows(np.arange(50), seq_len=10, batch_size=8)
    with pytest.raises(ValueError, match="seq_len"):
        text.windows(np.arange(50), seq_len=0, batch_size=1)
    with pytest.raises(ValueError, match="batch_size"):
        text.windows(np.arange(50), seq_len=5, batch_size=0)


@pytest.mark.skipif(not os.environ.get(datasets.MIRROR_ENV), reason="needs the data mirror")
def test_grimm_corpus_tokenises_each_split_with_the_training_vocabulary():
    corpus = text.grimm_corpus("bigram")
    splits = text.split_tales(text.grimm_tales(), seed=0)
    test_text = text.join_tales(splits.test)
    assert corpus.vocabulary.decode(corpus.ids["test"]).replace("[UNK]", "") != ""
    assert len(corpus.ids["test"]) == len(text.bigrams(test_text))
    assert corpus.characters_per_token == 2
    chars = text.grimm_corpus("char")
    assert chars.vocabulary.decode(chars.ids["train"]) == text.join_tales(splits.train)
    assert chars.characters_per_token == 1
