"""Message content: sandboxed Jinja2 templates, personalised per customer.

Marketers write templates; templates must not reach into Python. Jinja2's
:class:`~jinja2.sandbox.SandboxedEnvironment` refuses attribute access to internals
(``__class__``, ``mro`` …) and unsafe callables, and templates see only the variables
listed in :data:`VARIABLES` — checked when a campaign is saved, so a typo fails in the
editor, not at 3 a.m. halfway through a send. Text parts render without escaping, the
HTML part with autoescaping (a customer's name cannot inject markup into a mail).

Variables: ``customer`` (name, surname, city, province, gender), ``tier`` (code,
name), ``points`` (balance, expiring, expires_on), ``coupon`` (code, value, kind,
min_spend, valid_until), ``recommendations`` (list of sku, title, category — the
co-purchase of the customer's own purchases, computed in the warehouse), ``gift``,
``shop`` (name), ``campaign`` (name), ``unsubscribe_url``, and the function
``link(url)`` that makes a signed click-tracking link.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from shopcrm.campaigns.rules import SmsLength, assemble_sms, sms_length
from shopcrm.campaigns.specs import Content, Variant

VARIABLES = frozenset({"customer", "tier", "points", "coupon", "recommendations", "gift",
                       "shop", "campaign", "unsubscribe_url", "link"})
NEEDS_LOYALTY = frozenset({"tier", "points"})


@cache
def _environment(html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=html, trim_blocks=True, lstrip_blocks=True)
    return env


class TemplateProblem(ValueError):
    """A template that does not compile or uses unknown variables (422)."""


Part = str | tuple[str, ...]


def _substitution_parts(source: str) -> list[Part] | None:
    """A template that is only text and ``{{ name }}`` / ``{{ name.attr }}`` as a list
    of parts, else None. Rendering such a template by concatenation is what Jinja does
    for it (see :func:`_fast`), without building a context per message — the dispatch
    benchmark's largest cost otherwise."""
    tree = _environment(False).parse(source)
    parts: list[Part] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
            elif (isinstance(child, nodes.Getattr) and isinstance(child.node, nodes.Name)
                  and not child.attr.startswith("_") and not hasattr(dict, child.attr)):
                parts.append((child.node.name, child.attr))
            elif isinstance(child, nodes.Name) and not child.name.startswith("_"):
                parts.append((child.name,))
            else:
                return None
    return parts


_MISSING = object()


def _fast(parts: list[Part], values: Mapping[str, Any]) -> str | None:
    """Concatenate the parts as Jinja would render them (a missing name or key is
    empty, None is ``"None"``), or None when a value is not a plain dict or string-like
    case Jinja might treat differently — the caller then renders with Jinja."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = values.get(part[0], _MISSING)
        if len(part) == 2 and value is not _MISSING:
            if type(value) is not dict:
                return None
            value = value.get(part[1], _MISSING)
        if value is _MISSING:
            continue
        if type(value) not in (str, int, bool) and value is not None:
            return None
        out.append(str(value))
    return "".join(out)


@dataclass(frozen=True)
class CompiledText:
    """One language of one variant, compiled once per dispatch (``*_parts``: the fast
    form of a plain substitution template, None otherwise)."""

    subject: Any
    body: Any
    html: Any
    params: dict[str, Any]
    url: Any
    subject_parts: list[Part] | None = None
    body_parts: list[Part] | None = None


@dataclass(frozen=True)
class CompiledVariant:
    name: str
    template_id: str | None
    texts: dict[str, CompiledText]
    """Language → compiled text; the campaign's language is always there."""
    default_language: str


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str
    html: str | None
    params: dict[str, str]
    url: str | None
    language: str


def _parts(variant: Variant, default_language: str) -> dict[str, dict[str, str | None]]:
    parts: dict[str, dict[str, str | None]] = {
        default_language: {"subject": variant.subject, "body": variant.body,
                           "html": variant.html}}
    for lang, text in variant.translations.items():
        parts[lang] = {"subject": text.subject, "body": text.body, "html": text.html}
    return parts


def _names(source: str, html: bool) -> set[str]:
    env = _environment(html)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"line {exc.lineno}: {exc.message}") from exc
    # ``{% set x = … %}`` and loop variables count as declared: what is left is ours.
    return set(meta.find_undeclared_variables(tree))


def template_sources(content: Content, default_language: str
                     ) -> list[tuple[str, str, str, bool]]:
    """(where, source, language, is_html) of every template in the content."""
    found = []
    for variant in content.variants:
        for lang, part in _parts(variant, default_language).items():
            for key in ("subject", "body", "html"):
                text = part[key]
                if text:
                    found.append((f"{variant.name}.{lang}.{key}", text, lang, key == "html"))
        for key, text in variant.params.items():
            found.append((f"{variant.name}.params.{key}", text, default_language, False))
        if variant.url:
            found.append((f"{variant.name}.url", variant.url, default_language, False))
    return found


