"""The one redaction of credentials in URLs (:func:`stratos.model.redact_url` for a value,
:func:`stratos.model.redact_text` for a message or a diff), used by the model's errors, the git
driver, the agent's events and the Ansible modules' results."""

from __future__ import annotations

import pytest

from stratos.model import redact_text, redact_url

# (given, shown): the same for a single value and for a text.
BOTH = [
    ("https://user:secret@host/repo.git", "https://***@host/repo.git"),
    ("https://TOKEN@host/repo.git", "https://***@host/repo.git"),
    ("git://TOKEN@host/repo.git", "git://***@host/repo.git"),
    ("git+ssh://git:secret@host/repo.git", "git+ssh://***@host/repo.git"),
    ("ssh://git:secret@host/repo.git", "ssh://git:***@host/repo.git"),
    ("ssh://git@host/repo.git", "ssh://git@host/repo.git"),
    ("SSH://secret@host/repo.git", "SSH://***@host/repo.git"),
    ("https://user:p@ss@host/repo.git", "https://***@host/repo.git"),
    ("https://host?t=secret@x/repo.git", "https://***@x/repo.git"),
    ("https://@host/repo.git", "https://***@host/repo.git"),
    ("https://host/repo.git", "https://host/repo.git"),
    ("https://host/user@repo.git", "https://host/user@repo.git"),
    ("git@host:repo.git", "git@host:repo.git"),
    ("https://a@h/x,https://TOKEN@h/y", "https://***@h/x,https://***@h/y"),
    (" https://TOKEN@host/repo.git", " https://***@host/repo.git"),
    ("", ""),
]
IDS = [
    "password",
    "token-as-user-name",
    "git-token",
    "git+ssh-is-not-ssh",
    "ssh-password",
    "ssh-user",
    "ssh-scheme-is-case-sensitive",
    "password-with-at",
    "at-after-query",
    "empty-userinfo",
    "plain",
    "at-in-path",
    "scp-like",
    "two-urls-one-word",
    "leading-space",
    "empty",
]


@pytest.mark.parametrize(("given", "shown"), BOTH, ids=IDS)
def test_a_url_value_is_redacted(given: str, shown: str) -> None:
    assert redact_url(given) == shown


@pytest.mark.parametrize(("given", "shown"), BOTH, ids=IDS)
def test_a_url_in_text_is_redacted(given: str, shown: str) -> None:
    assert redact_text(f"fatal: '{given}' failed\n") == f"fatal: '{shown}' failed\n"


@pytest.mark.parametrize(
    ("given", "value", "text"),
    [
        # A value is hidden up to its last "@" before the path, spaces included (it may not be valid yet)...
        ("https://to ken@host/r.git", "https://***@host/r.git", "https://to ken@host/r.git"),
        # ...a text only within a word, so the redaction of one URL never swallows the next lines.
        ("url: https://host\nmail: a@b", "https://***@b", "url: https://host\nmail: a@b"),
    ],
    ids=["space-in-userinfo", "at-on-a-later-line"],
)
def test_a_value_and_a_text_differ_only_at_white_space(given: str, value: str, text: str) -> None:
    assert redact_url(given).endswith(value)
    assert redact_text(given) == text
