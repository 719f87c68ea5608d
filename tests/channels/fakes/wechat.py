"""A fake of the WeChat message API on loopback: access tokens that expire or can be
revoked, followers, approved templates, and the real error codes."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .http import LoopbackServer, Reply, Request, json_reply


@dataclass
class FakeWeChatApi:
    appid: str = "wx-test-app"
    secret: str = "wx-test-secret"
    followers: set[str] = field(default_factory=lambda: {"o-follower-1", "o-follower-2"})
    refused_subscription: set[str] = field(default_factory=set)
    templates: set[str] = field(default_factory=lambda: {"TPL_POINTS"})

    def __post_init__(self) -> None:
        self.tokens: set[str] = set()
        self.sent: list[dict[str, Any]] = []
        self.token_requests = 0
        self._errors: deque[int] = deque()
        self._lock = threading.Lock()
        self._server = LoopbackServer(self.handle)
        self.url = self._server.url

    def revoke_tokens(self) -> None:
        """As when the token expires or another server fetched a new one."""
        with self._lock:
            self.tokens.clear()

    def fail_next(self, errcode: int, count: int = 1) -> None:
        with self._lock:
            self._errors.extend([errcode] * count)

    def start(self) -> FakeWeChatApi:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def handle(self, request: Request) -> Reply:
        if request.path == "/cgi-bin/token":
            with self._lock:
                self.token_requests += 1
            q = request.query
            if q.get("appid") != self.appid:
                return json_reply(200, {"errcode": 40013, "errmsg": "invalid appid"})
            if q.get("secret") != self.secret:
                return json_reply(200, {"errcode": 40125, "errmsg": "invalid appsecret"})
            token = secrets.token_hex(16)
            with self._lock:
                self.tokens.add(token)
            return json_reply(200, {"access_token": token, "expires_in": 7200})
        if request.path not in ("/cgi-bin/message/template/send",
                                "/cgi-bin/message/subscribe/send"):
            return json_reply(404, {"errcode": 404, "errmsg": "not found"})
        with self._lock:
            if request.query.get("access_token") not in self.tokens:
                return json_reply(200, {"errcode": 42001, "errmsg": "access_token expired"})
            if self._errors:
                code = self._errors.popleft()
                return json_reply(200, {"errcode": code, "errmsg": "injected"})
        body = request.json()
        if body.get("template_id") not in self.templates:
            return json_reply(200, {"errcode": 40037, "errmsg": "invalid template_id"})
        openid = body.get("touser")
        subscribe = request.path.endswith("subscribe/send")
        if subscribe and openid in self.refused_subscription:
            return json_reply(200, {"errcode": 43101, "errmsg": "user refuse to accept"})
        if not subscribe and openid not in self.followers:
            return json_reply(200, {"errcode": 43004, "errmsg": "require subscribe"})
        with self._lock:
            self.sent.append({"path": request.path, **body})
            msgid = 1000 + len(self.sent)
        return json_reply(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})
