"""Policy quality: our predictive policy vs a Kubernetes-HPA-style baseline and Apache Stratos 4.1.

Every policy runs on the same simulated cluster (:mod:`stratos.scaling.simulate`) and the same trace;
only the scaling rule differs. Printed per trace: overload-seconds (demand above healthy capacity),
member-seconds, scaling actions, unserved requests, and the ratios of overload and member-seconds to
the HPA baseline measured in the same run.

Because less overload can always be bought with more members, one more column compares at equal
cost: HPA is also run with targets from 25 to 95 % (its whole trade-off curve of overload against
member-seconds), and ``iso`` is a policy's overload divided by the overload HPA has at the same
member-seconds (linear interpolation on that curve). ``iso < 1`` means better than any HPA target,
not merely more generous.

Set-up (all policies): a member serves 100 req/s after a warm-up (60 s, and 180 s in the second
table); requests in flight = demand × 1 s, so the threshold of 80 in flight per member is an 80 %
utilisation target; min 1, max 80 members over two partitions of 40. HPA: target 80, tolerance
0.1, 15 s sync, 300 s scale-down stabilisation, scale-up at most max(2 × current, 4) per sync.
Stratos 4.1: 90 s monitor interval, one-minute CEP window, prediction with t = 1, one member removed
per run after three consecutive scale-down decisions. Ours (``decide``): 15 s evaluation, horizon =
warm-up, tolerance 0.1, 300 s scale-down stabilisation, max step 10, and a smoothing window of 8
samples (2 min, "predictive") or 40 samples (10 min, "predictive-10min").

Traces: synthetic step, ramp, spike and daily shapes between 300 and 3000 req/s; the shared real
traces in their benchmark windows (:data:`stratos.scaling.traces.REAL_TRACES`: NASA 1995-07-11..13,
WorldCup98 1998-06-29..30, all 12 h of Alibaba), each scaled so that its busiest ten minutes need
30 members at full capacity.

What was tried to reach "less overload than HPA at about the same member-seconds" (each variant
measured with this script; ``iso`` at 60 s warm-up unless said):

1. Extrapolating from the fitted level (the smoothed current value), windows of 8 to 40 samples:
   lags a step by half a window; longer windows only move along HPA's curve (NASA iso >= 1).
2. Extrapolating from the latest sample with a least-squares parabola (kept): ramp overload 0.12
   of HPA's at the same member-seconds, but 1.3-1.6x the member-seconds on the noisy real traces.
3. Soft-shrinking u and a by 1-3 standard errors, widened for autocorrelated residuals (kept at 1):
   small effect; 15 s samples of per-minute data look like a trend over a 2-minute window.
4. Shrinking the predicted change by the residual noise and by its own standard error at the
   horizon (kept): spike cost at 180 s warm-up from 1.70x to 1.12x member-seconds.
5. Linear-only fits, and a "consistent trend" (both half-windows agree in sign): about 1.0x
   member-seconds everywhere but only 0.6-0.8 of HPA's ramp overload.
6. Asking a prediction to persist over 2-4 evaluations before acting on it: no gain.
7. Feeding the stabilisation window with observed instead of predicted recommendations: NASA
   0.39 at 1.14x, but 4.5x the scaling actions (flapping).
8. An upper bound (prediction + z·noise): moves along HPA's curve, no better.

Finding: on NASA the overload of every policy is noise-driven (where HPA is overloaded, demand is
a median 1.04x the highest demand of the previous five minutes, as often on falling as on rising
slopes; the daily trend moves load by under 2 % per warm-up). No predictor tried beats HPA's own
overload/member-seconds trade-off there; on ramps and match-day ramps it clearly does.

Run: ``python bench/policy_quality.py [--warmups 60 180] [--figures DIR] [--output FILE]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

from stratos.model import AutoscalingPolicy, DeploymentPolicy
from stratos.scaling.controllers import Controller, HpaController, PredictiveController, Stratos41Controller
from stratos.scaling.simulate import SimulationConfig, SimulationResult, simulate
from stratos.scaling.traces import REAL_TRACES, Trace, load_real, synthetic

CAPACITY = 100.0
THRESHOLD = 80.0
MAX_MEMBERS = 80
PEAK_MEMBERS = 30.0
HPA_CURVE = tuple(range(25, 100, 5))
SYNTHETIC_SHAPES = ("step", "ramp", "spike", "daily")
OURS = {"predictive": 8, "predictive-10min": 40}

#: Figures for the issue note: (trace, warm-up, window in hours or None for all of it).
FIGURES = (
    ("synthetic-ramp", 60.0, None),
    ("synthetic-spike", 60.0, None),
    ("nasa", 60.0, (54.0, 62.0)),  # 1995-07-13 06:00-14:00, the launch morning
    ("worldcup98", 180.0, (36.0, 48.0)),  # 1998-06-30 12:00-24:00, two matches
    ("alibaba", 60.0, (0.0, 3.0)),
)

DEPLOYMENT = DeploymentPolicy(
    name="bench",
    network_partitions=[
        {
            "name": "np1",
            "algorithm": "round-robin",
            "partitions": [{"name": "p1", "max": 40}, {"name": "p2", "max": 40}],
        }
    ],
)

_TRACES: dict[str, Trace] = {}


def trace_names() -> list[str]:
    return [f"synthetic-{s}" for s in SYNTHETIC_SHAPES] + list(REAL_TRACES)


def get_trace(name: str) -> Trace:
    if name not in _TRACES:
        if name.startswith("synthetic-"):
            _TRACES[name] = synthetic(name.removeprefix("synthetic-"), base=300.0, peak=3000.0)
        else:
            _TRACES[name] = load_real(name).scaled_to(CAPACITY, PEAK_MEMBERS)
    return _TRACES[name]


def make_controller(kind: str, warmup: float) -> Controller:
    timeout = max(300.0, 2.0 * warmup + 60.0)
    if kind.startswith("hpa@"):
        target = float(kind.removeprefix("hpa@"))
        policy = AutoscalingPolicy(name="hpa", thresholds={"requests_in_flight": target})
        return HpaController(
            policy.thresholds,
            DEPLOYMENT,
            min_members=1,
            max_members=MAX_MEMBERS,
            startup_timeout=timeout,
            name=kind,
        )
    policy = AutoscalingPolicy(
        name="ours",
        thresholds={"requests_in_flight": THRESHOLD},
        behaviour={
            "evaluation_interval": 15,
            "prediction_horizon": warmup,
            "smoothing_window": OURS.get(kind, 8),
            "tolerance": 0.1,
            "scale_down_stabilisation": 300,
            "max_step": 10,
        },
    )
    if kind == "hpa":
        return HpaController(
            policy.thresholds, DEPLOYMENT, min_members=1, max_members=MAX_MEMBERS, startup_timeout=timeout
        )
    if kind == "stratos-4.1":
        return Stratos41Controller(
            policy.thresholds, DEPLOYMENT, min_members=1, max_members=MAX_MEMBERS, startup_timeout=timeout
        )
    return PredictiveController(
        policy, DEPLOYMENT, min_members=1, max_members=MAX_MEMBERS, startup_timeout=timeout, name=kind
    )


@dataclass(frozen=True)
class Job:
    warmup: float
    trace: str
    controller: str


def run_job(job: Job) -> tuple[Job, SimulationResult]:
    config = SimulationConfig(capacity=CAPACITY, warmup=job.warmup, min_members=1, max_members=MAX_MEMBERS)
    return job, simulate(
        get_trace(job.trace), make_controller(job.controller, job.warmup), DEPLOYMENT, config
    )


def iso_overload(curve: Sequence[tuple[float, float]], member_seconds: float) -> float | None:
    """HPA's overload at ``member_seconds`` on its curve; None outside the curve."""
    points = sorted(curve)
    if not points or member_seconds < points[0][0] or member_seconds > points[-1][0]:
        return None
    for (m0, o0), (m1, o1) in zip(points, points[1:], strict=False):
        if m0 <= member_seconds <= m1:
            return o0 if m1 == m0 else o0 + (o1 - o0) * (member_seconds - m0) / (m1 - m0)
    return points[-1][1]


