"""Honest time-series forecasting: series, chronological splits, windows, baselines, metrics.

Everything a forecast is judged by lives here, so that every model in notebook 12 is measured the
same way: windows cut from one series with explicit alignment, a scaler fitted on the training
span only, the naive baselines (persistence, seasonal naive, linear autoregression), error
metrics per horizon, the Diebold-Mariano test for "is this forecast really better?", and
prediction intervals from held-out residuals (empirical quantiles, or split-conformal).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from . import datasets
from .checks import integer_at_least

# ----------------------------------------------------------------------------------------------
# Series


def load_series(name: str) -> tuple[list[str], np.ndarray]:
    """A registered CSV series (``sunspots``, ``melbourne-temperatures``): dates and values."""
    text = datasets.read_bytes(name).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], [r for r in rows[1:] if r]
    if len(header) != 2:
        raise ValueError(f"{name!r} is not a two-column (date, value) series: header {header}")
    dates = [r[0] for r in body]
    values = np.array([float(r[1]) for r in body])
    return dates, values


def random_walk(n: int, seed: int, drift: float = 0.05, volatility: float = 1.0,
                start: float = 100.0) -> np.ndarray:
    """A random walk with drift, ``x_t = x_{t-1} + drift + volatility * noise``: a stand-in for a
    stock price, whose best forecast of tomorrow is today's value plus the drift."""
    n = integer_at_least("n", n)
    if volatility <= 0:
        raise ValueError(f"volatility must be positive, got {volatility!r}")
    steps = drift + volatility * np.random.default_rng(seed).standard_normal(n - 1)
    return start + np.concatenate([[0.0], np.cumsum(steps)])


# ----------------------------------------------------------------------------------------------
# Splits and scaling


@dataclass(frozen=True)
class Split:
    """Chronological spans of one series: [0, val_start) train, [val_start, test_start) validation,
    [test_start, n) test."""

    n: int
    val_start: int
    test_start: int

    def spans(self) -> dict[str, tuple[int, int]]:
        return {"train": (0, self.val_start), "validation": (self.val_start, self.test_start),
                "test": (self.test_start, self.n)}


def chronological_split(n: int, validation: float = 0.15, test: float = 0.15) -> Split:
    """Split ``n`` time steps in time order: the past trains, the future tests. Never shuffled."""
    n = integer_at_least("n", n, minimum=3)
    if not (0 < validation < 1 and 0 < test < 1 and validation + test < 1):
        raise ValueError(f"validation and test must be fractions with a sum below 1, got "
                         f"{validation!r} and {test!r}")
    test_start = n - max(1, round(n * test))
    val_start = test_start - max(1, round(n * validation))
    if val_start < 1:
        raise ValueError(f"a series of {n} steps is too short for this split")
    return Split(n, val_start, test_start)


@dataclass(frozen=True)
class Scaler:
    """Standardisation whose statistics come from one span (the training span) only."""

    mean: float
    std: float
    fitted_on: tuple[int, int]

    @classmethod
    def fit(cls, series: np.ndarray, split: Split) -> Scaler:
        train = np.asarray(series[: split.val_start], dtype=np.float64)
        std = float(train.std())
        if std == 0:
            raise ValueError("the training span is constant; it cannot be standardised")
        return cls(float(train.mean()), std, (0, split.val_start))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values) - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values) * self.std + self.mean


# ----------------------------------------------------------------------------------------------
# Windows


@dataclass(frozen=True)
class Windows:
    """Inputs ``x[i] = series[t_i - window : t_i]`` and targets ``y[i] = series[t_i : t_i + h]``.

    ``origins[i]`` is t_i, the index of the first value to forecast: everything before it is known
    when the forecast is made, nothing at or after it is.
    """

    x: np.ndarray  # (n, window)
    y: np.ndarray  # (n, horizon)
    origins: np.ndarray  # (n,)


