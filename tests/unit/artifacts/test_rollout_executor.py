"""The rollout executor on a real git repository, with a fake Docker (canaries), fake probes and a
fake clock: what it switches, what it records, and what it never does."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import support
from support import git

from stratos import artifacts
from stratos.agent import rollout
from stratos.drivers import docker as dockerlib
from stratos.drivers import members
from stratos.releases import decide, triggers
from stratos.releases import state as releasestate
from stratos.store import StateStore
from stratos.validation import DefinitionSet, parse_definition


def commit(repo: Path, text: str) -> str:
    return support.commit(repo, {"index.php": text}, f"says {text}")


def repo_and_store(tmp_path: Path) -> tuple[Path, StateStore]:
    """A git repository ``tmp_path/app`` with one commit (``v1``) and an empty state store."""
    repo = tmp_path / "app"
    support.new_repository(repo, {"index.php": "v1"}, "says v1")
    store = StateStore(tmp_path / "state")
    store.ensure()
    return repo, store


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeContainer:
    id: str
    attrs: dict[str, Any]
    removed: bool = False

    def reload(self) -> None:
        pass

    def remove(self, force: bool = False) -> None:
        self.removed = True


@dataclass
class FakeContainers:
    started: list[FakeContainer] = field(default_factory=list)

    def run(self, image: str, **kwargs: Any) -> FakeContainer:
        n = len(self.started)
        container = FakeContainer(
            f"c{n}",
            {
                "Id": f"c{n}",
                "Name": kwargs["name"],
                "State": {"Status": "running", "StartedAt": "2026-01-01T00:00:00Z"},
                "NetworkSettings": {"Networks": {"n": {"IPAddress": f"10.9.0.{n + 1}"}}},
                "Config": {"Labels": kwargs["labels"]},
                "binds": kwargs["volumes"],
            },
        )
        self.started.append(container)
        return container

    def get(self, container_id: str) -> FakeContainer:
        return next(c for c in self.started if c.id == container_id)

    def list(self, **kwargs: Any) -> list[FakeContainer]:
        return []


class FakeApi:
    def create_endpoint_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs


@dataclass
class FakeClient:
    containers: FakeContainers = field(default_factory=FakeContainers)
    api: FakeApi = field(default_factory=FakeApi)


class FakePool:
    def __init__(self) -> None:
        self.client = FakeClient()

    def get(self, endpoint: str = "") -> FakeClient:
        return self.client


class Site:
    """What each address answers to the release check: the content of the release it serves."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.broken: set[str] = set()  # release contents that answer 500
        self.stale: set[str] = set()  # member addresses that answer 500 whatever they serve
        self.canary_content: str | None = None

    def __call__(self, address: str | None, port: int, path: str, timeout: float) -> tuple[bool, str]:
        if address in self.stale:
            return False, f"GET {path}: 500"
        if address and address.startswith("10.9."):
            content = self.canary_content
        else:
            content = (self.store.releases_dir("shop", "web") / "current" / "index.php").read_text()
        ok = content not in self.broken
        return ok, f"GET {path}: {200 if ok else 500}"


@dataclass
class Recorded:
    events: list[tuple[str, dict[str, Any], tuple[str, ...]]] = field(default_factory=list)

    def __call__(
        self,
        now: float,
        application: str,
        subscription: str,
        kind: str,
        from_count: int | None = None,
        to_count: int | None = None,
        reasons: Any = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        self.events.append((kind, details or {}, tuple(reasons)))

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.events]


