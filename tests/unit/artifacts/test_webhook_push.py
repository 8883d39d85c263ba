"""Webhook verification (GitHub/Gitea HMAC-SHA256, GitLab token), the binding of a delivery to the
application's repository and to a replay window, and what a push triggers."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
import support

from stratos.agent import webhook
from stratos.releases import triggers
from stratos.store import StateStore
from stratos.validation import parse_definition

SECRET = "s3cr3t-hook"
SHA = "c0ffee" + "0" * 34


SHOP = "https://git.example.com/shop.git"
ADMIN = "https://git.example.com/admin.git"


def push(ref: str = "refs/heads/main", after: str = SHA, repo: str | None = SHOP, **extra: Any) -> bytes:
    data: dict[str, Any] = {"ref": ref, "before": "0" * 40, "after": after, "commits": [], **extra}
    if repo is not None:
        data["repository"] = {"name": "x", "clone_url": repo}
    return json.dumps(data).encode()


def hub(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = StateStore(tmp_path / "state")
    s.ensure()
    secret = tmp_path / "hook.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    docs: list[dict[str, Any]] = [
        *support.one_partition_platform(),
        support.git_application(
            "shop",
            support.hooked("web", SHOP, secret),
            support.hooked("admin", ADMIN, secret, branch="release"),
        ),
        support.git_application("other", support.hooked("web", "https://git.example.com/other.git", secret)),
        support.git_application("open", support.hooked("web", "https://git.example.com/open.git", None)),
    ]
    for doc in docs:
        s.apply(s.plan_put(parse_definition(doc)))
    return s


BODY = push()
CASES: list[tuple[str, str, dict[str, str], bytes, int, tuple[str, ...]]] = [
    (
        "github-push",
        "shop",
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": hub(BODY)},
        BODY,
        202,
        ("web",),
    ),
    ("gitea-push", "shop", {"X-Gitea-Event": "push", "X-Hub-Signature-256": hub(BODY)}, BODY, 202, ("web",)),
    (
        "gitea-legacy-signature",
        "shop",
        {"X-Gitea-Event": "push", "X-Gitea-Signature": hub(BODY).removeprefix("sha256=")},
        BODY,
        202,
        ("web",),
    ),
    ("gitlab-token", "shop", {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}, BODY, 202, ("web",)),
    (
        "header-case-does-not-matter",
        "shop",
        {"x-hub-signature-256": hub(BODY).upper().replace("SHA256=", "sha256=")},
        BODY,
        202,
        ("web",),
    ),
    (
        "other-branch-subscription",
        "shop",
        {"X-Hub-Signature-256": hub(push("refs/heads/release", repo=ADMIN))},
        push("refs/heads/release", repo=ADMIN),
        202,
        ("admin",),
    ),
    (
        "scp-like-ssh-url",
        "shop",
        {"X-Hub-Signature-256": hub(push(repo=None, repository={"ssh_url": "git@git.example.com:shop"}))},
        push(repo=None, repository={"ssh_url": "git@git.example.com:shop"}),
        202,
        ("web",),
    ),
    (
        "gitlab-project-url",
        "shop",
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET},
        push(repo=None, project={"git_http_url": "HTTPS://Git.Example.com/shop/"}),
        202,
        ("web",),
    ),
    (
        "another-repository",
        "shop",
        {"X-Hub-Signature-256": hub(push(repo="https://git.example.com/other.git"))},
        push(repo="https://git.example.com/other.git"),
        403,
        (),
    ),
    (
        "same-path-other-host",
        "shop",
        {"X-Hub-Signature-256": hub(push(repo="https://evil.example.net/shop.git"))},
        push(repo="https://evil.example.net/shop.git"),
        403,
        (),
    ),
    ("no-repository", "shop", {"X-Hub-Signature-256": hub(push(repo=None))}, push(repo=None), 403, ()),
    ("missing-signature", "shop", {"X-GitHub-Event": "push"}, BODY, 401, ()),
    (
        "wrong-secret",
        "shop",
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": hub(BODY, "nope")},
        BODY,
        401,
        (),
    ),
    ("tampered-body", "shop", {"X-Hub-Signature-256": hub(BODY)}, push(after="f" * 40), 401, ()),
    ("sha1-scheme-refused", "shop", {"X-Hub-Signature-256": "sha1=" + hub(BODY)[7:]}, BODY, 401, ()),
    (
        "wrong-gitlab-token",
        "shop",
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET + "x"},
        BODY,
        401,
        (),
    ),
    ("no-secret-configured", "open", {"X-Hub-Signature-256": hub(BODY)}, BODY, 403, ()),
    ("unknown-application", "nope", {"X-Hub-Signature-256": hub(BODY)}, BODY, 404, ()),
    ("ping", "shop", {"X-GitHub-Event": "ping", "X-Hub-Signature-256": hub(b"{}")}, b"{}", 200, ()),
    ("not-a-push", "shop", {"X-GitHub-Event": "issues", "X-Hub-Signature-256": hub(BODY)}, BODY, 202, ()),
    (
        "unfollowed-branch",
        "shop",
        {"X-Hub-Signature-256": hub(push("refs/heads/dev"))},
        push("refs/heads/dev"),
        202,
        (),
    ),
    ("tag-push", "shop", {"X-Hub-Signature-256": hub(push("refs/tags/v1"))}, push("refs/tags/v1"), 202, ()),
    (
        "deleted-branch",
        "shop",
        {"X-Hub-Signature-256": hub(push(after="0" * 40))},
        push(after="0" * 40),
        202,
        (),
    ),
    ("not-json", "shop", {"X-Hub-Signature-256": hub(b"<xml/>")}, b"<xml/>", 400, ()),
]


@pytest.mark.parametrize(
    ("application", "headers", "body", "status", "aliases"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
@pytest.mark.parametrize("published", [False, True], ids=["definitions", "published-table"])
def test_check_push(
    store: StateStore,
    application: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    aliases: tuple[str, ...],
    published: bool,
) -> None:
    """The same answers from the definitions and from the table the agent publishes for a separate
    HTTP process."""
    if published:
        webhook.publish(store, store.load())
    code, answer, trigger = webhook.check_push(headers, body, application, store, published=published)
    assert code == status, answer
    assert (trigger.subscriptions if trigger else ()) == aliases
    assert SECRET not in json.dumps(answer)
    assert not triggers.has_requests(store)  # checking writes nothing


def test_github_form_encoded_payload(store: StateStore) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": BODY.decode()}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Hub-Signature-256": hub(body)}
    code, answer, trigger = webhook.check_push(headers, body, "shop", store)
    assert (code, trigger and trigger.sha) == (202, SHA)


def test_handle_push_writes_the_request_and_wakes_the_agent(store: StateStore) -> None:
    woken: list[int] = []
    code, answer = webhook.handle_push(
        "shop", {"X-Hub-Signature-256": hub(BODY)}, BODY, store, wake=lambda: woken.append(1)
    )
    assert (code, answer["subscriptions"], woken) == (202, ["web"], [1])
    requests = triggers.take_requests(store)
    assert list(requests) == [("shop", "web")]
    (request,) = requests[("shop", "web")]
    assert (request.kind, request.source, request.sha) == ("sync", "webhook (generic)", SHA)
    assert not triggers.has_requests(store)  # taken


def test_a_signature_for_one_application_posted_to_another_is_refused(store: StateStore) -> None:
    """``shop`` and ``other`` share a secret: shop's signed push posted to other's URL does nothing."""
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": hub(BODY)}
    code, answer = webhook.handle_push("other", headers, BODY, store)
    assert code == 403
    assert "git.example.com/shop" in answer["error"] and "'other'" in answer["error"]
    assert not triggers.has_requests(store)
    # the same delivery posted where it belongs is carried out (refusing it did not spend it)
    assert webhook.handle_push("shop", headers, BODY, store)[0] == 202


def test_a_replayed_delivery_does_nothing(store: StateStore) -> None:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": hub(BODY)}
    assert webhook.handle_push("shop", headers, BODY, store, now=1000.0)[0] == 202
    assert list(triggers.take_requests(store)) == [("shop", "web")]

    code, answer = webhook.handle_push("shop", headers, BODY, store, now=1001.0)
    assert (code, answer["error"]) == (409, "replay: delivery d-1 was received in the last 3600s")
    # a new (unsigned) delivery id on the same signed body is still a replay
    renamed = {**headers, "X-GitHub-Delivery": "d-2"}
    assert webhook.handle_push("shop", renamed, BODY, store, now=1002.0)[0] == 409
    # the window is kept on disk: a restarted server remembers it
    guard = webhook.ReplayGuard(webhook.replay_file(store))
    assert webhook.handle_push("shop", renamed, BODY, store, replays=guard, now=1003.0)[0] == 409
    assert not triggers.has_requests(store)
    assert webhook.replay_file(store).stat().st_mode & 0o777 == 0o640
    # after the window the same push counts again
    later = 1000.0 + webhook.REPLAY_WINDOW + 1
    assert webhook.handle_push("shop", renamed, BODY, store, now=later)[0] == 202


def test_a_delivery_id_seen_before_is_a_replay_whatever_the_body(store: StateStore) -> None:
    first = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "u-1", "X-Gitlab-Token": SECRET}
    assert webhook.handle_push("shop", first, BODY, store, now=10.0)[0] == 202
    other_body = push(after="b" * 40)
    assert webhook.handle_push("shop", first, other_body, store, now=11.0)[0] == 409


def test_refused_deliveries_do_not_enter_the_window(store: StateStore) -> None:
    headers = {"X-GitHub-Delivery": "d-9", "X-Hub-Signature-256": hub(BODY, "wrong")}
    assert webhook.handle_push("shop", headers, BODY, store, now=5.0)[0] == 401
    good = {**headers, "X-Hub-Signature-256": hub(BODY)}
    assert webhook.handle_push("shop", good, BODY, store, now=6.0)[0] == 202


def test_the_window_is_bounded() -> None:
    guard = webhook.ReplayGuard(None, window=100.0, limit=3)
    for i in range(5):
        assert guard.check_and_remember("shop", [f"body:{i}"], float(i)) is None
    assert guard.check_and_remember("shop", ["body:4"], 5.0) == "body:4"  # the newest are kept
    assert guard.check_and_remember("shop", ["body:0"], 6.0) is None  # the oldest forgotten
    assert guard.check_and_remember("other", ["body:4"], 7.0) is None  # per application


def test_a_refused_push_changes_nothing(store: StateStore) -> None:
    code, _ = webhook.handle_push("shop", {"X-Hub-Signature-256": hub(BODY, "wrong")}, BODY, store)
    assert code == 401
    assert not triggers.has_requests(store)


def test_sign_matches_what_verify_accepts() -> None:
    assert webhook.verify({"X-Hub-Signature-256": webhook.sign(SECRET, b"x")}, b"x", SECRET) == (
        True,
        "X-Hub-Signature-256",
    )
    assert webhook.verify({}, b"x", SECRET) == (None, "")


def test_requests_round_trip_and_bad_files_are_dropped(store: StateStore) -> None:
    triggers.request_sync(store, "shop", ["web", "admin"], "stratos sync")
    triggers.request_rollback(store, "shop", "web", "a" * 40, "stratos rollback")
    (triggers.triggers_dir(store) / "shop.web.sync.tmp").write_text("ignored: not a request name")
    (triggers.triggers_dir(store) / "shop.db.sync").write_text("{not json")
    assert triggers.has_requests(store)
    taken = triggers.take_requests(store)
    assert sorted(taken) == [("shop", "admin"), ("shop", "web")]
    assert sorted(r.kind for r in taken[("shop", "web")]) == ["rollback", "sync"]
    assert (triggers.triggers_dir(store) / "shop.web.sync.tmp").exists()
    assert not (triggers.triggers_dir(store) / "shop.db.sync").exists()
    assert (triggers.triggers_dir(store) / "shop.web.sync.tmp").read_text().startswith("ignored")


# --------------------------------------------------------------------------- the published table


def test_the_published_table_holds_routes_and_webhook_secrets_only(store: StateStore) -> None:
    ds = store.load()
    webhook.publish(store, ds)
    directory = webhook.hooks_dir(store)
    assert sorted(p.name for p in directory.iterdir()) == ["open.json", "other.json", "shop.json"]
    shop = directory / "shop.json"
    assert shop.stat().st_mode & 0o777 == 0o640
    data = json.loads(shop.read_text())
    assert data["subscriptions"] == [
        {"alias": "web", "branch": "main", "secret": SECRET, "url": SHOP},
        {"alias": "admin", "branch": "release", "secret": SECRET, "url": ADMIN},
    ]
    # An artifact without a webhook secret is listed (its webhook is 403, not 404), with no secret.
    assert json.loads((directory / "open.json").read_text())["subscriptions"][0]["secret"] is None
    # Unchanged: not rewritten (same inode); an application gone: its file goes.
    inode = shop.stat().st_ino
    webhook.publish(store, ds)
    assert shop.stat().st_ino == inode
    del ds.applications["other"]
    webhook.publish(store, ds)
    assert sorted(p.name for p in directory.iterdir()) == ["open.json", "shop.json"]


def test_the_published_table_answers_before_publication_and_for_odd_names(store: StateStore) -> None:
    headers = {"X-Hub-Signature-256": hub(BODY)}
    code, answer, _ = webhook.check_push(headers, BODY, "shop", store, published=True)
    assert code == 503 and "not published" in answer["error"]
    webhook.publish(store, store.load())
    for name in ("../shop", "shop/../../x", ".hidden", "nope"):
        assert webhook.check_push(headers, BODY, name, store, published=True)[0] == 404
    (webhook.hooks_dir(store) / "shop.json").write_text("{not json")
    code, answer, _ = webhook.check_push(headers, BODY, "shop", store, published=True)
    assert code == 503 and "unreadable" in answer["error"]


def test_publishing_never_raises(store: StateStore, caplog: pytest.LogCaptureFixture) -> None:
    webhook.hooks_dir(store).write_text("a file where the directory should be")
    webhook.publish(store, store.load())  # logged, not raised
    assert "publishing the webhook table" in caplog.text
