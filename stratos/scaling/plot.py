"""Figures of simulation runs (matplotlib, Agg backend, PNG). Needs the ``sim`` extra.

Top panel: demand, the controller's predicted demand and healthy capacity, in requests per second.
Bottom panel: members (all, and healthy). Several runs on one trace share the axes, one colour each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from stratos.scaling.simulate import SimulationResult

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def plot_runs(
    results: Sequence[SimulationResult],
    path: str | Path,
    title: str | None = None,
    window: tuple[float, float] | None = None,
) -> Path:
    """Draw the runs (all on the same trace) into a PNG at ``path`` and return the path.

    ``window`` (start, end) in seconds of simulated time limits the figure to that stretch.
    """
    if not results:
        raise ValueError("plot_runs needs at least one simulation result")
    if window is not None:
        results = [_crop(r, *window) for r in results]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    duration = (
        max(r.times[-1] - r.times[0] for r in results if r.times) if any(r.times for r in results) else 0.0
    )
    scale, unit = (3600.0, "h") if duration > 3 * 3600 else (60.0, "min")
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, height_ratios=(3, 2))
    first = results[0]
    times = [t / scale for t in first.times]
    top.plot(times, first.demand, color="black", linewidth=0.8, label="demand")
    for colour, result in zip(_COLOURS, results, strict=False):
        xs = [t / scale for t in result.times]
        top.step(
            xs,
            result.capacity,
            where="post",
            color=colour,
            linewidth=1.0,
            label=f"capacity ({result.controller})",
        )
        predicted = [(x, p) for x, p in zip(xs, result.predicted_demand, strict=True) if p is not None]
        if predicted:
            top.plot(
                [x for x, _ in predicted],
                [p for _, p in predicted],
                color=colour,
                linestyle=":",
                linewidth=0.9,
                label=f"prediction ({result.controller})",
            )
        bottom.step(
            xs,
            result.members,
            where="post",
            color=colour,
            linewidth=1.0,
            label=f"members ({result.controller})",
        )
        bottom.step(xs, result.healthy, where="post", color=colour, linewidth=0.6, alpha=0.5, linestyle="--")
    top.set_ylabel("requests per second")
    top.legend(loc="upper left", fontsize="small")
    top.grid(alpha=0.3)
    bottom.set_ylabel("members (dashed: healthy)")
    bottom.set_xlabel(f"time ({unit})")
    bottom.legend(loc="upper left", fontsize="small")
    bottom.grid(alpha=0.3)
    figure.suptitle(title or f"{first.trace}: " + ", ".join(r.controller for r in results))
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target


def _crop(result: SimulationResult, start: float, end: float) -> SimulationResult:
    keep = [i for i, t in enumerate(result.times) if start <= t <= end]
    if not keep:
        raise ValueError(f"window {start:g}..{end:g} s holds no point of the run")
    return replace(
        result,
        times=[result.times[i] for i in keep],
        demand=[result.demand[i] for i in keep],
        predicted_demand=[result.predicted_demand[i] for i in keep],
        capacity=[result.capacity[i] for i in keep],
        members=[result.members[i] for i in keep],
        healthy=[result.healthy[i] for i in keep],
    )
