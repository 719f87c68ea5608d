"""What a mail in the shop's unsubscribe/bounce mailbox says (pure: bytes in, facts out).

Four kinds, tried in this order:

- ``complaint``: an ARF feedback-loop report (RFC 5965, ``multipart/report;
  report-type=feedback-report``): the reported recipient and, from the returned
  original, our signed unsubscribe token (its ``List-Unsubscribe``) and delivery key.
- ``bounce``: a delivery status notification (RFC 3464) or one of the non-standard
  shapes mail servers still send, read by the maintained ``flufl.bounce`` detectors —
  but only for mail that looks like a bounce (null or MAILER-DAEMON/postmaster sender,
  a report, a bounce subject), so a customer's letter quoting an address never counts
  as one. Permanent and temporary failures apart; a DSN ``Status: 4.x.x`` is temporary
  whatever the action says. Its delivery comes from the signed VERP address it was sent
  to (:mod:`shopcrm.channels.verp`) or the ``X-Shopcrm-Key`` of the returned original.
- ``unsubscribe``: ``unsubscribe <token>`` in the subject (what the ``List-Unsubscribe``
  mailto sets, also after ``Re:`` or URL-escaped by a careless client) or body; or a
  plain request — the subject or the body's first line is ``unsubscribe`` / ``stop`` /
  ``TD`` / 退订 / 取消订阅 (not 不要退订) — from the sender's own address.
- ``other``: anything else; the mailbox module leaves it unread for a person.

The functions never raise on any input: a message the parser cannot make sense of is
``malformed`` with a reason. Token signatures are checked by the caller
(:func:`~shopcrm.campaigns.rules.read_unsubscribe_token` needs the secrets).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Literal
from urllib.parse import unquote

from flufl.bounce import all_failures

from shopcrm.campaigns.rules import is_unsubscribe

Kind = Literal["unsubscribe", "bounce", "complaint", "other", "malformed"]

TOKEN = re.compile(r"unsubscribe[\s+:]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])",
                   re.IGNORECASE)
"""``unsubscribe <token>`` as the ``List-Unsubscribe`` mailto subject carries it."""
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|sv|回复|答复|转发)\s*[:：]\s*)+",
                           re.IGNORECASE)
_MAIL_KEYWORD = re.compile(r"^[\s\W_]*(?:unsubscribe|stop|td|optout|退订)"
                           r"(?=$|[\s.!,;:?。、！，；：？~…])")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mdaemon|"
                            r"mail\.delivery\.system|bounce[s]?)(?:[@+]|$)", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (?:status|fail|has failed|notification)|"
    r"failure notice|mail delivery failed|non-?delivery|could not be delivered|"
    r"退信|投递失败|未能送达|无法送达|发送失败|系统退信", re.IGNORECASE)
_RECIPIENT_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To",
                      "Original-Recipient", "Cc")
MAX_TEXT = 200_000
"""Characters of a text part read for tokens (a mail bomb gets no further)."""


@dataclass(frozen=True)
class MailFacts:
    """One message as the mailbox handler needs it."""

    kind: Kind
    message_id: str
    """The Message-ID, or ``sha256:<digest of the bytes>`` when it has none."""
    sender: str | None = None
    """The From address, lower-case."""
    tokens: tuple[str, ...] = ()
    """Candidate unsubscribe tokens (unsigned until the caller checks them)."""
    plain_request: bool = False
    permanent: tuple[str, ...] = ()
    temporary: tuple[str, ...] = ()
    statuses: dict[str, str] = field(default_factory=dict)
    """DSN status code per failed address (``5.1.1``), where the report gives one."""
    recipients: tuple[str, ...] = ()
    """The addresses the mail was sent to (VERP tags live there)."""
    returned_keys: tuple[str, ...] = ()
    """``X-Shopcrm-Key`` values of the returned original."""
    feedback_type: str | None = None
    reason: str | None = None
    """Why a message is malformed."""


def _text(value: object) -> str:
    """A header value decoded (RFC 2047) to text; never raises."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # undecodable words are read as they stand
        return str(value)


