"""What a definition may ask of git: URLs without credentials, only https/ssh unless it opts in,
file:// only under a configured root (never another application's mirror), branch names by the
rules of ``git check-ref-format``, ssh host keys from the definition or a setting, never trusted on
first use, and ``--`` before every URL."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_rollout_executor import definitions

from stratos import artifacts
from stratos.errors import StratosError, ValidationError
from stratos.model import Artifact
from stratos.store import StateStore
from stratos.validation import parse_definition

TOKEN = "ghp_s3cretT0kenValue"
KEY_LINE = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def application(**artifact: Any) -> dict[str, Any]:
    return {
        "kind": "Application",
        "name": "shop",
        "subscriptions": [
            {"alias": "web", "cartridge": "php", "deployment_policy": "one", "artifact": artifact}
        ],
    }


def refusal(**artifact: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_definition(application(**artifact), "app.yml")
    return str(caught.value)


FIELD = "app.yml: applications/shop.subscriptions[0].artifact"


@pytest.mark.parametrize(
    ("url", "shown", "rule"),
    [
        (
            f"https://{TOKEN}@github.com/o/r.git",
            "https://***@github.com/o/r.git",
            "must not contain credentials",
        ),
        (f"https://bot:{TOKEN}@h/r.git", "https://***@h/r.git", "must not contain credentials"),
        (f"ssh://git:{TOKEN}@h/r.git", "ssh://git:***@h/r.git", "must not contain credentials"),
        (f"git://{TOKEN}@h/r.git", "git://***@h/r.git", "must not contain credentials"),
        ("--upload-pack=touch /tmp/x", "--upload-pack=touch /tmp/x", "must not start with '-'"),
        ("-oProxyCommand=x", "-oProxyCommand=x", "must not start with '-'"),
        ("ext::sh", "ext::sh", "must not name a git remote helper"),
        ("fd::17", "fd::17", "must not name a git remote helper"),
        ("git://h/r.git", "git://h/r.git", "git:// is plaintext"),
        ("http://h/r.git", "http://h/r.git", "http:// is plaintext"),
        ("file://h/srv/r.git", "file://h/srv/r.git", "file:// URL must have no host"),
        ("file:///srv/../etc/r.git", "file:///srv/../etc/r.git", "file:// URL must be a plain absolute path"),
        ("/srv/r.git", "/srv/r.git", "must be an https:// or ssh:// URL"),
        ("https://-oProxy/r.git", "https://-oProxy/r.git", "must have a host name"),
        (
            "https://h/r.git\nx",
            "https://h/r.git\nx",
            "must be a git URL without spaces or control characters",
        ),
    ],
    ids=[
        "token-as-user-name",
        "user-and-password",
        "ssh-password",
        "git-token",
        "option-upload-pack",
        "option-ssh",
        "ext-helper",
        "fd-helper",
        "git-plaintext",
        "http-plaintext",
        "file-with-host",
        "file-dotdot",
        "bare-path",
        "host-option",
        "newline",
    ],
)
def test_bad_urls_are_refused_naming_the_field_and_never_showing_a_secret(
    url: str, shown: str, rule: str
) -> None:
    message = refusal(url=url)
    assert f"{FIELD}.url ({shown!r}): {rule}" in message, message
    assert TOKEN not in message


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "https://github.com/o/r.git"},
        {"url": "https://[::1]:8443/r.git"},
        {"url": "ssh://git@github.com:22/o/r.git"},
        {"url": "git@github.com:o/r.git"},
        {"url": "file:///srv/git/r.git"},
        {"url": "git://h/r.git", "allow_plaintext": True},
        {"url": "http://h/r.git", "allow_plaintext": True},
        {"url": "ssh://git@h/r.git", "ssh_known_hosts": f"# pinned\n{KEY_LINE}\n"},
    ],
)
def test_good_urls_are_accepted(fields: dict[str, Any]) -> None:
    parse_definition(application(**fields), "app.yml")


def test_known_hosts_must_be_host_key_lines() -> None:
    message = refusal(url="ssh://git@h/r.git", ssh_known_hosts="trust me")
    assert f"{FIELD}.ssh_known_hosts ('trust me'): line 1 must be 'host key-type base64-key'" in message


NAMES = [
    "main",
    "feature/x-1",
    "release-2.0",
    "é",
    "-x",
    "--upload-pack=x",
    "HEAD",
    "@",
    "a..b",
    "a b",
    "a\tb",
    "a\x7fb",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "x.lock",
    "a/x.lock/b",
    ".x",
    "a/.x",
    "a/",
    "/a",
    "a//b",
    "a.",
    "a@{1}",
    "",
]


@pytest.mark.parametrize("name", NAMES, ids=[repr(n) for n in NAMES])
def test_branch_names_follow_git_check_ref_format(name: str) -> None:
    """git itself is the reference; beyond it, no leading '-' nor 'HEAD' / '@' (revision syntax)."""
    git_accepts = (
        subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], check=False).returncode == 0
    )
    extra = name.startswith("-") or name in ("HEAD", "@")
    try:
        Artifact(url="https://h/r.git", branch=name)
    except ValueError as exc:  # pydantic's ValidationError is one
        assert not git_accepts or extra, f"{name!r} refused but git accepts it: {exc}"
        assert "branch" in str(exc) and "check-ref-format" in str(exc)
    else:
        assert git_accepts and not extra, f"{name!r} accepted"


def test_generated_branch_names_agree_with_git() -> None:
    """400 names drawn (fixed seed) from the characters and pieces the rules are about: the model
    accepts exactly what ``git check-ref-format`` accepts, less a leading '-', 'HEAD' and '@'."""
    rng = random.Random(9)
    pieces = [
        "a",
        "b",
        "1",
        "-",
        ".",
        "/",
        "..",
        "@",
        "{",
        "@{",
        ".lock",
        " ",
        "\t",
        "~",
        "^",
        ":",
        "?",
        "*",
        "[",
    ]
    pieces += ["\\", "\x7f", "\x01", "é", "//", "main", "HEAD"]
    disagree = []
    for _ in range(400):
        name = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        git_accepts = (
            subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], check=False).returncode == 0
        )
        expected = git_accepts and not name.startswith("-") and name not in ("HEAD", "@")
        try:
            Artifact(url="https://h/r.git", branch=name)
            accepted = True
        except ValueError:
            accepted = False
        if accepted != expected:
            disagree.append((name, accepted, git_accepts))
    assert disagree == []


# --------------------------------------------------------------------------- when fetching


def stored(**fields: Any) -> Artifact:
    """An artifact as an older definition may hold it: not validated by today's rules."""
    return Artifact.model_construct(**{**Artifact(url="https://h/r.git").__dict__, **fields})


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("git://127.0.0.1:9/r.git", "plaintext; set allow_plaintext: true"),
        ("http://127.0.0.1:9/r.git", "plaintext; set allow_plaintext: true"),
        (f"https://{TOKEN}@127.0.0.1:9/r.git", "must not contain credentials"),
        ("ext::sh -c touch% {marker}", "not a transport git may use"),
        ("--upload-pack=touch {marker}", "not a transport git may use"),
    ],
    ids=["git", "http", "token", "ext", "option"],
)
def test_fetch_refuses_what_validation_refuses(
    store: StateStore, tmp_path: Path, url: str, rule: str
) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(StratosError, match=rule) as caught:
        artifacts.fetch(store, "shop", "web", stored(url=url.format(marker=marker)))
    assert TOKEN not in str(caught.value)
    assert not marker.exists()


