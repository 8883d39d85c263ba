"""The reconcile planner, table-driven, with a fixed clock (no Docker, no HAProxy, no sleeps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from stratos.planning import reconcile
from stratos.planning.reconcile import LbServer, LbState, MemberState, World
from stratos.planning.revision import revision
from stratos.scaling.observations import Placement
from stratos.validation import DefinitionSet

NOW = 1_000_000.0
OLD = "0ld0ld0ld0ld0ld0"


@dataclass(frozen=True)
class M:
    """A member in a case table: id, alias, health, partition, revision ('' = current), in LB."""

    id: str
    alias: str = "web"
    health: str = "healthy"
    partition: str = "p1"
    revision: str = ""
    in_lb: bool | str = True  # True, False, or 'drain'
    app: str = "shop"
    age: float = 100.0


@dataclass(frozen=True)
class Case:
    members: tuple[M, ...] = ()
    lb_available: bool = True
    extra_servers: tuple[str, ...] = ()
    desired: dict[tuple[str, str], int] = field(default_factory=dict)
    removed: frozenset[str] = frozenset()  # applications with a tombstone
    blind: dict[tuple[str, str], str] = field(default_factory=dict)


def world(definitions: DefinitionSet, case: Case) -> World:
    app = definitions.applications["shop"]
    current = {s.alias: revision(definitions, app, s) for s in app.subscriptions}
    states, servers = [], {}
    for i, m in enumerate(case.members):
        address = f"10.0.0.{i + 10}"
        states.append(
            MemberState(
                member_id=m.id,
                application=m.app,
                subscription=m.alias,
                placement=Placement("local", m.partition),
                revision=m.revision or current.get(m.alias, "x"),
                health=m.health,  # type: ignore[arg-type]
                started_at=NOW - m.age,
                address=address,
            )
        )
        if m.in_lb:
            servers[m.id] = LbServer(m.id, address, 80, draining=m.in_lb == "drain")
    for name in case.extra_servers:
        servers[name] = LbServer(name, "10.9.9.9", 80)
    lb = LbState("web", case.lb_available, {"be_8080": servers} if case.lb_available else {})
    return World(NOW, tuple(states), {"web": lb})


def summary(plan: reconcile.Plan) -> list[str]:
    out = []
    for a in plan.actions:
        if isinstance(a, reconcile.Start):
            out.append(f"start {a.subscription} {a.placement.partition}")
        elif isinstance(a, reconcile.Register):
            out.append(f"register {a.member_id}")
        elif isinstance(a, reconcile.Stop):
            out.append(f"{'drain+' if a.drain else ''}{a.kind} {a.member_id}")
        else:
            out.append(f"deregister {a.server}")
    return out


DB = M("db1", alias="db", in_lb=False)

CASES: dict[str, tuple[Case, list[str]]] = {
    "nothing-yet-starts-db-only": (Case(), ["start db p1"]),
    "db-starting-web-waits": (Case((M("db1", alias="db", health="starting", in_lb=False),)), []),
    "db-ready-starts-web-round-robin": (Case((DB,)), ["start web p1", "start web p2"]),
    "steady-state": (Case((DB, M("w1"), M("w2", partition="p2"))), []),
    "healthy-but-not-in-lb-is-registered": (
        Case((DB, M("w1"), M("w2", partition="p2", in_lb=False))),
        ["register w2"],
    ),
    "draining-but-wanted-is-registered-again": (
        Case((DB, M("w1"), M("w2", partition="p2", in_lb="drain"))),
        ["register w2"],
    ),
    "starting-member-is-not-registered": (
        Case((DB, M("w1"), M("w2", partition="p2", health="starting", in_lb=False))),
        [],
    ),
    "dead-member-is-replaced": (
        Case((DB, M("w1"), M("w2", partition="p2", health="dead"))),
        ["replace w2", "start web p2"],
    ),
    "unhealthy-member-is-replaced": (
        Case((DB, M("w1", health="unhealthy"), M("w2", partition="p2"))),
        ["replace w1", "start web p1"],
    ),
    "dead-db-is-replaced-web-stays": (
        Case((M("db1", alias="db", health="dead", in_lb=False), M("w1"), M("w2", partition="p2"))),
        ["replace db1", "start db p1"],
    ),
    "one-too-many-drains-the-fullest-partition": (
        Case((DB, M("w1", age=300), M("w2", partition="p2"), M("w3", age=50))),
        ["drain+remove w3"],
    ),
    "no-removal-while-a-member-starts": (
        Case((DB, M("w1"), M("w2", partition="p2"), M("w3", health="starting", in_lb=False))),
        [],
    ),
    "recorded-desired-count-scales-up": (
        Case((DB, M("w1"), M("w2", partition="p2")), desired={("shop", "web"): 4}),
        ["start web p1", "start web p2"],
    ),
    "desired-count-is-clamped-to-max": (
        Case((DB,), desired={("shop", "web"): 50}),
        ["start web p1", "start web p2", "start web p1", "start web p2", "start web p1", "start web p2"],
    ),
    "desired-count-is-clamped-to-min": (
        Case((DB, M("w1"), M("w2", partition="p2")), desired={("shop", "web"): 0}),
        [],
    ),
    "member-of-a-removed-application-is-drained": (
        Case(
            (DB, M("w1"), M("w2", partition="p2"), M("x1", app="gone", in_lb=False)),
            removed=frozenset({"gone"}),
        ),
        ["drain+remove x1"],
    ),
    "member-of-an-absent-application-without-tombstone-is-kept": (
        Case((DB, M("w1"), M("w2", partition="p2"), M("x1", app="gone"))),
        [],
    ),
    "blind-subscription-gets-no-action": (
        Case((DB, M("w1", health="dead")), blind={("shop", "web"): "endpoint down"}),
        [],
    ),
    "blind-subscription-leaves-its-backend-servers-alone": (
        Case((DB,), extra_servers=("unseen",), blind={("shop", "web"): "endpoint down"}),
        [],
    ),
    "a-blind-dependency-does-not-freeze-the-others": (
        Case((M("db1", alias="db", health="dead", in_lb=False),), blind={("shop", "web"): "endpoint down"}),
        ["replace db1", "start db p1"],
    ),
    "dead-member-of-an-undefined-subscription-is-removed": (
        Case((DB, M("w1"), M("w2", partition="p2"), M("x1", alias="cache", health="dead", in_lb=False))),
        ["remove x1"],
    ),
    "orphan-lb-server-is-deregistered": (
        Case((DB, M("w1"), M("w2", partition="p2")), extra_servers=("ghost",)),
        ["deregister ghost"],
    ),
    "old-revision-surges-a-successor-first": (
        Case((DB, M("w1", revision=OLD), M("w2", partition="p2"))),
        ["start web p1"],
    ),
    "old-revision-leaves-once-its-successor-is-healthy": (
        Case((DB, M("w1", revision=OLD), M("w2", partition="p2"), M("w3"))),
        ["drain+remove w1"],
    ),
    "lb-unreachable-nothing-registered": (
        Case((DB, M("w1", in_lb=False), M("w2", partition="p2", in_lb=False)), lb_available=False),
        [],
    ),
    "partition-outside-the-policy-is-replaced": (
        Case((DB, M("w1", partition="p9"), M("w2", partition="p2"))),
        ["start web p1"],
    ),
}


@pytest.mark.parametrize(("case", "expected"), list(CASES.values()), ids=list(CASES))
def test_plan(definitions: DefinitionSet, case: Case, expected: list[str]) -> None:
    plan = reconcile.plan(
        definitions,
        world(definitions, case),
        desired=reconcile.recorded_or_min(case.desired),
        removed=case.removed,
        blind=case.blind,
    )
    assert summary(plan) == expected


def test_kept_members_of_an_absent_application_are_noted(definitions: DefinitionSet) -> None:
    case = Case((DB, M("w1"), M("w2", partition="p2"), M("x1", app="gone")))
    plan = reconcile.plan(definitions, world(definitions, case))
    assert plan.notes == (
        "1 member(s) of gone/web kept: application 'gone' is not defined but was not removed "
        "explicitly (no tombstone)",
    )


def test_a_blind_subscription_is_noted_degraded(definitions: DefinitionSet) -> None:
    case = Case((DB, M("w1")), blind={("shop", "web"): "Docker endpoint tcp://b:2375: refused"})
    web = next(
        v
        for v in reconcile.plan(definitions, world(definitions, case), blind=case.blind).subscriptions
        if v.subscription == "web"
    )
    assert "degraded: Docker endpoint tcp://b:2375: refused" in web.notes


def views(definitions: DefinitionSet, case: Case) -> dict[str, reconcile.SubscriptionView]:
    plan = reconcile.plan(definitions, world(definitions, case))
    return {v.subscription: v for v in plan.subscriptions}


def test_every_action_has_a_reason(definitions: DefinitionSet) -> None:
    for case, _ in CASES.values():
        for action in reconcile.plan(definitions, world(definitions, case)).actions:
            assert action.reasons and all(action.reasons)


def test_start_reason_names_the_counts(definitions: DefinitionSet) -> None:
    plan = reconcile.plan(definitions, world(definitions, Case((DB,))))
    assert plan.actions[0].reasons == ("0 live member(s), 2 desired (min 2, max 6)",)


def test_replacement_takes_the_member_out_of_its_backends(definitions: DefinitionSet) -> None:
    plan = reconcile.plan(
        definitions, world(definitions, Case((DB, M("w1", health="dead"), M("w2", partition="p2"))))
    )
    stop = plan.actions[0]
    assert isinstance(stop, reconcile.Stop)
    assert (stop.drain, stop.backends, stop.kind) == (False, (("web", "be_8080"),), "replace")


def test_registration_targets_the_listener_backend_and_member_port(definitions: DefinitionSet) -> None:
    plan = reconcile.plan(
        definitions, world(definitions, Case((DB, M("w1"), M("w2", partition="p2", in_lb=False))))
    )
    register = plan.actions[0]
    assert isinstance(register, reconcile.Register)
    assert (register.lb_cluster, register.backend, register.address, register.port) == (
        "web",
        "be_8080",
        "10.0.0.12",
        80,
    )


@pytest.mark.parametrize(
    ("case", "db_ready", "web_ready", "waiting"),
    [
        (Case(), False, False, ("db",)),
        (Case((DB,)), True, False, ()),
        (Case((DB, M("w1"), M("w2", partition="p2"))), True, True, ()),
        (Case((DB, M("w1"), M("w2", partition="p2", in_lb=False))), True, True, ()),  # registered this tick
        (Case((DB, M("w1"), M("w2", partition="p2", health="starting", in_lb=False))), True, False, ()),
        (
            Case((DB, M("w1", in_lb=False), M("w2", partition="p2", in_lb=False)), lb_available=False),
            True,
            False,
            (),
        ),
    ],
    ids=["empty", "db-only", "all-up", "registering-now", "one-starting", "lb-unreachable"],
)
def test_readiness(
    definitions: DefinitionSet, case: Case, db_ready: bool, web_ready: bool, waiting: tuple[str, ...]
) -> None:
    v = views(definitions, case)
    assert (v["db"].ready, v["web"].ready, v["web"].waiting_for) == (db_ready, web_ready, waiting)


def test_views_report_members(definitions: DefinitionSet) -> None:
    v = views(definitions, Case((DB, M("w1"), M("w2", partition="p2", in_lb=False, revision=OLD))))
    web = v["web"]
    assert (web.min, web.max, web.desired, web.healthy, web.in_lb) == (2, 6, 2, 2, 1)
    assert [(m.member_id, m.partition, m.in_lb, m.current_revision) for m in web.members] == [
        ("w1", "local/p1", True, True),
        ("w2", "local/p2", False, False),
    ]
    assert v["db"].in_lb is None  # behind no LB cluster


def test_a_full_policy_is_noted(
    definitions: DefinitionSet, edit_definitions: Callable[..., DefinitionSet]
) -> None:
    small = edit_definitions(
        "DeploymentPolicy",
        "php-spread",
        network_partitions=[{"name": "local", "partitions": [{"name": "p1", "max": 2}]}],
    )
    plan = reconcile.plan(
        small, world(small, Case((DB,))), desired=reconcile.recorded_or_min({("shop", "web"): 3})
    )
    assert summary(plan) == ["start web p1", "start web p1"]
    web = next(v for v in plan.subscriptions if v.subscription == "web")
    assert web.notes == ("deployment policy 'php-spread' is full: 1 member(s) not placed",)


def test_startup_order_chains_are_dependencies(
    definitions: DefinitionSet, edit_definitions: Callable[..., DefinitionSet]
) -> None:
    app = definitions.applications["shop"]
    subs = [s.model_dump(exclude_defaults=True) for s in app.subscriptions]
    subs[1]["links"] = []
    other = edit_definitions(
        "Application", "shop", subscriptions=subs, dependencies={"startup_order": [["db", "web"]]}
    )
    assert reconcile.dependencies(other.applications["shop"], "web") == ["db"]
    assert summary(reconcile.plan(other, world(other, Case()))) == ["start db p1"]


def test_surge_keeps_the_partition_shape(definitions: DefinitionSet) -> None:
    # The successor of an old member in p2 goes to p2, though p1 and p2 hold one each.
    plan = reconcile.plan(
        definitions, world(definitions, Case((DB, M("w1"), M("w2", partition="p2", revision=OLD))))
    )
    assert summary(plan) == ["start web p2"]