def definitions(store: StateStore, repo: Path, reload: str = "none", **artifact: Any) -> DefinitionSet:
    docs: list[dict[str, Any]] = [
        {
            "kind": "Cartridge",
            "name": "php",
            "image": {"ref": "stratos/cartridge-php:8.2"},
            "ports": [{"name": "http", "port": 80}],
            "health_check": {"http": "/stratos-health", "start_period": 1, "interval": 1, "retries": 1},
            "reload": reload,
        },
        {"kind": "NetworkPartition", "name": "local", "partitions": [{"name": "p1"}]},
        {
            "kind": "DeploymentPolicy",
            "name": "one",
            "network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 3}]}],
        },
        {
            "kind": "Application",
            "name": "shop",
            "subscriptions": [
                {
                    "alias": "web",
                    "cartridge": "php",
                    "min": 2,
                    "max": 3,
                    "deployment_policy": "one",
                    "artifact": {"url": f"file://{repo}", "health_timeout": 10, **artifact},
                }
            ],
        },
    ]
    for doc in docs:
        store.apply(store.plan_put(parse_definition(doc)))
    return store.load()


def member(n: int, revision: str = "r") -> members.ObservedMember:
    return members.ObservedMember(
        member_id=f"shop-web-00000{n}",
        container_id=f"m{n}",
        name=f"stratos-shop-web-00000{n}",
        application="shop",
        subscription="web",
        cartridge="php",
        network_partition="local",
        partition="p1",
        revision=revision,
        status="running",
        started_at=900.0,
        address=f"10.0.0.{n}",
    )


@pytest.fixture
def world(tmp_path: Path) -> tuple[StateStore, Path, Clock, Site, Recorded, FakePool, rollout.Rollouts]:
    repo, store = repo_and_store(tmp_path)
    clock = Clock()
    site = Site(store)
    recorded = Recorded()
    pool = FakePool()
    rollouts = rollout.Rollouts(
        store,
        docker=pool,  # type: ignore[arg-type]
        record=recorded,
        clock=clock,
        sleep=clock.sleep,
        probe=site,
        member_probe=lambda address, check, ports, timeout=None: members.ProbeResult(True, "ok"),
    )
    return store, repo, clock, site, recorded, pool, rollouts


def healthy(*ms: members.ObservedMember) -> list[tuple[members.ObservedMember, Any]]:
    return [(m, "healthy") for m in ms]


def test_first_release_goes_live_without_members(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo)
    rollouts.tick(ds, [], clock())
    head = git("rev-parse", "HEAD", cwd=repo)
    assert artifacts.current_release(store, "shop", "web") == head
    assert recorded.kinds() == ["release", "release_verified"]
    assert recorded.events[0][1]["message"] == "says v1"
    assert pool.client.containers.started == []  # nothing served yet: no canary
    status = rollouts.status()[("shop", "web")]
    assert (status["release"], status["degraded"], status["release_message"]) == (head, None, "says v1")


def test_a_good_commit_is_tried_on_a_canary_then_switched(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo)
    rollouts.tick(ds, healthy(member(1), member(2)), clock())
    v2 = commit(repo, "v2")
    site.canary_content = "v2"
    clock.t += 20
    rollouts.tick(ds, healthy(member(1), member(2)), clock())
    assert artifacts.current_release(store, "shop", "web") == v2
    assert recorded.kinds()[-2:] == ["release", "release_verified"]
    canary = pool.client.containers.started[-1]
    assert all(c.removed for c in pool.client.containers.started)
    assert canary.attrs["Config"]["Labels"][dockerlib.ROLE] == rollout.ROLE_CANARY
    assert any(b.endswith(f"{v2}:{members.APP_MOUNT}/current:ro") for b in canary.attrs["binds"])


def test_a_commit_failing_on_the_canary_never_goes_live_and_is_not_retried(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo)
    rollouts.tick(ds, healthy(member(1)), clock())
    v1 = artifacts.current_release(store, "shop", "web")
    canaries = len(pool.client.containers.started)
    bad = commit(repo, "broken")
    site.broken.add("broken")
    site.canary_content = "broken"
    clock.t += 20
    rollouts.tick(ds, healthy(member(1)), clock())
    assert artifacts.current_release(store, "shop", "web") == v1
    kind, details, reasons = recorded.events[-1]
    assert (kind, details["sha"], details["message"]) == ("release_failed", bad, "says broken")
    assert "on a canary, GET /: 500 for 10s" in reasons[0]
    assert rollouts.status()[("shop", "web")]["degraded"] == f"release {bad[:12]} failed health"
    clock.t += 20
    rollouts.tick(ds, healthy(member(1)), clock())
    assert len(pool.client.containers.started) == canaries + 1  # the failed head is not tried again
    # A fixed commit goes live and clears the mark.
    fixed = commit(repo, "v3")
    site.canary_content = "v3"
    clock.t += 20
    rollouts.tick(ds, healthy(member(1)), clock())
    assert artifacts.current_release(store, "shop", "web") == fixed
    assert rollouts.status()[("shop", "web")]["degraded"] is None


