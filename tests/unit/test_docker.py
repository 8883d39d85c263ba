"""Docker plumbing shared by the drivers (stratos.drivers.docker): finding a container or an image."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from stratos.drivers import docker as dockerlib
from stratos.errors import DriverError, ImageBuildError


class _Collection:
    def __init__(
        self, found: dict[str, Any], failure: Exception | None = None, missing: type = docker.errors.NotFound
    ):
        self.found, self.failure, self.missing = found, failure, missing

    def get(self, name: str) -> Any:
        if self.failure is not None:
            raise self.failure
        if name not in self.found:
            raise self.missing(f"no such {name}")
        return self.found[name]


class _Client:
    def __init__(self, failure: Exception | None = None) -> None:
        self.containers = _Collection({"web": "the container"}, failure)
        self.images = _Collection({"php:1": "the image"}, failure, docker.errors.ImageNotFound)


def test_found_and_missing() -> None:
    client: Any = _Client()
    assert dockerlib.find_container(client, "web", "inspecting web") == "the container"
    assert dockerlib.find_container(client, "db", "inspecting db") is None
    assert dockerlib.find_image(client, "php:1", "inspecting php:1") == "the image"
    assert dockerlib.find_image(client, "php:2", "inspecting php:2") is None


@pytest.mark.parametrize("error", [DriverError, ImageBuildError], ids=["driver", "image-build"])
def test_another_answer_of_the_engine_raises_the_callers_error_naming_what_was_done(error: type) -> None:
    client: Any = _Client(docker.errors.APIError("500 Server Error", explanation="engine is shutting down"))
    with pytest.raises(error, match=r"^inspecting web: engine is shutting down$"):
        dockerlib.find_container(client, "web", "inspecting web", error)
    with pytest.raises(error, match=r"^inspecting php:1: engine is shutting down$"):
        dockerlib.find_image(client, "php:1", "inspecting php:1", error)