def check_content(content: Content, default_language: str) -> None:
    """Every template compiles and uses only :data:`VARIABLES`; else :class:`TemplateProblem`
    naming where."""
    problems = []
    for where, source, _lang, html in template_sources(content, default_language):
        try:
            unknown = _names(source, html) - VARIABLES
        except TemplateProblem as exc:
            problems.append(f"{where}: {exc}")
            continue
        if unknown:
            problems.append(f"{where}: unknown variable(s) {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(VARIABLES))}")
    if problems:
        raise TemplateProblem("; ".join(problems))


def used_variables(content: Content, default_language: str) -> set[str]:
    """Which variables the templates use (so dispatch loads only those)."""
    used: set[str] = set()
    for _where, source, _lang, html in template_sources(content, default_language):
        used |= _names(source, html)
    return used


def compile_variant(variant: Variant, default_language: str) -> CompiledVariant:
    texts = {}
    for lang, part in _parts(variant, default_language).items():
        text_env, html_env = _environment(False), _environment(True)
        texts[lang] = CompiledText(
            subject=text_env.from_string(part["subject"]) if part["subject"] else None,
            body=text_env.from_string(part["body"] or ""),
            html=html_env.from_string(part["html"]) if part["html"] else None,
            params={k: text_env.from_string(v) for k, v in variant.params.items()},
            url=text_env.from_string(variant.url) if variant.url else None,
            subject_parts=_substitution_parts(part["subject"]) if part["subject"] else None,
            body_parts=_substitution_parts(part["body"] or ""))
    return CompiledVariant(variant.name, variant.template_id, texts, default_language)


def compile_content(content: Content, default_language: str) -> dict[str, CompiledVariant]:
    check_content(content, default_language)
    return {v.name: compile_variant(v, default_language) for v in content.variants}


def _untracked(url: str) -> str:
    return url


@dataclass
class RenderData:
    """What one customer's message may say about them (see the module docstring)."""

    customer: Mapping[str, Any] = field(default_factory=dict)
    tier: Mapping[str, Any] | None = None
    points: Mapping[str, Any] | None = None
    coupon: Mapping[str, Any] | None = None
    recommendations: Sequence[Mapping[str, Any]] = field(default_factory=list)
    gift: str | None = None
    shop: Mapping[str, Any] = field(default_factory=dict)
    campaign: Mapping[str, Any] = field(default_factory=dict)
    unsubscribe_url: str | None = None
    link: Callable[[str], str] = _untracked
    language: str | None = None
    """The customer's language when known (else the campaign's)."""

    def variables(self) -> dict[str, Any]:
        return {"customer": self.customer, "tier": self.tier or {}, "points": self.points or {},
                "coupon": self.coupon or {}, "recommendations": self.recommendations,
                "gift": self.gift, "shop": self.shop, "campaign": self.campaign,
                "unsubscribe_url": self.unsubscribe_url, "link": self.link}


class RenderFailed(ValueError):
    """A template failed for this customer (dead letter with the reason)."""


def render(variant: CompiledVariant, data: RenderData) -> Rendered:
    return render_values(variant, data.variables(), data.language)


def render_values(variant: CompiledVariant, values: Mapping[str, Any],
                  language: str | None) -> Rendered:
    """:func:`render` from the variables as :meth:`RenderData.variables` gives them —
    what dispatch builds directly, a dict per message instead of two objects."""
    chosen = language if language is not None and language in variant.texts \
        else variant.default_language
    text = variant.texts[chosen]
    try:
        body = _fast(text.body_parts, values) if text.body_parts is not None else None
        subject = (_fast(text.subject_parts, values) if text.subject_parts is not None
                   else None)
        return Rendered(
            subject=(subject if subject is not None else text.subject.render(values)).strip()
            if text.subject else None,
            body=(body if body is not None else text.body.render(values)).strip(),
            html=text.html.render(values) if text.html else None,
            params={k: t.render(values) for k, t in text.params.items()},
            url=text.url.render(values).strip() if text.url else None,
            language=chosen)
    except (SecurityError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        raise RenderFailed(f"template failed: {exc}") from exc


@dataclass(frozen=True)
class SmsPreview:
    """The SMS as the customer receives it, and what it costs."""

    text: str
    length: SmsLength


def sms_text(body: str, *, signature: str, language: str) -> SmsPreview:
    """Signature in 【】 first, opt-out suffix last (rules.assemble_sms), then the length."""
    text = assemble_sms(body, signature=signature, language=language)
    return SmsPreview(text, sms_length(text))
