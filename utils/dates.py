"""Dates as people write them, to ISO 8601: a translation task that trains on a laptop.

``"tuesday, 24 november 2026"``, ``"11/24/26"``, ``"24 nov. 2026"`` and ``"the 3rd of march
1999"`` are sources; ``"2026-11-24"`` and ``"1999-03-03"`` their targets. `date_splits` draws
train, validation and test pairs from a seed, splitting by **date**: a date (and so every string
that writes it) belongs to exactly one split, so the test measures dates the model never saw.

Numeric formats are ambiguous in the world (``03/04/2026`` is 4 March in Europe, 3 April in the
USA). This task fixes one convention per format, the way a real system must: a **slash** means
month/day/year (US), a **dot** day.month.year (European), a **dash** year-month-day (ISO). A
two-digit year ``yy`` means 19yy from 69 to 99 and 20yy from 00 to 68 (the POSIX rule of
Python's ``%y``); two-digit formats are only used for years 1969-2068, where that rule holds.

Sources are lower-cased and their white space folded before encoding (`normalize_source`): case
and spacing carry no date. Model ids: 0 is padding (`PAD_ID`, the course's one padding id),
source characters 1..; target tokens ``PAD_ID``, ``BOS_ID``, ``EOS_ID``, then the characters of
`TARGET_ALPHABET`. The tables are fixed here rather than a `utils.text.Vocabulary`: both alphabets
are closed, and a character outside them is refused (`encode_sources`), so an ``[UNK]`` id would
be a row the model never trains and the decoder could still emit.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .checks import integer_at_least
from .text import PAD_ID

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
YEARS = (1900, 2099)  # the default range of dates, inclusive
TWO_DIGIT_YEARS = (1969, 2068)  # where "yy" is unambiguous under the POSIX rule

SOURCE_ALPHABET = " ,-./0123456789abcdefghijklmnopqrstuvwxyz"  # after normalize_source
TARGET_ALPHABET = "-0123456789"
BOS_ID, EOS_ID = 1, 2  # after PAD_ID
TARGET_TOKENS = ("<pad>", "<s>", "</s>", *TARGET_ALPHABET)
SOURCE_VOCAB_SIZE = len(SOURCE_ALPHABET) + 1  # + padding
TARGET_VOCAB_SIZE = len(TARGET_TOKENS)
TARGET_LENGTH = len("2026-11-24")
MAX_SOURCE_LENGTH = 32  # longer than any generated source; longer inputs are refused

_SOURCE_IDS = {c: i + 1 for i, c in enumerate(SOURCE_ALPHABET)}
_TARGET_IDS = {c: i + 3 for i, c in enumerate(TARGET_ALPHABET)}


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _num(value: int, pad: bool) -> str:
    return f"{value:02d}" if pad else str(value)


def _month_abbreviation(date: dt.date, rng: random.Random) -> str:
    return MONTHS[date.month - 1][:3] + rng.choice(("", "."))


# Each format writes a date; `rng` picks the free choices (zero padding, "nov" or "nov.").
FORMATS: dict[str, Callable[[dt.date, random.Random], str]] = {
    "iso": lambda d, r: d.isoformat(),
    "us_slash": lambda d, r: (f"{_num(d.month, r.random() < 0.5)}/{_num(d.day, r.random() < 0.5)}"
                              f"/{d.year}"),
    "us_slash_yy": lambda d, r: (f"{_num(d.month, r.random() < 0.5)}/"
                                 f"{_num(d.day, r.random() < 0.5)}/{d.year % 100:02d}"),
    "eu_dot": lambda d, r: f"{_num(d.day, r.random() < 0.5)}.{_num(d.month, True)}.{d.year}",
    "eu_dot_yy": lambda d, r: f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",
    "compact": lambda d, r: f"{d.year}{d.month:02d}{d.day:02d}",
    "day_month_year": lambda d, r: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "day_mon_year": lambda d, r: f"{d.day} {_month_abbreviation(d, r)} {d.year}",
    "month_day_year": lambda d, r: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "mon_day_year": lambda d, r: f"{_month_abbreviation(d, r)} {d.day} {d.year}",
    "weekday_day_month_year": lambda d, r: (f"{WEEKDAYS[d.weekday()]}, {d.day} "
                                            f"{MONTHS[d.month - 1]} {d.year}"),
    "wkd_day_mon_year": lambda d, r: (f"{WEEKDAYS[d.weekday()][:3]} {d.day} "
                                      f"{_month_abbreviation(d, r)} {d.year}"),
    "the_ordinal_of_month": lambda d, r: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "month_ordinal": lambda d, r: f"{MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",
}
NUMERIC_FORMATS = ("iso", "us_slash", "us_slash_yy", "eu_dot", "eu_dot_yy", "compact")
TWO_DIGIT_YEAR_FORMATS = ("us_slash_yy", "eu_dot_yy")
CASINGS = (str.lower, str.title, str.upper)  # word formats are written in any of these
# At most 4 free choices per format (two zero paddings, or "nov"/"nov."), times the casings.
MAX_SOURCES_PER_DATE = len(FORMATS) * len(CASINGS) * 4


@dataclass(frozen=True)
class DatePair:
    """A source string, its ISO target, and the name of the format that wrote it."""

    source: str
    target: str
    format: str

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.target)

    @property
    def ambiguous(self) -> bool:
        """Numeric day and month that could be swapped (both <= 12, not equal): only the
        format's convention says which is which."""
        d = self.date
        return self.format in NUMERIC_FORMATS and self.format not in ("iso", "compact") and (
            d.day <= 12 and d.month <= 12 and d.day != d.month)


