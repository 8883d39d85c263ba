"""The status after acting: the plan's views with what the actor did applied (no second plan)."""

from __future__ import annotations

from dataclasses import replace

from stratos.agent.actor import Outcome
from stratos.agent.reporting import views_after
from stratos.drivers.members import ObservedMember
from stratos.planning import reconcile
from stratos.planning.reconcile import LbServer, LbState, MemberView, SubscriptionView, World
from stratos.scaling.observations import Placement
from stratos.validation import DefinitionSet

DB = SubscriptionView("shop", "db", 1, 1, 1, 0, None, False, (), (), ())
WEB = SubscriptionView(
    "shop", "web", 2, 6, 2, 0, 0, False, ("db",), ("waiting for db before starting 2 member(s)",), ()
)


def member(member_id: str, alias: str, partition: str = "p1") -> ObservedMember:
    return ObservedMember(
        member_id, f"c-{member_id}", member_id, "shop", alias, "php", "local", partition, "r", "running", 1.0,
        f"10.0.0.{len(member_id)}",
    )  # fmt: skip


def start(alias: str, partition: str = "p1") -> reconcile.Start:
    return reconcile.Start("shop", alias, Placement("local", partition), ("below min",))


def plan(*views: SubscriptionView, actions: tuple[reconcile.Action, ...] = ()) -> reconcile.Plan:
    return reconcile.Plan(0.0, actions, views)


LB_UP = World(0.0, (), {"web": LbState("web", True, {"be_8080": {}})})
LB_DOWN = World(0.0, (), {"web": LbState("web", False)})


def test_a_view_nothing_happened_to_is_kept_as_it_is(definitions: DefinitionSet) -> None:
    ready_db = replace(DB, healthy=1, ready=True)
    web = replace(WEB, waiting_for=(), notes=())
    after = views_after(definitions, plan(ready_db, web), LB_UP, Outcome())
    assert after[0] is ready_db and after[1] is web


def test_a_dependency_that_became_ready_ends_the_wait(definitions: DefinitionSet) -> None:
    db = member("shop-db-1", "db")
    outcome = Outcome(started=[(start("db"), db, True)])
    db_view, web_view = views_after(definitions, plan(DB, WEB), LB_UP, outcome)
    assert (db_view.healthy, db_view.ready, db_view.in_lb) == (1, True, None)
    assert db_view.members == (MemberView("shop-db-1", "local/p1", "healthy", None, db.address, True),)
    assert (web_view.waiting_for, web_view.notes, web_view.ready) == ((), (), False)


def test_started_members_registered_make_the_subscription_ready(definitions: DefinitionSet) -> None:
    ready_db = replace(DB, healthy=1, ready=True)
    web = replace(WEB, waiting_for=(), notes=())
    a, b = member("shop-web-1", "web"), member("shop-web-22", "web", "p2")
    outcome = Outcome(
        started=[(start("web"), a, True), (start("web", "p2"), b, True)],
        registered={(a.member_id, "web", "be_8080"): (str(a.address), 80)},
    )
    after = views_after(definitions, plan(ready_db, web), LB_UP, outcome)[1]
    assert [(m.member_id, m.health, m.in_lb) for m in after.members] == [
        ("shop-web-1", "healthy", True),
        ("shop-web-22", "healthy", False),
    ]
    assert (after.healthy, after.in_lb, after.ready) == (2, 1, False)
    both = replace(
        outcome, registered={**outcome.registered, (b.member_id, "web", "be_8080"): (str(b.address), 80)}
    )
    assert views_after(definitions, plan(ready_db, web), LB_UP, both)[1].ready is True


def test_an_addition_to_an_lb_that_did_not_answer_is_not_counted(definitions: DefinitionSet) -> None:
    ready_db = replace(DB, healthy=1, ready=True)
    a = member("shop-web-1", "web")
    outcome = Outcome(
        started=[(start("web"), a, True)], registered={(a.member_id, "web", "be_8080"): ("x", 80)}
    )
    after = views_after(definitions, plan(ready_db, replace(WEB, waiting_for=())), LB_DOWN, outcome)[1]
    assert (after.in_lb, after.ready) == (0, False)


def test_stopped_members_are_gone_and_leaving_ones_do_not_count(definitions: DefinitionSet) -> None:
    ready_db = replace(DB, healthy=1, ready=True)
    views = tuple(MemberView(f"m{i}", "local/p1", "healthy", True, f"10.0.0.{i}", True) for i in range(3))
    web = replace(WEB, healthy=3, in_lb=3, ready=True, waiting_for=(), notes=(), members=views)
    world = World(
        0.0,
        (),
        {
            "web": LbState(
                "web", True, {"be_8080": {f"m{i}": LbServer(f"m{i}", f"10.0.0.{i}", 80) for i in range(3)}}
            )
        },
    )
    outcome = Outcome(stopped={"m0"}, leaving={"m0", "m1"})
    after = views_after(definitions, plan(ready_db, web), world, outcome)[1]
    assert [m.member_id for m in after.members] == ["m1", "m2"]
    assert (after.healthy, after.in_lb, after.ready) == (2, 2, False)  # m1 is still leaving
