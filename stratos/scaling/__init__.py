"""Scaling: the pure decision (:func:`decide`), its predictor, placement, and the simulator.

Nothing here performs I/O or reads a clock, except the trace loaders (which read files) and
:mod:`stratos.scaling.plot` (which writes a PNG); the agent and the CLI do the rest.
"""

from __future__ import annotations

from stratos.scaling.decide import (
    DEFAULT_STARTUP_TIMEOUT,
    FACTORS,
    Decision,
    FactorReport,
    Reason,
    ScalingState,
    decide,
)
from stratos.scaling.observations import MemberObservation, Observations, Placement
from stratos.scaling.predict import Prediction, Trend, fit_trend

__all__ = [
    "DEFAULT_STARTUP_TIMEOUT",
    "FACTORS",
    "Decision",
    "FactorReport",
    "MemberObservation",
    "Observations",
    "Placement",
    "Prediction",
    "Reason",
    "ScalingState",
    "Trend",
    "decide",
    "fit_trend",
]
