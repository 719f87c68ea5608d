"""Signed tracking links: the open pixel and click redirects of one delivery.

A tracking URL names the delivery (a pseudonymous row ID, nothing personal) and
carries an HMAC tag over the link kind, the delivery and — for clicks — the target URL.
So the redirect endpoint can never be used as an open redirect (a changed target fails
the tag), and nobody can forge opens or clicks for other deliveries without the
secret. Pure functions of the secret and their inputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

_TOKEN = re.compile(r"^([0-9]{1,19})\.([A-Za-z0-9_-]{22})$")
KINDS = ("open", "click")


def _tag(secret: str, kind: str, delivery_id: int, url: str) -> str:
    message = f"{kind}\x1f{delivery_id}\x1f{url}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def delivery_token(secret: str, *, kind: str, delivery_id: int, url: str = "") -> str:
    """``<delivery id>.<tag>`` for an open (``url`` empty) or a click on ``url``."""
    if not secret:
        raise ValueError("a tracking secret is required")
    if kind not in KINDS:
        raise ValueError(f"unknown tracking kind {kind!r}")
    return f"{delivery_id}.{_tag(secret, kind, delivery_id, url)}"


def read_delivery_token(secrets: str | Sequence[str], *, kind: str, token: str,
                        url: str = "") -> int:
    """The delivery ID a token names, or ValueError when it is malformed or its tag does
    not match (current secret first, then retired ones)."""
    match = _TOKEN.match(token.strip())
    if not match:
        raise ValueError("not a tracking token")
    delivery_id = int(match.group(1))
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    for key in keys:
        if hmac.compare_digest(_tag(key, kind, delivery_id, url), match.group(2)):
            return delivery_id
    raise ValueError("tracking token signature does not match")


def safe_target(url: str) -> bool:
    """Click targets must be absolute http(s) URLs (no ``javascript:``, no relative)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def click_url(public_url: str, secret: str, *, delivery_id: int, url: str) -> str:
    """The tracked form of ``url`` for one delivery (templates call ``link(url)``)."""
    if not safe_target(url):
        raise ValueError(f"a tracked link must be an absolute http(s) URL, got {url!r}")
    token = delivery_token(secret, kind="click", delivery_id=delivery_id, url=url)
    return f"{public_url.rstrip('/')}/t/c/{token}?u={quote(url, safe='')}"


def open_pixel_url(public_url: str, secret: str, *, delivery_id: int) -> str:
    token = delivery_token(secret, kind="open", delivery_id=delivery_id)
    return f"{public_url.rstrip('/')}/t/o/{token}"


PIXEL_GIF = base64.b64decode(
    "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
"""A transparent 1×1 GIF."""
