"""Fixtures shared by the integration tests: a real Docker Engine, the local Debian base image and
every other image a test uses.

Without a reachable Docker Engine the tests that need it are skipped, except under ``CI=true``,
where that is a failure: CI must never pass by skipping everything.
Everything a test creates is named ``stratos-test-…`` and removed by :func:`docker_names`.

Images: a test takes every image it runs from a session fixture here, which builds it or finds it
up to date by its content hash (``org.stratos.build-hash``): the standard cartridges
(:func:`php_image`, :func:`mysql_image`, :func:`haproxy_image`, :func:`standard_images`), the
fixture cartridge ``tests/fixtures/restart-cartridge`` (:func:`restart_cartridge_image`), the test
registry (:func:`registry_image`) and the agent (:func:`agent_image`). No test relies on an image
that another test or an earlier run built.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Test modules import these helpers before pytest would load them as plugins: rewrite their asserts.
pytest.register_assert_rewrite("ansible_helpers")

if TYPE_CHECKING:
    import docker

    from stratos.images import ImageResult

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE_SCRIPT = REPO / "images" / "build-base-image.sh"
AGENT_IMAGE_SCRIPT = REPO / "images" / "build-agent-image.sh"
LOCAL_BASE_IMAGE = "stratos/debian:bookworm"
RESTART_CARTRIDGE = REPO / "tests" / "fixtures" / "restart-cartridge" / "cartridge.yml"

#: A registry from Debian's docker-registry package (without its htpasswd auth), built like a
#: cartridge; tests run it on a loopback port.
REGISTRY_IMAGE = "stratos/test-registry:2.8"
REGISTRY_CONFIG = (
    "version: 0.1\nstorage: {filesystem: {rootdirectory: /var/lib/docker-registry}}\nhttp: {addr: ':5000'}\n"
)
REGISTRY_SPEC = {
    "name": "registry",
    "version": "2.8",
    "image": {
        "build": {
            "packages": ["docker-registry"],
            "files": [{"path": "/etc/docker/registry/stratos-test.yml", "content": REGISTRY_CONFIG}],
            "command": ["docker-registry", "serve", "/etc/docker/registry/stratos-test.yml"],
            "expose": [5000],
        }
    },
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the written order of the tests of a module marked ``scenario``.

    pytest-randomly shuffles the modules and the tests inside each module. A scenario module is one
    story told on one module-scoped platform (bring up, then kill, scale, reload...): its tests
    are its steps and run in the order written, wherever the module lands in the run; every other
    module's tests stay shuffled. Runs after pytest-randomly's reordering (a plain implementation
    runs inside its wrapper).
    """
    positions: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if item.get_closest_marker("scenario") is not None:
            positions.setdefault(str(item.path), []).append(index)

    def written(item: pytest.Item) -> tuple[int, tuple[tuple[str, int], ...]]:
        function = getattr(item, "function", None)
        line = function.__code__.co_firstlineno if function is not None else 0
        callspec = getattr(item, "callspec", None)
        return line, tuple(sorted(callspec.indices.items())) if callspec is not None else ()

    for indexes in positions.values():
        for index, item in zip(indexes, sorted((items[i] for i in indexes), key=written), strict=True):
            items[index] = item


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A docker SDK client that answered a ping; skip (or fail under CI=true) without one."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # any reason at all: no SDK, no socket, no permission
        reason = f"no Docker Engine reachable: {exc}"
        if _in_ci():
            pytest.fail(f"{reason} (CI=true: Docker is required)", pytrace=False)
        pytest.skip(reason)
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    """The Debian base image built by images/build-base-image.sh, once per session (idempotent)."""
    tag = os.environ.get("STRATOS_BASE_IMAGE_TAG", LOCAL_BASE_IMAGE)
    _run_script(BASE_IMAGE_SCRIPT, {**os.environ, "STRATOS_BASE_IMAGE_TAG": tag}, timeout=900)
    return tag