def test_git_allows_no_other_transport_than_the_urls(store: StateStore, tmp_path: Path) -> None:
    """The allow-list is git's own (GIT_ALLOW_PROTOCOL): a redirect or a submodule naming another
    transport, or a helper, is refused by git even past our checks."""
    marker = tmp_path / "ran"
    _, env = artifacts._remote(store, Artifact(url="https://127.0.0.1:9/r.git"), tmp_path)
    for url in (f"ext::sh -c touch% {marker}", f"file://{tmp_path}", "git://127.0.0.1:9/r.git"):
        with pytest.raises(StratosError, match="not allowed|unsupported|not supported") as caught:
            artifacts.run_git(["ls-remote", "--", url], env)
        assert "transport" in str(caught.value), caught.value
    assert not marker.exists()


def test_file_urls_stay_under_the_file_root(
    store: StateStore, repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STRATOS_GIT_FILE_ROOT")  # the default: <state>/git
    with pytest.raises(StratosError, match=r"must be inside .*/state/git \(STRATOS_GIT_FILE_ROOT"):
        artifacts.fetch(store, "shop", "web", Artifact(url=f"file://{repo}"))
    (store.root / "git").mkdir()
    (store.root / "git" / "app").symlink_to(repo)  # a link out of the root is out of it
    with pytest.raises(StratosError, match="must be inside"):
        artifacts.fetch(store, "shop", "web", Artifact(url=f"file://{store.root}/git/app"))
    (store.root / "git" / "app").unlink()
    repo.rename(store.root / "git" / "app")
    assert artifacts.fetch(store, "shop", "web", Artifact(url=f"file://{store.root}/git/app"))
    monkeypatch.setenv("STRATOS_GIT_FILE_ROOT", str(tmp_path / "elsewhere"))
    with pytest.raises(StratosError, match="must be inside .*elsewhere"):
        artifacts.fetch(store, "blog", "www", Artifact(url=f"file://{store.root}/git/app"))
    assert not (store.releases_dir("blog", "www") / "repo.git").exists()


def test_one_application_cannot_read_anothers_mirror(
    store: StateStore, repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    artifacts.fetch(store, "shop", "web", Artifact(url=f"file://{repo}"))
    mirror = store.releases_dir("shop", "web") / "repo.git"
    monkeypatch.setenv("STRATOS_GIT_FILE_ROOT", "/")  # even a root that holds the state directory
    with pytest.raises(StratosError, match="must not point into the state directory"):
        artifacts.fetch(store, "blog", "www", Artifact(url=f"file://{mirror}"))
    assert not (store.releases_dir("blog", "www") / "repo.git").exists()


def recording(seen: list[tuple[list[str], dict[str, str]]]) -> artifacts.Runner:
    def run(args: Sequence[str], env: Mapping[str, str]) -> bytes:
        seen.append((list(args), dict(env)))
        return artifacts.run_git(args, env)

    return run


def test_urls_and_refs_follow_a_double_dash(store: StateStore, repo: Path, tmp_path: Path) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    artifacts.sync(store, "shop", "web", Artifact(url=f"file://{repo}"), git=recording(seen))
    moved = tmp_path / "moved"
    repo.rename(moved)
    artifacts.sync(store, "shop", "web", Artifact(url=f"file://{moved}"), git=recording(seen))
    verbs = {"clone": "file://", "fetch": "origin", "remote": "origin"}  # remote set-url -- origin URL
    for verb, first in verbs.items():
        calls = [args for args, _ in seen if verb in args]
        assert calls, f"no git {verb} in {seen}"
        for args in calls:
            operand = next(i for i, a in enumerate(args) if a.startswith(first))
            assert args[operand - 1] == "--", args
    for args, env in seen:
        if "clone" in args or "fetch" in args:
            assert "transfer.fsckObjects=true" in args and env["GIT_ALLOW_PROTOCOL"] == "file"
            assert "http.lowSpeedTime=30" in args and "http.lowSpeedLimit=1000" in args
        if "rev-parse" in args or "log" in args:
            assert "--end-of-options" in args, args


def test_ssh_host_keys_are_never_trusted_on_first_use(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STRATOS_GIT_KNOWN_HOSTS", raising=False)
    with pytest.raises(StratosError, match="ssh needs the remote's host keys: set artifact.ssh_known_hosts"):
        artifacts.fetch(store, "shop", "web", Artifact(url="ssh://git@127.0.0.1:9/r.git"))
    seen: list[tuple[list[str], dict[str, str]]] = []
    with pytest.raises(StratosError):  # nothing listens on port 9
        artifacts.fetch(
            store,
            "shop",
            "web",
            Artifact(url="ssh://git@127.0.0.1:9/r.git", ssh_known_hosts=KEY_LINE),
            git=recording(seen),
        )
    known = store.releases_dir("shop", "web") / "known_hosts"
    assert known.read_text() == KEY_LINE + "\n"
    command = seen[0][1]["GIT_SSH_COMMAND"]
    assert "StrictHostKeyChecking=yes" in command and "accept-new" not in command
    assert f"UserKnownHostsFile={known}" in command and "GlobalKnownHostsFile=/dev/null" in command
    assert "ConnectTimeout=10" in command and "ServerAliveInterval=10" in command
    setting = tmp_path / "known_hosts"
    setting.write_text(KEY_LINE + "\n")
    monkeypatch.setenv("STRATOS_GIT_KNOWN_HOSTS", str(setting))
    seen.clear()
    with pytest.raises(StratosError):
        artifacts.fetch(store, "shop", "web", Artifact(url="git@127.0.0.1:r.git"), git=recording(seen))
    assert f"UserKnownHostsFile={setting}" in seen[0][1]["GIT_SSH_COMMAND"]


def test_a_url_recorded_by_the_agent_is_redacted(tmp_path: Path, store: StateStore, repo: Path) -> None:
    """An older definition holding a token in its URL: the fetch_failed event never stores it."""
    from stratos.agent import rollout

    events: list[tuple[Any, ...]] = []
    rollouts = rollout.Rollouts(
        store,
        docker=None,  # type: ignore[arg-type]
        record=lambda *args, **kwargs: events.append((args, kwargs)),
        clock=lambda: 1000.0,
        sleep=lambda s: None,
    )
    ds = definitions(store, repo)
    sub = ds.applications["shop"].subscriptions[0]
    bad = stored(url=f"https://{TOKEN}@127.0.0.1:9/r.git")
    object.__setattr__(sub, "artifact", bad)
    rollouts.tick(ds, [], 1000.0)
    assert [a[0][3] for a in events] == ["fetch_failed"]
    assert TOKEN not in repr(events)
    assert events[0][1]["details"]["url"] == "https://***@127.0.0.1:9/r.git"