@dataclass(frozen=True)
class DateSplits:
    train: list[DatePair]
    validation: list[DatePair]
    test: list[DatePair]


def _check_years(years) -> tuple[int, int]:
    if (not isinstance(years, (tuple, list)) or len(years) != 2
            or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
            or not 1 <= years[0] <= years[1] <= 9999):
        raise ValueError(f"years must be (first, last) with 1 <= first <= last <= 9999, "
                         f"got {years!r}")
    return int(years[0]), int(years[1])


def format_date(date: dt.date, format: str, rng: random.Random | None = None) -> str:
    """`date` written in one of `FORMATS` (lower case; `rng` picks padding and abbreviations)."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if not isinstance(date, dt.date):
        raise TypeError(f"date must be a datetime.date, got {type(date).__name__}")
    if format in TWO_DIGIT_YEAR_FORMATS and not (
            TWO_DIGIT_YEARS[0] <= date.year <= TWO_DIGIT_YEARS[1]):
        raise ValueError(f"format {format!r} writes two-digit years, defined only for years "
                         f"{TWO_DIGIT_YEARS[0]}-{TWO_DIGIT_YEARS[1]}; got {date.year}")
    return FORMATS[format](date, rng or random.Random(0))


def random_pair(date: dt.date, rng: random.Random) -> DatePair:
    """One source for `date`: a random format that can write it, in a random casing."""
    formats = [f for f in FORMATS if f not in TWO_DIGIT_YEAR_FORMATS
               or TWO_DIGIT_YEARS[0] <= date.year <= TWO_DIGIT_YEARS[1]]
    name = rng.choice(formats)
    source = format_date(date, name, rng)
    if name not in NUMERIC_FORMATS:
        source = rng.choice(CASINGS)(source)
    return DatePair(source, date.isoformat(), name)


def date_splits(n_train: int, n_validation: int, n_test: int, seed: int = 0,
                years: tuple[int, int] = YEARS) -> DateSplits:
    """Train, validation and test pairs from a seed, split by date.

    The dates of `years` are shuffled and cut into three pools in proportion to the requested
    sizes; each split draws random (date, format, casing) pairs from its own pool, with no source
    string twice. No date, and so no source string, is in two splits. The same arguments give
    the same splits.
    """
    sizes = [integer_at_least(name, n, 1) for name, n in
             (("n_train", n_train), ("n_validation", n_validation), ("n_test", n_test))]
    first, last = _check_years(years)
    start = dt.date(first, 1, 1)
    n_days = (dt.date(last, 12, 31) - start).days + 1
    rng = random.Random(seed)
    order = list(range(n_days))
    rng.shuffle(order)
    bounds = np.round(np.cumsum([0, *sizes]) / sum(sizes) * n_days).astype(int)
    splits = []
    for size, lo, hi in zip(sizes, bounds[:-1], bounds[1:], strict=True):
        pool = order[lo:hi]
        if not pool or size > len(pool) * MAX_SOURCES_PER_DATE:
            raise ValueError(f"{n_days} dates in years {years} are too few to split into "
                             f"{sizes} examples")
        pairs, seen = [], set()
        attempts = 0
        while len(pairs) < size:
            attempts += 1
            if attempts > 20 * size + 1000:
                raise ValueError(f"could not draw {size} distinct sources from {len(pool)} dates; "
                                 "ask for fewer examples or a wider range of years")
            pair = random_pair(start + dt.timedelta(days=rng.choice(pool)), rng)
            if pair.source not in seen:
                seen.add(pair.source)
                pairs.append(pair)
        splits.append(pairs)
    return DateSplits(*splits)


# ----------------------------------------------------------------------------------------------
# Encoding for the model, and what to do with bad input


def normalize_source(source: str) -> str:
    """Lower case, white space folded to single spaces, none at either end."""
    if not isinstance(source, str):
        raise TypeError(f"a source must be a str, got {type(source).__name__}")
    return " ".join(source.lower().split())


def encode_sources(sources: Sequence[str], unknown: str = "raise",
                   max_length: int = MAX_SOURCE_LENGTH) -> np.ndarray:
    """Source strings as model ids, right-padded with `PAD_ID` to the longest: int32 [n, longest].

    A character outside `SOURCE_ALPHABET` (after `normalize_source`) is a ValueError naming it
    (``unknown="raise"``), or is dropped (``unknown="drop"``, the documented fallback: ``"24
    nov 2026!"`` reads as ``"24 nov 2026"``). A source longer than `max_length` characters is a
    ValueError: the model never saw one, and cutting a date short changes its meaning.
    """
    if unknown not in ("raise", "drop"):
        raise ValueError(f"unknown must be 'raise' or 'drop', got {unknown!r}")
    max_length = integer_at_least("max_length", max_length, 1)
    if isinstance(sources, str):
        raise TypeError("sources must be a sequence of strings, not one string")
    rows = []
    for source in sources:
        text = normalize_source(source)
        bad = sorted({c for c in text if c not in _SOURCE_IDS})
        if bad and unknown == "raise":
            raise ValueError(f"{source!r} has characters outside the date alphabet: "
                             f"{', '.join(map(repr, bad))} (pass unknown='drop' to drop them)")
        text = " ".join("".join(c for c in text if c in _SOURCE_IDS).split())
        if not text:
            raise ValueError(f"{source!r} has no character of the date alphabet left")
        if len(text) > max_length:
            raise ValueError(f"{source!r} has {len(text)} characters; the model reads at most "
                             f"max_length={max_length}")
        rows.append([_SOURCE_IDS[c] for c in text])
    if not rows:
        raise ValueError("sources is empty: give at least one string")
    out = np.full((len(rows), max(map(len, rows))), PAD_ID, np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def encode_targets(targets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Teacher forcing: decoder inputs ``<s> y1 .. yn`` and outputs ``y1 .. yn </s>``, int32
    [n, longest + 1] each, right-padded with `PAD_ID`."""
    if isinstance(targets, str):
        raise TypeError("targets must be a sequence of strings, not one string")
    rows = []
    for target in targets:
        bad = sorted({c for c in target if c not in _TARGET_IDS})
        if bad or not target:
            raise ValueError(f"target {target!r} is not made of {TARGET_ALPHABET!r}")
        rows.append([_TARGET_IDS[c] for c in target])
    if not rows:
        raise ValueError("targets is empty: give at least one string")
    width = max(map(len, rows)) + 1
    inputs = np.full((len(rows), width), PAD_ID, np.int32)
    outputs = np.full((len(rows), width), PAD_ID, np.int32)
    for i, row in enumerate(rows):
        inputs[i, : len(row) + 1] = [BOS_ID, *row]
        outputs[i, : len(row) + 1] = [*row, EOS_ID]
    return inputs, outputs


def decode_target(ids: Sequence[int]) -> str:
    """The text of generated target ids, up to the first end-of-sequence (padding and a start
    token are skipped)."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            break
        if i in (PAD_ID, BOS_ID):
            continue
        if not 0 <= i < TARGET_VOCAB_SIZE:
            raise ValueError(f"id {i} outside the target vocabulary [0, {TARGET_VOCAB_SIZE})")
        out.append(TARGET_TOKENS[i])
    return "".join(out)


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """The share of predictions equal to their target."""
    _same_length(predictions, targets)
    return float(np.mean([p == t for p, t in zip(predictions, targets, strict=True)]))


def char_accuracy(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """The share of target characters predicted at their position (a missing one is wrong,
    an extra one counts against the target's length)."""
    _same_length(predictions, targets)
    right = sum(sum(a == b for a, b in zip(p, t, strict=False))
                for p, t in zip(predictions, targets, strict=True))
    total = sum(max(len(p), len(t)) for p, t in zip(predictions, targets, strict=True))
    return right / total if total else 1.0


def _same_length(predictions, targets):
    if len(predictions) != len(targets) or not len(targets):
        raise ValueError(f"need as many predictions as targets (at least one), got "
                         f"{len(predictions)} and {len(targets)}")
