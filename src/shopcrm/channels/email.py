"""E-mail over SMTP (stdlib ``smtplib`` and ``email.message``).

Marketing mail carries ``List-Unsubscribe`` with a ``mailto:`` and an ``https:`` link and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 2369, RFC 8058): the large
mailbox providers show an unsubscribe button for it and demand it of bulk senders.
Subjects and display names in Chinese are encoded by the ``email`` package (RFC 2047,
UTF-8). One connection is kept open across messages and re-opened after the server
drops it; SMTP reply codes decide transient (4xx, connection trouble) or permanent
(5xx) failure.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Literal
from urllib.parse import quote

from shopcrm.channels.base import ChannelKind, Message, SendResult
from shopcrm.channels.verp import verp_address


@dataclass(frozen=True)
class SmtpSettings:
    """Where and as whom to send."""

    host: str
    port: int = 587
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str = "shop@example.com"
    sender_name: str | None = None
    unsubscribe_mailbox: str | None = None
    """Address that receives ``mailto:`` unsubscribe requests; default the sender's."""
    bounce_address: str | None = None
    """Envelope sender (Return-Path) for bounces; default the sender."""
    verp_secret: str | None = None
    """With ``bounce_address``: sign each message's VERP envelope sender
    (``bounce+<delivery key>-<mac>@…``, :mod:`shopcrm.channels.verp`) so a bounce names
    its delivery."""
    timeout: float = 30.0


_POLICY = policy.SMTP.clone(cte_type="7bit")
"""CRLF line ends; bodies base64/quoted-printable so any relay passes them unchanged."""


def _reply_result(code: int, text: bytes | str, what: str) -> SendResult:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    reason = f"SMTP {code} at {what}: {message}".strip()
    if 400 <= code < 500:
        return SendResult.transient(reason)
    return SendResult.permanent(reason)


class SmtpEmailChannel:
    """Sends each message as one e-mail with a plain-text part (and HTML if given)."""

    kind = ChannelKind.EMAIL

    def __init__(self, settings: SmtpSettings, *,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._ssl_context = ssl_context
        self._smtp: smtplib.SMTP | None = None
        self._closed = False

    # -- connection -------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        context = self._ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    # -- building ---------------------------------------------------------------------

    def build(self, message: Message) -> EmailMessage:
        """The e-mail for a message (public for previews and tests)."""
        s = self.settings
        email = EmailMessage(policy=_POLICY)
        domain = s.sender.rpartition("@")[2] or "localhost"
        email["Message-ID"] = make_msgid(domain=domain)
        email["From"] = Address(display_name=s.sender_name or "", addr_spec=s.sender)
        email["To"] = message.to
        email["Subject"] = message.subject or ""
        email["X-Shopcrm-Key"] = message.key
        links = []
        mailbox = s.unsubscribe_mailbox or s.sender
        token = message.metadata.get("unsubscribe_token", message.key)
        links.append(f"<mailto:{mailbox}?subject={quote('unsubscribe ' + token)}>")
        if message.unsubscribe_url:
            if not message.unsubscribe_url.startswith("https://"):
                raise ValueError("the one-click unsubscribe link must be https (RFC 8058)")
            links.append(f"<{message.unsubscribe_url}>")
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email["List-Unsubscribe"] = ", ".join(links)
        email["Content-Language"] = message.language
        email.set_content(message.body)
        if message.html is not None:
            email.add_alternative(message.html, subtype="html")
        return email

    def envelope_sender(self, message: Message) -> str:
        """MAIL FROM: the VERP form of ``bounce_address`` when a secret signs it, else
        the bounce address, else the sender."""
        s = self.settings
        if s.bounce_address and s.verp_secret:
            return verp_address(s.bounce_address, message.key, s.verp_secret)
        return s.bounce_address or s.sender

    # -- sending ----------------------------------------------------------------------

    def send(self, message: Message) -> SendResult:
        if self._closed:
            raise RuntimeError("the SMTP channel is closed")
        try:
            email = self.build(message)
        except ValueError as exc:  # a header with a line break, a malformed address
            return SendResult.permanent(f"cannot build the e-mail: {exc}")
        envelope_from = self.envelope_sender(message)
        for attempt in (1, 2):
            try:
                smtp = self._connect()
                refused = smtp.send_message(email, from_addr=envelope_from,
                                            to_addrs=[message.to])
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                return _reply_result(code, text, "RCPT")
            except smtplib.SMTPSenderRefused as exc:
                return _reply_result(exc.smtp_code, exc.smtp_error, "MAIL FROM")
            except smtplib.SMTPDataError as exc:
                return _reply_result(exc.smtp_code, exc.smtp_error, "DATA")
            except smtplib.SMTPServerDisconnected as exc:
                # A kept-alive connection the server has since closed: reconnect once.
                self._drop()
                if attempt == 1:
                    continue
                return SendResult.transient(f"SMTP server disconnected: {exc}")
            except smtplib.SMTPResponseException as exc:
                self._drop()
                return _reply_result(exc.smtp_code, exc.smtp_error, "session")
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return SendResult.transient(f"SMTP connection failed: {exc}")
            if refused:
                code, text = next(iter(refused.values()))
                return _reply_result(code, text, "RCPT")
            return SendResult.accepted(str(email["Message-ID"]))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._closed = True
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None

    def __enter__(self) -> SmtpEmailChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
