"""``stratos simulate``: replay a load trace against a simulated cluster (a thin adapter).

The cluster is the one of :mod:`stratos.scaling.simulate`; the scaling is the agent's own
:func:`stratos.scaling.decide.decide` with the given autoscaling and deployment policies. Prints
seconds of overload (demand above healthy capacity), member-seconds and the number of scaling
actions; ``--plot`` draws demand, prediction, capacity and members over time; ``--compare`` runs
the Kubernetes-HPA and Apache Stratos 4.1 baselines on the same cluster.

Traces (``--trace``):

- a file: ``timestamp,count`` CSV (counts per row interval), ``seconds,rate`` CSV, or one rate per
  line, gzipped or not (see :mod:`stratos.scaling.traces`); rates are used as they are unless
  ``--scale`` or ``--peak-members`` is given;
- ``synthetic:step|ramp|spike|daily``: a shape between 10 % and 60 % of ``--max`` members' capacity;
- ``real:nasa|worldcup98|alibaba``: the real traces shipped with the package
  (``stratos/scaling/trace_data``, or ``$STRATOS_TRACES_DIR`` when set) in the benchmark's windows,
  scaled so that their busiest ten minutes need 60 % of ``--max`` members at full capacity
  (``--peak-members`` overrides).

Exit codes: 0 simulated; 1 a definition or trace could not be read.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, TypeVar

from stratos.documents import read_documents
from stratos.errors import Problem, ValidationError
from stratos.model import AutoscalingPolicy, DefinitionModel, DeploymentPolicy
from stratos.scaling.controllers import Controller, HpaController, PredictiveController, Stratos41Controller
from stratos.scaling.simulate import SimulationConfig, SimulationResult, simulate
from stratos.scaling.traces import REAL_TRACES, SYNTHETIC, Trace, load_real, load_trace, synthetic
from stratos.validation import parse_document

DefinitionT = TypeVar("DefinitionT", bound=DefinitionModel)

#: Synthetic shapes and auto-scaled real traces peak at this share of ``--max`` members' capacity.
PEAK_SHARE = 0.6


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="replay a load trace against a simulated cluster scaled by an autoscaling policy",
        description="Replay a load trace (requests per second over time) against a simulated cluster "
        "whose members warm up before serving, scaled by the agent's own decision function. Prints "
        "seconds of overload, member-seconds and scaling actions.",
    )
    p.add_argument(
        "--policy", required=True, metavar="PATH[#NAME]", help="autoscaling policy: YAML file or directory"
    )
    p.add_argument(
        "--deployment", required=True, metavar="PATH[#NAME]", help="deployment policy: YAML file or directory"
    )
    p.add_argument(
        "--trace",
        required=True,
        help="a trace file, synthetic:step|ramp|spike|daily, or real:nasa|worldcup98|alibaba",
    )
    p.add_argument("--plot", metavar="PNG", help="draw demand, prediction, capacity and members to this file")
    p.add_argument(
        "--capacity", type=float, default=100.0, help="requests per second one member serves (100)"
    )
    p.add_argument("--warmup", type=float, default=60.0, help="seconds from start until a member serves (60)")
    p.add_argument(
        "--service-time",
        type=float,
        default=1.0,
        help="seconds per request, for requests in flight = demand × service time (1.0)",
    )
    p.add_argument("--min", dest="min_members", type=int, default=1, help="minimum members (1)")
    p.add_argument("--max", dest="max_members", type=int, default=20, help="maximum members (20)")
    scaling = p.add_mutually_exclusive_group()
    scaling.add_argument("--scale", type=float, help="multiply the trace's rates by this factor")
    scaling.add_argument(
        "--peak-members",
        type=float,
        help="scale the trace so that its busiest 10 minutes need this many members at full capacity",
    )
    p.add_argument("--start", help="start of a window: a timestamp prefix, or minutes from the beginning")
    p.add_argument("--hours", type=float, help="length of the window in hours")
    p.add_argument(
        "--compare", action="store_true", help="also run the Kubernetes-HPA and Apache Stratos 4.1 baselines"
    )
    p.set_defaults(func=run)


def load_definition(reference: str, model: type[DefinitionT]) -> DefinitionT:
    """One definition of ``model``'s kind from ``PATH`` (file or directory), or ``PATH#NAME``."""
    path, _, name = reference.partition("#")
    kind = model.model_fields["kind"].default
    docs, problems = read_documents([path])
    if problems:
        raise ValidationError(problems)
    found: list[DefinitionT] = []
    for doc in docs:
        if not isinstance(doc.data, dict) or doc.data.get("kind") != kind:
            continue
        if name and doc.data.get("name") != name:
            continue
        spec, problems = parse_document(doc)
        if problems:
            raise ValidationError(problems)
        assert isinstance(spec, model)
        found.append(spec)
    if not found:
        what = f"{kind} named {name!r}" if name else kind
        raise ValidationError([Problem(path, "(file)", f"holds no {what}", has_value=False)])
    if len(found) > 1:
        names = ", ".join(str(getattr(s, "name", "?")) for s in found)
        raise ValidationError(
            [
                Problem(
                    path,
                    "(file)",
                    f"holds several {kind} definitions ({names}); choose one with #NAME",
                    has_value=False,
                )
            ]
        )
    return found[0]


