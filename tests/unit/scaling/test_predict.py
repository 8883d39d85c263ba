from __future__ import annotations

import importlib
import math

import pytest

from stratos.scaling.predict import Sample, fit_trend, predict

predict_module = importlib.import_module("stratos.scaling.predict")

NOW = 1_700_000_000.0  # a real epoch: the fit must not depend on the clock's origin
STEP = 15.0


def series(values: list[float], now: float = NOW, step: float = STEP) -> list[Sample]:
    start = now - step * (len(values) - 1)
    return [(start + i * step, v) for i, v in enumerate(values)]


# A fixed, irregular noise pattern (no random numbers in tests).
NOISE = [3.0, -4.0, 1.0, 5.0, -2.0, -5.0, 4.0, -1.0, 2.0, -3.0, 0.0, 4.0, -4.0, 2.0, -2.0, 1.0]


@pytest.mark.parametrize(
    ("values", "horizon", "expected"),
    [
        pytest.param([100.0], 60, 100.0, id="one-sample-no-trend"),
        pytest.param([100.0] * 8, 60, 100.0, id="flat"),
        pytest.param([0.0] * 8, 60, 0.0, id="zero"),
        pytest.param([100.0, 110.0], 60, 150.0, id="two-samples-line"),
        pytest.param([100.0 + 10 * i for i in range(8)], 60, 170.0 + 40.0, id="clean-ramp"),
        pytest.param([100.0 + 10 * i for i in range(8)], 0, 170.0, id="horizon-zero-is-current"),
        pytest.param([200.0 - 20 * i for i in range(8)], 120, 0.0, id="never-below-zero"),
    ],
)
def test_predict_exact_shapes(values: list[float], horizon: float, expected: float) -> None:
    result = predict(series(values), NOW, horizon)
    assert result.predicted == pytest.approx(expected, abs=1e-6)
    assert result.current == values[-1]


def test_clean_parabola_gives_both_derivatives() -> None:
    # v = 100 + 0.5·a·t² with a = 0.02 /s², t from -105 s to 0 s: u(now) = 0, a = 0.02.
    values = [100.0 + 0.01 * (STEP * (i - 7)) ** 2 for i in range(8)]
    trend = fit_trend(series(values), NOW)
    assert trend.acceleration == pytest.approx(0.02, rel=1e-6)
    assert trend.slope == pytest.approx(0.0, abs=1e-9)
    assert trend.level == pytest.approx(100.0, abs=1e-9)


def test_ramp_onset_is_seen_by_the_curvature() -> None:
    # Flat, then rising 2/s over the last four samples: the parabola predicts more than the line
    # through the last two points would suggest is lasting, and more than the current value.
    values = [100.0] * 6 + [100.0 + 2 * STEP * i for i in range(1, 5)]
    result = predict(series(values), NOW, 60)
    assert result.trend.acceleration > 0
    assert result.predicted > values[-1]


def test_noise_around_a_flat_load_is_no_trend() -> None:
    values = [100.0 + n for n in NOISE]
    result = predict(series(values), NOW, 60)
    assert result.trend.slope == 0.0
    assert result.trend.acceleration == 0.0
    assert result.predicted == result.current


def test_trend_standing_out_of_noise_is_kept_but_shrunk() -> None:
    values = [100.0 + 3.0 * i + n for i, n in enumerate(NOISE)]
    trend = fit_trend(series(values), NOW)
    assert 0 < trend.slope < trend.raw_slope
    assert trend.raw_slope == pytest.approx(3.0 / STEP, rel=0.15)


def test_origin_of_the_clock_does_not_matter() -> None:
    values = [100.0 + 3.0 * i + n for i, n in enumerate(NOISE)]
    late = fit_trend(series(values, now=NOW), NOW)
    early = fit_trend(series(values, now=1000.0), 1000.0)
    assert late.slope == pytest.approx(early.slope, rel=1e-6)
    assert late.level == pytest.approx(early.level, rel=1e-9)


def test_correlated_residuals_widen_the_standard_error() -> None:
    # The same wiggle, once as alternating noise and once as a slow wave (neighbours alike): the
    # slow wave must be trusted less, so less of its slope survives.
    alternating = [100.0 + 0.5 * i + (4.0 if i % 2 else -4.0) for i in range(16)]
    wave = [100.0 + 0.5 * i + 4.0 * math.sin(i / 2.5) for i in range(16)]
    fast = fit_trend(series(alternating), NOW)
    slow = fit_trend(series(wave), NOW)
    assert fast.raw_slope > 0 and slow.raw_slope > 0
    assert fast.slope / fast.raw_slope > slow.slope / slow.raw_slope


def test_curvature_term_is_bounded_by_the_level() -> None:
    values = [100.0, 100.0, 100.0, 100.0, 101.0, 104.0, 109.0, 116.0]
    result = predict(series(values), NOW, 600)
    bound = predict_module.ACCELERATION_SHARE * result.trend.level
    linear = result.trend.slope * 600
    assert result.predicted <= values[-1] + linear + bound + 1e-6


def test_empty_series_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        predict([], NOW, 60)
    with pytest.raises(ValueError, match="at least one sample"):
        fit_trend([], NOW)


def test_samples_at_one_instant_are_averaged() -> None:
    trend = fit_trend([(NOW, 10.0), (NOW, 20.0), (NOW, 30.0)], NOW)
    assert trend.level == 20.0
    assert trend.slope == 0.0


def test_prediction_as_dict_names_its_figures() -> None:
    data = predict(series([1.0, 2.0, 3.0]), NOW, 30).as_dict()
    assert set(data) == {
        "current",
        "smoothed",
        "predicted",
        "horizon",
        "slope",
        "acceleration",
        "samples",
        "noise",
    }


def test_uncertain_change_is_shrunk_by_its_error_at_the_horizon() -> None:
    values = [100.0 + 3.0 * i + n for i, n in enumerate(NOISE)]
    trend = fit_trend(series(values), NOW)
    assert trend.acceleration == 0.0  # a straight line: its error grows linearly with the horizon
    assert trend.change_error(180) == pytest.approx(3 * trend.change_error(60))
    assert trend.change(600) == pytest.approx(trend.slope * 600 - trend.change_error(600))
    assert trend.change(60) == pytest.approx(trend.slope * 60 - trend.noise)  # here the noise is larger
