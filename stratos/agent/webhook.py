"""``POST /hooks/git/<application>``: a push notification makes the agent fetch the branch at once.

Accepted senders and how each proves itself with the subscription's secret
(``artifact.credentials.webhook_secret_file``, read on every request, never logged):

- GitHub, Gitea, Forgejo: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``;
- Gitea and Gogs (older): ``X-Gitea-Signature`` / ``X-Gogs-Signature``: the same HMAC, bare hex;
- GitLab: ``X-Gitlab-Token: <the secret>``.

Comparisons are constant-time. A missing or wrong signature is 401 and nothing happens; an
application whose subscriptions have no webhook secret refuses webhooks (403). A verified push
(``X-GitHub-Event: push``, ``X-Gitea-Event: push``, ``X-Gitlab-Event: Push Hook``, or no event
header) to the branch of a subscription whose secret verified it writes a ``sync`` request for that
subscription (:func:`stratos.agent.rollout.request_sync`) and wakes the agent: 202. A ``ping`` is 200;
other events and other branches are 202 with ``ignored`` and change nothing.

:func:`check_push` decides (reads the definitions and the secret files, writes nothing);
:func:`handle_push`, which the agent's HTTP server calls (:mod:`stratos.agent.http`), carries it out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from stratos.agent import rollout
from stratos.errors import StratosError
from stratos.store import StateStore
from stratos.validation import DefinitionSet

log = logging.getLogger("stratos.agent.webhook")

_ZERO = "0" * 40


@dataclass(frozen=True)
class Trigger:
    """Fetch these subscriptions of ``application`` now; ``sha`` is what the sender says the head is."""

    application: str
    subscriptions: tuple[str, ...]
    source: str
    sha: str | None = None


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


def _secret(path: str) -> str | None:
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        log.warning("webhook secret %s cannot be read: %s", path, exc.strerror)
        return None


def check_push(
    headers: Mapping[str, str],
    body: bytes,
    application: str,
    store: StateStore,
    *,
    definitions: DefinitionSet | None = None,
) -> Result:
    """(HTTP status, JSON answer, trigger or None). Reads; writes nothing."""
    try:
        ds = definitions if definitions is not None else store.load()
    except StratosError:
        return 503, {"error": "the stored definitions are invalid; the agent does not act on them"}, None
    app = ds.applications.get(application)
    subs = [s for s in app.subscriptions if s.artifact is not None] if app is not None else []
    if not subs:
        return 404, {"error": f"no application '{application}' with an artifact"}, None
    secrets: list[tuple[str, str]] = []
    for sub in subs:
        assert sub.artifact is not None
        creds = sub.artifact.credentials
        if creds is not None and creds.webhook_secret_file:
            secret = _secret(creds.webhook_secret_file)
            if secret:
                secrets.append((sub.alias, secret))
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
    if after == _ZERO:
        return 202, {"ignored": f"branch '{branch}' was deleted"}, None
    matching = _branch_of(subs, verified, branch)
    if not matching:
        return 202, {"ignored": f"no subscription of '{application}' follows branch '{branch}'"}, None
    sha = after if isinstance(after, str) and len(after) == 40 else None
    trigger = Trigger(application, tuple(matching), f"webhook ({sender})", sha)
    return 202, {"accepted": True, "subscriptions": list(matching), "branch": branch, "sha": sha}, trigger


def _branch_of(subs: Sequence[Any], verified: Sequence[str], branch: str) -> list[str]:
    return [s.alias for s in subs if s.alias in verified and s.artifact.branch == branch]


def handle_push(
    application: str,
    headers: Mapping[str, str],
    body: bytes,
    store: StateStore,
    agent: Any = None,
) -> tuple[int, dict[str, Any]]:
    """What the agent's HTTP server calls: check, then write the sync request and wake the loop."""
    status, answer, trigger = check_push(headers, body, application, store)
    if trigger is None:
        if status >= 400:
            log.warning("webhook for %s refused (%s): %s", application, status, answer.get("error"))
        return status, answer
    rollout.request_sync(store, trigger.application, trigger.subscriptions, trigger.source, trigger.sha)
    rollouts = getattr(agent, "rollouts", None)
    if rollouts is not None:
        rollouts.wake()
    log.info(
        "webhook: %s pushed %s to %s/%s",
        trigger.source,
        (trigger.sha or "?")[:12],
        application,
        ",".join(trigger.subscriptions),
    )
    return status, answer
