"""E-mail addresses from shop exports, normalised to one comparable form.

Like the phone, the e-mail is an exact key for identity resolution, so the rules are
conservative: the value is trimmed, unwrapped from what spreadsheets and mail clients
put around it (``mailto:``, ``Name <a@b.c>``, ``="…"``), lower-cased, and checked
against a practical subset of RFC 5321/5322. Nothing is guessed: ``qq,com`` is not
repaired into ``qq.com`` and provider tricks (Gmail dots, ``+tags``) are left alone,
because folding them would merge addresses that are different mailboxes elsewhere.
Platform-masked addresses (``z***@example.com``) are their own kind so that they never
act as a key.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

EmailKind = Literal["valid", "masked", "invalid", "empty"]


@dataclass(frozen=True, slots=True)
class Email:
    """A cleaned e-mail value: the normalised address for ``valid``, the lower-cased
    masked text for ``masked``, else ``None``; ``reason`` says why ``invalid``."""

    kind: EmailKind
    value: str | None
    reason: str | None


_EMPTY: Final = Email("empty", None, None)
_MAX_RAW: Final = 1000
_NULLS: Final = frozenset(
    {"-", "--", "---", "null", "none", "nan", "n/a", "na", "#n/a", "无", "暂无", "undefined", "nil"}
)
_INVISIBLE_RE: Final = re.compile("[\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
#: IDNA treats these as label dots; Chinese keyboards produce them in '163。com'.
_DOTS: Final = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_QUOTES: Final = "'\"`‘’“”"
_FORMULA_RE: Final = re.compile(r'=\s*"(.*)"', re.S)
_NOT_FAST_START: Final = frozenset(_QUOTES + "=")
_MAILTO_RE: Final = re.compile(r"mailto:\s*", re.I)
_ANGLE_RE: Final = re.compile(r"[^<>]*<([^<>]*)>\s*")
_MASK_CHARS: Final = frozenset("*●•∗")
_WS_RE: Final = re.compile(r"\s")

#: The fast path: an all-ASCII, already lower-case, plainly valid address.
_ASCII_LOCAL: Final = r"[a-z0-9!#$%&'+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'+/=?^_`{|}~-]+)*"
_ASCII_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ASCII_TLD: Final = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
_ASCII_EMAIL_RE: Final = re.compile(
    rf"({_ASCII_LOCAL})@((?:{_ASCII_LABEL}\.)+{_ASCII_TLD})", re.ASCII
)
_LOCAL_CHARS_RE: Final = re.compile(r"[\w!#$%&'+/=?^`{|}~.-]+")
_LABEL_RE: Final = re.compile(_ASCII_LABEL, re.ASCII)

#: Top-level domains that are a slip of the finger on '.com', not a real TLD: an
#: address there can never be delivered, and correcting it would be a guess.
_TYPO_TLDS: Final = frozenset(
    {"con", "cmo", "comm", "coom", "cim", "vom", "xom", "ocm", "cpm", "copm", "comn", "cm0"}
)
#: Reserved by RFC 2606/6761/6762: never a real mailbox.
_RESERVED_TLDS: Final = frozenset({"invalid", "localhost", "local"})


def _invalid(reason: str) -> Email:
    return Email("invalid", None, reason)


def _clean(raw: str) -> str:
    """Unwrap the decorations exports add, without touching the address itself."""
    s = raw
    if not s.isascii():
        s = _INVISIBLE_RE.sub("", unicodedata.normalize("NFKC", s)).translate(_DOTS)
    for _ in range(4):
        before = s
        s = s.strip()
        if s.startswith("="):
            m = _FORMULA_RE.fullmatch(s)
            if m:
                s = m.group(1)
        s = s.strip(_QUOTES).strip()
        m = _ANGLE_RE.fullmatch(s)
        if m:  # 'Zhang San <zs@qq.com>' or '<zs@qq.com>'
            s = m.group(1)
        m = _MAILTO_RE.match(s)
        if m:
            s = s[m.end() :]
        s = s.rstrip(".,;:").strip()  # sentence punctuation, a trailing root dot
        if s == before:
            break
    return s


def _domain(domain: str) -> tuple[str | None, str | None]:
    """Validate a domain and return its canonical (Unicode, lower-case) spelling.

    Internationalised labels are checked by encoding them with IDNA; ``xn--`` labels
    are decoded, so both spellings of one domain normalise to the same text.
    """
    if len(domain) > 253:
        return None, "domain too long"
    labels = domain.split(".")
    if len(labels) < 2:
        if domain.isascii() and not _LABEL_RE.fullmatch(domain):
            return None, "bad character in domain"
        return None, "domain has no dot"
    out: list[str] = []
    for label in labels:
        if not label:
            return None, "empty domain label"
        if label.isascii():
            if not _LABEL_RE.fullmatch(label):
                return None, "bad character in domain"
            if label.startswith("xn--"):
                try:
                    label = label.encode("ascii").decode("idna").lower()
                except UnicodeError:
                    return None, "bad internationalised domain"
            out.append(label)
            continue
        try:
            label = label.encode("idna").decode("idna").lower()
        except UnicodeError:
            return None, "bad character in domain"
        if not label or "." in label:
            return None, "bad character in domain"
        out.append(label)
    tld = out[-1]
    if tld.isascii() and not tld.isalpha():
        return None, "bad top-level domain"
    if len(tld) < 2:
        return None, "bad top-level domain"
    if tld in _TYPO_TLDS:
        return None, "typo in top-level domain"
    if tld in _RESERVED_TLDS:
        return None, "reserved domain"
    return ".".join(out), None


def normalize_email(raw: str | None) -> Email:
    """Normalise one e-mail value from an export; pure, and never raises."""
    if raw is None:
        return _EMPTY
    if raw.__class__ is not str:
        raw = "" if isinstance(raw, bool) else str(raw)
    # Fast path: a plain ASCII address (in any case) that is certainly valid. A
    # leading quote or '=' is legal in a local part but in practice a spreadsheet
    # artefact, and 'xn--' needs decoding, so those take the full path.
    if len(raw) < 255 and raw.isascii() and raw[:1] not in _NOT_FAST_START:
        low = raw.lower()
        m = _ASCII_EMAIL_RE.fullmatch(low)
        if m is not None and m.end(1) <= 64 and "xn--" not in low:
            tld = low[low.rfind(".") + 1 :]
            if tld not in _TYPO_TLDS and tld not in _RESERVED_TLDS:
                return Email("valid", low, None)
    try:
        return _normalize(raw)
    except Exception:  # defensive: a bug here must not stop an import
        return _invalid("unparseable")


def _normalize(raw: str) -> Email:
    if len(raw) > _MAX_RAW:
        return _invalid("too long for an e-mail address")
    s = _clean(raw)
    if not s or s.lower() in _NULLS:
        return _EMPTY
    s = s.lower()
    if _WS_RE.search(s):
        return _invalid("contains spaces")
    if any(c in _MASK_CHARS for c in s):
        return Email("masked", s.replace("●", "*").replace("•", "*").replace("∗", "*"), None)
    at = s.count("@")
    if at == 0:
        return _invalid("no @")
    if at > 1:
        return _invalid("more than one @")
    local, domain = s.split("@")
    if not local:
        return _invalid("nothing before @")
    if not domain:
        return _invalid("nothing after @")
    if len(local) > 64:
        return _invalid("local part too long")
    if (
        not _LOCAL_CHARS_RE.fullmatch(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        return _invalid("bad character before @")
    canonical, reason = _domain(domain)
    if canonical is None:
        return _invalid(reason or "bad domain")
    address = f"{local}@{canonical}"
    if len(address) > 254:
        return _invalid("too long for an e-mail address")
    return Email("valid", address, None)
