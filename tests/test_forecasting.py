import os

import numpy as np
import pytest

from utils import datasets
from utils import forecasting as fc


def test_random_walk_is_seeded_and_has_the_drift():
    a = fc.random_walk(5000, seed=1, drift=0.1, volatility=0.5)
    np.testing.assert_array_equal(a, fc.random_walk(5000, seed=1, drift=0.1, volatility=0.5))
    assert not np.array_equal(a, fc.random_walk(5000, seed=2, drift=0.1, volatility=0.5))
    steps = np.diff(a)
    assert a[0] == 100.0 and len(a) == 5000
    assert steps.mean() == pytest.approx(0.1, abs=0.03)
    assert steps.std() == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("kwargs", [dict(n=0, seed=0), dict(n=10, seed=0, volatility=0)])
def test_random_walk_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        fc.random_walk(**kwargs)


def test_chronological_split_covers_everything_in_order():
    split = fc.chronological_split(1000, validation=0.2, test=0.1)
    assert (split.val_start, split.test_start, split.n) == (700, 900, 1000)
    spans = list(split.spans().values())
    assert spans == [(0, 700), (700, 900), (900, 1000)]


@pytest.mark.parametrize("args", [(2,), (100, 0.5, 0.5), (100, 0.0, 0.2), (100, 0.2, -0.1)])
def test_split_bad_arguments(args):
    with pytest.raises(ValueError):
        fc.chronological_split(*args)


def test_scaler_uses_the_training_span_only():
    series = np.concatenate([np.full(70, 1.0), np.full(30, 100.0)])
    series[:70] += np.linspace(-1, 1, 70)
    split = fc.chronological_split(100, validation=0.15, test=0.15)
    scaler = fc.Scaler.fit(series, split)
    assert scaler.fitted_on == (0, 70)
    assert scaler.mean == pytest.approx(series[:70].mean())
    assert scaler.std == pytest.approx(series[:70].std())
    np.testing.assert_allclose(scaler.inverse(scaler.transform(series)), series)
    with pytest.raises(ValueError, match="constant"):
        fc.Scaler.fit(np.ones(100), split)


def test_windows_alignment():
    series = np.arange(20.0)
    w = fc.make_windows(series, window=3, horizon=2, start=10, stop=20)
    # the first forecast origin is 10: inputs 7, 8, 9 (before the span), targets 10, 11
    np.testing.assert_array_equal(w.x[0], [7, 8, 9])
    np.testing.assert_array_equal(w.y[0], [10, 11])
    np.testing.assert_array_equal(w.origins, np.arange(10, 19))
    np.testing.assert_array_equal(w.y[-1], [18, 19])  # no target beyond the span
    assert w.x.shape == (9, 3) and w.y.shape == (9, 2)
    assert np.all(w.x[:, -1] == w.origins - 1) and np.all(w.y[:, 0] == w.origins)


def test_windows_match_keras_timeseries_dataset():
    keras = pytest.importorskip("keras")
    series = np.arange(30.0)
    w = fc.make_windows(series, window=5, horizon=1, start=0, stop=30)
    dataset = keras.utils.timeseries_dataset_from_array(
        series[:-1], targets=series[5:], sequence_length=5, batch_size=100, shuffle=False
    )
    x, y = next(iter(dataset))
    np.testing.assert_array_equal(np.asarray(x), w.x)
    np.testing.assert_array_equal(np.asarray(y), w.y[:, 0])


def test_windows_never_leak_across_spans():
    series = np.arange(100.0)
    split = fc.chronological_split(100)
    train = fc.make_windows(series, 10, 3, 0, split.val_start)
    val = fc.make_windows(series, 10, 3, split.val_start, split.test_start)
    assert train.y.max() < split.val_start  # training targets stay in the training span
    assert val.y.min() >= split.val_start and val.y.max() < split.test_start


@pytest.mark.parametrize(
    "args", [(8, 3, 0, 10), (0, 1, 0, 10), (3, 0, 0, 10), (3, 1, 8, 5), (3, 1, 0, 11)]
)
def test_windows_bad_arguments(args):
    with pytest.raises(ValueError):
        fc.make_windows(np.arange(10.0), *args[:2], start=args[2], stop=args[3])