def load_simulation_trace(args: argparse.Namespace) -> Trace:
    """The trace named by ``--trace``, windowed and scaled as the options say."""
    source: str = args.trace
    capacity: float = args.capacity
    duration = args.hours * 3600.0 if args.hours is not None else None
    auto_peak = PEAK_SHARE * args.max_members
    if source.startswith("synthetic:"):
        shape = source.split(":", 1)[1]
        peak = auto_peak * capacity
        trace = synthetic(shape, base=peak / 10.0, peak=peak)
        if args.start is not None or duration is not None:
            trace = trace.window(float(args.start or 0) * 60.0, duration)
    elif source.startswith("real:"):
        trace = load_real(source.split(":", 1)[1], duration=duration)
        if args.scale is None:
            trace = trace.scaled_to(capacity, args.peak_members or auto_peak)
    else:
        trace = load_trace(Path(source), start=args.start, duration=duration)
    if args.scale is not None:
        trace = trace.scaled(args.scale, "--scale")
    elif args.peak_members is not None and not source.startswith("real:"):
        trace = trace.scaled_to(capacity, args.peak_members)
    return trace


def controllers(
    policy: AutoscalingPolicy, deployment: DeploymentPolicy, config: SimulationConfig, *, compare: bool
) -> list[Controller]:
    """Ours, and with ``compare`` the two baselines, all with the same bounds."""
    low, high = config.min_members, config.max_members
    timeout = startup_timeout(config.warmup)
    runs: list[Controller] = [
        PredictiveController(policy, deployment, min_members=low, max_members=high, startup_timeout=timeout)
    ]
    if compare:
        thresholds = policy.thresholds
        runs.append(
            HpaController(thresholds, deployment, min_members=low, max_members=high, startup_timeout=timeout)
        )
        runs.append(
            Stratos41Controller(
                thresholds, deployment, min_members=low, max_members=high, startup_timeout=timeout
            )
        )
    return runs


def startup_timeout(warmup: float) -> float:
    """Members are declared failed only well after they should have become healthy."""
    return max(300.0, 2.0 * warmup + 60.0)


def format_results(results: list[SimulationResult]) -> list[str]:
    lines = [
        f"{'controller':<13} {'overload s':>11} {'overload %':>10} {'member-s':>12} {'mean members':>12} "
        f"{'actions':>8} {'unserved %':>10} {'peak':>5}"
    ]
    for r in results:
        lines.append(
            f"{r.controller:<13} {r.overload_seconds:>11.0f} {100 * r.overload_seconds / r.duration:>10.2f} "
            f"{r.member_seconds:>12.0f} {r.mean_members:>12.2f} {r.scaling_actions:>8d} "
            f"{100 * r.unserved_fraction:>10.3f} {r.peak_members:>5d}"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    try:
        policy = load_definition(args.policy, AutoscalingPolicy)
        deployment = load_definition(args.deployment, DeploymentPolicy)
        trace = load_simulation_trace(args)
        config = SimulationConfig(
            capacity=args.capacity,
            warmup=args.warmup,
            service_time=args.service_time,
            min_members=args.min_members,
            max_members=args.max_members,
        )
    except ValidationError:
        raise
    except (OSError, ValueError) as exc:
        print(f"stratos simulate: {exc}", file=sys.stderr)
        return 1
    hours = trace.duration / 3600.0
    print(
        f"trace: {trace.name}, {len(trace.rates)} points every {trace.step:g} s ({hours:.1f} h)"
        + (f" from {trace.start}" if trace.start else "")
    )
    for note in trace.notes:
        print(f"  {note}")
    print(
        f"demand: mean {trace.mean:.1f} req/s, peak {trace.peak:.1f} req/s "
        f"(= {math.ceil(trace.peak / config.capacity)} members at full capacity)"
    )
    print(
        f"cluster: {config.capacity:g} req/s per member, warm-up {config.warmup:g} s, "
        f"members {config.min_members}..{config.max_members}; policy {policy.name}, deployment {deployment.name}"
    )
    rif = policy.thresholds.requests_in_flight
    if rif is not None:
        full = config.capacity * config.service_time
        print(
            f"requests_in_flight threshold {rif:g} per member = {100 * rif / full:.0f} % of a member's capacity "
            f"({config.capacity:g} req/s × {config.service_time:g} s service time)"
        )
    results = [
        simulate(trace, c, deployment, config)
        for c in controllers(policy, deployment, config, compare=args.compare)
    ]
    for line in format_results(results):
        print(line)
    if args.plot:
        from stratos.scaling.plot import plot_runs

        target = plot_runs(results, args.plot)
        print(f"plot: {target}")
    return 0


__all__ = ["REAL_TRACES", "SYNTHETIC", "add_parser", "controllers", "load_definition", "run"]
