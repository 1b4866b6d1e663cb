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


def test_delayed_windows_shift_the_targets_and_pad_the_end():
    ids, labels = np.arange(1, 8), np.array([1, 0, 0, 1, 0, 1, 1])  # 7 characters
    x, y, w = spaces.delayed_windows(ids, labels, length=3, delay=2, end_id=99)
    # the look-ahead reads on into the stream (7), past its end the end marker
    assert x.tolist() == [[1, 2, 3, 4, 5], [4, 5, 6, 7, 99]]
    assert y.tolist() == [[0, 0, 1, 0, 0], [0, 0, 1, 0, 1]]  # label i at step i + 2
    assert w.tolist() == [[0, 0, 1, 1, 1], [0, 0, 1, 1, 1]]  # the first 2 steps decide nothing
    # every label of the windows' characters is a target exactly once, `delay` steps late
    assert np.array_equal(y[:, 2:].ravel(), labels[:6])
    assert np.array_equal(x[:, :3], np.arange(1, 7).reshape(2, 3))


def test_delay_zero_is_windows():
    ids, labels = np.arange(1, 11), np.array([0, 1] * 5)
    x, y, w = spaces.delayed_windows(ids, labels, length=4, delay=0, end_id=50)
    x0, y0 = spaces.windows(ids, labels, 4)
    assert np.array_equal(x, x0) and np.array_equal(y, y0) and np.all(w == 1)


def test_context_windows_can_fill_the_right_end_with_an_end_marker():
    out = spaces.context_windows(np.arange(1, 7), [0, 5], left=1, right=2, right_fill=9)
    assert out.tolist() == [[0, 1, 2, 3], [5, 6, 9, 9]]  # the left end stays padding


def test_cut_at_word_keeps_whole_words():
    text = "they would hold the spoon"
    assert spaces.cut_at_word(text, 100) == text
    assert spaces.cut_at_word(text, 19) == "they would hold the"  # "the" ends at 19: kept
    assert spaces.cut_at_word(text, 18) == "they would hold"
    assert spaces.cut_at_word("  a\n b  ", 3) == "a b"  # normalised first


def test_the_last_label_of_a_cut_sample_is_not_scored():
    # "hold the" cut from "hold the spoon": a space follows "the" in the tale, but the sample's
    # own labels end in 0; a model that puts the space there is not wrong
    chars, truth = spaces.remove_spaces(spaces.cut_at_word("hold the spoon", 9))
    guess = truth.copy()
    guess[-1] = 1
    scored = spaces.scored_positions(len(chars))
    assert scored.tolist() == [True] * (len(chars) - 1) + [False]
    assert int(np.sum((guess != truth) & scored)) == 0
    html = spaces.highlight_errors(chars, truth, guess, scored=scored)
    assert "spurious" not in html and html.endswith("the")
    assert "spurious" in spaces.highlight_errors(chars, truth, guess)  # scored everywhere
    assert spaces.scored_positions(0).tolist() == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: spaces.delayed_windows([1, 2], [0, 0], 1, 1, end_id=0), "must not be PAD_ID"),
        (lambda: spaces.delayed_windows([1, 2], [0, 0], 1, 1, end_id=2), "occurs in ids"),
        (lambda: spaces.delayed_windows([1, 2], [0, 0], 1, -1, end_id=3), "delay must be"),
        (lambda: spaces.delayed_windows([1, 2], [0, 0], 3, 1, end_id=3), "no window"),
        (lambda: spaces.delayed_windows([1, 2], [0], 1, 1, end_id=3), "labels has 1"),
        (lambda: spaces.cut_at_word("abcdef gh", 3), "first word"),
        (lambda: spaces.cut_at_word("ab", 0), "max_chars must be"),
        (lambda: spaces.highlight_errors("ab", [0, 0], [0, 0], scored=[True]), "scored must"),
    ],
)
def test_bad_delayed_and_sample_arguments_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
