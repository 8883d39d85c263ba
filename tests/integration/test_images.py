"""The images, built for real on the local Docker Engine, and the standard cartridges running.

Images build on the debootstrapped base (``stratos/debian:bookworm``); builds need the Debian
archive through the host network. Every container, volume and network is ``stratos-test-…``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import support
import yaml
from support import haproxy_command, url_get

from stratos import images
from stratos.builtin import cartridge_file
from stratos.errors import ImageBuildError
from stratos.model import Cartridge

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
STANDARD = ("php", "mysql", "haproxy")


def standard(name: str) -> tuple[Cartridge, Path]:
    path = cartridge_file(name)
    return Cartridge.model_validate(yaml.safe_load(path.read_text())), path.parent


@pytest.fixture(scope="module")
def built(standard_images: dict[str, images.ImageResult]) -> dict[str, images.ImageResult]:
    """The three standard cartridge images, built (or found up to date) once per session."""
    return standard_images


# --------------------------------------------------------------------------- helpers


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll ``check``; an exception (connection refused, not found…) means "not ready yet"."""
    return support.wait_for(what, check, timeout, every=0.3, retry_on=(Exception,))


def http_get(url: str) -> tuple[int, str]:
    status, body, _ = url_get(url)
    return status, body


def published_port(container: Container, port: str) -> int:
    container.reload()
    return int(container.ports[port][0]["HostPort"])


def running(container: Container) -> bool:
    container.reload()
    if container.status in ("exited", "dead"):
        raise AssertionError(f"{container.name} stopped:\n{container.logs().decode(errors='replace')}")
    return container.status == "running"


def exec_ok(container: Container, *cmd: str) -> str:
    code, output = container.exec_run(list(cmd))
    text = output.decode(errors="replace")
    assert code == 0, f"{cmd} exited {code}: {text}"
    return text


