"""A member's revision (pure): the hash of the definitions that shape its container.

The agent labels every member it starts with it; the planner (:mod:`stratos.planning.reconcile`)
replaces, one at a time, the members whose label differs from what the definitions say now.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from stratos.model import Application, Cartridge, Subscription

if TYPE_CHECKING:
    from stratos.validation import DefinitionSet


def effective_environment(cartridge: Cartridge, sub: Subscription) -> dict[str, str]:
    """A member's own environment: the cartridge's, then the subscription's over it."""
    return {**cartridge.environment, **sub.environment}


def revision(definitions: DefinitionSet, app: Application, sub: Subscription) -> str:
    """Hash of the definitions that shape a member of ``sub`` (its container, not its count).

    Covered: the cartridge, the subscription's environment, links and whether it has an artifact,
    the network, and for each link the linked cartridge's exports and environment. Not covered (they
    change no container): min, max, policies, the LB cluster, the artifact's commits.
    """
    cartridge = definitions.cartridges[sub.cartridge]
    shaped: dict[str, Any] = {
        "application": app.name,
        "alias": sub.alias,
        "cartridge": cartridge.model_dump(mode="json"),
        "environment": sub.environment,
        "artifact": sub.artifact is not None,
        "network": _networks(definitions, sub),
        "links": {},
    }
    for link in sub.links:
        other = app.subscription(link)
        linked = definitions.cartridges[other.cartridge]
        shaped["links"][link] = {
            "exports": linked.exports,
            "environment": effective_environment(linked, other),
            "ports": [p.model_dump(mode="json") for p in linked.ports],
        }
    text = json.dumps(shaped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _networks(definitions: DefinitionSet, sub: Subscription) -> list[str]:
    dp = definitions.deployment_policies[sub.deployment_policy]
    return [
        definitions.network_partitions[n.name].network_name()
        for n in dp.network_partitions
        if n.name in definitions.network_partitions
    ]
