"""Docker Engine plumbing shared by the runtime drivers: the labels every platform container carries,
a pool of clients (one per endpoint) and the translation of SDK errors into :class:`DriverError`.

Labels (the agent adopts what carries them instead of starting duplicates):

- ``org.stratos.role``: one of the ``ROLE_*`` values below (``member``, ``canary``, ``lb``,
  ``agent``, ``agent-http``, ``docker-proxy``, ``definitions``);
- ``org.stratos.state-id``: which state directory (hence which agent) a member belongs to, so two
  agents on one Docker Engine (a test next to the demo) never adopt nor remove each other's members;
- ``org.stratos.application``, ``org.stratos.subscription`` (the alias), ``org.stratos.cartridge``,
  ``org.stratos.network-partition``, ``org.stratos.partition``, ``org.stratos.member-id``;
- ``org.stratos.revision``: the hash of the definitions that shaped the member;
- ``org.stratos.lb-cluster`` and ``org.stratos.config-hash`` on a load balancer container (the
  agent's containers carry ``org.stratos.config-hash`` and ``org.stratos.config`` too);
- ``org.stratos.build-hash``, ``org.stratos.base-image``, ``org.stratos.cartridge`` and
  ``org.stratos.cartridge-version`` on a cartridge image (and its Glance copy);
- ``org.stratos.host`` (with ``org.stratos.network-partition``) on an OpenStack host.

This is the one place that spells them: everything else uses these constants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from stratos.errors import DriverError, NotFoundError, StratosError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from docker.models.images import Image

ROLE = "org.stratos.role"
STATE_ID = "org.stratos.state-id"
APPLICATION = "org.stratos.application"
SUBSCRIPTION = "org.stratos.subscription"
CARTRIDGE = "org.stratos.cartridge"
NETWORK_PARTITION = "org.stratos.network-partition"
PARTITION = "org.stratos.partition"
MEMBER_ID = "org.stratos.member-id"
REVISION = "org.stratos.revision"
LB_CLUSTER = "org.stratos.lb-cluster"
CONFIG_HASH = "org.stratos.config-hash"
CONFIG = "org.stratos.config"
BUILD_HASH = "org.stratos.build-hash"
BASE_IMAGE = "org.stratos.base-image"
CARTRIDGE_VERSION = "org.stratos.cartridge-version"
HOST = "org.stratos.host"

#: Values of ``org.stratos.role``: what a container is to the platform, and who owns it.
ROLE_MEMBER = "member"  # an application member (the agent's)
ROLE_CANARY = "canary"  # a release's trial member (the agent's, short-lived)
ROLE_LB = "lb"  # a load balancer (the IaC front end's)
ROLE_AGENT = "agent"  # the agent (the IaC front end's)
ROLE_AGENT_HTTP = "agent-http"  # the agent's HTTP server
ROLE_DOCKER_PROXY = "docker-proxy"  # the filtering Docker API proxy in front of an unprivileged agent
ROLE_DEFINITIONS = "definitions"  # Pulumi's one-shot container that writes an agent's definitions

from stratos.endpoints import DEFAULT_ENDPOINT  # noqa: E402 - the local engine, one home

T = TypeVar("T")


def state_id(state_root: str | Path) -> str:
    """A short stable id of a state directory (its resolved path), used to scope adoption."""
    resolved = str(Path(state_root).resolve())
    return hashlib.sha256(resolved.encode()).hexdigest()[:12]


class ClientPool:
    """One Docker client per endpoint, created on first use and closed together.

    The agent passes the pool around; drivers take a client, never create one.
    """

    def __init__(self, connect: Callable[[str], docker.DockerClient] | None = None, timeout: float = 60):
        self._connect = connect
        self._timeout = timeout
        self._clients: dict[str, docker.DockerClient] = {}

    def get(self, endpoint: str = DEFAULT_ENDPOINT) -> docker.DockerClient:
        client = self._clients.get(endpoint)
        if client is None:
            client = self._connect(endpoint) if self._connect else _connect(endpoint, self._timeout)
            self._clients[endpoint] = client
        return client

    def endpoints(self) -> list[str]:
        return list(self._clients)

    def close(self) -> None:
        for client in self._clients.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self._clients.clear()


def _connect(endpoint: str, timeout: float) -> docker.DockerClient:
    import docker as docker_sdk

    try:
        return docker_sdk.DockerClient(
            base_url=endpoint, timeout=int(timeout), use_ssh_client=endpoint.startswith("ssh://")
        )
    except docker_sdk.errors.DockerException as exc:
        raise DriverError(f"cannot reach the Docker Engine at {endpoint}: {exc}") from exc


@contextmanager
def docker_errors(doing: str) -> Iterator[None]:
    """Turn the SDK's exceptions into typed core errors naming what was being done."""
    import docker as docker_sdk
    import requests

    try:
        yield
    except docker_sdk.errors.NotFound as exc:
        raise NotFoundError(f"{doing}: {exc.explanation or exc}") from exc
    except docker_sdk.errors.APIError as exc:
        raise DriverError(f"{doing}: {exc.explanation or exc}") from exc
    except (docker_sdk.errors.DockerException, requests.RequestException, OSError) as exc:
        raise DriverError(f"{doing}: {exc}") from exc


def find_container(
    client: docker.DockerClient, name: str, doing: str, error: type[StratosError] = DriverError
) -> Container | None:
    """The container named (or with the id) ``name``, None when there is none; any other answer of
    the engine raises ``error`` (a :class:`DriverError` unless the caller's layer has its own)
    naming what was being done."""
    import docker as docker_sdk

    return _find(client.containers.get, name, docker_sdk.errors.NotFound, doing, error)


def find_image(
    client: docker.DockerClient, ref: str, doing: str, error: type[StratosError] = DriverError
) -> Image | None:
    """The image ``ref`` names, None when the engine has none: :func:`find_container` for images."""
    import docker as docker_sdk

    return _find(client.images.get, ref, docker_sdk.errors.ImageNotFound, doing, error)


def _find(
    get: Callable[[str], T], key: str, missing: type[Exception], doing: str, error: type[StratosError]
) -> T | None:
    import docker as docker_sdk

    try:
        return get(key)
    except missing:
        return None
    except docker_sdk.errors.APIError as exc:
        raise error(f"{doing}: {exc.explanation or exc}") from exc


def label_filter(labels: dict[str, str]) -> list[str]:
    """The ``label`` filter of the list API: ``key=value`` (or ``key`` alone for an empty value)."""
    return [f"{key}={value}" if value else key for key, value in labels.items()]
