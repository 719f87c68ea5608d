"""A real IMAP server on loopback: pymap (pure-Python, asyncio) with its in-memory
backend, run in a thread the way aiosmtpd's controller runs the SMTP fake. One user;
mail is put in and looked at over IMAP with the standard library's client."""

from __future__ import annotations

import asyncio
import imaplib
import re
import socket
import threading
from contextlib import AsyncExitStack
from pathlib import Path

from pymap.backend import backends
from pymap.main import _PymapArgumentParser
from pymap.service import services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _arguments(port: int, user: str, password: str,
               tls: tuple[Path, Path] | None) -> object:
    parser = _PymapArgumentParser()
    parser.set_defaults(skip_services=[], passlib_cfg=None, debug=False)
    sub = parser.add_subparsers(dest="backend", required=True)
    for name, backend in backends.items():
        backend.add_subparser(name, sub).set_defaults(backend_type=backend)
    for service in services.values():
        service.add_arguments(parser)
    argv = ["--host", "127.0.0.1", "--port", str(port)]
    if tls is not None:
        argv += ["--cert", str(tls[0]), "--key", str(tls[1])]
    return parser.parse_args([*argv, "dict", "--demo-user", user, "--demo-password", password])


class ImapServer:
    """pymap's dict backend for ``user`` / ``password``; ``tls`` (cert, key) offers
    STARTTLS with that certificate."""

    def __init__(self, *, user: str = "unsubscribe@example-shop.cn",
                 password: str = "imap-secret", tls: tuple[Path, Path] | None = None) -> None:
        self.user, self.password = user, password
        self.port = _free_port()
        self._args = _arguments(self.port, user, password, tls)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="pymap")

    async def _serve(self) -> None:
        args = self._args
        backend, config = await args.backend_type.init(args)  # type: ignore[attr-defined]
        config.apply_context()
        async with AsyncExitStack() as stack:
            await backend.start(stack)
            await services["imap"](backend, config).start(stack)
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._failed = exc
            self._ready.set()

    def start(self) -> ImapServer:
        self._thread.start()
        if not self._ready.wait(20) or self._failed is not None:
            raise RuntimeError(f"pymap did not start: {self._failed!r}")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    # -- a client's view ---------------------------------------------------------------

    def client(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in a folder (IMAP APPEND), unseen."""
        conn = self.client()
        try:
            if folder != "INBOX":
                conn.create(folder)
            typ, data = conn.append(folder, None, None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def flags(self, folder: str = "INBOX") -> list[set[str]]:
        """The flags of each message in the folder, in UID order."""
        conn = self.client()
        try:
            typ, _ = conn.select(folder, readonly=True)
            if typ != "OK":
                return []
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            found: list[set[str]] = []
            for item in data:
                if isinstance(item, bytes) and (m := re.search(rb"FLAGS \(([^)]*)\)", item)):
                    found.append({f.decode() for f in m[1].split()} - {"\\Recent"})
            return found
        finally:
            conn.logout()