def _address(value: str) -> str | None:
    address = parseaddr(value)[1].strip().lower()
    return address if "@" in address else None


def message_id_of(raw: bytes, message: Message | None) -> str:
    value = _text(message.get("Message-ID")).strip() if message is not None else ""
    if value and len(value) <= 190:
        return value
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[:MAX_TEXT].decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return payload[:MAX_TEXT].decode("utf-8", "replace")


def _texts(message: Message) -> list[str]:
    """The text/plain (else text/html) parts of a message, not of attached ones."""
    plain: list[str] = []
    html: list[str] = []
    stack = [message]
    while stack:
        part = stack.pop(0)
        ctype = part.get_content_type()
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list) and ctype != "message/rfc822":
                stack.extend(p for p in payload if isinstance(p, Message))
            continue
        if part.get_content_maintype() == "message":
            continue
        if ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            html.append(re.sub(r"<[^>]*>", " ", _part_text(part)))
    return plain or html


def find_tokens(*texts: str) -> tuple[str, ...]:
    found: list[str] = []
    for text in texts:
        for candidate in (text, unquote(text)):
            for match in TOKEN.finditer(candidate):
                if match[1] not in found:
                    found.append(match[1])
    return tuple(found)


def is_mail_unsubscribe(text: str) -> bool:
    """A plain request in a subject or a first line: stricter than an SMS reply's
    rule (``Cancel my order`` or ``N`` mean something else in a letter), so only
    ``unsubscribe`` / ``stop`` / ``TD`` / ``optout`` / 退订 as the first word, or 退订 /
    取消订阅 in the Chinese text without a negation before it."""
    cleaned = unicodedata.normalize("NFKC", _REPLY_PREFIX.sub("", text)).casefold()
    if _MAIL_KEYWORD.match(cleaned):
        return True
    return any(is_unsubscribe(run) for run in _CJK_RUN.findall(cleaned))


def _first_line(texts: list[str]) -> str:
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                return line
    return ""


def _attached(message: Message) -> Message | None:
    """The returned original (``message/rfc822`` or ``text/rfc822-headers``)."""
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            return message_from_bytes(_part_text(part).encode("utf-8", "replace"))
    return None


def _report_type(message: Message) -> str:
    if message.get_content_type() != "multipart/report":
        return ""
    return str(message.get_param("report-type", "", header="content-type") or "").lower()


def _dsn_statuses(message: Message) -> dict[str, str]:
    statuses: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status" or not part.is_multipart():
            continue
        payload = part.get_payload()
        if not isinstance(payload, list):
            continue
        for block in payload:
            if not isinstance(block, Message):
                continue
            status = _STATUS.match(str(block.get("Status", "")))
            recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient")
                            or "")
            address = _address(recipient.split(";", 1)[-1])
            if status and address:
                statuses[address] = ".".join(status.groups())
    return statuses


def _looks_like_bounce(message: Message, sender: str | None) -> bool:
    if _report_type(message) == "delivery-status":
        return True
    return_path = message.get("Return-Path")
    if return_path is not None and str(return_path).strip() in ("<>", ""):
        return True  # the null sender of RFC 5321 §4.5.5
    local = (sender or "").split("@", 1)[0]
    if _BOUNCE_SENDER.match(local):
        return True
    return bool(_BOUNCE_SUBJECT.search(_text(message.get("Subject"))))


def _decode_all(addresses: frozenset[bytes]) -> set[str]:
    return {a.decode("ascii", "replace").strip().lower() for a in addresses
            if b"@" in a}


def _recipients(message: Message) -> tuple[str, ...]:
    values = [_text(v) for name in _RECIPIENT_HEADERS for v in message.get_all(name) or []]
    found: list[str] = []
    for _, address in getaddresses(values):
        address = address.strip().lower()
        if "@" in address and address not in found:
            found.append(address)
    return tuple(found)


