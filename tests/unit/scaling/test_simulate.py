"""The simulator's invariants, the baselines it runs, the trace loaders and ``stratos simulate``."""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import pytest

from stratos.cli import main
from stratos.model import AutoscalingPolicy, DeploymentPolicy, Thresholds
from stratos.scaling.controllers import Action, HpaController, PredictiveController, Stratos41Controller
from stratos.scaling.observations import Observations, Placement
from stratos.scaling.simulate import SimulationConfig, simulate
from stratos.scaling.traces import REAL_TRACES, Trace, load_real, load_trace, synthetic, traces_dir

REPO = Path(__file__).resolve().parents[3]
# The traces shipped in the checkout (whatever $STRATOS_TRACES_DIR says): nothing outside it is read.
TRACES = REPO / "stratos" / "scaling" / "trace_data"

DEPLOYMENT = DeploymentPolicy(
    name="d",
    network_partitions=[
        {"name": "np1", "partitions": [{"name": "p1", "max": 30}, {"name": "p2", "max": 30}]}
    ],
)
POLICY = AutoscalingPolicy(name="p", thresholds={"requests_in_flight": 80}, behaviour={"max_step": 10})


def simulate_cli(policy: object, deployment: object, trace: str, *options: str) -> int:
    """``stratos simulate --policy P --deployment D --trace T [options]``: its exit code."""
    return main(
        ["simulate", "--policy", str(policy), "--deployment", str(deployment), "--trace", trace, *options]
    )


class Fixed:
    """A controller that never scales, and remembers what it was shown."""

    name = "fixed"

    def __init__(self) -> None:
        self.seen: list[Observations] = []

    def control(self, observations: Observations, now: float) -> Action | None:
        self.seen.append(observations)
        return None


def flat(rate: float, minutes: int) -> Trace:
    return Trace(name="flat", rates=(rate,) * minutes, step=60.0)


# --------------------------------------------------------------------------- simulator invariants


def test_fixed_cluster_within_capacity_has_no_overload() -> None:
    result = simulate(flat(150, 10), Fixed(), DEPLOYMENT, SimulationConfig(initial_members=2))
    assert result.overload_seconds == 0
    assert result.member_seconds == 2 * 600
    assert result.scaling_actions == 0
    assert result.unserved_requests == 0


def test_overload_seconds_and_unserved_requests_are_counted_exactly() -> None:
    trace = Trace(name="step", rates=(150.0,) * 5 + (250.0,) * 5, step=60.0)
    result = simulate(trace, Fixed(), DEPLOYMENT, SimulationConfig(initial_members=2))
    # Linear interpolation: the rate passes 200 req/s halfway through minute 4, then stays above.
    assert result.overload_seconds == pytest.approx(300 + 30, abs=1)
    assert result.unserved_requests == pytest.approx(50 * 300 + 0.5 * 50 * 30, rel=0.01)


def test_observations_follow_littles_law_and_utilisation() -> None:
    controller = Fixed()
    simulate(flat(150, 2), controller, DEPLOYMENT, SimulationConfig(initial_members=2, service_time=0.5))
    observation = controller.seen[-1]
    assert len(controller.seen) == 120 / 15
    in_flight = sum((m.requests_in_flight or 0) + (m.queued or 0) for m in observation.members)
    assert in_flight == pytest.approx(150 * 0.5)
    assert all(m.cpu_percent == pytest.approx(75.0) for m in observation.members)
    assert all(m.memory_percent == pytest.approx(30 + 0.5 * 75) for m in observation.members)


def test_overload_puts_the_excess_in_the_queue() -> None:
    controller = Fixed()
    simulate(flat(300, 1), controller, DEPLOYMENT, SimulationConfig(initial_members=2))
    members = controller.seen[-1].members
    assert sum(m.requests_in_flight or 0 for m in members) == pytest.approx(200)
    assert sum(m.queued or 0 for m in members) == pytest.approx(100)
    assert all(m.cpu_percent == pytest.approx(100) for m in members)


def test_members_serve_only_after_warm_up() -> None:
    trace = Trace(name="jump", rates=(100.0,) * 2 + (600.0,) * 18, step=60.0)
    config = SimulationConfig(warmup=120, max_members=20)
    result = simulate(
        trace, PredictiveController(POLICY, DEPLOYMENT, min_members=1, max_members=20), DEPLOYMENT, config
    )
    first_more = next(i for i, n in enumerate(result.members) if n > result.members[0])
    first_capacity = next(i for i, c in enumerate(result.capacity) if c > result.capacity[0])
    assert result.times[first_capacity] - result.times[first_more] >= 120
    assert result.overload_seconds >= 120


