"""A member's revision: what changes it (what shapes the container) and what does not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stratos.planning.revision import effective_environment, revision
from stratos.validation import DefinitionSet

EditDefinitions = Callable[..., DefinitionSet]


def test_revision_is_stable(definitions: DefinitionSet) -> None:
    app = definitions.applications["shop"]
    first = revision(definitions, app, app.subscription("web"))
    assert first == revision(definitions, app, app.subscription("web"))
    assert first != revision(definitions, app, app.subscription("db"))


@pytest.mark.parametrize(
    ("kind", "name", "changes", "changed"),
    [
        ("Application", "shop", {"description": "other words"}, False),
        ("Cartridge", "php", {"environment": {"A": "1"}}, True),
        ("Cartridge", "mysql", {"exports": {"host": "{member.hostname}"}}, True),
        ("LbCluster", "web", {"retries": 1}, False),
        (
            "DeploymentPolicy",
            "php-spread",
            {"network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 6}]}]},
            False,
        ),
    ],
    ids=["app-description", "own-cartridge", "linked-cartridge-exports", "lb-cluster", "deployment-policy"],
)
def test_revision_changes_with_what_shapes_the_container(
    definitions: DefinitionSet,
    edit_definitions: EditDefinitions,
    kind: str,
    name: str,
    changes: dict[str, object],
    changed: bool,
) -> None:
    app = definitions.applications["shop"]
    before = revision(definitions, app, app.subscription("web"))
    other = edit_definitions(kind, name, **changes)
    after = revision(other, other.applications["shop"], other.applications["shop"].subscription("web"))
    assert (before != after) is changed


def test_min_and_max_do_not_change_the_revision(
    definitions: DefinitionSet, edit_definitions: EditDefinitions
) -> None:
    app = definitions.applications["shop"]
    subs = [s.model_dump(exclude_defaults=True) for s in app.subscriptions]
    subs[1].update(min=3, max=5)
    other = edit_definitions("Application", "shop", subscriptions=subs)
    assert revision(definitions, app, app.subscription("web")) == revision(
        other, other.applications["shop"], other.applications["shop"].subscription("web")
    )


def test_the_subscription_environment_overrides_the_cartridge(definitions: DefinitionSet) -> None:
    app = definitions.applications["shop"]
    sub = app.subscription("web").model_copy(update={"environment": {"A": "sub", "B": "2"}})
    cartridge = definitions.cartridges["php"].model_copy(update={"environment": {"A": "cartridge", "C": "3"}})
    assert effective_environment(cartridge, sub) == {"A": "sub", "B": "2", "C": "3"}