def test_changes_round_trip_and_zero_change_is_persistence():
    series = np.linspace(50, 80, 40) + np.sin(np.arange(40))
    w = fc.make_windows(series, window=5, horizon=3, start=5, stop=40)
    x, y = fc.changes_from_last(w, scale=2.0)
    assert np.all(x[:, -1] == 0)
    np.testing.assert_allclose(fc.forecast_from_changes(y, w, 2.0), w.y)
    np.testing.assert_array_equal(fc.forecast_from_changes(np.zeros_like(y), w, 2.0),
                                  fc.persistence(w))
    with pytest.raises(ValueError):
        fc.changes_from_last(w, scale=0.0)


def test_baselines():
    series = np.array([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23], dtype=float)
    w = fc.make_windows(series, window=4, horizon=3, start=4, stop=12)
    np.testing.assert_array_equal(fc.persistence(w)[0], [3, 3, 3])
    np.testing.assert_array_equal(fc.seasonal_naive(series, w, season=4)[0], [0, 1, 2])
    np.testing.assert_array_equal(fc.seasonal_naive(series, w, season=2)[0], [2, 3, 2])
    with pytest.raises(ValueError, match="before the start"):
        fc.seasonal_naive(series, w, season=6)


def test_linear_ar_recovers_a_linear_process():
    rng = np.random.default_rng(0)
    series = np.zeros(3000)
    for t in range(2, 3000):
        series[t] = 0.6 * series[t - 1] - 0.2 * series[t - 2] + 1.0 + rng.normal()
    w = fc.make_windows(series, window=2, horizon=1, start=100, stop=3000)
    ar = fc.LinearAR.fit(w)
    np.testing.assert_allclose(ar.coefficients[:, 0], [-0.2, 0.6, 1.0], atol=0.06)
    assert fc.mae(w.y, ar.predict(w)) == pytest.approx(np.sqrt(2 / np.pi), rel=0.05)  # the noise


def test_metrics():
    truth = np.array([[1.0, 2.0], [3.0, 4.0]])
    forecast = np.array([[2.0, 2.0], [3.0, 1.0]])
    assert fc.mae(truth, forecast) == 1.0
    np.testing.assert_allclose(fc.mae(truth, forecast, axis=0), [0.5, 1.5])
    assert fc.rmse(truth, forecast) == pytest.approx(np.sqrt(10 / 4))


def test_diebold_mariano_detects_a_better_forecast_and_not_a_tie():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=2000)
    better, worse = noise, noise + rng.normal(scale=0.5, size=2000)
    for loss in ("squared", "absolute"):
        statistic, p = fc.diebold_mariano(better, worse, loss=loss)
        assert statistic < 0 and p < 1e-6
        statistic, p = fc.diebold_mariano(better, worse, horizon=4, loss=loss)
        assert statistic < 0 and p < 1e-6
    statistic, p = fc.diebold_mariano(rng.normal(size=2000), rng.normal(size=2000))
    assert p > 0.01
    assert fc.diebold_mariano(noise, noise) == (0.0, 1.0)
    assert fc.diebold_mariano(noise, -noise, horizon=3, loss="absolute") == (0.0, 1.0)
    # a constant loss differential: certainly different, with no variance to divide by
    assert fc.diebold_mariano(np.full(20, 2.0), np.ones(20)) == (np.inf, 0.0)


@pytest.mark.parametrize("kwargs", [dict(a=10, b=11), dict(a=5, b=5, horizon=3),
                                    dict(a=20, b=20, loss="mse"), dict(a=20, b=20, horizon=0)])
def test_diebold_mariano_bad_arguments(kwargs):
    noise = np.random.default_rng(0).normal(size=30)
    a, b = noise[: kwargs.pop("a")], noise[: kwargs.pop("b")]
    with pytest.raises(ValueError):
        fc.diebold_mariano(a, b, **kwargs)
    with pytest.raises(ValueError, match="finite"):
        fc.diebold_mariano(np.full(10, np.nan), np.zeros(10))


def alternating_example(loss="squared"):
    """Forecast a is worse by 1 on average, in an alternating pattern: e_b = 1, 1, 1, ... and
    e_a = 2, 0, 2, 0, ... (squared loss) or 4, 0, 4, 0, ... (absolute loss): d = 3, -1, 3, -1."""
    errors_a = np.array([2.0 if loss == "squared" else 4.0, 0.0] * 4)
    errors_b = np.ones(8)
    return errors_a, errors_b


def t7_two_sided_p(t):
    """Student's t with 7 degrees of freedom, by hand (Abramowitz & Stegun 26.7.3)."""
    theta = np.arctan(abs(t) / np.sqrt(7))
    c = np.cos(theta)
    inside = 2 / np.pi * (theta + np.sin(theta) * (c + 2 / 3 * c**3 + 8 / 15 * c**5))
    return 1 - inside


