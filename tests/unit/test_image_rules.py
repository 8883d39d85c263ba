"""Every definition the image build refuses, ``stratos validate`` refuses first.

The build (:mod:`stratos.images`) keeps no rule of its own about a definition: it takes the
model's :class:`~stratos.model.Cartridge`, and a mapping goes through the model before anything is
rendered. This module proves it three ways:

- ``RULES``: one hostile cartridge per rule a build depends on (the Dockerfile's lines, the
  context's files, their modes and sources). ``stratos validate`` (the CLI) and the validation API
  refuse each with the file, the field and the rule, and change nothing on disk; the build given the
  same definition refuses it with the same problem, from the model, before rendering anything.
- ``BUILD_REFUSALS``: every ``raise`` of an image error in ``stratos/images.py``, found by reading
  the source, is listed with the reason it is not a rule of a definition (an argument of the
  build, Docker's answer, or the resolved ``src`` file that ``validate`` checks with the same
  function). A new refusal added to the build fails this test until it is a model rule or listed.
- a property: whatever definition the model accepts renders a build context without an error.
"""

from __future__ import annotations

import ast
import hashlib
import os
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from definition_cases import IMAGE_BUILD, with_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratos import images
from stratos.cli import main
from stratos.errors import ImageBuildError, ValidationError
from stratos.model import Cartridge
from stratos.validation import load, parse_definition

CARTRIDGE: dict[str, Any] = {
    "kind": "Cartridge",
    "name": "c",
    "version": "1.0",
    "image": {
        "build": {
            **IMAGE_BUILD,
            "files": [*IMAGE_BUILD["files"], {"path": "/etc/c.conf", "content": "x=1\n"}],
            "tag": "stratos/cartridge-c:1.0",
        }
    },
}
C = "cartridges/c"


def write(root: Path, doc: dict[str, Any]) -> Path:
    (root / "files").mkdir(exist_ok=True)
    (root / "files" / "start.sh").write_text('#!/bin/sh\nexec "$@"\n')
    path = root / "c.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def changed(dotted: str, value: Any) -> dict[str, Any]:
    """The cartridge with ``dotted`` (``a.b[0].c``) set to ``value``."""
    return dict(with_value(CARTRIDGE, dotted, value))


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"", p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def refusal(case: str, dotted: str, value: Any, fragment: str, at: str | None = None) -> Any:
    """One row: ``dotted`` set to ``value``; the problem is at ``cartridges/c.<at>`` (default: the field)."""
    return pytest.param(changed(dotted, value), f"{C}.{at or dotted}", fragment, id=case)


# One hostile cartridge per rule a build depends on: (field changed, hostile value, a fragment of the rule)
RULES = [
    pytest.param(changed("name", "C_1"), "cartridges/C_1.name", "must be a DNS label", id="name"),
    refusal("version", "version", "1.0\nRUN id", "must be a Docker tag"),
    refusal("base", "image.build.base", "Not/An:Image", "Docker image reference"),
    refusal("base-long", "image.build.base", "a/" * 130 + "b", "Docker image reference"),
    refusal("tag", "image.build.tag", "UPPER:case", "Docker image reference"),
    refusal("package", "image.build.packages", ["curl;id"], "Debian package", at="image.build.packages[0]"),
    refusal(
        "package-upper", "image.build.packages", ["Apache2"], "Debian package", at="image.build.packages[0]"
    ),
    refusal("packages-many", "image.build.packages", ["a1"] * 1025, "at most 1024"),
    refusal("env-key", "image.build.env", {"A-B": "1"}, "variable name", at="image.build.env.A-B.[key]"),
    refusal("env-value", "image.build.env", {"A": "x\ny"}, "control characters", at="image.build.env.A"),
    refusal("env-number", "image.build.env", {"A": 1}, "must be a string", at="image.build.env.A"),
    refusal("expose-zero", "image.build.expose", [0], "must be >= 1", at="image.build.expose[0]"),
    refusal("expose-high", "image.build.expose", [65536], "must be <= 65535", at="image.build.expose[0]"),
    refusal("expose-text", "image.build.expose", ["80"], "not a string", at="image.build.expose[0]"),
    refusal("workdir-relative", "image.build.workdir", "app", "absolute path"),
    refusal("workdir-newline", "image.build.workdir", "/app\nRUN id", "control char"),
    refusal("workdir-dotdot", "image.build.workdir", "/a/../b", "'..'"),
    refusal("command-newline", "image.build.command", ["a\nb"], "control char", at="image.build.command[0]"),
    refusal(
        "entrypoint-newline", "image.build.entrypoint", ["a\rb"], "control", at="image.build.entrypoint[0]"
    ),
    refusal("run-empty", "image.build.run", ["  "], "must not be empty", at="image.build.run[0]"),
    refusal("run-control", "image.build.run", ["echo \x1b"], "control characters", at="image.build.run[0]"),
    refusal("file-path-relative", "image.build.files[1].path", "etc/x", "absolute"),
    refusal("file-path-dotdot", "image.build.files[1].path", "/a/../b", "'..'"),
    refusal("file-path-dir", "image.build.files[1].path", "/a/", "file path"),
    refusal("file-path-newline", "image.build.files[1].path", "/a\nb", "control"),
    refusal("file-mode", "image.build.files[1].mode", "rwx", "octal"),
    refusal("file-mode-number", "image.build.files[1].mode", 644, "a string"),
    refusal("file-mode-newline", "image.build.files[1].mode", "0644\n", "octal"),
    refusal("file-no-source", "image.build.files[1]", {"path": "/x"}, "exactly one of 'src' or 'content'"),
    refusal(
        "file-two-sources",
        "image.build.files[1]",
        {"path": "/x", "content": "", "src": "files/start.sh"},
        "exactly one of 'src' or 'content'",
    ),
    refusal("file-src-dotdot", "image.build.files[0].src", "../x", "no '..'"),
    refusal("file-src-missing", "image.build.files[0].src", "files/none", "exist"),
    refusal("file-src-outside", "image.build.files[0].src", "/etc/passwd", "inside"),
    refusal("file-src-dir", "image.build.files[0].src", "files", "regular file"),
    refusal("unknown-field", "image.build.user", "root", "not a known field"),
    refusal("ref-and-build", "image.ref", "nginx:1", "exactly one of 'ref' or 'build'", at="image"),
]


