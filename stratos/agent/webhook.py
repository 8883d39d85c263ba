"""``POST /hooks/git/<application>``: a push notification makes the agent fetch the branch at once.

Accepted senders and how each proves itself with the subscription's secret
(``artifact.credentials.webhook_secret_file``, read on every request, never logged):

- GitHub, Gitea, Forgejo: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``;
- Gitea and Gogs (older): ``X-Gitea-Signature`` / ``X-Gogs-Signature``: the same HMAC, bare hex;
- GitLab: ``X-Gitlab-Token: <the secret>``.

Comparisons are constant-time. A missing or wrong signature is 401 and nothing happens; an
application whose subscriptions have no webhook secret refuses webhooks (403).

A signature covers the body only (that is what GitHub, Gitea and GitLab sign), so two more checks
bind a delivery to the URL it was posted to and to the moment it was sent:

- **the application**: the push must name the repository of the subscription's artifact
  (``repository.clone_url``/``ssh_url``/``git_url``/``html_url``/``url`` or GitLab's
  ``project.git_http_url``/``git_ssh_url``/``web_url``, compared without scheme, user, port,
  ``.git`` and case); a signed push for another repository, e.g. one of another application that
  shares the secret, is 403 and writes nothing. Give each application a secret of its own all the
  same: a secret is what proves the sender.
- **replays**: a verified delivery is remembered for :data:`REPLAY_WINDOW` seconds by its delivery id
  (``X-GitHub-Delivery``, ``X-Gitea-Delivery``, ``X-Gogs-Delivery``, ``X-Gitlab-Event-UUID``) and by the
  SHA-256 of its body (the id is not signed: a replayed body with a new id is still a replay), per
  application, in ``<state>/agent/http/webhooks.json`` (:class:`ReplayGuard`, bounded to
  :data:`REPLAY_MAX` entries). A second delivery is 409 and writes nothing.

A verified, fresh push (``X-GitHub-Event: push``, ``X-Gitea-Event: push``, ``X-Gitlab-Event: Push
Hook``, or no event header) to the repository and branch of a subscription whose secret verified it
writes a ``sync`` request for that subscription (:func:`stratos.releases.triggers.request_sync`) and
wakes the agent: 202. A ``ping`` is 200; other events and other branches are 202 with ``ignored``
and change nothing.

:func:`check_push` decides (reads the definitions and the secret files, writes nothing);
:func:`handle_push`, which the agent's HTTP server calls (:mod:`stratos.agent.http`), checks the
replay window and carries it out.

**The HTTP side in a process of its own** (``stratos agent-http``, another uid, docs/security.md)
reads neither the definitions nor the secret files: the agent *publishes* what a webhook needs each
tick (:func:`publish`), one file per application with an artifact, ``<state>/agent/hooks/<app>.json``
(0640, the agent's group): each subscription's alias, repository URL, branch and webhook secret, and
nothing else (no git credential, no generated secret). ``check_push(..., published=True)`` decides
from those files. A changed definition or secret reaches the HTTP side at the agent's next tick.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stratos.errors import StratosError
from stratos.fsutil import STATE, atomic_write_text
from stratos.releases.triggers import Trigger, request_trigger
from stratos.store import StateStore
from stratos.validation import DefinitionSet

log = logging.getLogger("stratos.agent.webhook")

_ZERO = "0" * 40


#: Seconds a delivery is remembered (GitHub retries a failed delivery only when asked to).
REPLAY_WINDOW = 3600.0
#: Deliveries remembered at most (the oldest are forgotten first); only verified ones count.
REPLAY_MAX = 4096

_DELIVERY_HEADERS = ("x-github-delivery", "x-gitea-delivery", "x-gogs-delivery", "x-gitlab-event-uuid")


Result = tuple[int, dict[str, Any], Trigger | None]


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``body`` (what GitHub sends; tests use it too)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> tuple[bool | None, str]:
    """(True, scheme) when a signature header verifies with ``secret``, (False, scheme) when one does
    not, (None, '') when the request carries none."""
    h = {k.lower(): v for k, v in headers.items()}
    key = secret.encode()
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    if "x-hub-signature-256" in h:
        given = h["x-hub-signature-256"].strip()
        scheme, _, digest = given.partition("=")
        ok = scheme.lower() == "sha256" and hmac.compare_digest(digest.lower().encode(), expected.encode())
        return ok, "X-Hub-Signature-256"
    for name in ("x-gitea-signature", "x-gogs-signature"):
        if name in h:
            return hmac.compare_digest(h[name].strip().lower().encode(), expected.encode()), name
    if "x-gitlab-token" in h:
        return hmac.compare_digest(h["x-gitlab-token"].encode(), key), "X-Gitlab-Token"
    return None, ""


def _event(h: Mapping[str, str]) -> tuple[str, str]:
    """(sender, event) from the event headers; a request without one is taken as a push."""
    for header, sender in (
        ("x-github-event", "github"),
        ("x-gitea-event", "gitea"),
        ("x-gogs-event", "gogs"),
        ("x-gitlab-event", "gitlab"),
    ):
        if header in h:
            return sender, h[header].strip()
    return "generic", "push"


def _payload(h: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The JSON payload (also GitHub's ``application/x-www-form-urlencoded`` ``payload=``)."""
    text = body.decode("utf-8")
    if h.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded":
        text = (parse_qs(text).get("payload") or [""])[0]
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the payload is not a JSON object")
    return data


