"""Small helpers shared by the components (private).

The named functions given to ``apply`` live here: small and pure, so they can be tested alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TypeVar

import pulumi
import pulumi_docker as docker

T = TypeVar("T", bound=type)


def clean_doc(cls: T) -> T:
    """Dedent a component's docstring: the schema takes it as the component's description."""
    if cls.__doc__:
        cls.__doc__ = inspect.cleandoc(cls.__doc__)
    return cls


def docker_provider(name: str, host: pulumi.Input[str], parent: pulumi.Resource) -> docker.Provider:
    """An explicit Docker provider for one endpoint, child of ``parent``."""
    return docker.Provider(name, host=host, opts=pulumi.ResourceOptions(parent=parent))


def container_labels(labels: Mapping[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())]


def register_outputs(component: pulumi.ComponentResource, *names: str) -> None:
    """Register the component's outputs: the attributes ``names``, each under its own name (the
    schema's output properties), so that no component lists a name twice."""
    component.register_outputs({name: getattr(component, name) for name in names})


def ssh_endpoint(user: str, address: str) -> str:
    return f"ssh://{user}@{address}"