@pytest.mark.parametrize(("doc", "path", "rule"), RULES)
def test_validate_refuses_first_what_the_image_build_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict[str, Any], path: str, rule: str
) -> None:
    file = write(tmp_path, doc)
    before = snapshot(tmp_path)

    # The validation API names the file, the field and the rule.
    with pytest.raises(ValidationError) as caught:
        load([tmp_path])
    found = [(p.file, p.path, p.rule) for p in caught.value.problems]
    assert any(f == str(file) and p == path and rule in r for f, p, r in found), found

    # So does the CLI, without a traceback, and it changes nothing.
    capsys.readouterr()
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{file}: {path}" in err and rule in err and "Traceback" not in err
    assert snapshot(tmp_path) == before

    # The build refuses the same definition with the model's problem (or, for a file it must
    # read, with the rule validate applied), before rendering anything.
    with pytest.raises((ValidationError, ImageBuildError)) as refused:
        images.render_build(images.CartridgeImage.of(doc, tmp_path), "stratos/debian:bookworm")
    if isinstance(refused.value, ValidationError):
        assert [(p.path, p.rule) for p in refused.value.problems] == [
            (p, r) for f, p, r in found if f == str(file)
        ]
    else:
        assert path.removeprefix(f"{C}.") in str(refused.value) and rule in str(refused.value)
    assert snapshot(tmp_path) == before


def test_a_symbolic_link_out_of_the_directory_is_refused_by_validate_and_by_the_build(tmp_path: Path) -> None:
    doc = changed("image.build.files[0].src", "files/link")
    write(tmp_path, doc)
    os.symlink("/etc/passwd", tmp_path / "files" / "link")
    with pytest.raises(ValidationError) as caught:
        load([tmp_path])
    assert [(p.path, "must stay inside" in p.rule) for p in caught.value.problems] == [
        (f"{C}.image.build.files[0].src", True)
    ]
    image = images.CartridgeImage.of(doc, tmp_path)
    with pytest.raises(
        ImageBuildError, match=r"files\[0\]\.src .*must stay inside the definition's directory"
    ):
        images.render_build(image, "stratos/debian:bookworm")


def test_the_unchanged_cartridge_is_valid_and_renders(tmp_path: Path) -> None:
    write(tmp_path, CARTRIDGE)
    cartridge = load([tmp_path]).cartridges["c"]
    context = images.render_build(images.CartridgeImage.of(cartridge, tmp_path))
    assert context.base == "stratos/debian:bookworm"
    assert [f.name for f in context.files] == ["files/00-start", "files/01-c.conf"]


# --------------------------------------------------------------------------- the build's own refusals

IMAGES_SOURCE = Path(images.__file__)
REFUSALS = {"ImageBuildError", "ImagePushError", "ValidationError"}

#: function of stratos/images.py -> number of image errors it raises, and why none is a definition rule.
BUILD_REFUSALS: dict[str, tuple[int, str]] = {
    "CartridgeImage.of": (1, "the cartridge is valid with a ready image (image.ref): nothing to build"),
    "as_cartridge": (1, "a mapping of another kind (valid as that kind): not a cartridge"),
    "_context_file": (
        2,
        "the src file, resolved by validation.source_file as validate does; a spec without a directory",
    ),
    "_argument": (
        1,
        "the build's base and tag arguments and the STRATOS_BASE_IMAGE setting, by the model's rule",
    ),
    "registry_ref": (1, "the registry argument"),
    "build_image": (1, "pull_base off and no base image"),
    "docker_client": (1, "Docker Engine unreachable"),
    "_pull": (1, "Docker's answer"),
    "_build": (4, "Docker's answer"),
    "_push": (4, "Docker's answer / the registry's"),
}


