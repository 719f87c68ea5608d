"""VERP (variable envelope return path): the envelope sender of each campaign e-mail
names its delivery, ``bounce+c12=s0=345-1f2e3d4c5b@shop.cn`` for delivery key
``c12:s0:345``, so a bounce identifies the delivery whatever shape the bouncing server
gives it — most non-standard bounces quote neither our headers nor the recipient.

The tag is signed (HMAC-SHA256 with the campaign secret, 40 bits in lower-case hex): a
forged bounce cannot mark another customer's delivery undelivered. Pure functions.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

_KEY = re.compile(r"^[A-Za-z0-9_:-]{1,40}$")
_TAG = re.compile(r"^(?P<key>[A-Za-z0-9_=-]{1,40})-(?P<mac>[0-9a-fA-F]{10})$")


def _mac(secret: str, key: str) -> str:
    return hmac.new(secret.encode(), f"verp:{key}".encode(), hashlib.sha256).hexdigest()[:10]


def verp_address(bounce_address: str, key: str, secret: str) -> str:
    """``local+<key>-<mac>@domain``; the plain bounce address when the key cannot be
    carried in a local part (too long, unusual characters) or the address has a tag."""
    local, at, domain = bounce_address.rpartition("@")
    if not at or not local or "+" in local or not _KEY.match(key) or not secret:
        return bounce_address
    return f"{local}+{key.replace(':', '=')}-{_mac(secret, key)}@{domain}"


def read_verp(address: str, secrets: Sequence[str]) -> str | None:
    """The delivery key an address's signed VERP tag carries, or None (no tag, a tag
    not signed by one of ``secrets``)."""
    local = address.strip().strip("<>").rpartition("@")[0]
    if "+" not in local:
        return None
    match = _TAG.match(local.split("+", 1)[1])
    if match is None:
        return None
    key = match["key"].replace("=", ":")
    for secret in secrets:
        if secret and hmac.compare_digest(_mac(secret, key), match["mac"].lower()):
            return key
    return None