def _run_script(script: Path, env: dict[str, str], timeout: float) -> None:
    """``bash script``; its exit status and output as the failure when it fails."""
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(
            f"{script.name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False
        )


def _build_cartridge(client: docker.DockerClient, path: Path, base: str) -> ImageResult:
    """The cartridge defined in ``path``, built on ``base`` or found up to date by its build hash."""
    from support import build_cartridge_image

    return build_cartridge_image(client, path, base)


@pytest.fixture(scope="session")
def php_image(docker_client: docker.DockerClient, base_image: str) -> ImageResult:
    """The standard PHP cartridge's image (stratos/cartridge-php:8.2)."""
    from stratos import builtin

    return _build_cartridge(docker_client, builtin.cartridge_file("php"), base_image)


@pytest.fixture(scope="session")
def mysql_image(docker_client: docker.DockerClient, base_image: str) -> ImageResult:
    """The standard MySQL (MariaDB) cartridge's image (stratos/cartridge-mysql:10.11)."""
    from stratos import builtin

    return _build_cartridge(docker_client, builtin.cartridge_file("mysql"), base_image)


@pytest.fixture(scope="session")
def haproxy_image(docker_client: docker.DockerClient, base_image: str) -> ImageResult:
    """The standard HAProxy cartridge's image (stratos/cartridge-haproxy:2.6), also the LB image."""
    from stratos import builtin

    return _build_cartridge(docker_client, builtin.cartridge_file("haproxy"), base_image)


@pytest.fixture(scope="session")
def standard_images(
    php_image: ImageResult, mysql_image: ImageResult, haproxy_image: ImageResult
) -> dict[str, ImageResult]:
    """The three standard cartridge images, by cartridge name."""
    return {"php": php_image, "mysql": mysql_image, "haproxy": haproxy_image}


@pytest.fixture(scope="session")
def restart_cartridge_image(docker_client: docker.DockerClient, base_image: str) -> ImageResult:
    """The image of tests/fixtures/restart-cartridge (stratos/test-cartridge-snapshot:0.1)."""
    return _build_cartridge(docker_client, RESTART_CARTRIDGE, base_image)


@pytest.fixture(scope="session")
def registry_image(docker_client: docker.DockerClient, base_image: str) -> str:
    """:data:`REGISTRY_IMAGE`, built from :data:`REGISTRY_SPEC` or found up to date."""
    from stratos import images

    return images.build_image(docker_client, REGISTRY_SPEC, base=base_image, tag=REGISTRY_IMAGE).tag


@pytest.fixture(scope="session")
def agent_image(docker_client: docker.DockerClient, base_image: str) -> str:
    """The agent image (stratos/agent:<version>, and :latest) built by images/build-agent-image.sh
    on the base image, or found up to date by its build hash."""
    import tomllib

    env = {k: v for k, v in os.environ.items() if k != "STRATOS_AGENT_IMAGE_TAG"}
    _run_script(AGENT_IMAGE_SCRIPT, {**env, "STRATOS_BASE_IMAGE": base_image}, timeout=1800)
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    tag = f"stratos/agent:{version}"
    docker_client.images.get(tag)  # raises if the script did not produce it
    return tag


@pytest.fixture
def docker_names(docker_client: docker.DockerClient) -> Iterator[Callable[[str], str]]:
    """``name = docker_names("php")`` gives ``stratos-test-php-<random>``; at teardown every
    container, then volume, then network with a name given out here is removed."""
    import docker as docker_sdk

    given: list[str] = []

    def make(purpose: str) -> str:
        name = f"stratos-test-{purpose}-{uuid.uuid4().hex[:8]}"
        given.append(name)
        return name

    yield make

    for name in given:
        try:
            docker_client.containers.get(name).remove(force=True)
        except docker_sdk.errors.NotFound:
            pass
    for name in given:
        for collection in (docker_client.volumes, docker_client.networks):
            try:
                collection.get(name).remove()  # type: ignore[attr-defined]
            except docker_sdk.errors.NotFound:
                pass
