"""Load traces (requests per second over time): real ones from files, synthetic shapes by formula.

A :class:`Trace` is a series of rates, one every ``step`` seconds; between two points the rate is
interpolated linearly (per-minute data does not jump once a minute in reality), after the last
point it is held for one step.

File formats (detected from the first lines, see ``stratos/scaling/trace_data/README.md``); a file
whose name ends in ``.gz`` is read through gzip:

- ``timestamp,count`` with a header (NASA ``timestamp_edt,requests``, WorldCup98 ``period,count``):
  requests counted per row interval (inferred from the timestamps, one minute in both); the rate
  is count / interval.
- ``seconds,rate`` with a header whose first data column is a number: the rate at that second.
- one number per line, optionally after a non-numeric first line (Alibaba: the service id), one
  value per minute, already calls per second.

Holes: missing rows of up to :data:`MAX_FILLED_GAP` minutes are filled by interpolation (WorldCup98
lacks 10 minutes in May, Alibaba may miss a few). Longer holes, and runs of at least
:data:`MIN_OUTAGE` minutes at zero (NASA: no rows from 1995-07-28 13:33 to 07-31 23:59, zeros
from 08-01 14:52 to 08-03 04:36 while the server was shut down for Hurricane Erin), are cut out:
the parts either side are joined and the cut is written into the trace's ``notes``.

Real traces are tiny next to a simulated cluster (NASA peaks at a few requests per second);
:meth:`Trace.scaled_to` multiplies a trace by one documented factor so that its busiest
:data:`PEAK_SMOOTHING` minutes ask for a chosen number of members' worth of capacity.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

#: Holes up to this many minutes are interpolated; longer ones are cut out.
MAX_FILLED_GAP = 10

#: A run of zeros at least this many minutes long is an outage and is cut out.
MIN_OUTAGE = 30

#: The peak used for scaling is the highest mean over this many minutes, so that one noisy
#: minute does not decide the size of the whole cluster.
PEAK_SMOOTHING = 10

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class Trace:
    """Requests per second, one value every ``step`` seconds, starting at t = 0."""

    name: str
    rates: tuple[float, ...]
    step: float = 60.0
    start: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.rates:
            raise ValueError(f"trace {self.name!r}: no data points")
        if self.step <= 0:
            raise ValueError(f"trace {self.name!r}: step ({self.step}) must be positive")
        if any(r < 0 or math.isnan(r) for r in self.rates):
            raise ValueError(f"trace {self.name!r}: rates must be non-negative numbers")

    @property
    def duration(self) -> float:
        return len(self.rates) * self.step

    @property
    def peak(self) -> float:
        return max(self.rates)

    @property
    def mean(self) -> float:
        return sum(self.rates) / len(self.rates)

    def smoothed_peak(self, seconds: float = PEAK_SMOOTHING * 60.0) -> float:
        """The highest mean rate over any ``seconds``-long stretch of points."""
        width = max(1, min(len(self.rates), round(seconds / self.step)))
        total = sum(self.rates[:width])
        best = total
        for i in range(width, len(self.rates)):
            total += self.rates[i] - self.rates[i - width]
            best = max(best, total)
        return best / width

    def rate_at(self, t: float) -> float:
        position = t / self.step
        index = int(position)
        if index >= len(self.rates) - 1:
            return self.rates[-1]
        if index < 0:
            return self.rates[0]
        fraction = position - index
        return self.rates[index] + (self.rates[index + 1] - self.rates[index]) * fraction

    def resample(self, tick: float) -> list[float]:
        """The rate at every ``tick`` seconds over the whole duration."""
        count = int(self.duration / tick)
        return [self.rate_at(i * tick) for i in range(count)]

    def scaled(self, factor: float, why: str = "") -> Trace:
        if factor <= 0:
            raise ValueError(f"trace {self.name!r}: scale factor ({factor}) must be positive")
        note = f"rates multiplied by {factor:.6g}" + (f" ({why})" if why else "")
        return replace(self, rates=tuple(r * factor for r in self.rates), notes=(*self.notes, note))

    def scaled_to(self, capacity: float, members: float) -> Trace:
        """Scale so that the busiest :data:`PEAK_SMOOTHING` minutes need ``members`` × ``capacity``."""
        peak = self.smoothed_peak()
        if peak <= 0:
            raise ValueError(f"trace {self.name!r}: all zero, cannot be scaled")
        factor = members * capacity / peak
        return self.scaled(factor, f"busiest {PEAK_SMOOTHING} min = {members:g} members × {capacity:g} req/s")

    def window(self, start: float, duration: float | None = None) -> Trace:
        """The part from ``start`` seconds for ``duration`` seconds (to the end when ``None``)."""
        first = max(0, int(start / self.step))
        last = (
            len(self.rates) if duration is None else min(len(self.rates), first + int(duration / self.step))
        )
        if last <= first:
            raise ValueError(f"trace {self.name!r}: window {start:g}+{duration} s is empty")
        label = self.start
        if self.start is not None:
            parsed = _parse_time(self.start)
            if parsed is not None:
                label = (parsed + timedelta(seconds=first * self.step)).strftime("%Y-%m-%d %H:%M")
        return replace(self, rates=self.rates[first:last], start=label)


# --------------------------------------------------------------------------- files


#: The real traces shipped with the package (gzip, cut to the windows used; see its README.md).
PACKAGED_TRACES = Path(__file__).resolve().parent / "trace_data"


def traces_dir() -> Path:
    """Where the real traces are read from: ``$STRATOS_TRACES_DIR`` when set, else the copies
    shipped with the package (:data:`PACKAGED_TRACES`)."""
    override = os.environ.get("STRATOS_TRACES_DIR")
    if override:
        return Path(override)
    return PACKAGED_TRACES


def load_trace(
    path: str | os.PathLike[str],
    *,
    start: str | None = None,
    duration: float | None = None,
    step: float = 60.0,
) -> Trace:
    """Load a trace file (format detected) and optionally cut a window out of it.

    ``start`` is a timestamp prefix such as ``1998-06-29`` or ``1995-07-11 06:00`` for timestamped
    files, or a number of minutes from the beginning; ``duration`` is in seconds. ``step`` is the
    spacing of single-column files.
    """
    file = Path(path)
    if file.suffix == ".gz":
        with gzip.open(file, "rt", encoding="utf-8") as stream:
            text = stream.read()
        name = Path(file.stem).stem
    else:
        text = file.read_text(encoding="utf-8")
        name = file.stem
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{file}: empty trace")
    if "," in lines[0] or (len(lines) > 1 and "," in lines[1]):
        return _load_csv(file, name, lines, start, duration)
    values = lines[1:] if not _is_number(lines[0]) else lines
    try:
        rates = [float(v) for v in values]
    except ValueError as exc:
        raise ValueError(f"{file}: expected one number per line ({exc})") from None
    trace = Trace(name=name, rates=tuple(rates), step=step)
    offset = float(start) * 60.0 if start is not None else 0.0
    if start is not None or duration is not None:
        trace = trace.window(offset, duration)
    return trace


def _load_csv(file: Path, name: str, lines: list[str], start: str | None, duration: float | None) -> Trace:
    rows = [line.split(",") for line in lines]
    if any(len(row) < 2 for row in rows):
        raise ValueError(f"{file}: every row needs two columns")
    body = rows[1:] if not _is_number(rows[0][1]) else rows
    if not body:
        raise ValueError(f"{file}: no data rows")
    if _is_number(body[0][0]):
        # seconds,rate: resample onto an even grid at the smallest spacing.
        points = [(float(a), float(b)) for a, b, *_ in body]
        points.sort()
        spacing = min(
            (b[0] - a[0] for a, b in zip(points, points[1:], strict=False) if b[0] > a[0]), default=1.0
        )
        origin = points[0][0]
        count = int((points[-1][0] - origin) / spacing) + 1
        rates = _interpolate_points(points, [origin + i * spacing for i in range(count)])
        trace = Trace(name=name, rates=tuple(rates), step=spacing)
        if start is not None or duration is not None:
            trace = trace.window(float(start or 0) * 60.0, duration)
        return trace
    stamped: list[tuple[datetime, float]] = []
    for row in body:
        moment = _parse_time(row[0])
        if moment is None:
            raise ValueError(f"{file}: cannot read timestamp {row[0]!r}")
        stamped.append((moment, float(row[1])))
    stamped.sort()
    deltas = sorted((b[0] - a[0]).total_seconds() for a, b in zip(stamped, stamped[1:], strict=False))
    interval = deltas[len(deltas) // 2] if deltas else 60.0
    begin = stamped[0][0]
    if start is not None:
        chosen = _parse_time(start) if not _is_number(start) else begin + timedelta(minutes=float(start))
        if chosen is None:
            raise ValueError(f"{file}: cannot read start {start!r}")
        begin = chosen
    end = stamped[-1][0] + timedelta(seconds=interval)
    if duration is not None:
        end = min(end, begin + timedelta(seconds=duration))
    by_time = {moment: count for moment, count in stamped if begin <= moment < end}
    slots = int((end - begin).total_seconds() // interval)
    counts: list[float | None] = [by_time.get(begin + timedelta(seconds=i * interval)) for i in range(slots)]
    rates, notes = _repair([None if c is None else c / interval for c in counts], begin, interval)
    return Trace(
        name=name,
        rates=tuple(rates),
        step=interval,
        start=begin.strftime("%Y-%m-%d %H:%M"),
        notes=tuple(notes),
    )


def _repair(
    values: Sequence[float | None], begin: datetime, interval: float
) -> tuple[list[float], list[str]]:
    """Fill short holes, cut long holes and outages (runs of zeros)."""
    values = list(values)
    notes: list[str] = []
    # Outages: long runs of exact zeros are holes too.
    outages: set[int] = set()
    run = 0
    for i, v in enumerate([*values, None]):
        if v == 0.0:
            run += 1
            continue
        if run * interval >= MIN_OUTAGE * 60:
            for j in range(i - run, i):
                values[j] = None
            outages.add(i - run)
            notes.append(f"outage of {run} rows (zeros) from {_label(begin, interval, i - run)} cut out")
        run = 0
    out: list[float] = []
    i = 0
    while i < len(values):
        if values[i] is not None:
            out.append(float(values[i]))  # type: ignore[arg-type]
            i += 1
            continue
        j = i
        while j < len(values) and values[j] is None:
            j += 1
        gap = j - i
        before = out[-1] if out else None
        after = values[j] if j < len(values) else None
        if gap * interval <= MAX_FILLED_GAP * 60 and before is not None and after is not None:
            out.extend(before + (after - before) * (k + 1) / (gap + 1) for k in range(gap))
        elif i not in outages:
            notes.append(f"{gap} missing rows from {_label(begin, interval, i)} cut out")
        i = j
    if not out:
        raise ValueError("no data left in the window after cutting holes and outages")
    return out, notes


def _label(begin: datetime, interval: float, index: int) -> str:
    return (begin + timedelta(seconds=index * interval)).strftime("%Y-%m-%d %H:%M")


def _interpolate_points(points: Sequence[tuple[float, float]], at: Sequence[float]) -> list[float]:
    out: list[float] = []
    k = 0
    for t in at:
        while k + 1 < len(points) and points[k + 1][0] <= t:
            k += 1
        if k + 1 >= len(points) or points[k][0] >= t:
            out.append(points[k][1])
            continue
        (t0, v0), (t1, v1) = points[k], points[k + 1]
        out.append(v0 + (v1 - v0) * (t - t0) / (t1 - t0))
    return out


def _parse_time(text: str) -> datetime | None:
    text = text.strip()
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- the real traces

#: The windows of the real traces used by the benchmark, and why (the files are looked up in
#: :func:`traces_dir` under this name, or this name with ``.gz``).
#:
#: - NASA: three weekdays, Tue 1995-07-11 to Thu 07-13 (the Shuttle launch day, the busiest of the
#:   log): daily cycles with a busy launch morning and short server hiccups.
#: - WorldCup98: Mon 1998-06-29 to Tue 06-30, the two busiest days of the log, each with two matches:
#:   flash crowds growing 5-10× within half an hour, collapsing after the final whistle.
#: - Alibaba: all 12 hours.
REAL_TRACES: dict[str, tuple[str, str | None, float | None]] = {
    "nasa": ("nasa_http_1995_per_min.csv", "1995-07-11 00:00", 3 * 86400.0),
    "worldcup98": ("worldcup98_per_min.csv", "1998-06-29 00:00", 2 * 86400.0),
    "alibaba": ("alibaba_ms2021_6d9c26b9_per_min.txt", None, None),
}


def load_real(name: str, directory: Path | None = None, *, duration: float | None = None) -> Trace:
    """One of :data:`REAL_TRACES` with its benchmark window (``duration`` shortens it)."""
    try:
        filename, start, length = REAL_TRACES[name]
    except KeyError:
        raise ValueError(f"unknown real trace {name!r}; known: {', '.join(REAL_TRACES)}") from None
    if duration is not None:
        length = duration if length is None else min(length, duration)
    trace = load_trace(real_trace_file(name, directory), start=start, duration=length)
    return replace(trace, name=name)


def real_trace_file(name: str, directory: Path | None = None) -> Path:
    """The file of the real trace ``name`` in ``directory`` (default :func:`traces_dir`): its
    :data:`REAL_TRACES` file name, as it is or gzipped."""
    try:
        filename = REAL_TRACES[name][0]
    except KeyError:
        raise ValueError(f"unknown real trace {name!r}; known: {', '.join(REAL_TRACES)}") from None
    folder = directory or traces_dir()
    for candidate in (folder / filename, folder / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    where = " ($STRATOS_TRACES_DIR)" if directory is None and os.environ.get("STRATOS_TRACES_DIR") else ""
    raise FileNotFoundError(f"real trace {name!r}: neither {filename} nor {filename}.gz in {folder}{where}")


# --------------------------------------------------------------------------- synthetic shapes

SYNTHETIC = ("step", "ramp", "spike", "daily")


def synthetic(shape: str, *, base: float, peak: float, step: float = 10.0) -> Trace:
    """A synthetic trace between ``base`` and ``peak`` requests per second.

    - ``step``: 20 min at base, 60 min at peak, 40 min at base (a sudden, lasting change).
    - ``ramp``: 20 min at base, a 30 min climb to peak, 20 min there, a 30 min descent, 20 min at
      base, then a slower second ramp (60 min up, 60 min down) and 20 min at base.
    - ``spike``: base with four 3-minute spikes to peak, 20 min apart.
    - ``daily``: two days of a smooth day/night cycle (trough at 04:00, peak at 16:00).
    """
    if base < 0 or peak < base:
        raise ValueError(f"synthetic {shape}: need 0 <= base ({base}) <= peak ({peak})")
    minute = 60.0 / step
    points: list[float] = []

    def hold(value: float, minutes: float) -> None:
        points.extend([value] * round(minutes * minute))

    def ramp(frm: float, to: float, minutes: float) -> None:
        count = round(minutes * minute)
        points.extend(frm + (to - frm) * (i + 1) / count for i in range(count))

    if shape == "step":
        hold(base, 20)
        hold(peak, 60)
        hold(base, 40)
    elif shape == "ramp":
        hold(base, 20)
        ramp(base, peak, 30)
        hold(peak, 20)
        ramp(peak, base, 30)
        hold(base, 20)
        ramp(base, peak, 60)
        ramp(peak, base, 60)
        hold(base, 20)
    elif shape == "spike":
        for _ in range(4):
            hold(base, 17)
            hold(peak, 3)
        hold(base, 17)
    elif shape == "daily":
        count = round(2 * 24 * 60 * minute)
        for i in range(count):
            hours = i / minute / 60.0
            phase = math.cos(2 * math.pi * (hours - 16.0) / 24.0)
            points.append(base + (peak - base) * (phase + 1) / 2)
    else:
        raise ValueError(f"unknown synthetic shape {shape!r}; known: {', '.join(SYNTHETIC)}")
    return Trace(name=f"synthetic-{shape}", rates=tuple(points), step=step)