def make_windows(series: np.ndarray, window: int, horizon: int, start: int, stop: int) -> Windows:
    """Every window whose forecast targets all lie in ``[start, stop)`` (walk-forward order).

    Inputs may reach back before ``start`` (the past is known), never past the origin.
    """
    series = np.asarray(series)
    window, horizon = integer_at_least("window", window), integer_at_least("horizon", horizon)
    if not 0 <= start <= stop <= len(series):
        raise ValueError(f"need 0 <= start <= stop <= {len(series)}, got start={start}, "
                         f"stop={stop}")
    first = max(start, window)
    origins = np.arange(first, stop - horizon + 1)
    if len(origins) == 0:
        raise ValueError(f"no window of {window} inputs and {horizon} targets fits in "
                         f"[{start}, {stop}) of a series of {len(series)} steps")
    x = np.stack([series[t - window:t] for t in origins])
    y = np.stack([series[t:t + horizon] for t in origins])
    return Windows(x, y, origins)


def changes_from_last(windows: Windows, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs and targets relative to the last known value, divided by ``scale``.

    A network that predicts the *change* from the last value is unaffected by the series' level,
    so it still works when the test span sits above everything seen in training (a trending
    price), and outputting zeros reproduces persistence exactly.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    last = windows.x[:, -1:]
    return (windows.x - last) / scale, (windows.y - last) / scale


def forecast_from_changes(changes: np.ndarray, windows: Windows, scale: float) -> np.ndarray:
    """Undo `changes_from_last` for predicted changes of shape (n, horizon)."""
    return windows.x[:, -1:] + np.asarray(changes) * scale


# ----------------------------------------------------------------------------------------------
# Baselines (each returns forecasts shaped like windows.y)


def persistence(windows: Windows) -> np.ndarray:
    """Tomorrow (and every later step) equals today: the last input, repeated."""
    return np.repeat(windows.x[:, -1:], windows.y.shape[1], axis=1)


def seasonal_naive(series: np.ndarray, windows: Windows, season: int) -> np.ndarray:
    """Each step equals the value one season earlier (falls back to older seasons as needed)."""
    season = integer_at_least("season", season)
    series = np.asarray(series)
    horizon = windows.y.shape[1]
    forecasts = np.empty(windows.y.shape, dtype=np.float64)
    for h in range(horizon):
        lag = season * (h // season + 1)  # the most recent same-phase value that is known
        source = windows.origins + h - lag
        if source.min() < 0:
            raise ValueError(f"season {season} reaches before the start of the series")
        forecasts[:, h] = series[source]
    return forecasts


@dataclass(frozen=True)
class LinearAR:
    """A linear autoregression: each horizon a least-squares combination of the window + bias."""

    coefficients: np.ndarray  # (window + 1, horizon)

    @classmethod
    def fit(cls, windows: Windows) -> LinearAR:
        design = np.hstack([windows.x, np.ones((len(windows.x), 1))])
        coefficients, *_ = np.linalg.lstsq(design, windows.y, rcond=None)
        return cls(coefficients)

    def predict(self, windows: Windows) -> np.ndarray:
        return np.hstack([windows.x, np.ones((len(windows.x), 1))]) @ self.coefficients


# ----------------------------------------------------------------------------------------------
# Errors, significance and intervals


def mae(truth: np.ndarray, forecast: np.ndarray, axis=None):
    return np.mean(np.abs(np.asarray(truth) - np.asarray(forecast)), axis=axis)


def rmse(truth: np.ndarray, forecast: np.ndarray, axis=None):
    return np.sqrt(np.mean((np.asarray(truth) - np.asarray(forecast)) ** 2, axis=axis))


LOSSES = ("squared", "absolute")


def student_t_two_sided_p(statistic: float, df: int) -> float:
    """P(|T| >= |statistic|) for Student's t with an integer number of degrees of freedom.

    The exact finite sums of Abramowitz & Stegun 26.7.3-26.7.4 (no SciPy needed): with
    theta = atan(|t| / sqrt(df)), P(|T| < |t|) is a short series in cos(theta).
    """
    df = integer_at_least("df", df)
    if math.isnan(statistic):
        raise ValueError("the statistic is NaN")
    if math.isinf(statistic):
        return 0.0
    theta = math.atan(abs(statistic) / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 1:  # odd: 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= cos2 * (2 * k) / (2 * k + 1)
            total += term
        inside = 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    else:  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= cos2 * (2 * k - 1) / (2 * k)
            total += term
        inside = math.sin(theta) * total
    return float(min(1.0, max(0.0, 1.0 - inside)))


def diebold_mariano(errors_a: np.ndarray, errors_b: np.ndarray, horizon: int = 1,
                    loss: str = "squared") -> tuple[float, float]:
    """Diebold-Mariano test of equal accuracy for two forecasts of the same targets.

    Loss differential d_t = L(e_a) - L(e_b), with L the squared or absolute error (use the loss
    the forecasts are ranked by). h-step forecasts made at consecutive origins overlap, so d_t is
    autocorrelated up to lag h - 1: the long-run variance is the Newey-West (Bartlett-weighted)
    estimate ``gamma_0 + 2 sum_{k<h} (1 - k/h) gamma_k``, which can never be negative. The
    statistic mean(d) / sqrt(V / n) gets the Harvey-Leybourne-Newbold small-sample factor
    ``sqrt((n + 1 - 2h + h(h-1)/n) / n)`` and is compared with Student's t with n - 1 degrees of
    freedom. Returns (statistic, two-sided p-value); a negative statistic means forecast ``a``
    has the smaller loss. Identical losses give (0.0, 1.0).
    """
    a, b = np.asarray(errors_a, dtype=np.float64), np.asarray(errors_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D error series of equal length, got {a.shape} and {b.shape}")
    horizon = integer_at_least("horizon", horizon)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if len(a) < 2 * horizon + 1:
        raise ValueError(f"{len(a)} errors are too few for a test at horizon {horizon}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("the errors must be finite numbers")
    d = a**2 - b**2 if loss == "squared" else np.abs(a) - np.abs(b)
    n, centred = len(d), d - d.mean()
    variance = np.dot(centred, centred) / n
    for lag in range(1, horizon):
        variance += 2 * (1 - lag / horizon) * np.dot(centred[lag:], centred[:-lag]) / n
    if variance <= 1e-15 * max(1.0, float(np.mean(d**2))):  # constant differential
        if np.all(d == 0):
            return 0.0, 1.0  # identical losses: no evidence either way
        return math.copysign(math.inf, d.mean()), 0.0
    correction = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = correction * d.mean() / math.sqrt(variance / n)
    return float(statistic), student_t_two_sided_p(statistic, n - 1)


def residual_interval(
    residuals: np.ndarray, coverage: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper offsets (per horizon) from the empirical quantiles of residuals
    (truth - forecast, shape (n, horizon)) on a span the model was not trained on."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1), got {coverage!r}")
    residuals = np.asarray(residuals)
    tail = (1 - coverage) / 2
    return np.quantile(residuals, tail, axis=0), np.quantile(residuals, 1 - tail, axis=0)


def conformal_interval(
    residuals: np.ndarray, coverage: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """Split-conformal offsets per horizon: -q and +q, with q the ceil((n + 1) * coverage)-th
    smallest absolute residual (truth - forecast, shape (n, horizon)) on a calibration span that
    neither fitting nor early stopping used. If the test errors are exchangeable with the
    calibration errors, the interval covers at least ``coverage`` of them on average."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1), got {coverage!r}")
    residuals = np.asarray(residuals, dtype=np.float64)
    if residuals.ndim != 2:
        raise ValueError(f"residuals must be shaped (n, horizon), got {residuals.shape}")
    n = len(residuals)
    rank = math.ceil((n + 1) * coverage)
    if rank > n:
        raise ValueError(f"{n} calibration residuals are too few for {coverage:.0%} coverage "
                         f"(need at least {math.ceil(coverage / (1 - coverage))})")
    quantile = np.sort(np.abs(residuals), axis=0)[rank - 1]
    return -quantile, quantile


def interval_coverage(truth: np.ndarray, forecast: np.ndarray, lower: np.ndarray,
                      upper: np.ndarray) -> np.ndarray:
    """Share of targets inside [forecast + lower, forecast + upper], per horizon."""
    truth, forecast = np.asarray(truth), np.asarray(forecast)
    inside = (truth >= forecast + lower) & (truth <= forecast + upper)
    return inside.mean(axis=0)
