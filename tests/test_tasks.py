import numpy as np
import pytest

from utils import tasks


def test_adding_problem_shapes_ranges_and_targets():
    x, y = tasks.adding_problem(500, 40, seed=1)
    assert x.shape == (500, 40, 2) and y.shape == (500, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert values.min() >= 0 and values.max() < 1
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :20].sum(axis=1) == 1)  # one marker in each half
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=1), rtol=1e-6)


def test_adding_problem_baseline_is_the_variance_of_the_target():
    _, y = tasks.adding_problem(200_000, 10, seed=0)
    assert abs(tasks.ADDING_BASELINE_MSE - 1 / 6) < 1e-12
    assert np.mean((y - 1.0) ** 2) == pytest.approx(tasks.ADDING_BASELINE_MSE, rel=0.01)


def test_same_seed_same_data_other_seed_other_data():
    a = tasks.adding_problem(8, 12, seed=3)
    b = tasks.adding_problem(8, 12, seed=3)
    c = tasks.adding_problem(8, 12, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(tasks.copy_task(4, 5, seed=2), tasks.copy_task(4, 5, seed=2))


def test_copy_task_layout():
    x, y = tasks.copy_task(100, delay=15, seed=0, n_symbols=8, n_copy=10)
    assert x.shape == y.shape == (100, 35)
    np.testing.assert_array_equal(y[:, -10:], x[:, :10])
    assert np.all((x[:, :10] >= 1) & (x[:, :10] <= 8))
    assert np.all(x[:, 24] == 9) and np.all(np.delete(x, [*range(10), 24], axis=1) == 0)
    assert np.all(y[:, :-10] == 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: tasks.adding_problem(0, 10, seed=0),
        lambda: tasks.adding_problem(5, 1, seed=0),
        lambda: tasks.adding_problem(5, 10.5, seed=0),
        lambda: tasks.copy_task(5, 0, seed=0),
        lambda: tasks.copy_task(5, 10, seed=0, n_symbols=1),
        lambda: tasks.copy_task(True, 10, seed=0),
    ],
)
def test_bad_arguments_are_clear_errors(call):
    with pytest.raises(ValueError, match="must be an integer >="):
        call()