def _raise_sites() -> dict[str, int]:
    tree = ast.parse(IMAGES_SOURCE.read_text())
    sites: dict[str, int] = {}

    def walk(node: ast.AST, owner: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef):
                walk(child, f"{owner}.{child.name}" if owner else child.name)
                continue
            if isinstance(child, ast.Raise) and isinstance(child.exc, ast.Call):
                call = child.exc.func
                if isinstance(call, ast.Name) and call.id in REFUSALS:
                    sites[owner] = sites.get(owner, 0) + 1
            walk(child, owner)

    walk(tree, "")
    return sites


def test_every_refusal_of_the_build_is_accounted_for() -> None:
    """Each image error stratos/images.py raises is a refusal no definition can cause; a new one
    must become a model rule (and a row of RULES) or be listed here with its reason."""
    assert _raise_sites() == {where: count for where, (count, _) in BUILD_REFUSALS.items()}


def test_the_build_arguments_are_checked_by_the_model_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    image = images.CartridgeImage.of({"name": "c", "image": {"build": {}}})
    with pytest.raises(
        ImageBuildError, match=r"image\.build\.base \('Not An Image'\): must be a Docker image"
    ):
        images.render_build(image, "Not An Image")
    monkeypatch.setenv("STRATOS_BASE_IMAGE", "UPPER:x")
    with pytest.raises(ImageBuildError, match=r"image\.build\.base \('UPPER:x'\)"):
        images.render_build(image)


def test_a_cartridge_with_a_ready_image_is_valid_and_has_nothing_to_build() -> None:
    doc = {"kind": "Cartridge", "name": "web", "image": {"ref": "nginx:1"}}
    assert isinstance(parse_definition(doc), Cartridge)
    with pytest.raises(
        ImageBuildError, match=r"cartridge 'web': image\.build is not set \(image\.ref is 'nginx:1'"
    ):
        images.CartridgeImage.of(doc)


def test_a_mapping_of_another_kind_is_not_a_cartridge() -> None:
    with pytest.raises(ValidationError, match="kind"):
        images.CartridgeImage.of(
            {"kind": "AutoscalingPolicy", "name": "p", "thresholds": {"load_average": 1}}
        )


# --------------------------------------------------------------------------- the property

_TEXT = st.text(alphabet=string.printable + "\x00\x1b\u2028é$\"'\\", max_size=12)
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "base": st.one_of(st.none(), st.sampled_from(["debian:bookworm", "r.example:5000/a/b:1", "A:b"]), _TEXT),
    "packages": st.lists(st.one_of(st.sampled_from(["curl", "libfoo=1.2-3", "x", "a;b"]), _TEXT), max_size=3),
    "run": st.lists(st.one_of(st.sampled_from(["true", "a \\", "a\nb", " "]), _TEXT), max_size=3),
    "command": st.lists(_TEXT, max_size=3),
    "entrypoint": st.one_of(st.none(), st.lists(_TEXT, max_size=2)),
    "workdir": st.one_of(st.none(), st.sampled_from(["/app", "app", "/a/../b"]), _TEXT),
    "env": st.dictionaries(st.one_of(st.sampled_from(["A", "_B1", "1A"]), _TEXT), _TEXT, max_size=3),
    "expose": st.lists(st.one_of(st.integers(-1, 70000), st.sampled_from([80.0, "80", True])), max_size=3),
    "tag": st.one_of(st.none(), st.sampled_from(["my/img:2", "UP:x"]), _TEXT),
    "files": st.lists(
        st.fixed_dictionaries(
            {
                "path": st.one_of(st.sampled_from(["/etc/x", "/a/", "x", "/a/../b"]), _TEXT),
                "mode": st.one_of(st.sampled_from(["0644", "755", "0999", "rwx"]), _TEXT),
            },
            optional={
                "content": _TEXT,
                "src": st.sampled_from(["files/start.sh", "../x", "files/none", "/etc/passwd"]),
            },
        ),
        max_size=2,
    ),
}
_BUILDS = st.fixed_dictionaries({}, optional=_VALUES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(build=_BUILDS, name=st.sampled_from(["c", "C", "a-b"]), version=st.sampled_from(["1.0", "-1", "1 0"]))
def test_a_definition_that_validates_renders_without_a_rule_error(
    tmp_path: Path, build: dict[str, Any], name: str, version: str
) -> None:
    """Whatever the model accepts (and validate's file check passes), the build renders."""
    doc = {"kind": "Cartridge", "name": name, "version": version, "image": {"build": build}}
    key = hashlib.sha256(repr(doc).encode()).hexdigest()[:12]
    root = tmp_path / key
    root.mkdir(exist_ok=True)
    write(root, doc)
    try:
        cartridge = load([root]).cartridges[name]
    except ValidationError:
        return
    context = images.render_build(images.CartridgeImage.of(cartridge, root), "stratos/debian:bookworm")
    assert "\nFROM " in context.dockerfile
    assert all("\x00" not in line and "\r" not in line for line in context.dockerfile.splitlines())