@pytest.mark.parametrize("loss", ["squared", "absolute"])
def test_diebold_mariano_by_hand_at_horizon_2(loss):
    # n = 8, d = 3, -1, 3, -1, ...: mean 1, centred +-2, so gamma_0 = 32/8 = 4 and
    # gamma_1 = 7 * (-4) / 8 = -3.5. The old truncated estimate gamma_0 + 2 gamma_1 = -3 is
    # negative (it returned "no difference", p = 1). Bartlett weight 1 - 1/2 at lag 1:
    # V = 4 + 2 * 0.5 * (-3.5) = 0.5, DM = 1 / sqrt(0.5 / 8) = 4.
    # HLN factor sqrt((8 + 1 - 4 + 2/8) / 8) = sqrt(21/32); t with 7 degrees of freedom.
    statistic, p = fc.diebold_mariano(*alternating_example(loss), horizon=2, loss=loss)
    expected = 4 * np.sqrt(21 / 32)  # 3.2404
    assert statistic == pytest.approx(expected, rel=1e-12)
    assert p == pytest.approx(t7_two_sided_p(expected), rel=1e-9)
    assert 0.01 < p < 0.02  # forecast a is worse, and the test says so


def test_diebold_mariano_the_issues_example_at_horizon_2():
    # issue 16: d_t = 1 + 1.1 (-1)^t, a forecast worse by 1 on average. Its autocovariances are
    # 1.21 and -1.21 (times 99/100 at n = 100), so the old gamma_0 + 2 gamma_1 = -1.1858 < 0 and
    # the old test answered "identical losses", p = 1. Absolute loss: e_b = 1, e_a = 3.1, 0.9, ...
    errors_a, errors_b = np.array([3.1, 0.9] * 50), np.ones(100)
    # Bartlett: V = 1.21 + 2 * (1/2) * (-1.21 * 99/100) = 0.0121; DM = 1 / sqrt(0.0121 / 100)
    # = 1 / 0.011; HLN factor sqrt((100 + 1 - 4 + 2/100) / 100)
    statistic, p = fc.diebold_mariano(errors_a, errors_b, horizon=2, loss="absolute")
    assert statistic == pytest.approx(np.sqrt(0.9702) / 0.011, rel=1e-9)  # 89.54
    assert p < 1e-12  # worse, certainly (the old answer was p = 1)


def test_diebold_mariano_by_hand_at_horizon_3():
    # same d; gamma_2 = 6 * 4 / 8 = 3; weights 2/3 and 1/3:
    # V = 4 + 2 (2/3)(-3.5) + 2 (1/3)(3) = 4/3, DM = 1 / sqrt((4/3) / 8) = sqrt(6);
    # HLN factor sqrt((8 + 1 - 6 + 6/8) / 8) = sqrt(15/32)
    statistic, p = fc.diebold_mariano(*alternating_example(), horizon=3)
    expected = np.sqrt(6) * np.sqrt(15 / 32)  # 1.6771
    assert statistic == pytest.approx(expected, rel=1e-12)
    assert p == pytest.approx(t7_two_sided_p(expected), rel=1e-9)
    # and at h = 1 there is no autocovariance term: DM = 1 / sqrt(4 / 8), HLN sqrt(7/8)
    statistic, _ = fc.diebold_mariano(*alternating_example(), horizon=1)
    assert statistic == pytest.approx(np.sqrt(2) * np.sqrt(7 / 8), rel=1e-12)


def test_diebold_mariano_variance_is_never_negative():
    rng = np.random.default_rng(3)
    for horizon in (2, 3, 5, 12):
        for _ in range(50):
            # strongly negatively autocorrelated differentials, the case that broke the old test
            d = np.where(np.arange(60) % 2 == 0, 1.0, -1.0) * rng.uniform(0.5, 2, 60) + 0.3
            statistic, p = fc.diebold_mariano(np.sqrt(np.abs(d)) * (d > 0),
                                              np.sqrt(np.abs(d)) * (d < 0), horizon=horizon)
            assert np.isfinite(statistic) and statistic > 0 and 0 <= p < 1


