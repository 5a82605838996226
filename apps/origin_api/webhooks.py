"""Callback URLs and their signing, by the Standard Webhooks specification
(https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per secret, space separated), with
secrets `whsec_<base64>`. Signed by the `standardwebhooks` package itself, the library origins
verify with, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import re
import secrets
import urllib.parse
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# The unguessable part of a callback URL: a path segment or a query value of at least this many
# characters of A-Z a-z 0-9 _ -, with letters and digits (a random token of ≥ 20 characters
# carries ≥ 100 bits; a word or a sequential id does not pass).
UNGUESSABLE_MIN_CHARS = 20
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _looks_random(part: str) -> bool:
    return (len(part) >= UNGUESSABLE_MIN_CHARS and bool(_TOKEN.fullmatch(part))
            and any(c.isdigit() for c in part) and any(c.isalpha() for c in part) and len(set(part)) >= 10)


def callback_url_problems(url: str, *, production: bool) -> list[str]:
    """What is wrong with a callback URL (empty when it is fine): a production URL must be HTTPS,
    any URL must hold an unguessable part and no credentials or fragment."""
    problems = []
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return ["The callback URL must be an absolute http(s) URL."]
    if production and parts.scheme != "https":
        problems.append("A production callback URL must use HTTPS.")
    if parts.username or parts.password:
        problems.append("The callback URL must not carry credentials.")
    if parts.fragment:
        problems.append("The callback URL must not have a fragment.")
    candidates = [segment for segment in parts.path.split("/") if segment]
    candidates += [value for _name, value in urllib.parse.parse_qsl(parts.query)]
    if not any(_looks_random(part) for part in candidates):
        problems.append(f"The callback URL must hold an unguessable part: a path segment or query value of at least "
                        f"{UNGUESSABLE_MIN_CHARS} random letters and digits.")
    return problems


def signature_header(*, secrets_in_use: Iterable[str], message_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<signature>` per secret, space separated (the specification
    lets a sender sign with several keys while the receiver rotates)."""
    return " ".join(Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body) for secret in secrets_in_use)


def signed_headers(*, secrets_in_use: list[str], message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(secrets_in_use=secrets_in_use, message_id=message_id,
                                              timestamp=timestamp, body=body),
        "User-Agent": "Prosperas-Webhooks/1",
    }