def _secret(path: str, *, quiet: bool = False) -> str | None:
    try:
        return Path(path).read_text().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        if not quiet:
            log.warning("webhook secret %s cannot be read: %s", path, getattr(exc, "strerror", None) or exc)
        return None


@dataclass(frozen=True)
class Target:
    """What a webhook of one subscription is checked against."""

    alias: str
    url: str
    branch: str
    secret: str | None


def targets(ds: DefinitionSet, application: str, *, quiet: bool = False) -> list[Target]:
    """The subscriptions of ``application`` with an artifact, their secrets read from their files."""
    app = ds.applications.get(application)
    found = []
    for sub in app.subscriptions if app is not None else []:
        if sub.artifact is None:
            continue
        creds = sub.artifact.credentials
        secret = None
        if creds is not None and creds.webhook_secret_file:
            secret = _secret(creds.webhook_secret_file, quiet=quiet) or None
        found.append(Target(sub.alias, sub.artifact.url, sub.artifact.branch, secret))
    return found


def hooks_dir(store: StateStore) -> Path:
    """Where the agent publishes, per application, what its webhook is checked against."""
    return store.agent_dir / "hooks"


_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def publish(store: StateStore, ds: DefinitionSet) -> None:
    """Write ``hooks/<app>.json`` for every application with an artifact (only when it changed),
    remove the others. Best effort: a failure is logged, never raised (the tick goes on)."""
    try:
        directory = hooks_dir(store)
        directory.mkdir(mode=0o750, exist_ok=True)
        wanted: dict[str, str] = {}
        for name in ds.applications:
            found = targets(ds, name, quiet=True)
            if found and _APP_NAME.match(name):
                data = {"version": 1, "application": name, "subscriptions": [asdict(t) for t in found]}
                wanted[f"{name}.json"] = json.dumps(data, sort_keys=True) + "\n"
        for entry in os.listdir(directory):
            if entry.endswith(".json") and entry not in wanted:
                (directory / entry).unlink(missing_ok=True)
        for entry, text in wanted.items():
            path = directory / entry
            try:
                if path.read_text() == text:
                    continue
            except OSError:
                pass
            atomic_write_text(path, text, STATE)
    except Exception:  # noqa: BLE001 - the webhook table must never stop reconciling
        log.exception("publishing the webhook table in %s failed", hooks_dir(store))


def published_targets(store: StateStore, application: str) -> list[Target] | str:
    """The targets the agent published for ``application`` (``[]``: none), or why they cannot be read."""
    directory = hooks_dir(store)
    if not directory.is_dir():
        return "the agent has not published its webhook table yet (it does so each tick)"
    if not _APP_NAME.match(application):
        return []
    try:
        data = json.loads((directory / f"{application}.json").read_text())
        return [
            Target(str(t["alias"]), str(t["url"]), str(t["branch"]), t["secret"] or None)
            for t in data["subscriptions"]
        ]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("webhook table of %s unreadable: %s", application, exc)
        return f"the webhook table of '{application}' is unreadable"