def _returned_keys(original: Message | None, texts: list[str]) -> tuple[str, ...]:
    keys: list[str] = []
    if original is not None:
        keys.extend(_text(v).strip() for v in original.get_all("X-Shopcrm-Key") or [])
    for text in texts:  # a bounce that quotes the original's headers as text
        keys.extend(m.strip() for m in re.findall(r"^X-Shopcrm-Key:\s*(\S+)", text,
                                                  re.MULTILINE | re.IGNORECASE))
    return tuple(dict.fromkeys(k for k in keys if k))


def _complaint(message: Message, base: MailFacts) -> MailFacts:
    report: Message | None = None
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            report = part
            break
    fields: Message | None = None
    if report is not None:
        payload = report.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            fields = payload[0]
        elif isinstance(payload, str):
            fields = message_from_bytes(payload.encode("utf-8", "replace"))
    if fields is None:
        return replace(base, kind="malformed", reason="feedback report without its fields")
    original = _attached(message)
    reported = [a for v in fields.get_all("Original-Rcpt-To") or []
                if (a := _address(_text(v)))]
    tokens: tuple[str, ...] = ()
    if original is not None:
        reported += [a for _, a in getaddresses([_text(v) for v in original.get_all("To") or []])
                     if "@" in a]
        tokens = find_tokens(*(_text(v) for v in original.get_all("List-Unsubscribe") or []))
    return replace(
        base, kind="complaint", tokens=tokens,
        permanent=tuple(dict.fromkeys(a.lower() for a in reported)),
        returned_keys=_returned_keys(original, []),
        feedback_type=_text(fields.get("Feedback-Type")).strip().lower() or "abuse")


def _bounce(message: Message, texts: list[str], base: MailFacts) -> MailFacts | None:
    try:
        temporary_raw, permanent_raw = all_failures(message)
    except Exception as exc:  # a detector choking on a broken part
        return replace(base, kind="malformed",
                       reason=f"bounce detectors failed: {type(exc).__name__}")
    statuses = _dsn_statuses(message)
    permanent = _decode_all(permanent_raw)
    temporary = _decode_all(temporary_raw)
    for address, status in statuses.items():  # the status code outranks the action
        if status.startswith("4") and address in permanent:
            permanent.discard(address)
            temporary.add(address)
    if not permanent and not temporary and _report_type(message) != "delivery-status":
        return None
    return replace(base, kind="bounce", permanent=tuple(sorted(permanent)),
                   temporary=tuple(sorted(temporary - permanent)), statuses=statuses,
                   returned_keys=_returned_keys(_attached(message), texts))


def read_mail(raw: bytes) -> MailFacts:
    """The facts of one raw message (RFC 5322 bytes). Never raises."""
    try:
        return _read(raw)
    except Exception as exc:  # the parser's last line of defence
        return MailFacts(kind="malformed", message_id=message_id_of(raw, None),
                         reason=f"unreadable: {type(exc).__name__}")


def _read(raw: bytes) -> MailFacts:
    message = message_from_bytes(raw)
    message_id = message_id_of(raw, message)
    if not message.keys():
        return MailFacts(kind="malformed", message_id=message_id, reason="no header fields")
    sender = _address(_text(message.get("From")))
    base = MailFacts(kind="other", message_id=message_id, sender=sender,
                     recipients=_recipients(message))
    report = _report_type(message)
    if report == "feedback-report":
        return _complaint(message, base)
    texts = _texts(message)
    if _looks_like_bounce(message, sender):
        bounce = _bounce(message, texts, base)
        if bounce is not None:
            return bounce
    subject = _text(message.get("Subject"))
    tokens = find_tokens(subject, *texts)
    plain = is_mail_unsubscribe(subject) or is_mail_unsubscribe(_first_line(texts))
    if tokens or (plain and sender):
        return replace(base, kind="unsubscribe", tokens=tokens, plain_request=plain)
    return base
