"""Behind a TLS-terminating proxy on the same machine (docs/roles.md): uvicorn trusts
X-Forwarded-Proto from 127.0.0.1 by default, so the session cookie is marked Secure."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def sign_in_cookie(base: str, headers: dict[str, str]) -> str:
    data = urllib.parse.urlencode({"username": "admin",
                                   "password": "correct horse battery"}).encode()
    request = urllib.request.Request(f"{base}/login", data=data, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(request, timeout=10)
    except urllib.error.HTTPError as redirect:  # the 303 after signing in
        assert redirect.code == 303
        return str(redirect.headers.get("set-cookie", ""))
    raise AssertionError("signing in did not redirect")


def test_session_cookie_is_secure_behind_a_tls_proxy(live_server: str) -> None:
    plain = sign_in_cookie(live_server, {})
    assert "shopcrm_session=" in plain and "httponly" in plain.lower()
    assert "secure" not in plain.lower()
    proxied = sign_in_cookie(live_server, {"X-Forwarded-Proto": "https",
                                           "X-Forwarded-For": "203.0.113.7"})
    assert "secure" in proxied.lower() and "samesite=lax" in proxied.lower()