def check_push(
    headers: Mapping[str, str],
    body: bytes,
    application: str,
    store: StateStore,
    *,
    definitions: DefinitionSet | None = None,
    published: bool = False,
) -> Result:
    """(HTTP status, JSON answer, trigger or None). Reads; writes nothing.

    ``published``: decide from the table the agent publishes (:func:`publish`), not the definitions.
    """
    if published:
        found = published_targets(store, application)
        if isinstance(found, str):
            return 503, {"error": found}, None
        subs = found
    else:
        try:
            ds = definitions if definitions is not None else store.load()
        except StratosError:
            return 503, {"error": "the stored definitions are invalid; the agent does not act on them"}, None
        subs = targets(ds, application)
    if not subs:
        return 404, {"error": f"no application '{application}' with an artifact"}, None
    secrets = [(t.alias, t.secret) for t in subs if t.secret]
    if not secrets:
        return (
            403,
            {
                "error": f"application '{application}' takes no webhook: none of its artifacts has "
                "credentials.webhook_secret_file"
            },
            None,
        )
    verified: list[str] = []
    scheme = ""
    for alias, secret in secrets:
        ok, scheme = verify(headers, body, secret)
        if ok is None:
            return 401, {"error": "missing signature (X-Hub-Signature-256 or X-Gitlab-Token)"}, None
        if ok:
            verified.append(alias)
    if not verified:
        return 401, {"error": f"{scheme} does not match"}, None
    h = {k.lower(): v for k, v in headers.items()}
    sender, event = _event(h)
    if event.lower() == "ping":
        return 200, {"ok": True, "event": "ping"}, None
    if event.lower() not in ("push", "push hook"):
        return 202, {"ignored": f"{sender} event '{event}' is not a push"}, None
    try:
        payload = _payload(h, body)
    except (UnicodeDecodeError, ValueError) as exc:
        return 400, {"error": f"the push payload is not JSON: {exc}"}, None
    ref = payload.get("ref")
    after = payload.get("after") or payload.get("checkout_sha")
    if not isinstance(ref, str) or not ref.startswith("refs/heads/"):
        return 202, {"ignored": f"ref {ref!r} is not a branch"}, None
    branch = ref.removeprefix("refs/heads/")
    named = _repositories(payload)
    ours = [s for s in subs if s.alias in verified and _repo_key(s.url) in named]
    if not ours:
        shown = ", ".join(sorted(named)) or "no repository"
        return (
            403,
            {"error": f"the push names {shown}, not the repository of an artifact of '{application}'"},
            None,
        )
    if after == _ZERO:
        return 202, {"ignored": f"branch '{branch}' was deleted"}, None
    matching = _branch_of(ours, verified, branch)
    if not matching:
        return 202, {"ignored": f"no subscription of '{application}' follows branch '{branch}'"}, None
    sha = after if isinstance(after, str) and len(after) == 40 else None
    trigger = Trigger(application, tuple(matching), f"webhook ({sender})", sha)
    return 202, {"accepted": True, "subscriptions": list(matching), "branch": branch, "sha": sha}, trigger


def _branch_of(subs: Sequence[Target], verified: Sequence[str], branch: str) -> list[str]:
    return [s.alias for s in subs if s.alias in verified and s.branch == branch]


def _repo_key(url: str) -> str:
    """``host/path`` of a git URL, lower case, without scheme, user, port, ``.git`` or slashes at the
    ends (``git@host:o/r.git``, ``ssh://git@host:22/o/r``, ``https://host/o/r`` are one repository);
    a local path or ``file://`` URL keeps its path."""
    url = url.strip()
    if "://" not in url:
        head, sep, rest = url.partition(":")
        if sep and "/" not in head and not url.startswith("/"):  # scp-like user@host:path
            host, path = head.rpartition("@")[2], rest
        else:
            host, path = "", url
    else:
        parts = urlsplit(url)
        host = "" if parts.scheme == "file" else (parts.hostname or "")
        path = parts.path
    path = path.strip("/").removesuffix(".git").rstrip("/")
    return f"{host}/{path}".lower() if host else "/" + path.lower()


