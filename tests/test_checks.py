import numpy as np
import pytest

from utils.checks import integer_at_least


def test_accepts_integers_at_or_above_the_minimum():
    assert integer_at_least("n", 1) == 1
    assert integer_at_least("n", np.int64(7), minimum=7) == 7
    assert type(integer_at_least("n", np.int32(3))) is int


@pytest.mark.parametrize("value", [0, -1, 2.0, "3", True, None])
def test_rejects_everything_else_with_the_name(value):
    with pytest.raises(ValueError, match=r"count must be an integer >= 1, got"):
        integer_at_least("count", value)
