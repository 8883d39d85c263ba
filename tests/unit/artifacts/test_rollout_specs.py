"""The member specs of the executor: a member pinned to one release, and a canary."""

from __future__ import annotations

from pathlib import Path

from support import member_spec

from stratos.agent import rollout
from stratos.drivers import docker as dockerlib
from stratos.drivers import members

A, B = ("a" * 40, "b" * 40)


def _spec() -> members.MemberSpec:
    return member_spec(
        "shop-web-abc123",
        environment={"STRATOS_MEMBER_ID": "shop-web-abc123"},
        labels={
            dockerlib.ROLE: dockerlib.ROLE_MEMBER,
            dockerlib.STATE_ID: "s1",
            dockerlib.APPLICATION: "shop",
            dockerlib.SUBSCRIPTION: "web",
            dockerlib.MEMBER_ID: "shop-web-abc123",
            dockerlib.REVISION: "r1",
        },
        binds=(
            "/state/secrets/shop/web:/run/stratos/secrets:ro",
            f"/state/releases/shop/web:{members.APP_MOUNT}:ro",
        ),
        volumes={"stratos-shop-web-data": "/data"},
    )


def test_a_pinned_member_mounts_its_release_as_current() -> None:
    spec = rollout.pinned_spec(_spec(), Path(f"/state/releases/shop/web/{A}"))
    assert spec.binds == (
        "/state/secrets/shop/web:/run/stratos/secrets:ro",
        f"/state/releases/shop/web/{A}:{members.APP_MOUNT}/current:ro",
    )


def test_a_canary_is_no_member_has_no_alias_and_no_data() -> None:
    spec = rollout.canary_spec(_spec(), Path(f"/state/releases/shop/web/{B}"), "ff00ff")
    assert spec.name == "stratos-shop-web-canary-ff00ff"
    assert spec.labels == {
        dockerlib.ROLE: rollout.ROLE_CANARY,
        dockerlib.STATE_ID: "s1",
        dockerlib.APPLICATION: "shop",
        dockerlib.SUBSCRIPTION: "web",
    }
    assert (spec.aliases, spec.volumes) == ((), {})
    assert f"/state/releases/shop/web/{B}:{members.APP_MOUNT}/current:ro" in spec.binds
    assert spec.environment["STRATOS_CANARY"] == "1"
