import datetime as dt
import random
import re

import numpy as np
import pytest

from utils import dates

# An independent reading of every format: Python's strptime, after removing what it cannot parse
# (ordinal suffixes, "the ... of", the dot of "nov.").
STRPTIME = {
    "iso": "%Y-%m-%d",
    "us_slash": "%m/%d/%Y",
    "us_slash_yy": "%m/%d/%y",
    "eu_dot": "%d.%m.%Y",
    "eu_dot_yy": "%d.%m.%y",
    "compact": "%Y%m%d",
    "day_month_year": "%d %B %Y",
    "day_mon_year": "%d %b %Y",
    "month_day_year": "%B %d, %Y",
    "mon_day_year": "%b %d %Y",
    "weekday_day_month_year": "%A, %d %B %Y",
    "wkd_day_mon_year": "%a %d %b %Y",
    "the_ordinal_of_month": "the %d of %B %Y",
    "month_ordinal": "%B %d, %Y",
}


def parse(pair: dates.DatePair) -> dt.date:
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", pair.source.lower())
    if pair.format in ("day_mon_year", "mon_day_year", "wkd_day_mon_year"):
        text = re.sub(r"([a-z]{3})\.", r"\1", text)
    return dt.datetime.strptime(text, STRPTIME[pair.format]).date()


@pytest.fixture(scope="module")
def splits():
    return dates.date_splits(3000, 400, 400, seed=7)


def test_every_format_is_covered_by_the_independent_parser():
    assert set(STRPTIME) == set(dates.FORMATS)


def test_targets_are_what_the_sources_say(splits):
    for pair in splits.train + splits.validation + splits.test:
        assert parse(pair).isoformat() == pair.target, pair
        assert pair.date == parse(pair)
        assert len(pair.target) == dates.TARGET_LENGTH
        if pair.format.startswith(("weekday", "wkd")):
            weekday = dates.WEEKDAYS[pair.date.weekday()]
            assert pair.source.lower().startswith(weekday[:3])


def test_splits_have_the_sizes_asked_and_share_no_date_and_no_string(splits):
    parts = [splits.train, splits.validation, splits.test]
    assert [len(p) for p in parts] == [3000, 400, 400]
    sources = [{p.source for p in part} for part in parts]
    assert [len(s) for s in sources] == [3000, 400, 400]  # no string twice within a split
    days = [{p.target for p in part} for part in parts]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not sources[i] & sources[j]
            assert not days[i] & days[j]


def test_same_seed_same_splits_other_seed_other_splits():
    a = dates.date_splits(50, 10, 10, seed=1)
    assert a == dates.date_splits(50, 10, 10, seed=1)
    assert a.train != dates.date_splits(50, 10, 10, seed=2).train


def test_all_formats_and_casings_appear(splits):
    assert {p.format for p in splits.train} == set(dates.FORMATS)
    words = [p.source for p in splits.train if p.format not in dates.NUMERIC_FORMATS]
    assert any(s.isupper() for s in words) and any(s.islower() for s in words)
    assert any(s.istitle() for s in words)


def test_two_digit_years_only_inside_their_window(splits):
    low, high = dates.TWO_DIGIT_YEARS
    for pair in splits.train:
        if pair.format in dates.TWO_DIGIT_YEAR_FORMATS:
            assert low <= pair.date.year <= high


def test_format_date_examples():
    day = dt.date(2026, 11, 24)
    assert dates.format_date(day, "weekday_day_month_year") == "tuesday, 24 november 2026"
    assert dates.format_date(day, "the_ordinal_of_month") == "the 24th of november 2026"
    assert dates.format_date(dt.date(1999, 3, 3), "month_ordinal") == "march 3rd, 1999"
    assert dates.format_date(dt.date(2011, 3, 11), "month_ordinal") == "march 11th, 2011"
    assert dates.format_date(day, "compact") == "20261124"
    assert dates.format_date(day, "eu_dot_yy") == "24.11.26"
    # month and day above 9 have two digits whether or not the format pads them
    assert dates.format_date(day, "us_slash_yy", random.Random(0)) == "11/24/26"


def test_ambiguous_means_swappable_day_and_month():
    assert dates.DatePair("03/04/2026", "2026-03-04", "us_slash").ambiguous
    assert not dates.DatePair("03/13/2026", "2026-03-13", "us_slash").ambiguous
    assert not dates.DatePair("03/03/2026", "2026-03-03", "us_slash").ambiguous
    assert not dates.DatePair("4 march 2026", "2026-03-04", "day_month_year").ambiguous
    assert not dates.DatePair("2026-03-04", "2026-03-04", "iso").ambiguous


