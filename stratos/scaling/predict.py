"""Trend estimation and prediction of one metric series. Pure functions, no I/O, no clock.

A series is a sequence of ``(t, value)`` samples, ``t`` in seconds, each sample already an average
over its sampling period. :func:`predict` returns ``current + s`` with ``s = u·t + ½·a·t²``,
``current`` the latest sample, ``t`` the horizon, and ``u`` and ``a`` the first and second
derivative of a least-squares fit of the window (:func:`fit_trend`), which is the smoothing.

Why least squares and not first-vs-last sample (what Apache Stratos 4.1's CEP did): one noisy sample
at either end of the window swings a two-point gradient as much as the whole trend does. A fit uses
every sample, and its residuals say how far the derivatives can be trusted:

- the simplest model the window supports is used: a parabola (from :data:`QUADRATIC_MIN_SAMPLES`
  samples on) only if its curvature stands out of its standard error, else a straight line only if
  its slope does, else the mean (no trend);
- derivatives that are kept are shrunk by :data:`SHRINK_STANDARD_ERRORS` standard errors (soft
  thresholding); the standard errors are widened for correlated residuals (metrics averaged over
  overlapping periods look smoother than they are);
- the predicted change is shrunk by :data:`NOISE_GATE` times the residual noise, or by
  :data:`PREDICTION_GATE` times its own standard error at the horizon if that is larger: a change
  smaller than the noise, or than the uncertainty of carrying the fit that far, is no change;
- the curvature term may move the prediction by at most :data:`ACCELERATION_SHARE` of the level,
  so that a curved window cannot predict an explosion or a collapse within one horizon.

Why extrapolate from the latest sample and not from the fitted level: the fitted level lags a
sudden change by half a window, and a scaler that is slower than a purely reactive one on a step
has lost before prediction can help (measured in ``bench/policy_quality.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

Sample = tuple[float, float]

#: Below this many samples the fit is linear (a = 0): a parabola through three or four noisy
#: points has almost no residual to judge it by.
QUADRATIC_MIN_SAMPLES = 5

#: A derivative is shrunk by this many standard errors (soft threshold). 1.0 keeps a derivative
#: whose sign is likely right and removes the part of it that noise alone would produce.
SHRINK_STANDARD_ERRORS = 1.0

#: Upper bound of the residual autocorrelation used to widen standard errors.
MAX_AUTOCORRELATION = 0.9

#: The acceleration term may move the prediction by at most this share of the current level.
ACCELERATION_SHARE = 0.5

#: A predicted change is shrunk by this many times the residual noise of the fit...
NOISE_GATE = 1.0

#: ...or by this many times its own standard error, whichever is larger. The standard error of an
#: extrapolated change grows with the horizon (linearly for u, quadratically for a), so a trend that
#: is clear over one minute may still be noise when carried three minutes ahead.
PREDICTION_GATE = 1.0


@dataclass(frozen=True)
class Trend:
    """The fitted state of a series at ``now``: smoothed value, derivatives and how noisy it is."""

    level: float
    slope: float
    acceleration: float
    samples: int
    noise: float
    raw_slope: float = 0.0
    raw_acceleration: float = 0.0
    #: Covariance of the fitted u and a/2 (per second, per second²): var(u), cov(u, a/2), var(a/2).
    covariance: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def change_error(self, horizon: float) -> float:
        """Standard error of the fitted change over ``horizon`` seconds."""
        var_u, cov, var_c = self.covariance
        h = horizon
        return math.sqrt(max(0.0, h * h * var_u + 2 * h**3 * cov + h**4 * var_c))

    def change(self, horizon: float) -> float:
        """The predicted change over ``horizon`` seconds: u·t + ½·a·t², less the noise."""
        linear = self.slope * horizon
        curve = 0.5 * self.acceleration * horizon * horizon
        bound = ACCELERATION_SHARE * abs(self.level)
        curve = max(-bound, min(bound, curve))
        margin = max(NOISE_GATE * self.noise, PREDICTION_GATE * self.change_error(horizon))
        return _shrink(linear + curve, margin)

    def extrapolate(self, horizon: float) -> float:
        """The value ``horizon`` seconds after ``now``: level + u·t + ½·a·t², never below zero."""
        return max(0.0, self.level + self.change(horizon))


@dataclass(frozen=True)
class Prediction:
    """What a factor is expected to be ``horizon`` seconds from now, and the fit it came from.

    ``current`` is the latest sample, ``smoothed`` the fitted value at ``now``.
    """

    current: float
    smoothed: float
    predicted: float
    horizon: float
    trend: Trend

    def as_dict(self) -> dict[str, float]:
        return {
            "current": self.current,
            "smoothed": self.smoothed,
            "predicted": self.predicted,
            "horizon": self.horizon,
            "slope": self.trend.slope,
            "acceleration": self.trend.acceleration,
            "samples": float(self.trend.samples),
            "noise": self.trend.noise,
        }


def fit_trend(samples: Sequence[Sample], now: float) -> Trend:
    """Fit the samples and return level, u and a at ``now``.

    The simplest model the data supports is used: a parabola (from :data:`QUADRATIC_MIN_SAMPLES`
    samples on) if its curvature stands out of the noise, else a straight line if its slope does,
    else the mean. Derivatives that are kept are shrunk by their standard error.
    """
    if not samples:
        raise ValueError("fit_trend needs at least one sample")
    ys = [float(v) for _, v in samples]
    n = len(samples)
    mean = sum(ys) / n
    flat = Trend(level=mean, slope=0.0, acceleration=0.0, samples=n, noise=_rms([y - mean for y in ys]))
    if n == 1:
        return flat
    # Centre time on `now` and scale it to the typical spacing so that the normal equations stay
    # well conditioned whatever the clock's epoch is.
    span = samples[-1][0] - samples[0][0]
    if span <= 0:
        return flat
    unit = span / (n - 1)
    xs = [(t - now) / unit for t, _ in samples]
    if n >= QUADRATIC_MIN_SAMPLES:
        fit = _fit(xs, ys, 2)
        curvature = 2.0 * fit.coefficients[2] / (unit * unit)
        curvature_se = 2.0 * fit.standard_errors[2] / (unit * unit)
        if abs(curvature) > SHRINK_STANDARD_ERRORS * curvature_se:
            slope = fit.coefficients[1] / unit
            return Trend(
                level=fit.coefficients[0],
                slope=slope,
                acceleration=_shrink(curvature, curvature_se),
                samples=n,
                noise=fit.sigma,
                raw_slope=slope,
                raw_acceleration=curvature,
                covariance=(
                    fit.covariance[1][1] / unit**2,
                    fit.covariance[1][2] / unit**3,
                    fit.covariance[2][2] / unit**4,
                ),
            )
    if n >= 3:
        fit = _fit(xs, ys, 1)
        slope = fit.coefficients[1] / unit
        slope_se = fit.standard_errors[1] / unit
        if abs(slope) > SHRINK_STANDARD_ERRORS * slope_se:
            return Trend(
                level=fit.coefficients[0],
                slope=_shrink(slope, slope_se),
                acceleration=0.0,
                samples=n,
                noise=fit.sigma,
                raw_slope=slope,
                covariance=(fit.covariance[1][1] / unit**2, 0.0, 0.0),
            )
        return replace(flat, noise=fit.sigma, raw_slope=slope)
    # Two samples: a line through both, nothing to judge its noise by.
    slope = (ys[1] - ys[0]) / span
    return Trend(
        level=ys[1] + slope * (now - samples[1][0]),
        slope=slope,
        acceleration=0.0,
        samples=n,
        noise=0.0,
        raw_slope=slope,
    )


def predict(samples: Sequence[Sample], now: float, horizon: float) -> Prediction:
    """Predict the series ``horizon`` seconds after ``now``: the latest sample plus the fitted change."""
    if not samples:
        raise ValueError("predict needs at least one sample")
    trend = fit_trend(samples, now)
    current = max(0.0, float(samples[-1][1]))
    return Prediction(
        current=current,
        smoothed=max(0.0, trend.level),
        predicted=max(0.0, current + trend.change(horizon)),
        horizon=horizon,
        trend=trend,
    )


def _shrink(value: float, standard_error: float) -> float:
    margin = SHRINK_STANDARD_ERRORS * standard_error
    if abs(value) <= margin:
        return 0.0
    return value - math.copysign(margin, value)


def _rms(values: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0


@dataclass(frozen=True)
class _Fit:
    coefficients: list[float]
    standard_errors: list[float]
    sigma: float
    covariance: list[list[float]]


def _fit(xs: Sequence[float], ys: Sequence[float], degree: int) -> _Fit:
    """Least squares of the given degree, with standard errors corrected for correlated residuals.

    Metrics are averages over overlapping or interpolated periods, so neighbouring residuals are
    alike; the textbook standard errors would then claim too much confidence. They are inflated by
    ``sqrt((1 + ρ) / (1 - ρ))``, ρ the lag-one autocorrelation of the residuals (the usual AR(1)
    correction), ρ kept within [0, :data:`MAX_AUTOCORRELATION`].
    """
    coefficients, inverse = _least_squares(xs, ys, degree)
    residuals = [y - sum(c * x**k for k, c in enumerate(coefficients)) for x, y in zip(xs, ys, strict=True)]
    dof = len(xs) - (degree + 1)
    if dof <= 0:
        unknown = [[math.inf] * len(coefficients) for _ in coefficients]
        return _Fit(coefficients, [math.inf] * len(coefficients), 0.0, unknown)
    sigma = math.sqrt(sum(r * r for r in residuals) / dof)
    energy = sum(r * r for r in residuals)
    rho = sum(a * b for a, b in zip(residuals, residuals[1:], strict=False)) / energy if energy > 0 else 0.0
    rho = min(MAX_AUTOCORRELATION, max(0.0, rho))
    inflation = math.sqrt((1.0 + rho) / (1.0 - rho))
    scale = (sigma * inflation) ** 2
    covariance = [[scale * value for value in row] for row in inverse]
    errors = [math.sqrt(max(covariance[i][i], 0.0)) for i in range(len(coefficients))]
    return _Fit(coefficients, errors, sigma, covariance)


def _least_squares(
    xs: Sequence[float], ys: Sequence[float], degree: int
) -> tuple[list[float], list[list[float]]]:
    """Solve the normal equations; return the coefficients (constant first) and (XᵀX)⁻¹, which
    times σ² is the coefficients' covariance."""
    size = degree + 1
    power_sums = [sum(x**k for x in xs) for k in range(2 * degree + 1)]
    matrix = [[power_sums[i + j] for j in range(size)] for i in range(size)]
    rhs = [sum(y * x**i for x, y in zip(xs, ys, strict=True)) for i in range(size)]
    inverse = _invert(matrix)
    coefficients = [sum(inverse[i][j] * rhs[j] for j in range(size)) for i in range(size)]
    return coefficients, inverse


def _invert(matrix: list[list[float]]) -> list[list[float]]:
    """Gauss-Jordan with partial pivoting, for the 2×2 and 3×3 normal matrices used here."""
    size = len(matrix)
    work = [row[:] + [1.0 if i == j else 0.0 for j in range(size)] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(work[r][col]))
        if abs(work[pivot][col]) < 1e-12:
            raise ZeroDivisionError("singular normal matrix")
        work[col], work[pivot] = work[pivot], work[col]
        scale = work[col][col]
        work[col] = [v / scale for v in work[col]]
        for row in range(size):
            if row != col and work[row][col] != 0.0:
                factor = work[row][col]
                work[row] = [a - factor * b for a, b in zip(work[row], work[col], strict=True)]
    return [row[size:] for row in work]