def ratio(value: float, base: float) -> str:
    if base == 0:
        return "  —  " if value == 0 else "  ∞  "
    return f"{value / base:5.2f}"


def table(warmup: float, trace: str, results: dict[str, SimulationResult]) -> list[str]:
    base = results["hpa"]
    curve = [(r.member_seconds, r.overload_seconds) for k, r in results.items() if k.startswith("hpa@")]
    t = get_trace(trace)
    lines = [
        f"### {trace} — warm-up {warmup:g} s — {t.duration / 3600:.1f} h"
        + (f" from {t.start}" if t.start else "")
        + f", mean {t.mean:.0f} req/s, peak {t.peak:.0f} req/s",
        f"{'policy':<17} {'overload s':>10} {'member-h':>9} {'actions':>8} {'unserved %':>10} "
        f"{'overload/HPA':>12} {'member-s/HPA':>12} {'iso':>6}",
    ]
    for kind in ("predictive", "predictive-10min", "hpa", "stratos-4.1"):
        r = results[kind]
        at_cost = iso_overload(curve, r.member_seconds)
        iso = "  n/a " if at_cost is None else ratio(r.overload_seconds, at_cost)
        lines.append(
            f"{kind:<17} {r.overload_seconds:>10.0f} {r.member_seconds / 3600:>9.1f} {r.scaling_actions:>8d} "
            f"{100 * r.unserved_fraction:>10.3f} {ratio(r.overload_seconds, base.overload_seconds):>12} "
            f"{r.member_seconds / base.member_seconds:>12.2f} {iso:>6}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmups", type=float, nargs="+", default=[60.0, 180.0])
    parser.add_argument("--traces", nargs="+", default=trace_names(), choices=trace_names())
    parser.add_argument(
        "--figures", type=Path, help="write the figures of FIGURES as PNG into this directory"
    )
    parser.add_argument("--output", type=Path, help="also write the tables to this file")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)

    kinds = ["predictive", "predictive-10min", "hpa", "stratos-4.1"] + [f"hpa@{t}" for t in HPA_CURVE]
    jobs = [Job(w, t, k) for w in args.warmups for t in args.traces for k in kinds]
    started = time.monotonic()
    with Pool(args.processes) as pool:
        done = pool.map(run_job, jobs, chunksize=1)
    elapsed = time.monotonic() - started
    by_key: dict[tuple[float, str], dict[str, SimulationResult]] = {}
    for job, result in done:
        by_key.setdefault((job.warmup, job.trace), {})[job.controller] = result

    lines = [
        "Policy quality: overload and member-seconds per trace, ratios to the Kubernetes-HPA baseline",
        f"(capacity {CAPACITY:g} req/s per member, threshold {THRESHOLD:g} in flight = 80 % utilisation, "
        f"max {MAX_MEMBERS} members; iso = overload / HPA's overload at equal member-seconds)",
        "",
    ]
    for warmup in args.warmups:
        for trace in args.traces:
            lines += table(warmup, trace, by_key[(warmup, trace)])
            lines.append("")
    lines.append(f"{len(jobs)} simulations in {elapsed:.0f} s on {args.processes} processes")
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    if args.figures:
        from stratos.scaling.plot import plot_runs

        for trace, warmup, hours in FIGURES:
            runs = by_key.get((warmup, trace))
            if runs is None:
                continue
            window = None if hours is None else (hours[0] * 3600.0, hours[1] * 3600.0)
            span = "" if hours is None else f", hours {hours[0]:g}-{hours[1]:g}"
            plot_runs(
                [runs["predictive"], runs["predictive-10min"], runs["hpa"], runs["stratos-4.1"]],
                args.figures / f"policy_quality_{trace}_{warmup:g}s.png",
                title=f"{trace}, warm-up {warmup:g} s{span}",
                window=window,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
