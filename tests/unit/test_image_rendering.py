"""Dockerfile rendering, build hashing and image planning, without Docker."""

from __future__ import annotations

import copy
import io
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from stratos import builtin, images
from stratos.errors import ImageBuildError
from stratos.model import Cartridge, ImageBuild
from stratos.operations.images import image_change
from stratos.validation import load

BASE = "stratos/debian:bookworm"
BASE_ID = "sha256:" + "b" * 64


def cartridge(**build: Any) -> dict[str, Any]:
    return {"kind": "Cartridge", "name": "demo", "version": "1.0", "image": {"build": build}}


def render(
    spec: dict[str, Any], source_dir: Path | None = None, base: str | None = BASE
) -> images.BuildContext:
    return images.render_build(images.CartridgeImage.of(spec, source_dir), base)


# --------------------------------------------------------------------------- rendering


RENDER_CASES = [
    pytest.param(
        {},
        [
            "FROM stratos/debian:bookworm",
            'LABEL org.stratos.cartridge="demo" org.stratos.cartridge-version="1.0"',
        ],
        ["RUN apt-get", "CMD", "ENTRYPOINT", "ENV ", "EXPOSE", "WORKDIR"],
        id="empty-build-is-base-plus-labels",
    ),
    pytest.param(
        {"packages": ["apache2", "php8.2-mysql", "libfoo=1.2-3"]},
        [
            "RUN apt-get update",
            "apt-get install -y --no-install-recommends",
            "      apache2 \\\n      php8.2-mysql \\\n      libfoo=1.2-3 \\",
            "rm -rf /var/lib/apt/lists/*",
            "ARG DEBIAN_FRONTEND=noninteractive",
        ],
        ["ENV DEBIAN_FRONTEND"],
        id="packages-one-layer-lists-removed",
    ),
    pytest.param(
        {
            "files": [
                {"path": "/etc/a.conf", "content": "x"},
                {"path": "/usr/local/bin/run", "content": "y", "mode": "0755"},
            ]
        },
        ['COPY ["files/00-a.conf", "/etc/a.conf"]', 'COPY ["files/01-run", "/usr/local/bin/run"]'],
        ["--chmod"],
        id="files-copied-one-by-one-no-buildkit-syntax",
    ),
    pytest.param(
        {"run": ["a2enmod rewrite", "echo one\necho two"]},
        ["RUN a2enmod rewrite", 'RUN ["/bin/sh", "-ec", "echo one\\necho two"]'],
        [],
        id="run-single-line-shell-form-multi-line-exec-form",
    ),
    pytest.param(
        {"env": {"A": "plain", "B": 'say "hi" $HOME \\n'}},
        ['ENV A="plain" \\\n    B="say \\"hi\\" \\$HOME \\\\n"'],
        [],
        id="env-quoted-and-escaped",
    ),
    pytest.param(
        {
            "command": ["apache2-foreground"],
            "entrypoint": ["/entry", "--flag"],
            "workdir": "/srv",
            "expose": [80, 443],
        },
        ['CMD ["apache2-foreground"]', 'ENTRYPOINT ["/entry", "--flag"]', "WORKDIR /srv", "EXPOSE 80 443"],
        [],
        id="runtime-settings-json-form",
    ),
    pytest.param(
        {"entrypoint": []},
        ["ENTRYPOINT []"],
        ["CMD"],
        id="empty-entrypoint-resets-the-base-one",
    ),
    pytest.param(
        {"base": "debian:trixie-slim"},
        ["FROM debian:trixie-slim"],
        ["FROM stratos/debian"],
        id="spec-base-wins-over-setting",
    ),
]


@pytest.mark.parametrize(("build", "present", "absent"), RENDER_CASES)
def test_render(build: dict[str, Any], present: list[str], absent: list[str]) -> None:
    dockerfile = render(cartridge(**build)).dockerfile
    for text in present:
        assert text in dockerfile
    for text in absent:
        assert text not in dockerfile


def test_render_orders_packages_env_files_run_then_runtime() -> None:
    dockerfile = render(
        cartridge(
            packages=["curl"],
            env={"A": "1"},
            files=[{"path": "/f", "content": "x"}],
            run=["true"],
            workdir="/w",
            expose=[1],
            entrypoint=["/e"],
            command=["c"],
        )
    ).dockerfile
    keywords = [line.split()[0] for line in dockerfile.splitlines() if re.match(r"^[A-Z]+ ", line)]
    assert keywords == [
        "FROM",
        "LABEL",
        "ARG",
        "RUN",
        "ENV",
        "COPY",
        "RUN",
        "WORKDIR",
        "EXPOSE",
        "ENTRYPOINT",
        "CMD",
    ]


