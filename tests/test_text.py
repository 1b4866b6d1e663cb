import json
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


def test_vocabulary_orders_by_frequency_after_padding_and_unknown():
    tokens = list("abracadabra")
    vocab = text.Vocabulary.from_tokens(tokens)
    assert vocab.tokens == ["", "[UNK]", "a", "b", "r", "c", "d"]
    assert vocab.size == len(vocab) == 7 and vocab.unknown_id == 1 and text.PAD_ID == 0
    ids = vocab.encode(tokens)
    assert ids.dtype == np.int32 and vocab.decode(ids) == "abracadabra"
    assert text.PAD_ID not in ids  # no text encodes to padding
    assert list(vocab.encode(["a", "z"])) == [2, 1]  # unknown -> [UNK] when encoding a corpus
    assert list(vocab.lookup(["a", "z"]).numpy()) == [2, 1]  # StringLookup agrees
    assert vocab.decode([2, 3, text.PAD_ID, text.PAD_ID]) == "ab"  # padding decodes to nothing
    assert len(vocab.encode([])) == 0


def test_vocabulary_min_count_drops_rare_tokens():
    vocab = text.Vocabulary.from_tokens(list("abracadabra"), min_count=2)
    assert vocab.tokens == ["", "[UNK]", "a", "b", "r"]
    with pytest.raises(ValueError, match="min_count"):
        text.Vocabulary.from_tokens(["a"], min_count=0)


def test_encode_strict_refuses_unknown_tokens_and_empty_input():
    vocab = text.Vocabulary.from_tokens(list("abc"))
    assert list(vocab.encode_strict(list("cab"))) == list(vocab.encode(list("cab")))
    with pytest.raises(ValueError, match=r"not in the vocabulary.*'x'"):
        vocab.encode_strict(list("axb"))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode_strict(["[UNK]"])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode_strict(["a", ""])  # the padding token is no token either
    with pytest.raises(ValueError, match="empty"):
        vocab.encode_strict([])


def test_vocabulary_rejects_bad_token_lists_and_ids():
    with pytest.raises(ValueError, match="unique"):
        text.Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="at least one"):
        text.Vocabulary([])
    for special in ("[UNK]", ""):
        with pytest.raises(ValueError, match="unique, not empty"):
            text.Vocabulary(["a", special])
    vocab = text.Vocabulary(["a"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([3])


def test_saved_vocabulary_round_trips_with_its_layout(tmp_path):
    vocab = text.Vocabulary.from_tokens(["ab", "é ", "ab", "[u"])
    vocab.save(tmp_path / "vocabulary.json")
    again = text.Vocabulary.load(tmp_path / "vocabulary.json")
    assert again.tokens == vocab.tokens and again.unknown_id == vocab.unknown_id
    assert list(again.encode(["é ", "ab", "zz"])) == list(vocab.encode(["é ", "ab", "zz"]))


def test_a_vocabulary_file_in_the_old_layout_is_a_clear_error(tmp_path):
    """Before padding had id 0, a file was a bare token list with [UNK] implied at id 0; read as
    the new layout, every id would be off by one."""
    old = tmp_path / "vocabulary.json"
    old.write_text(json.dumps(["ab", "cd"]))
    with pytest.raises(ValueError, match=rf"{old} is a vocabulary in the old layout.*Train it"):
        text.Vocabulary.load(old)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": 3, "tokens": ["ab"]}))
    with pytest.raises(ValueError, match="not a vocabulary of format 2"):
        text.Vocabulary.load(other)


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


# ----------------------------------------------------------------------------------------------
# Your own text: contiguous splits, one id stream each


LINES = "".join(f"line {i:03d} of the text, with some words.\n" for i in range(100))


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.5, 0.3, 0.2), (0.34, 0.33, 0.33)])
def test_split_text_is_contiguous_ordered_and_covers_the_text(fractions):
    blocks = text.split_text(LINES, fractions)
    assert len(blocks) == 3 and "".join(blocks) == LINES  # in order, no overlap, no gap
    assert all(block.endswith("\n") for block in blocks)  # cut at line boundaries
    shares = [len(block) / len(LINES) for block in blocks]
    np.testing.assert_allclose(shares, fractions, atol=0.02)  # a line is 1 % of the text


def test_split_text_rejects_bad_fractions():
    with pytest.raises(ValueError, match="fractions"):
        text.split_text(LINES, (0.9, 0.1, 0.0))