_REPOSITORY_FIELDS = (
    ("repository", ("clone_url", "ssh_url", "git_url", "html_url", "url", "git_http_url", "git_ssh_url")),
    ("project", ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url", "url")),
)


def _repositories(payload: Mapping[str, Any]) -> set[str]:
    """The repositories a push payload names, as :func:`_repo_key` s."""
    found = set()
    for section, fields in _REPOSITORY_FIELDS:
        data = payload.get(section)
        if isinstance(data, dict):
            for name in fields:
                value = data.get(name)
                if isinstance(value, str) and value.strip():
                    found.add(_repo_key(value))
    return found


def delivery_keys(headers: Mapping[str, str], body: bytes) -> list[str]:
    """What identifies a delivery: its id header, if any, and always the SHA-256 of its body."""
    h = {k.lower(): v for k, v in headers.items()}
    keys = [f"id:{h[name].strip()[:200]}" for name in _DELIVERY_HEADERS if h.get(name, "").strip()]
    return [*keys, "body:" + hashlib.sha256(body).hexdigest()]


def replay_file(store: StateStore) -> Path:
    """``<state>/agent/http/webhooks.json``: in a directory of its own, the only one besides
    ``triggers/`` that a separate HTTP process writes (docs/security.md)."""
    return store.agent_dir / "http" / "webhooks.json"


class ReplayGuard:
    """Verified deliveries seen in the last ``window`` seconds, per application.

    Kept in ``path`` (JSON, written atomically, 0640) so that a restart does not open the window
    again; ``None`` keeps them in memory only. Safe to use from the server's threads.
    """

    def __init__(self, path: Path | None, window: float = REPLAY_WINDOW, limit: int = REPLAY_MAX):
        self.path = path
        self.window = window
        self.limit = limit
        self._lock = threading.Lock()
        self._memory: dict[str, float] = {}

    def _load(self) -> dict[str, float]:
        if self.path is None:
            return dict(self._memory)
        try:
            data = json.loads(self.path.read_text())
            seen = data.get("seen", {}) if isinstance(data, dict) else {}
            return {str(k): float(v) for k, v in seen.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("webhook replay window %s unreadable (%s); starting empty", self.path, exc)
            return {}

    def _save(self, seen: dict[str, float]) -> None:
        if self.path is None:
            self._memory = seen
            return
        atomic_write_text(self.path, json.dumps({"version": 1, "seen": seen}, sort_keys=True) + "\n", STATE)

    def check_and_remember(self, application: str, keys: Sequence[str], now: float) -> str | None:
        """``None`` (and the keys remembered) for a fresh delivery, else the key seen before."""
        scoped = [f"{application} {key}" for key in keys]
        with self._lock:
            seen = {k: t for k, t in self._load().items() if now - self.window <= t <= now + self.window}
            for key, original in zip(scoped, keys, strict=True):
                if key in seen:
                    return original
            for key in scoped:
                seen[key] = now
            if len(seen) > self.limit:
                seen = dict(sorted(seen.items(), key=lambda item: item[1])[-self.limit :])
            self._save(seen)
            return None


def handle_push(
    application: str,
    headers: Mapping[str, str],
    body: bytes,
    store: StateStore,
    *,
    wake: Callable[[], None] | None = None,
    replays: ReplayGuard | None = None,
    now: float | None = None,
    published: bool = False,
) -> tuple[int, dict[str, Any]]:
    """What the agent's HTTP server calls: check, refuse a replay, then write the sync request and
    wake the loop (``wake``: an agent in the same process; a separate one polls the requests).
    ``published``: check against the table the agent publishes (a separate HTTP process)."""
    status, answer, trigger = check_push(headers, body, application, store, published=published)
    if status >= 400:
        log.warning("webhook for %s refused (%s): %s", application, status, answer.get("error"))
        return status, answer
    guard = replays if replays is not None else ReplayGuard(replay_file(store))
    seen = guard.check_and_remember(
        application, delivery_keys(headers, body), time.time() if now is None else now
    )
    if seen is not None:
        what = "delivery " + seen[3:] if seen.startswith("id:") else "a delivery with this body"
        log.warning("webhook for %s refused (409): %s was received before", application, what)
        return 409, {"error": f"replay: {what} was received in the last {guard.window:g}s"}
    if trigger is None:
        return status, answer
    request_trigger(store, trigger)
    if wake is not None:
        wake()
    log.info(
        "webhook: %s pushed %s to %s/%s",
        trigger.source,
        (trigger.sha or "?")[:12],
        application,
        ",".join(trigger.subscriptions),
    )
    return status, answer