def test_same_run_twice_gives_the_same_result() -> None:
    trace = synthetic("spike", base=200, peak=1500)
    config = SimulationConfig(max_members=30)
    runs = [
        simulate(
            trace, PredictiveController(POLICY, DEPLOYMENT, min_members=1, max_members=30), DEPLOYMENT, config
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("shape", ["step", "ramp", "spike", "daily"])
def test_every_controller_keeps_members_within_bounds(shape: str) -> None:
    trace = synthetic(shape, base=100, peak=2500)
    if shape == "daily":
        trace = trace.window(0, 6 * 3600)
    config = SimulationConfig(min_members=2, max_members=25)
    thresholds = POLICY.thresholds
    for controller in (
        PredictiveController(POLICY, DEPLOYMENT, min_members=2, max_members=25),
        HpaController(thresholds, DEPLOYMENT, min_members=2, max_members=25),
        Stratos41Controller(thresholds, DEPLOYMENT, min_members=2, max_members=25),
    ):
        result = simulate(trace, controller, DEPLOYMENT, config)
        assert 2 <= min(result.members) and max(result.members) <= 25, controller.name
        assert result.member_seconds >= 2 * result.duration
        assert all(h <= n for h, n in zip(result.healthy, result.members, strict=True))


def test_failed_member_is_replaced() -> None:
    config = SimulationConfig(initial_members=3, min_members=3, max_members=10, failures=(300.0,))
    controller = PredictiveController(POLICY, DEPLOYMENT, min_members=3, max_members=10, startup_timeout=120)
    result = simulate(flat(150, 30), controller, DEPLOYMENT, config)
    assert min(result.healthy) == 2
    assert result.healthy[-1] == 3 and result.members[-1] == 3
    assert result.members_stopped >= 1


def test_prediction_beats_reaction_on_a_ramp() -> None:
    trace = synthetic("ramp", base=300, peak=3000).window(0, 100 * 60)
    config = SimulationConfig(max_members=60)
    ours = simulate(
        trace, PredictiveController(POLICY, DEPLOYMENT, min_members=1, max_members=60), DEPLOYMENT, config
    )
    hpa = simulate(
        trace, HpaController(POLICY.thresholds, DEPLOYMENT, min_members=1, max_members=60), DEPLOYMENT, config
    )
    assert ours.overload_seconds < hpa.overload_seconds
    assert ours.predicted_demand[-1] is not None


def test_invalid_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SimulationConfig(capacity=0)
    with pytest.raises(ValueError, match="min_members"):
        SimulationConfig(min_members=5, max_members=2)


# --------------------------------------------------------------------------- baselines


def _observe(count: int, per_member_rif: float, now: float, starting: int = 0) -> Observations:
    from stratos.scaling.observations import MemberObservation

    members = [
        MemberObservation(f"m{i}", Placement("np1", "p1"), True, 0.0, requests_in_flight=per_member_rif)
        for i in range(count)
    ]
    members += [MemberObservation(f"s{i}", Placement("np1", "p2"), False, now - 10) for i in range(starting)]
    return Observations(now=now, members=tuple(members))


def test_hpa_scale_up_is_limited_to_double_or_four() -> None:
    hpa = HpaController(Thresholds(requests_in_flight=80), DEPLOYMENT, min_members=1, max_members=60)
    action = hpa.control(_observe(1, 800, 1000.0), 1000.0)
    assert action is not None and action.desired == 4
    action = hpa.control(_observe(10, 800, 1015.0), 1015.0)
    assert action is not None and action.desired == 20


def test_hpa_counts_starting_pods_as_idle_when_scaling_up() -> None:
    hpa = HpaController(Thresholds(requests_in_flight=80), DEPLOYMENT, min_members=1, max_members=60)
    # 4 ready at 100 (ratio 1.25) but 2 more starting: (400 + 0) / (80 × 6) = 0.83 → no change.
    action = hpa.control(_observe(4, 100, 1000.0, starting=2), 1000.0)
    assert action is not None and action.desired == 6 and not action.add


def test_hpa_scales_down_only_after_its_window() -> None:
    hpa = HpaController(Thresholds(requests_in_flight=80), DEPLOYMENT, min_members=1, max_members=60)
    hpa.control(_observe(4, 80, 0.0), 0.0)
    for t in range(15, 300, 15):
        action = hpa.control(_observe(4, 20, float(t)), float(t))
        assert action is not None and action.desired == 4
    action = hpa.control(_observe(4, 20, 300.0), 300.0)
    assert action is not None and action.desired == 1


def test_stratos41_removes_one_member_per_run_after_three_requests() -> None:
    stratos = Stratos41Controller(
        Thresholds(requests_in_flight=80), DEPLOYMENT, min_members=1, max_members=60
    )
    desired = []
    for run in range(6):
        for tick in range(6):
            t = run * 90.0 + tick * 15.0
            action = stratos.control(_observe(4, 10, t), t)
            if action is not None:
                desired.append(len(action.remove))
    assert desired == [0, 0, 0, 1, 1, 1]


def test_stratos41_scales_up_by_required_minus_non_terminated() -> None:
    stratos = Stratos41Controller(
        Thresholds(requests_in_flight=80), DEPLOYMENT, min_members=1, max_members=60
    )
    action = stratos.control(_observe(2, 200, 0.0, starting=1), 0.0)
    assert action is not None and len(action.add) == 5 - 3


# --------------------------------------------------------------------------- traces


def test_synthetic_shapes_stay_between_base_and_peak() -> None:
    for shape in ("step", "ramp", "spike", "daily"):
        trace = synthetic(shape, base=100, peak=900)
        assert min(trace.rates) == pytest.approx(100) and max(trace.rates) == pytest.approx(900)
    with pytest.raises(ValueError, match="unknown synthetic shape"):
        synthetic("sawtooth", base=1, peak=2)


def test_trace_interpolates_between_points_and_scales() -> None:
    trace = Trace(name="t", rates=(0.0, 60.0, 60.0), step=60.0)
    assert trace.rate_at(30) == pytest.approx(30)
    assert trace.resample(30.0) == [0.0, 30.0, 60.0, 60.0, 60.0, 60.0]
    scaled = trace.scaled_to(capacity=100, members=3)
    assert scaled.smoothed_peak() == pytest.approx(300)
    assert "multiplied" in scaled.notes[-1]


def test_csv_of_seconds_and_rates(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("t,rps\n0,10\n30,20\n60,30\n")
    trace = load_trace(path)
    assert trace.step == 30 and trace.rates == (10.0, 20.0, 30.0)


def test_timestamped_counts_fill_short_holes_and_cut_outages(tmp_path: Path) -> None:
    rows = [f"2000-01-01 00:{m:02d},{60 if m != 3 else ''}" for m in range(10) if m != 3]
    rows += [f"2000-01-01 {h:02d}:{m:02d},0" for h in range(1, 2) for m in range(60)]
    rows += ["2000-01-01 02:00,120"]
    path = tmp_path / "counts.csv"
    path.write_text("period,count\n" + "\n".join(rows) + "\n")
    trace = load_trace(path)
    assert trace.rates[:4] == (1.0, 1.0, 1.0, 1.0)  # minute 3 filled between two 60/min rows
    assert trace.rates[-1] == 2.0
    assert any("outage" in note for note in trace.notes)
    assert any("missing rows" in note for note in trace.notes)  # 00:10-00:59 are absent


def test_real_traces_load_in_their_formats() -> None:
    nasa = load_trace(TRACES / "nasa_http_1995_per_min.csv.gz", start="1995-07-28 12:00", duration=5 * 86400)
    assert nasa.name == "nasa_http_1995_per_min"
    assert any("missing rows from 1995-07-28 13:33" in n for n in nasa.notes)
    assert any("outage" in n for n in nasa.notes)
    worldcup = load_trace(TRACES / "worldcup98_per_min.csv.gz", start="1998-06-30 14:00", duration=3600)
    assert len(worldcup.rates) == 60 and worldcup.peak > 1000
    alibaba = load_trace(TRACES / "alibaba_ms2021_6d9c26b9_per_min.txt.gz")
    assert len(alibaba.rates) == 711 and alibaba.step == 60


def test_the_real_traces_ship_in_the_package_with_their_whole_benchmark_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRATOS_TRACES_DIR", raising=False)
    assert traces_dir() == TRACES.resolve()
    assert (TRACES / "README.md").read_text().count("licence") >= 1
    for name, (filename, _, length) in REAL_TRACES.items():
        assert (TRACES / f"{filename}.gz").is_file(), name
        trace = load_real(name)
        assert trace.name == name and trace.notes == (), trace.notes  # no hole at the window's edges
        if length is not None:
            assert trace.duration == length  # the cut files hold the whole window


def test_traces_dir_override_reads_plain_or_gzipped_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    filename = REAL_TRACES["alibaba"][0]
    shipped = gzip.decompress((TRACES / f"{filename}.gz").read_bytes())
    (tmp_path / filename).write_bytes(shipped[: shipped.index(b"\n", 2000)] + b"\n")
    monkeypatch.setenv("STRATOS_TRACES_DIR", str(tmp_path))
    plain = load_real("alibaba")
    assert 0 < len(plain.rates) < 711  # the override's (shorter) file, not the shipped one
    monkeypatch.setenv("STRATOS_TRACES_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(
        FileNotFoundError, match=r"real trace 'alibaba': neither .* in .*nowhere \(\$STRATOS_TRACES_DIR\)"
    ):
        load_real("alibaba")


# --------------------------------------------------------------------------- the command


POLICY_YAML = """\
kind: AutoscalingPolicy
name: web
thresholds: {requests_in_flight: 80}
behaviour: {max_step: 10}
"""

DEPLOYMENT_YAML = """\
kind: DeploymentPolicy
name: spread
network_partitions:
  - name: local
    partitions: [{name: p1, max: 20}, {name: p2, max: 20}]
"""


@pytest.fixture
def definitions(tmp_path: Path) -> tuple[Path, Path]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY_YAML)
    deployment = tmp_path / "deployment.yml"
    deployment.write_text(DEPLOYMENT_YAML)
    return policy, deployment


def test_cli_synthetic_trace_with_baselines_and_plot(
    definitions: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, deployment = definitions
    png = tmp_path / "ramp.png"
    code = simulate_cli(
        policy, deployment, "synthetic:ramp", "--hours", "2", "--max", "30", "--compare", "--plot", str(png)
    )
    out = capsys.readouterr().out
    assert code == 0
    assert png.is_file() and png.stat().st_size > 10_000
    for name in ("predictive", "hpa", "stratos-4.1"):
        assert f"\n{name} " in out
    assert "overload s" in out and "member-s" in out and "actions" in out


@pytest.mark.parametrize(
    ("filename", "start"),
    [
        ("nasa_http_1995_per_min.csv.gz", "1995-07-13 08:00"),
        ("worldcup98_per_min.csv.gz", "1998-06-30 13:00"),
        ("alibaba_ms2021_6d9c26b9_per_min.txt.gz", "0"),
    ],
    ids=["nasa", "worldcup98", "alibaba"],
)
def test_cli_on_each_real_trace_draws_a_plot(
    definitions: tuple[Path, Path], tmp_path: Path, filename: str, start: str
) -> None:
    policy, deployment = definitions
    png = tmp_path / f"{filename}.png"
    options = ("--start", start, "--hours", "2", "--peak-members", "10", "--plot", str(png))
    code = simulate_cli(policy, deployment, str(TRACES / filename), *options)
    assert code == 0
    assert png.is_file() and png.stat().st_size > 10_000


def test_cli_real_trace_by_name(
    definitions: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRATOS_TRACES_DIR", raising=False)  # the traces shipped with the package
    policy, deployment = definitions
    code = simulate_cli(policy, deployment, "real:alibaba", "--hours", "1")
    assert code == 0
    assert "rates multiplied by" in capsys.readouterr().out


def test_cli_reports_a_missing_definition(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.yml").write_text(DEPLOYMENT_YAML)
    code = simulate_cli(str(tmp_path / "empty.yml"), str(tmp_path / "empty.yml"), "synthetic:step")
    assert code == 1
    assert "holds no AutoscalingPolicy" in capsys.readouterr().err


def test_cli_reports_an_unreadable_trace(
    definitions: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy, deployment = definitions
    code = simulate_cli(policy, deployment, str(tmp_path / "nope.csv"))
    assert code == 1
    assert "nope.csv" in capsys.readouterr().err


def test_run_is_callable_with_a_namespace(
    definitions: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from stratos import cli_simulate

    parser = argparse.ArgumentParser()
    cli_simulate.add_parser(parser.add_subparsers())
    policy, deployment = definitions
    args = parser.parse_args(
        ["simulate", "--policy", str(policy), "--deployment", str(deployment), "--trace", "synthetic:spike"]
    )
    assert cli_simulate.run(args) == 0
