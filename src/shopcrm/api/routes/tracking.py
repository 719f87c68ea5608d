"""Tracking endpoints — with health and the login page the only routes anyone may call
without signing in (listed in :data:`shopcrm.api.deps.PUBLIC_PATHS`).

They are authenticated otherwise: the open pixel and click redirects by an HMAC tag
over the delivery (and the target URL, so the redirect cannot be abused as an open
redirect), the SMS gateway's receipt and reply callbacks by the gateway's own request
signature, and the SMS clouds' (Tencent, Alibaba) pushes — which are unsigned — by a
secret token in the URL. A bad token answers 404 and records nothing; a callback repeated by the
gateway changes nothing the second time. The unsubscribe pages are in
:mod:`shopcrm.web.campaign_pages`.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from shopcrm.api.deps import ContextDep
from shopcrm.campaigns.config import cached_settings
from shopcrm.campaigns.respect import (
    BadSignature,
    handle_receipts,
    handle_replies,
    record_click,
    record_open,
    verify_gateway,
)
from shopcrm.campaigns.tracking import PIXEL_GIF, read_delivery_token, safe_target
from shopcrm.channels import sms_callbacks
from shopcrm.channels.sms import InboundReply, Receipt, parse_receipt, parse_reply

router = APIRouter()
TOKEN_MAX = 80
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


@router.get("/t/o/{token}", include_in_schema=False)
def open_pixel(token: str, context: ContextDep) -> Response:
    """The e-mail's 1×1 pixel: the first load records the open. A bad token still gets
    the pixel (a mail client must never show a broken image)."""
    config = cached_settings(context.settings)
    try:
        delivery_id = read_delivery_token(config.secrets(), kind="open", token=token[:TOKEN_MAX])
    except ValueError:
        delivery_id = None
    if delivery_id is not None:
        with context.sessions.begin() as session:
            record_open(session, delivery_id=delivery_id, now=context.clock.now())
    return Response(PIXEL_GIF, media_type="image/gif", headers=NO_STORE)


@router.get("/t/c/{token}", include_in_schema=False)
def click(token: str, context: ContextDep,
          u: Annotated[str, Query(max_length=2000)] = "") -> Response:
    """A tracked link: record the click, redirect to the signed target."""
    config = cached_settings(context.settings)
    try:
        delivery_id = read_delivery_token(config.secrets(), kind="click",
                                          token=token[:TOKEN_MAX], url=u)
    except ValueError as exc:
        raise HTTPException(404, "this link is not valid") from exc
    if not safe_target(u):
        raise HTTPException(404, "this link is not valid")
    with context.sessions.begin() as session:
        record_click(session, delivery_id=delivery_id, now=context.clock.now())
    return RedirectResponse(u, status_code=302, headers=NO_STORE)


class CallbackPublic(BaseModel):
    ok: bool
    received: int
    duplicates: int
    detail: dict[str, int]


async def _verified(request: Request, context: Any, path: str) -> Any:
    config = cached_settings(context.settings)
    body = await request.body()
    if config.sms is None or config.sms.provider != "gateway":
        raise HTTPException(404, "no SMS gateway is configured")
    try:
        verify_gateway(access_key_id=config.sms.access_key_id,
                       secret=config.sms.access_key_secret, method="POST", path=path,
                       headers=dict(request.headers), body=body, now=context.clock.now())
    except BadSignature as exc:
        raise HTTPException(401, str(exc)) from exc
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise HTTPException(422, "the body is not JSON") from exc


def _items(data: Any, key: str) -> list[dict[str, Any]]:
    items = data.get(key) if isinstance(data, dict) else data
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise HTTPException(422, f"expected {{\"{key}\": [ … ]}}")
    return items


RECEIPTS_PATH = "/api/v1/track/sms/receipts"
REPLIES_PATH = "/api/v1/track/sms/replies"


@router.post(RECEIPTS_PATH, response_model=CallbackPublic, tags=["tracking"])
async def sms_receipts(request: Request, context: ContextDep) -> CallbackPublic:
    """Delivery receipts pushed by the SMS gateway (signed like its API requests)."""
    data = await _verified(request, context, RECEIPTS_PATH)
    try:
        receipts = [parse_receipt(item) for item in _items(data, "receipts")]
    except (KeyError, TypeError, ValueError) as exc:
        raise HTTPException(422, f"unreadable receipt: {exc}") from exc
    with context.sessions.begin() as session:
        outcome = handle_receipts(session, receipts, now=context.clock.now())
    return CallbackPublic(ok=True, received=outcome.received, duplicates=outcome.duplicates,
                          detail={"delivered": outcome.delivered,
                                  "undelivered": outcome.undelivered,
                                  "unknown": outcome.unknown})


@router.post(REPLIES_PATH, response_model=CallbackPublic, tags=["tracking"])
async def sms_replies(request: Request, context: ContextDep) -> CallbackPublic:
    """Customers' SMS replies pushed by the gateway; 退订 / TD / T unsubscribe."""
    data = await _verified(request, context, REPLIES_PATH)
    try:
        replies = [parse_reply(item) for item in _items(data, "replies")]
    except (KeyError, TypeError, ValueError) as exc:
        raise HTTPException(422, f"unreadable reply: {exc}") from exc
    with context.sessions.begin() as session:
        outcome = handle_replies(session, replies, now=context.clock.now())
    return CallbackPublic(ok=True, received=outcome.received, duplicates=outcome.duplicates,
                          detail={"unsubscribes": outcome.unsubscribes,
                                  "customers_suppressed": outcome.customers_suppressed})


CLOUD_PATH = "/api/v1/track/sms/{provider}/{kind}/{token}"
MAX_CALLBACK_BYTES = 5_000_000


@router.post(CLOUD_PATH, tags=["tracking"])
async def sms_cloud_callback(provider: Literal["tencent", "aliyun"],
                             kind: Literal["receipts", "replies"],
                             token: Annotated[str, Path(max_length=200)],
                             request: Request, context: ContextDep) -> JSONResponse:
    """Status reports and replies pushed by Tencent Cloud or Alibaba Cloud SMS (HTTP push
    mode), in their own JSON; answered the way each cloud expects. Only the configured
    cloud, with the URL's secret token (``shopcrm campaign callback-urls``)."""
    config = cached_settings(context.settings)
    if (config.sms is None or config.sms.provider != provider
            or not hmac.compare_digest(token.encode(), config.callback_token().encode())):
        raise HTTPException(404, "no such callback")
    body = await request.body()
    if len(body) > MAX_CALLBACK_BYTES:
        raise HTTPException(413, "the callback body is too large")
    try:
        items = sms_callbacks.parse(provider, kind, json.loads(body or b"null"))
    except ValueError as exc:  # JSON errors and CallbackError
        raise HTTPException(422, f"unreadable {provider} {kind}: {exc}") from exc
    with context.sessions.begin() as session:
        now = context.clock.now()
        if kind == "receipts":
            handle_receipts(session, [i for i in items if isinstance(i, Receipt)], now=now)
        else:
            handle_replies(session, [i for i in items if isinstance(i, InboundReply)], now=now)
    return JSONResponse(sms_callbacks.ANSWERS[provider])