@pytest.mark.parametrize(
    ("env", "base_arg", "expected"),
    [
        pytest.param({}, None, "debian:bookworm-slim", id="default-is-docker-hub-debian"),
        pytest.param(
            {"STRATOS_BASE_IMAGE": "stratos/debian:bookworm"}, None, "stratos/debian:bookworm", id="env"
        ),
        pytest.param(
            {"STRATOS_BASE_IMAGE": "stratos/debian:bookworm"}, "my/base:1", "my/base:1", id="argument-wins"
        ),
    ],
)
def test_base_image_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], base_arg: str | None, expected: str
) -> None:
    monkeypatch.delenv("STRATOS_BASE_IMAGE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    context = render(cartridge(), base=base_arg)
    assert (context.base, context.dockerfile.splitlines()[1]) == (expected, f"FROM {expected}")


def test_pydantic_model_and_mapping_render_the_same(tmp_path: Path) -> None:
    (tmp_path / "e.sh").write_text("#!/bin/sh\n")
    build = {
        "packages": ["curl"],
        "files": [{"path": "/e.sh", "src": "e.sh", "mode": "0755"}],
        "env": {"X": "1"},
        "command": ["/e.sh"],
        "expose": [80],
    }
    model = Cartridge.model_validate(cartridge(**build))
    assert isinstance(model.image.build, ImageBuild)
    from_model = images.render_build(images.CartridgeImage.of(model, tmp_path), BASE)
    from_mapping = render(cartridge(**build), tmp_path)
    assert from_model == from_mapping
    assert from_model.digest(BASE_ID) == from_mapping.digest(BASE_ID)


def test_context_files_come_from_src_or_content_with_their_modes(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "entry.sh").write_bytes(b'#!/bin/sh\nexec "$@"\n')
    context = render(
        cartridge(
            files=[
                {"path": "/usr/local/bin/entry", "src": "files/entry.sh", "mode": "0755"},
                {"path": "/etc/x.conf", "content": "x=1\n"},
            ]
        ),
        tmp_path,
    )
    assert [(f.name, oct(f.mode), f.data) for f in context.files] == [
        ("files/00-entry", "0o755", b'#!/bin/sh\nexec "$@"\n'),
        ("files/01-x.conf", "0o644", b"x=1\n"),
    ]
    with tarfile.open(fileobj=io.BytesIO(context.tar())) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"Dockerfile", "files/00-entry", "files/01-x.conf"}
        assert (
            members["files/00-entry"].mode,
            members["files/00-entry"].uid,
            members["files/00-entry"].mtime,
        ) == (
            0o755,
            0,
            0,
        )
        dockerfile = tar.extractfile("Dockerfile")
        assert dockerfile is not None and dockerfile.read().decode() == context.dockerfile


# The build's refusals are the model's: tests/unit/test_image_rules.py.


# --------------------------------------------------------------------------- hashing


def test_hash_is_stable() -> None:
    spec = cartridge(packages=["curl"], files=[{"path": "/x", "content": "1"}])
    assert render(spec).digest(BASE_ID) == render(copy.deepcopy(spec)).digest(BASE_ID)
    assert re.fullmatch(r"[0-9a-f]{64}", render(spec).digest(BASE_ID))


HASH_CHANGES = [
    pytest.param(lambda s: s["image"]["build"].update(packages=["curl", "wget"]), BASE_ID, id="dockerfile"),
    pytest.param(lambda s: s["image"]["build"]["files"][0].update(content="2"), BASE_ID, id="file-content"),
    pytest.param(lambda s: s["image"]["build"]["files"][0].update(mode="0755"), BASE_ID, id="file-mode"),
    pytest.param(lambda s: s.update(version="2.0"), BASE_ID, id="cartridge-version-label"),
    pytest.param(lambda s: None, "sha256:" + "c" * 64, id="base-image-id"),
]


@pytest.mark.parametrize(("change", "base_id"), HASH_CHANGES)
def test_hash_changes_with_every_input(change: Any, base_id: str) -> None:
    spec = cartridge(packages=["curl"], files=[{"path": "/x", "content": "1"}])
    before = render(spec).digest(BASE_ID)
    changed = copy.deepcopy(spec)
    change(changed)
    assert render(changed).digest(base_id) != before