def readable_dir(path: Path) -> Path:
    """tmp_path is 0700; containers' non-root users (www-data) must read what is mounted."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------- base image


def test_base_image_script_is_idempotent(docker_client: docker.DockerClient, base_image: str) -> None:
    before = docker_client.images.get(base_image).id
    result = subprocess.run(
        ["bash", str(REPO / "images" / "build-base-image.sh")],
        env={**os.environ, "STRATOS_BASE_IMAGE_TAG": base_image},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    image = docker_client.images.get(base_image)
    assert image.id == before
    assert image.attrs["Config"]["Cmd"] == ["/bin/bash"]
    assert any(e.startswith("PATH=/usr/local/sbin:") for e in image.attrs["Config"]["Env"])


def test_base_image_has_apt_sources_and_no_lists(docker_client: docker.DockerClient, base_image: str) -> None:
    output = docker_client.containers.run(
        base_image,
        ["sh", "-c", "cat /etc/apt/sources.list; ls /var/lib/apt/lists | grep -vc '^partial$' || true"],
        remove=True,
        network_mode="none",
    ).decode()
    assert "deb http://deb.debian.org/debian bookworm main" in output
    assert "bookworm-updates main" in output
    assert "deb http://deb.debian.org/debian-security bookworm-security main" in output
    assert output.strip().splitlines()[-1] == "0"


def test_clean_images_lists_every_image_the_project_built_and_keeps_the_base(
    docker_client: docker.DockerClient, base_image: str, docker_names: Callable[[str], str]
) -> None:
    """``images/clean-images.sh --dry-run`` (what ``make clean-images`` runs, without removing: other
    suites share the engine) names a built cartridge tag, an untagged image Stratos built and a
    plain ``stratos-test`` tag, never the base, and removes nothing."""
    import io
    import tarfile

    tag = f"{docker_names('clean')}:1"
    plain = f"{docker_names('clean')}:plain"
    spec = {"name": "clean", "version": "1", "image": {"build": {"command": ["true"]}}}
    dockerfile = f"FROM {base_image}\nLABEL {images.BUILD_HASH_LABEL}=stratos-test-untagged\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    untagged = None
    try:
        built = images.build_image(docker_client, spec, base=base_image, tag=tag)
        docker_client.images.get(base_image).tag(plain)
        untagged, _ = docker_client.images.build(fileobj=context, custom_context=True, rm=True)
        assert not untagged.tags
        result = subprocess.run(
            ["bash", str(REPO / "images" / "clean-images.sh"), "--dry-run"],
            env={**os.environ, "STRATOS_BASE_IMAGE_TAG": base_image},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert f"clean-images: would remove {tag}" in lines
        assert f"clean-images: would remove {plain}" in lines
        assert f"clean-images: would remove untagged {untagged.id.removeprefix('sha256:')}" in lines
        assert f"clean-images: would keep {base_image}" in lines
        assert not any(base_image in line for line in lines if "would remove" in line)
        for ref in (tag, plain, untagged.id, base_image):  # nothing removed
            docker_client.images.get(ref)
        assert docker_client.images.get(tag).id == built.image_id
    finally:
        for ref in (tag, plain, *([untagged.id] if untagged is not None else [])):
            try:
                docker_client.images.remove(ref)  # not forced: ``plain`` only untags the base
            except Exception:
                pass


# --------------------------------------------------------------------------- the agent image


def test_agent_image_up_to_date_builds_nothing_and_a_changed_source_rebuilds(
    docker_client: docker.DockerClient,
    base_image: str,
    agent_image: str,
    tmp_path: Path,
    docker_names: Callable[[str], str],
) -> None:
    """The agent image's build hash is computed from its sources: up to date, the script builds
    not even the wheel (what made every ``make images`` take seconds); one changed source file
    rebuilds."""
    import shutil
    import sys

    calls = tmp_path / "python-calls"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "STRATOS_BASE_IMAGE": base_image, "PYTHON": str(wrapper)}
    env.pop("STRATOS_AGENT_IMAGE_TAG", None)
    script = REPO / "images" / "build-agent-image.sh"
    again = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "is up to date" in again.stdout
    assert "wheel" not in calls.read_text()

    # A copy of the sources with one changed file, against a tag holding the current image.
    copy = tmp_path / "repo"
    for item in ("images", "stratos", "pulumi_stratos"):
        shutil.copytree(REPO / item, copy / item, ignore=shutil.ignore_patterns("__pycache__"))
    for item in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / item, copy / item)
    with (copy / "stratos" / "__init__.py").open("a") as f:
        f.write("# a changed source\n")
    tag = f"{docker_names('agent')}:1"
    docker_client.images.get(agent_image).tag(tag)
    try:
        rebuilt = subprocess.run(
            ["bash", str(copy / "images" / "build-agent-image.sh")],
            env={**env, "STRATOS_AGENT_IMAGE_TAG": tag},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert f"building {tag}" in rebuilt.stdout and "up to date" not in rebuilt.stdout
        new = docker_client.images.get(tag)
        assert new.id != docker_client.images.get(agent_image).id
        assert (
            new.labels["org.stratos.build-hash"]
            != docker_client.images.get(agent_image).labels["org.stratos.build-hash"]
        )
    finally:
        try:
            docker_client.images.remove(tag)
        except Exception:
            pass


# --------------------------------------------------------------------------- building


@pytest.mark.parametrize("name", STANDARD)
def test_second_build_changes_nothing(
    docker_client: docker.DockerClient, base_image: str, built: dict[str, images.ImageResult], name: str
) -> None:
    cartridge, source_dir = standard(name)
    first = built[name]
    plan = images.plan_image(docker_client, cartridge, source_dir=source_dir, base=base_image)
    assert (plan.changed, plan.build, plan.build_hash) == (False, False, first.build_hash)

    again = images.build_image(docker_client, cartridge, source_dir=source_dir, base=base_image)

    assert (again.changed, again.built, again.image_id) == (False, False, first.image_id)
    labels = docker_client.images.get(first.tag).labels
    assert labels[images.BUILD_HASH_LABEL] == first.build_hash
    assert labels[images.CARTRIDGE_LABEL] == name
    assert labels[images.CARTRIDGE_VERSION_LABEL] == cartridge.version
    assert first.tag == cartridge.image_tag()


def test_plan_changes_nothing_and_build_follows_it(
    docker_client: docker.DockerClient, base_image: str, docker_names: Callable[[str], str]
) -> None:
    tag = f"{docker_names('image')}:1"
    spec = {
        "name": "tiny",
        "version": "1",
        "image": {
            "build": {"files": [{"path": "/etc/tiny", "content": "one\n"}], "command": ["cat", "/etc/tiny"]}
        },
    }
    plan = images.plan_image(docker_client, spec, base=base_image, tag=tag)
    assert (plan.changed, plan.existing) == (True, None)
    assert "no image tagged" in plan.reason
    with pytest.raises(Exception, match="No such image|not found"):
        docker_client.images.get(tag)

    try:
        first = images.build_image(docker_client, spec, base=base_image, tag=tag)
        assert first.changed and first.built
        assert docker_client.containers.run(tag, remove=True).decode() == "one\n"

        spec["image"]["build"]["files"][0]["content"] = "two\n"  # type: ignore[index]
        second = images.plan_image(docker_client, spec, base=base_image, tag=tag)
        assert second.build and "build hash differs" in second.reason
        rebuilt = images.build_image(docker_client, spec, base=base_image, tag=tag)
        assert rebuilt.image_id != first.image_id
        assert docker_client.containers.run(tag, remove=True).decode() == "two\n"
        # The image the tag named before is gone, not left dangling.
        with pytest.raises(Exception, match="No such image|not found"):
            docker_client.images.get(first.image_id)
    finally:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:
            pass


def test_failed_build_raises_image_build_error(
    docker_client: docker.DockerClient, base_image: str, docker_names: Callable[[str], str]
) -> None:
    spec = {"name": "broken", "version": "1", "image": {"build": {"run": ["echo about to fail; exit 3"]}}}
    try:
        with pytest.raises(ImageBuildError, match=r"(?s)cartridge 'broken'.*non-zero code: 3.*about to fail"):
            images.build_image(docker_client, spec, base=base_image, tag=f"{docker_names('broken')}:1")
    finally:  # the steps before the failure stay behind as untagged layers
        docker_client.images.prune(filters={"dangling": True, "label": f"{images.CARTRIDGE_LABEL}=broken"})


def test_missing_base_image_that_cannot_be_pulled_is_an_image_build_error(
    docker_client: docker.DockerClient,
) -> None:
    spec = {"name": "orphan", "version": "1", "image": {"build": {"command": ["true"]}}}
    plan = images.plan_image(docker_client, spec, base="127.0.0.1:9/stratos-test/none:1")
    assert plan.build and plan.base_image_id is None and "not present locally" in plan.reason
    with pytest.raises(ImageBuildError, match="cannot be pulled"):
        images.build_image(docker_client, spec, base="127.0.0.1:9/stratos-test/none:1")


# --------------------------------------------------------------------------- php


def test_php_serves_health_and_passes_environment_but_not_secrets(
    docker_client: docker.DockerClient,
    built: dict[str, images.ImageResult],
    docker_names: Callable[[str], str],
    tmp_path: Path,
) -> None:
    app = readable_dir(tmp_path / "app")
    (app / "index.php").write_text(
        "<?php\n"
        "header('Content-Type: application/json');\n"
        "echo json_encode([\n"
        "  'db_host' => getenv('DB_HOST'),\n"
        "  'quoted' => getenv('APP_QUOTED'),\n"
        "  'password' => getenv('DB_PASSWORD'),\n"
        "  'password_in_process_env' => getenv('DB_PASSWORD', true),\n"
        "  'password_from_file' => file_get_contents(getenv('DB_PASSWORD_FILE')),\n"
        "  'secret_from_mount' => file_get_contents(getenv('STRATOS_SECRETS_DIR') . '/password'),\n"
        "  'unprefixed' => getenv('UNRELATED'),\n"
        "  'mysqli' => extension_loaded('mysqli'),\n"
        "]);\n"
    )
    (app / "index.php").chmod(0o644)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "password").write_text("mounted-secret")
    (secrets / "password").chmod(0o600)  # root-only, as the deployment mounts secrets

    container = docker_client.containers.run(
        built["php"].tag,
        name=docker_names("php"),
        detach=True,
        environment={
            "DB_HOST": "db.example",
            "APP_QUOTED": 'say "hi" $HOME',
            "DB_PASSWORD": "env-secret",
            "UNRELATED": "x",
        },
        volumes={
            str(app): {"bind": "/var/www/html", "mode": "ro"},
            str(secrets): {"bind": "/run/stratos/secrets", "mode": "ro"},
        },
        ports={"80/tcp": ("127.0.0.1", None)},
    )
    wait_for("the php container to run", lambda: running(container), timeout=20)
    port = published_port(container, "80/tcp")
    base = f"http://127.0.0.1:{port}"

    status, body = wait_for("/stratos-health", lambda: http_get(f"{base}/stratos-health"), timeout=30)
    assert (status, body) == (200, "ok\n")

    status, body = http_get(f"{base}/")
    assert status == 200, body
    assert json.loads(body) == {
        "db_host": "db.example",
        "quoted": 'say "hi" $HOME',
        "password": False,
        "password_in_process_env": False,
        "password_from_file": "env-secret",
        "secret_from_mount": "mounted-secret",
        "unprefixed": False,
        "mysqli": True,
    }
    # Apache logs to the container's output.
    assert "GET /stratos-health" in container.logs(stdout=True, stderr=False).decode()
    # The health endpoint does not depend on the application.
    (app / "index.php").unlink()
    assert http_get(f"{base}/stratos-health") == (200, "ok\n")


# --------------------------------------------------------------------------- mysql


def test_mysql_creates_database_and_user_from_secret_and_keeps_data(
    docker_client: docker.DockerClient,
    built: dict[str, images.ImageResult],
    docker_names: Callable[[str], str],
    tmp_path: Path,
) -> None:
    password = "p'w\\\"x ö"  # quotes, backslash, space, non-ASCII: escaping is tested too
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "password").write_text(password)
    (secrets / "password").chmod(0o600)
    client_dir = readable_dir(tmp_path / "client")
    (client_dir / "client.cnf").write_text(
        f'[client]\nuser=shopper\npassword="{password.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"\n'
    )
    (client_dir / "wrong.cnf").write_text("[client]\nuser=shopper\npassword=wrong\n")
    for f in client_dir.iterdir():
        f.chmod(0o644)

    network = docker_client.networks.create(docker_names("net"))
    volume = docker_client.volumes.create(docker_names("mysql-data"))
    server_name = docker_names("mysql")

    def start_server() -> Container:
        container = docker_client.containers.run(
            built["mysql"].tag,
            name=server_name,
            detach=True,
            environment={"MYSQL_DATABASE": "shop", "MYSQL_USER": "shopper"},
            volumes={
                volume.name: {"bind": "/var/lib/mysql", "mode": "rw"},
                str(secrets): {"bind": "/run/stratos/secrets", "mode": "ro"},
            },
            network=network.name,
        )
        wait_for(
            "mariadb to listen on 3306",
            lambda: running(container) and container.exec_run(["stratos-mysql-health"]).exit_code == 0,
            timeout=90,
        )
        return container

    def sql(statement: str, cnf: str = "client.cnf") -> tuple[int, str]:
        # A second container on the same network: a real TCP client connection to user@'%'.
        client_name = docker_names("mysql-client")
        container = docker_client.containers.run(
            built["mysql"].tag,
            name=client_name,
            entrypoint=[
                "mariadb",
                f"--defaults-extra-file=/client/{cnf}",
                "-h",
                server_name,
                "--batch",
                "--skip-column-names",
                "shop",
                "-e",
                statement,
            ],
            volumes={str(client_dir): {"bind": "/client", "mode": "ro"}},
            network=network.name,
            detach=True,
        )
        code = container.wait(timeout=60)["StatusCode"]
        output = container.logs().decode(errors="replace")
        container.remove(force=True)
        return code, output

    server = start_server()
    assert "initialised" in server.logs().decode()
    assert sql("CREATE TABLE t (x INT); INSERT INTO t VALUES (42); SELECT CURRENT_USER()") == (
        0,
        "shopper@%\n",
    )
    code, output = sql("SELECT 1", cnf="wrong.cnf")
    assert code != 0 and "Access denied" in output
    # The password never shows on a command line.
    processes = json.dumps(server.top())
    assert password not in processes and "wrong" not in processes

    server.remove(force=True)  # the volume is kept, as keep_on_termination asks
    server = start_server()
    assert "initialising" not in server.logs().decode()
    assert sql("SELECT x FROM t") == (0, "42\n")


# --------------------------------------------------------------------------- haproxy


def admin_command(sock_path: Path, command: str) -> str:
    return haproxy_command(sock_path, command, timeout=3)


def run_haproxy(
    client: docker.DockerClient,
    image: str,
    name: str,
    sock_dir: Path,
    port: str,
    volumes: dict[str, dict[str, str]] | None = None,
) -> Container:
    """The haproxy image running as ``name``, ``port`` published on the loopback and its admin
    socket in ``sock_dir``; returned once the socket is there."""
    sock_dir.mkdir()
    container = client.containers.run(
        image,
        name=name,
        detach=True,
        volumes={**(volumes or {}), str(sock_dir): {"bind": "/run/stratos-lb", "mode": "rw"}},
        ports={port: ("127.0.0.1", None)},
    )
    wait_for(
        "the admin socket", lambda: running(container) and (sock_dir / "admin.sock").exists(), timeout=20
    )
    return container


def test_haproxy_runs_alone_and_answers_on_the_admin_socket(
    docker_client: docker.DockerClient,
    built: dict[str, images.ImageResult],
    docker_names: Callable[[str], str],
    tmp_path: Path,
) -> None:
    sock_dir = tmp_path / "lb"
    container = run_haproxy(docker_client, built["haproxy"].tag, docker_names("haproxy"), sock_dir, "80/tcp")
    info = admin_command(sock_dir / "admin.sock", "show info")
    assert "Name: HAProxy" in info and "Version: 2.6." in info
    assert "no-members" in admin_command(sock_dir / "admin.sock", "show backend")

    port = published_port(container, "80/tcp")
    assert wait_for("/stratos-health", lambda: http_get(f"http://127.0.0.1:{port}/stratos-health"))[0] == 200
    assert http_get(f"http://127.0.0.1:{port}/")[0] == 503


def test_haproxy_uses_the_mounted_configuration(
    docker_client: docker.DockerClient,
    built: dict[str, images.ImageResult],
    docker_names: Callable[[str], str],
    tmp_path: Path,
) -> None:
    config_dir = readable_dir(tmp_path / "config")
    (config_dir / "haproxy.cfg").write_text(
        "global\n"
        "    stats socket /run/stratos-lb/admin.sock mode 660 level admin expose-fd listeners\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
        "frontend mounted\n    bind :8081\n    monitor-uri /mounted\n"
    )
    sock_dir = tmp_path / "lb"
    container = run_haproxy(
        docker_client,
        built["haproxy"].tag,
        docker_names("haproxy"),
        sock_dir,
        "8081/tcp",
        {str(config_dir): {"bind": "/usr/local/etc/stratos", "mode": "ro"}},
    )
    port = published_port(container, "8081/tcp")
    assert wait_for("/mounted", lambda: http_get(f"http://127.0.0.1:{port}/mounted"))[0] == 200
    assert "frontend mounted" not in container.logs().decode()  # sanity: no config dump
    assert "mounted" in admin_command(sock_dir / "admin.sock", "show stat")


# --------------------------------------------------------------------------- registry


def test_push_to_a_registry_and_again_changes_nothing(
    docker_client: docker.DockerClient,
    base_image: str,
    built: dict[str, images.ImageResult],
    registry_image: str,
    docker_names: Callable[[str], str],
) -> None:
    registry = docker_client.containers.run(
        registry_image, name=docker_names("registry"), detach=True, ports={"5000/tcp": ("127.0.0.1", None)}
    )
    wait_for("the registry", lambda: running(registry), timeout=20)
    address = f"127.0.0.1:{published_port(registry, '5000/tcp')}"
    wait_for("the registry API", lambda: http_get(f"http://{address}/v2/")[0] == 200, timeout=20)

    cartridge, source_dir = standard("haproxy")
    pushed_ref = f"{address}/{built['haproxy'].tag}"
    try:
        first = images.build_image(
            docker_client, cartridge, source_dir=source_dir, base=base_image, registry=address
        )
        assert (first.changed, first.built, first.pushed_ref) == (True, False, pushed_ref)
        status, body = http_get(f"http://{address}/v2/stratos/cartridge-haproxy/tags/list")
        assert status == 200 and json.loads(body)["tags"] == ["2.6"]

        again = images.build_image(
            docker_client, cartridge, source_dir=source_dir, base=base_image, registry=address
        )
        assert (again.changed, again.pushed_ref) == (False, None)

        with pytest.raises(images.ImagePushError, match="127.0.0.1:9"):
            images.build_image(
                docker_client, cartridge, source_dir=source_dir, base=base_image, registry="127.0.0.1:9"
            )
    finally:
        for ref in (pushed_ref, f"127.0.0.1:9/{built['haproxy'].tag}"):
            try:
                docker_client.images.remove(ref)
            except Exception:
                pass