@pytest.mark.parametrize("tokens", ["char", "bigram"])
def test_corpus_from_text_encodes_each_split_with_the_training_vocabulary(tokens):
    raw = LINES.replace("line 095", "line ZZZ")  # characters only the test block has
    corpus = text.corpus_from_text(raw, tokens, seq_len=8)
    blocks = text.split_text(raw.lower())
    assert corpus.tokens == tokens and corpus.characters_per_token == (2 if tokens == "bigram"
                                                                       else 1)
    vocab = corpus.vocabulary
    assert vocab.decode(corpus.ids["train"]).lstrip() == blocks[0]  # bigrams: a space in front
    assert "z" not in "".join(vocab.tokens)  # the vocabulary knows the training text only
    assert vocab.unknown_id in corpus.ids["test"]
    for name in ("train", "validation", "test"):
        assert corpus.ids[name].dtype == np.int32 and text.PAD_ID not in corpus.ids[name]
    windows = text.windows(corpus.ids["validation"], 8, 2, shuffle=False, drop_remainder=False)
    assert next(iter(windows))[0].shape[1] == 8


def test_corpus_from_text_that_is_too_short_says_so():
    with pytest.raises(ValueError, match=r"my notes is too short: cut 0.8 / 0.1 / 0.1 at line "
                       r"boundaries, it gives train 21, validation 11, test 0 char tokens.*"
                       r"seq_len=32"):
        text.corpus_from_text("a few words\nand more\nand an end\n", "char", name="my notes")
    with pytest.raises(ValueError, match="too short.*several lines"):
        text.corpus_from_text("one long line without an end " * 50, "char")


def test_load_corpus_reads_a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("\ufeff" + LINES.replace("\n", "\r\n"), encoding="utf-8")
    corpus = text.load_corpus(path, "char", seq_len=16)
    assert isinstance(corpus, text.Corpus)
    assert "\r" not in corpus.vocabulary.tokens and "\ufeff" not in corpus.vocabulary.tokens
    assert corpus.vocabulary.decode(corpus.ids["train"]) == text.split_text(LINES)[0]


@pytest.mark.parametrize(("content", "match"), [
    (None, r"no file .*missing\.txt: give the path of a plain text file, or one of the "
           r"registered datasets: grimm, tinyshakespeare"),
    (b"", r"empty\.txt is empty"),
    (b"  \n\n", r"empty\.txt is empty"),
    (b"PK\x03\x04\x00\x00 zip", r"binary\.txt is a binary file \(it holds NUL bytes\)"),
    ("caf\u00e9 cr\u00e8me\n".encode("latin-1") * 100,
     r"latin\.txt is not utf-8 text \(byte 3: .*convert it first.*iconv"),
])
def test_load_corpus_explains_bad_files(tmp_path, content, match):
    names = {None: "missing.txt", b"": "empty.txt", b"  \n\n": "empty.txt"}
    name = names.get(content, "binary.txt" if content and b"\x00" in content else "latin.txt")
    if content is not None:
        (tmp_path / name).write_bytes(content)
    error = FileNotFoundError if content is None else ValueError
    with pytest.raises(error, match=match):
        text.load_corpus(tmp_path / name)


@pytest.mark.skipif(not os.environ.get(datasets.MIRROR_ENV), reason="needs the data mirror")
def test_load_corpus_of_a_registered_dataset():
    corpus = text.load_corpus("tinyshakespeare", "char")
    sizes = {name: len(ids) for name, ids in corpus.ids.items()}
    assert sizes["train"] > 7 * sizes["validation"] > 0 and sizes["test"] > 0
    assert "f" in corpus.vocabulary.tokens and "F" not in corpus.vocabulary.tokens  # lower case


def test_stateful_batches_continue_each_row_from_batch_to_batch():
    ids = np.arange(200)
    data = text.stateful_batches(ids, 5, 3, shift=False)
    batches = list(data.as_numpy_iterator())
    assert len(batches) == int(data.cardinality()) == 13  # rows of 65 ids: 13 windows of 5
    for (x, y), (x_next, _) in zip(batches, batches[1:], strict=False):
        np.testing.assert_array_equal(y, x + 1)  # the target is the next id
        np.testing.assert_array_equal(x_next[:, 0], x[:, -1] + 1)  # each row continues
    np.testing.assert_array_equal(batches[0][0][:, 0], [0, 65, 130])
    # every id but the first is a target at most once, in order within its row
    targets = np.concatenate([y for _, y in batches], axis=1)
    assert len(np.unique(targets)) == targets.size
    # shifted epochs start at an offset from (seed, epoch), the same in a resumed stream
    shifted = text.stateful_batches(ids, 5, 3, shift=True, seed=0)
    starts = [x[0, 0] for x, _ in shifted.epochs_from(0).take(13 * 4).as_numpy_iterator()][::13]
    again = [x[0, 0] for x, _ in shifted.epochs_from(2).take(13 * 2).as_numpy_iterator()][::13]
    assert all(0 <= s < 5 for s in starts) and len(set(starts)) > 1 and again == starts[2:]
    with pytest.raises(ValueError, match="no 3 rows"):
        text.stateful_batches(np.arange(12), 5, 3)