def test_a_release_failing_on_a_member_after_the_switch_is_switched_back(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo)
    rollouts.tick(ds, healthy(member(1), member(2)), clock())
    v1 = artifacts.current_release(store, "shop", "web")
    v2 = commit(repo, "v2")
    site.canary_content = "v2"
    site.stale.add("10.0.0.2")  # this member fails whatever it serves
    clock.t += 20
    began = clock()
    rollouts.tick(ds, healthy(member(1), member(2)), clock())
    assert artifacts.current_release(store, "shop", "web") == v1
    assert recorded.kinds()[-3:] == ["release", "release_failed", "rollback"]
    assert clock() - began >= 10  # it waited health_timeout before giving up
    assert recorded.events[-1][1] == {"sha": v1, "message": "says v1", "previous": v2, "source": "health"}
    assert "shop-web-000002 does not pass the release check 10s after the switch" in recorded.events[-2][2][0]
    state = releasestate.load_state(store, "shop", "web")
    assert (state.good, list(state.failed)) == (v1, [v2])


def test_stratos_rollback_holds_until_the_branch_moves(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo)
    rollouts.tick(ds, [], clock())
    v1 = artifacts.current_release(store, "shop", "web")
    v2 = commit(repo, "v2")
    clock.t += 20
    rollouts.tick(ds, [], clock())
    assert artifacts.current_release(store, "shop", "web") == v2
    alias, to, current = rollout.choose_rollback(store, ds, "shop", None, None)
    assert (alias, to, current) == ("web", v1, v2)
    triggers.request_rollback(store, "shop", "web", to, "stratos rollback")
    rollouts.tick(ds, [], clock() + 1)  # not due for a fetch: the request alone acts
    assert artifacts.current_release(store, "shop", "web") == v1
    assert recorded.kinds()[-2] == "rollback"
    clock.t += 20
    rollouts.tick(ds, [], clock())  # the branch is still at v2: the hold stays
    assert artifacts.current_release(store, "shop", "web") == v1
    assert "held at" in " ".join(rollouts.status()[("shop", "web")]["notes"])
    v3 = commit(repo, "v3")
    clock.t += 20
    rollouts.tick(ds, [], clock())
    assert artifacts.current_release(store, "shop", "web") == v3


def test_a_sync_request_fetches_before_the_poll_interval(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo)
    rollouts.tick(ds, [], clock())
    v2 = commit(repo, "v2")
    rollouts.tick(ds, [], clock() + 1)
    assert artifacts.current_release(store, "shop", "web") != v2  # not due
    triggers.request_sync(store, "shop", ["web"], "webhook (github)")
    rollouts.tick(ds, [], clock() + 2)
    assert artifacts.current_release(store, "shop", "web") == v2
    assert recorded.events[-2][1]["source"] == "webhook (github)"


