"""Run, update or remove the resident agent's container: :func:`apply_agent`.

The agent container is static infrastructure that the IaC front ends own
(:mod:`stratos.drivers.agent_container` plans and applies it); this operation opens the Docker
Engine's socket, plans, and reports what the ``stratos.paas.agent`` module returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stratos.changes import Plan
from stratos.drivers import agent_container, network

if TYPE_CHECKING:
    import docker


def apply_agent(
    *,
    present: bool = True,
    name: str = agent_container.DEFAULT_NAME,
    docker_socket: str = agent_container.DOCKER_SOCKET,
    environment: Mapping[str, Any] | None = None,
    connect: Callable[[str], docker.DockerClient] = network.connect,
    **options: Any,
) -> Plan:
    """Plan making the agent container ``name`` exist (``present``) as the options (the fields of
    :class:`~stratos.drivers.agent_container.AgentSpec`) describe, or removing it.

    Reads Docker only, through ``docker_socket``. The report is the ``container``: name, action,
    reasons (the companions' included), image, config hash, command and each companion's action;
    ``warnings`` says when a container is to be made from an image that does not exist (the real
    run fails then). Raises StratosError naming every option that is wrong.
    """
    spec = None
    if present:
        env = {str(key): str(value) for key, value in (environment or {}).items()}
        spec = agent_container.AgentSpec(name=name, docker_socket=docker_socket, environment=env, **options)
    client = connect("unix://" + docker_socket)
    if spec is None:
        plan = agent_container.plan_agent_removal(client, name)
    else:
        plan = agent_container.plan_agent(client, spec)
    change = plan.changes[0]
    after: Any = change.after or {}
    report: dict[str, Any] = {
        "container": {
            "name": change.name,
            "action": change.action,
            "reasons": [reason for each in plan.changes for reason in each.reasons],
            "image": after.get("image"),
            "config_hash": after.get("config_hash"),
            "command": after.get("command"),
            "companions": dict(plan.report["companions"]),
        }
    }
    if spec is not None and not plan.report["image_present"]:
        report["warnings"] = [
            f"the image {spec.image_ref} does not exist on this Docker host; the real run will fail"
        ]
    return Plan(plan.changes, report, plan.apply)