def test_student_t_p_values_by_hand():
    for t in (0.0, 0.5, 1.0, 2.5, 10.0):
        # one degree of freedom is the Cauchy distribution, two have a closed form
        assert fc.student_t_two_sided_p(t, 1) == pytest.approx(1 - 2 / np.pi * np.arctan(t))
        assert fc.student_t_two_sided_p(-t, 2) == pytest.approx(1 - t / np.sqrt(2 + t * t))
    # many degrees of freedom: the normal distribution's 1.96 -> 0.05
    assert fc.student_t_two_sided_p(1.959964, 100_000) == pytest.approx(0.05, abs=1e-5)
    assert fc.student_t_two_sided_p(2.0, 10) == pytest.approx(0.07338803, abs=1e-7)  # tables
    assert fc.student_t_two_sided_p(np.inf, 5) == 0.0
    with pytest.raises(ValueError):
        fc.student_t_two_sided_p(1.0, 0)


def test_diebold_mariano_false_alarms_are_rare():
    rng = np.random.default_rng(1)
    p_values = [fc.diebold_mariano(rng.normal(size=300), rng.normal(size=300))[1]
                for _ in range(400)]
    assert 0.02 < np.mean(np.array(p_values) < 0.05) < 0.09
    # at h = 4, on moving-average errors that are autocorrelated like 4-step forecasts
    p_values = []
    for _ in range(400):
        a, b = (np.convolve(rng.normal(size=303), np.ones(4), "valid") for _ in range(2))
        p_values.append(fc.diebold_mariano(a, b, horizon=4, loss="absolute")[1])
    assert 0.02 < np.mean(np.array(p_values) < 0.05) < 0.11


def test_residual_intervals_reach_their_coverage():
    rng = np.random.default_rng(0)
    residuals = rng.normal(size=(5000, 2)) * [1.0, 3.0]
    lower, upper = fc.residual_interval(residuals, coverage=0.8)
    np.testing.assert_allclose(upper, [1.28, 3 * 1.28], rtol=0.05)
    truth = rng.normal(size=(5000, 2)) * [1.0, 3.0]
    coverage = fc.interval_coverage(truth, np.zeros((5000, 2)), lower, upper)
    np.testing.assert_allclose(coverage, 0.8, atol=0.02)
    with pytest.raises(ValueError):
        fc.residual_interval(residuals, coverage=1.0)


def test_conformal_interval_by_hand_and_its_guarantee():
    # 9 residuals, 80 %: rank ceil(10 * 0.8) = 8, the 8th smallest |r| per horizon
    residuals = np.array([[-1, 10], [2, -20], [-3, 30], [4, -40], [-5, 50], [6, -60],
                          [-7, 70], [8, -80], [-9, 90]], dtype=float)
    lower, upper = fc.conformal_interval(residuals, coverage=0.8)
    np.testing.assert_array_equal(upper, [8, 80])
    np.testing.assert_array_equal(lower, [-8, -80])
    # exchangeable errors: the coverage averages at least the nominal level, even for small n
    rng = np.random.default_rng(0)
    coverages = []
    for _ in range(4000):
        errors = rng.standard_t(3, size=(30, 1))
        lower, upper = fc.conformal_interval(errors[:19], coverage=0.9)
        coverages.append(fc.interval_coverage(errors[19:], np.zeros((11, 1)), lower, upper)[0])
    # in theory ceil(20 * 0.9) / 20 = 0.9 exactly; the Monte Carlo error is about 0.002
    assert np.mean(coverages) == pytest.approx(0.9, abs=0.008)


@pytest.mark.parametrize("args", [(np.zeros((8, 2)), 0.9), (np.zeros((20, 2)), 1.0),
                                  (np.zeros(20), 0.9)])
def test_conformal_interval_bad_arguments(args):
    with pytest.raises(ValueError):
        fc.conformal_interval(*args)


@pytest.mark.skipif(not os.environ.get(datasets.MIRROR_ENV), reason="needs the data mirror")
def test_registered_series_load(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path))
    dates, values = fc.load_series("sunspots")
    assert (len(dates), dates[0], dates[-1]) == (2820, "1749-01", "1983-12")
    assert values.min() >= 0 and values[0] == 58.0
    dates, values = fc.load_series("melbourne-temperatures")
    assert (len(dates), dates[0], values[0]) == (3650, "1981-01-01", 20.7)


def test_load_series_rejects_a_text_corpus(tmp_path, monkeypatch):
    mirror = os.environ.get(datasets.MIRROR_ENV)
    if not mirror:
        pytest.skip("needs the data mirror")
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="not a two-column"):
        fc.load_series("tinyshakespeare")