def test_a_pin_is_served_whatever_the_branch_does(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    v1 = git("rev-parse", "HEAD", cwd=repo)
    commit(repo, "v2")
    ds = definitions(store, repo, pin=v1[:10])
    rollouts.tick(ds, [], clock())
    assert artifacts.current_release(store, "shop", "web") == v1
    assert "pinned to" in " ".join(rollouts.status()[("shop", "web")]["notes"])


def test_restart_members_run_their_release_and_join_the_lb_after_the_check(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo, reload="restart")
    rollouts.tick(ds, [], clock())
    v1 = artifacts.current_release(store, "shop", "web")
    app = ds.applications["shop"]
    rev1 = rollouts.revision(ds, app, app.subscription("web"))
    assert decide.release_of(rev1) == v1
    assert rollouts.revisions(ds) == {("shop", "web"): rev1}
    old = [member(1, rev1), member(2, rev1)]
    rollouts.tick(ds, healthy(*old), clock() + 1)  # adopted, verified
    v2 = commit(repo, "v2")
    clock.t += 20
    rollouts.tick(ds, healthy(*old), clock())
    assert artifacts.current_release(store, "shop", "web") == v2
    rev2 = rollouts.revision(ds, app, app.subscription("web"))
    assert rev2 != rev1 and decide.release_of(rev2) == v2
    assert pool.client.containers.started == []  # restart: the new members are the canaries
    new = replace(member(3, rev2), started_at=clock())
    # Not checked yet: starting (neither registered nor letting an old member go).
    assert rollouts.gate(new, "healthy") == "starting"
    assert rollouts.gate(old[0], "healthy") == "healthy"
    assert rollouts.admit(ds, new)  # the release check passes
    assert rollouts.gate(new, "healthy") == "healthy"
    spec = rollouts.member_spec(ds, _spec_with(rev2))
    assert f"{store.releases_dir('shop', 'web') / v2}:{members.APP_MOUNT}/current:ro" in spec.binds
    # All members replaced: verified.
    newer = replace(member(4, rev2), started_at=clock())
    rollouts.tick(ds, healthy(new, newer), clock() + 1)
    assert recorded.kinds()[-1] == "release_verified"


def test_a_restart_member_of_a_bad_release_rolls_it_back(world: Any) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo, reload="restart")
    rollouts.tick(ds, [], clock())
    app = ds.applications["shop"]
    rev1 = rollouts.revision(ds, app, app.subscription("web"))
    old = [member(1, rev1), member(2, rev1)]
    rollouts.tick(ds, healthy(*old), clock() + 1)
    bad = commit(repo, "broken")
    site.broken.add("broken")
    clock.t += 20
    rollouts.tick(ds, healthy(*old), clock())
    rev2 = rollouts.revision(ds, app, app.subscription("web"))
    new = replace(member(3, rev2), started_at=clock())
    assert not rollouts.admit(ds, new)
    assert rollouts.gate(new, "healthy") == "starting"
    clock.t += 60  # beyond health_timeout + the cartridge's start-up time
    rollouts.tick(ds, healthy(*old, new), clock())
    assert artifacts.current_release(store, "shop", "web") == decide.release_of(rev1)
    assert recorded.kinds()[-2:] == ["release_failed", "rollback"]
    assert recorded.events[-2][1]["sha"] == bad
    assert rollouts.gate(new, "healthy") == "unhealthy"  # replaced, never registered
    assert rollouts.revision(ds, app, app.subscription("web")) == rev1


def test_fetch_failures_are_recorded_once_and_name_no_secret(world: Any, tmp_path: Path) -> None:
    store, repo, clock, site, recorded, pool, rollouts = world
    ds = definitions(store, repo)
    rollouts.tick(ds, [], clock())
    store.apply(
        store.plan_put(
            ds.applications["shop"].model_copy(
                update={
                    "subscriptions": [
                        ds.applications["shop"]
                        .subscriptions[0]
                        .model_copy(
                            update={
                                "artifact": ds.applications["shop"]
                                .subscriptions[0]
                                .artifact.model_copy(update={"url": f"file://{tmp_path}/gone"})
                            }
                        )
                    ]
                }
            )
        )
    )
    ds = store.load()
    for _ in range(3):
        clock.t += 20
        rollouts.tick(ds, [], clock())
    assert recorded.kinds().count("fetch_failed") == 1
    assert "fetch failing" in " ".join(rollouts.status()[("shop", "web")]["notes"])


def _spec_with(revision: str) -> members.MemberSpec:
    labels = {dockerlib.APPLICATION: "shop", dockerlib.SUBSCRIPTION: "web", dockerlib.REVISION: revision}
    return support.member_spec("shop-web-abcdef", labels=labels, binds=(f"/x:{members.APP_MOUNT}:ro",))
