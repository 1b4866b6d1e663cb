import pytest

from utils import text_metrics as tm


def test_words_splits_words_and_punctuation():
    assert tm.words("The King's son said: 'No!'") == ["the", "king's", "son", "said", ":", "no",
                                                      "!"]
    assert tm.words("Once upon a time.") == ["once", "upon", "a", "time", "."]


def test_distinct_n_divides_by_words_as_li_et_al():
    assert tm.distinct_n(["a b c d"], 1) == 1.0
    assert tm.distinct_n(["a a a a"], 1) == 0.25
    assert tm.distinct_n(["a b a b"], 2) == pytest.approx(2 / 4)  # {ab, ba} over 4 words
    assert tm.distinct_n(["a b", "a b"], 2) == 0.25  # pooled: {ab} over 4 words
    assert tm.distinct_n(["a"], 2) == 0.0  # a word but no bigram
    assert tm.distinct_n([""], 2) == 0.0


def test_known_word_share():
    known = tm.vocabulary_of("The king had a daughter. The queen, too!")
    assert known == {"the", "king", "had", "a", "daughter", "queen", "too"}
    # "branged" and "kng" are invented; punctuation is not counted
    assert tm.known_word_share(["the king branged, a kng."], known) == pytest.approx(3 / 5)
    assert tm.known_word_share(["the king", "a queen"], known) == 1.0
    with pytest.raises(ValueError, match="no words"):
        tm.known_word_share(["... !"], known)


def test_repetition_rate():
    assert tm.repetition_rate("one two three four five", 2) == 0.0
    assert tm.repetition_rate("the cat the cat the cat", 2) == pytest.approx(3 / 5)
    assert tm.repetition_rate("short", 4) == 0.0


def test_bad_n():
    with pytest.raises(ValueError, match="n"):
        tm.distinct_n(["a b"], 0)
    with pytest.raises(ValueError, match="n"):
        tm.distinct_n([""], 0)