def test_hash_follows_src_file_content(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("one")
    spec = cartridge(files=[{"path": "/a", "src": "a"}])
    before = render(spec, tmp_path).digest(BASE_ID)
    (tmp_path / "a").write_text("two")
    assert render(spec, tmp_path).digest(BASE_ID) != before


# --------------------------------------------------------------------------- planning


def existing(build_hash: str | None, digests: tuple[str, ...] = ()) -> images.ExistingImage:
    return images.ExistingImage(id="sha256:" + "e" * 64, build_hash=build_hash, repo_digests=digests)


SPEC = cartridge(files=[{"path": "/x", "content": "1"}])
HASH = render(SPEC).digest(BASE_ID)

PLAN_CASES = [
    pytest.param(None, None, None, False, (True, True, False), "not present locally", id="base-missing"),
    pytest.param(BASE_ID, None, None, False, (True, True, False), "no image tagged", id="image-absent"),
    pytest.param(
        BASE_ID, existing("0" * 64), None, False, (True, True, False), "build hash differs", id="other-inputs"
    ),
    pytest.param(
        BASE_ID, existing(None), None, False, (True, True, False), "build hash differs", id="not-ours"
    ),
    pytest.param(BASE_ID, existing(HASH), None, False, (False, False, False), "up to date", id="up-to-date"),
    pytest.param(
        BASE_ID, existing(HASH), "r:5000/t:1", False, (True, False, True), "up to date", id="push-missing"
    ),
    pytest.param(
        BASE_ID, existing(HASH), "r:5000/t:1", True, (False, False, False), "up to date", id="pushed"
    ),
    pytest.param(
        BASE_ID, None, "r:5000/t:1", True, (True, True, True), "no image tagged", id="build-then-push"
    ),
]


@pytest.mark.parametrize(("base_id", "found", "push_ref", "pushed", "expected", "reason"), PLAN_CASES)
def test_decide_image(
    base_id: str | None,
    found: images.ExistingImage | None,
    push_ref: str | None,
    pushed: bool,
    expected: tuple[bool, bool, bool],
    reason: str,
) -> None:
    image = images.CartridgeImage.of(SPEC)
    plan = images.decide_image(
        image,
        render(SPEC),
        tag="t:1",
        base_image_id=base_id,
        existing=found,
        push_ref=push_ref,
        pushed=pushed,
    )
    assert (plan.changed, plan.build, plan.push) == expected
    assert reason in plan.reason
    assert plan.build_hash == (HASH if base_id else None)
    change = image_change(plan)
    assert isinstance(change.before, dict) and isinstance(change.after, dict)
    assert change.before["build_hash"] == (found.build_hash if found else None)
    assert change.after["build_hash"] == (HASH if base_id else "(after the base image is pulled)")
    assert change.changed == plan.changed


@pytest.mark.parametrize(
    ("tag", "registry", "expected"),
    [
        ("stratos/cartridge-php:8.2", "127.0.0.1:5000", "127.0.0.1:5000/stratos/cartridge-php:8.2"),
        ("stratos/cartridge-php:8.2", "registry.example/", "registry.example/stratos/cartridge-php:8.2"),
    ],
)
def test_registry_ref(tag: str, registry: str, expected: str) -> None:
    assert images.registry_ref(tag, registry) == expected


def test_registry_ref_rejects_urls() -> None:
    with pytest.raises(ImageBuildError, match=r"registry \('http://x:5000'\): must be host or host:port"):
        images.registry_ref("a:1", "http://x:5000")


def test_default_tag_follows_the_model() -> None:
    model = Cartridge.model_validate(cartridge())
    assert images.CartridgeImage.of(model).default_tag == model.image_tag() == "stratos/cartridge-demo:1.0"
    tagged = Cartridge.model_validate(cartridge(tag="my/img:2"))
    assert images.CartridgeImage.of(tagged).default_tag == tagged.image_tag() == "my/img:2"


# --------------------------------------------------------------------------- the standard cartridges

STANDARD = ["haproxy", "mysql", "php"]


def test_standard_cartridges_are_shipped_and_valid() -> None:
    assert [d.name for d in builtin.cartridge_dirs()] == STANDARD
    definitions = load([str(d) for d in builtin.cartridge_dirs()])
    assert sorted(definitions.cartridges) == STANDARD


@pytest.mark.parametrize("name", STANDARD)
def test_standard_cartridge_renders(name: str) -> None:
    path = builtin.cartridge_file(name)
    model = Cartridge.model_validate(yaml.safe_load(path.read_text()))
    context = images.render_build(images.CartridgeImage.of(model, path.parent), BASE)
    assert context.labels == {images.CARTRIDGE_LABEL: name, images.CARTRIDGE_VERSION_LABEL: model.version}
    assert model.image.build is not None
    assert len(context.files) == len(model.image.build.files)
    # Definitions are found by *.yml under a directory: a .yml among the files would be read as one.
    assert not [p for p in (path.parent / "files").rglob("*") if p.suffix in (".yml", ".yaml")]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@pytest.mark.parametrize(
    "script",
    sorted(str(p.relative_to(builtin.CARTRIDGES_DIR)) for p in builtin.CARTRIDGES_DIR.glob("*/files/*.sh")),
)
def test_standard_cartridge_scripts_parse(script: str) -> None:
    path = builtin.CARTRIDGES_DIR / script
    shell = "bash" if path.read_text().startswith("#!/bin/bash") else "sh"
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_mysql_password_never_on_a_command_line() -> None:
    script = (builtin.CARTRIDGES_DIR / "mysql" / "files" / "entrypoint.sh").read_text()
    assert 'password="$(<"$PASSWORD_FILE")"' in script  # a builtin read, no process
    lines_using_password = [line for line in script.splitlines() if "$password" in line]
    assert lines_using_password and all(
        line.strip().startswith(("password=", "[[", "CREATE USER")) for line in lines_using_password
    ), lines_using_password


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        ({"stream": "Step 1/3\n"}, None),
        ({"error": " no space left \n"}, "no space left"),
        ({"errorDetail": {"message": "denied"}}, "denied"),
        ({"errorDetail": {}}, ""),
    ],
    ids=["progress", "error", "error-detail", "empty-detail"],
)
def test_a_stream_chunk_reports_the_engines_error(chunk: dict[str, Any], expected: str | None) -> None:
    assert images._stream_error(chunk) == expected
