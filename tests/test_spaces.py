import numpy as np
import pytest

from utils import spaces, text


def test_remove_spaces_labels_the_character_before_each_space():
    chars, labels = spaces.remove_spaces("the king  said\nno")
    assert chars == "thekingsaidno"
    assert labels.tolist() == [0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]
    assert labels.dtype == np.int8


@pytest.mark.parametrize("text", ["", "a", "  one  ", "a b c", "once upon a time,\n\tthere was"])
def test_labels_round_trip_to_the_normalised_text(text):
    chars, labels = spaces.remove_spaces(text)
    assert spaces.restore_spaces(chars, labels) == spaces.normalize(text)
    assert len(chars) == len(labels)


def test_normalize_folds_white_space():
    assert spaces.normalize("  a \n\n b\tc ") == "a b c"


def test_char_ids_are_the_vocabulary_ids_and_never_padding():
    vocab = text.Vocabulary(["a", "b", "c"])
    ids = spaces.char_ids("abz", vocab)
    assert ids.tolist() == [2, 3, vocab.unknown_id] and ids.dtype == np.int32
    assert spaces.PAD_ID == text.PAD_ID == 0


def test_windows_cut_without_padding():
    ids, labels = np.arange(1, 11), np.array([0, 1] * 5)
    x, y = spaces.windows(ids, labels, 4)
    assert x.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert y.tolist() == [[0, 1, 0, 1], [0, 1, 0, 1]]


def test_context_windows_centre_the_position_and_pad_the_ends():
    ids = np.arange(1, 7)  # 1..6
    out = spaces.context_windows(ids, [0, 3, 5], left=2, right=1)
    assert out.tolist() == [[0, 0, 1, 2], [2, 3, 4, 5], [4, 5, 6, 0]]
    assert spaces.context_windows(ids, [2], left=0, right=0).tolist() == [[3]]


def test_boundary_scores():
    truth = [1, 1, 0, 0, 1]
    guess = [1, 0, 1, 0, 1]
    s = spaces.boundary_scores(truth, guess)
    assert (s.true_positives, s.false_positives, s.false_negatives) == (2, 1, 1)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert "F1 0.667" in str(s)
    perfect = spaces.boundary_scores(truth, truth)
    assert perfect.f1 == perfect.precision == perfect.recall == 1.0
    nothing = spaces.boundary_scores(truth, [0] * 5)
    assert nothing.precision == nothing.recall == nothing.f1 == 0.0


def test_highlight_errors_marks_missed_and_spurious_spaces():
    html = spaces.highlight_errors("a<bc", [1, 0, 1, 0], [1, 1, 0, 0])
    assert html.startswith("a &lt;")  # correct space, escaped character
    assert "spurious space" in html and "missed space" in html
    assert html.index("spurious") < html.index("missed")


def test_right_context_needed():
    lexicon = {"the", "there", "king", "a", "an"}
    chars, labels = spaces.remove_spaces("the king there a")
    needed = spaces.right_context_needed(chars, labels, lexicon, max_context=4)
    by_char = dict(enumerate(needed.tolist()))
    assert by_char[0] == 0 and by_char[1] == 0  # "t", "th" are no words
    assert by_char[2] == 1  # "the|k": "thek" starts no word
    assert by_char[6] == 0  # "king" is no prefix of a longer word
    assert by_char[9] == 1  # "the" in "there": "ther" cannot start a word after "the"
    assert by_char[11] == 0  # "there" is complete and no longer word starts with it
    assert by_char[12] == 4 + 1  # "a" or "an"? The text ends before anything decides
    unknown = spaces.right_context_needed("xyz", np.array([0, 0, 0]), lexicon)
    assert unknown.tolist() == [-1, -1, -1]


def test_right_context_needed_follows_readings_across_words():
    # "aab" read as "aa b": after the first "a", the reading "a|a|b" (three words) stays open.
    needed = spaces.right_context_needed("aab", np.array([0, 1, 0]), {"a", "aa", "b"}, 3)
    assert needed[0] == 3 + 1
    # "a ax": after the first "a" the word could go on as "aa", until "x" rules it out.
    needed = spaces.right_context_needed("aax", np.array([1, 0, 0]), {"a", "aa", "ax"}, 3)
    assert needed[0] == 2


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: spaces.normalize(3), TypeError, "text must be a str"),
        (lambda: spaces.restore_spaces("a b", [0, 0, 0]), ValueError, "white space"),
        (lambda: spaces.restore_spaces("ab", [0]), ValueError, "labels has 1 entries"),
        (lambda: spaces.restore_spaces("ab", [0, 2]), ValueError, "only 0 and 1"),
        (lambda: spaces.windows([1, 2], [0, 0], 0), ValueError, "length must be an integer"),
        (lambda: spaces.windows([1, 2], [0, 0], 3), ValueError, "no window"),
        (lambda: spaces.context_windows([1, 2], [2], 1, 1), ValueError, "positions must lie"),
        (lambda: spaces.context_windows([1, 2], [0], -1, 1), ValueError, "left must be"),
        (lambda: spaces.boundary_scores([0, 1], [1]), ValueError, "predicted_labels has 1"),
        (lambda: spaces.right_context_needed("ab", [0, 0], set()), ValueError, "lexicon"),
        (lambda: spaces.right_context_needed("ab", [0, 0], {"a b"}), ValueError, "lexicon"),
        (lambda: spaces.right_context_needed("ab", [0, 0], {"a"}, -1), ValueError,
         "max_context must be"),
    ],
)
def test_bad_arguments_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
