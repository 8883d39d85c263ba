"""Fixtures shared by the integration tests: a real Docker Engine and the local Debian base image.

Without a reachable Docker Engine the tests that need it are skipped, except under ``CI=true``,
where that is a failure: CI must never pass by skipping everything.
Everything a test creates is named ``stratos-test-…`` and removed by :func:`docker_names`.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import docker

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE_SCRIPT = REPO / "images" / "build-base-image.sh"
LOCAL_BASE_IMAGE = "stratos/debian:bookworm"


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
    result = subprocess.run(
        ["bash", str(BASE_IMAGE_SCRIPT)],
        env={**os.environ, "STRATOS_BASE_IMAGE_TAG": tag},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{BASE_IMAGE_SCRIPT.name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
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