def test_encode_sources_normalises_pads_and_maps_every_character():
    ids = dates.encode_sources(["24 Nov. 2026", "  1/2/99 "])
    assert ids.shape == (2, len("24 nov. 2026")) and ids.dtype == np.int32
    assert ids[1, len("1/2/99"):].tolist() == [0] * (ids.shape[1] - len("1/2/99"))
    assert ids.min() >= 0 and ids.max() < dates.SOURCE_VOCAB_SIZE
    alphabet = np.array(list(" " + dates.SOURCE_ALPHABET))  # id 0 is padding
    assert "".join(alphabet[ids[0]]) == "24 nov. 2026"


def test_unknown_characters_raise_or_are_dropped():
    with pytest.raises(ValueError, match="outside the date alphabet: '!'"):
        dates.encode_sources(["24 nov 2026!"])
    dropped = dates.encode_sources(["24 nov 2026!"], unknown="drop")
    assert np.array_equal(dropped, dates.encode_sources(["24 nov 2026"]))
    assert np.array_equal(dates.encode_sources(["24 × nov 2026"], unknown="drop"), dropped)
    with pytest.raises(ValueError, match="no character of the date alphabet"):
        dates.encode_sources(["!!!"], unknown="drop")


def test_over_long_sources_are_refused():
    with pytest.raises(ValueError, match="max_length=32"):
        dates.encode_sources(["the 24th of november 2026 " * 3])
    assert dates.encode_sources(["x" * 40], max_length=40).shape == (1, 40)


def test_generated_sources_fit_the_model_input(splits):
    longest = max(len(dates.normalize_source(p.source)) for p in splits.train)
    assert longest <= dates.MAX_SOURCE_LENGTH


def test_teacher_forcing_shifts_by_one_and_round_trips():
    inputs, outputs = dates.encode_targets(["2026-11-24", "1999-03-03"])
    assert inputs.shape == outputs.shape == (2, 11)
    assert np.all(inputs[:, 0] == dates.BOS_ID) and np.all(outputs[:, -1] == dates.EOS_ID)
    np.testing.assert_array_equal(inputs[:, 1:], outputs[:, :-1])
    assert dates.decode_target(outputs[0]) == "2026-11-24"
    assert dates.decode_target(inputs[1]) == "1999-03-03"  # the start token is skipped
    assert dates.decode_target([*outputs[1], 5, 6]) == "1999-03-03"  # stops at </s>
    five, six = dates.TARGET_TOKENS[5], dates.TARGET_TOKENS[6]
    assert dates.decode_target([5, dates.PAD_ID, 6]) == five + six  # padding is skipped
    with pytest.raises(ValueError, match="outside the target vocabulary"):
        dates.decode_target([5, -1])


def test_metrics():
    targets = ["2026-11-24", "1999-03-03"]
    assert dates.exact_match(targets, targets) == 1.0
    assert dates.exact_match(["2026-11-24", "1999-03-04"], targets) == 0.5
    assert dates.char_accuracy(["2026-11-24", "1999-03-04"], targets) == pytest.approx(19 / 20)
    assert dates.char_accuracy(["2026", "1999-03-03x"], targets) == pytest.approx(14 / 21)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: dates.date_splits(0, 1, 1), ValueError, "n_train must be an integer >= 1"),
        (lambda: dates.date_splits(1, 1.5, 1), ValueError, "n_validation must be an integer"),
        (lambda: dates.date_splits(1, 1, 1, years=(2000, 1990)), ValueError, "years must be"),
        (lambda: dates.date_splits(1, 1, 1, years=2000), ValueError, "years must be"),
        (lambda: dates.date_splits(100_000, 10, 10, years=(2000, 2000)), ValueError,
         "too few"),
        (lambda: dates.format_date(dt.date(2000, 1, 1), "roman"), ValueError, "unknown format"),
        (lambda: dates.format_date("2000-01-01", "iso"), TypeError, "datetime.date"),
        (lambda: dates.format_date(dt.date(1950, 1, 1), "eu_dot_yy"), ValueError,
         "two-digit years"),
        (lambda: dates.encode_sources("24 nov 2026"), TypeError, "not one string"),
        (lambda: dates.encode_sources([]), ValueError, "empty"),
        (lambda: dates.encode_sources(["1"], unknown="keep"), ValueError, "'raise' or 'drop'"),
        (lambda: dates.encode_sources([3]), TypeError, "must be a str"),
        (lambda: dates.encode_targets(["2026/11/24"]), ValueError, "is not made of"),
        (lambda: dates.decode_target([99]), ValueError, "outside the target vocabulary"),
        (lambda: dates.exact_match(["a"], ["a", "b"]), ValueError, "as many predictions"),
    ],
)
def test_bad_arguments_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
