"""Pulling receipts and replies from the SMS gateway (for gateways that keep them for
collection rather than calling back), with the cursor kept in the store so each item
is read once. The same handlers serve the callback endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopcrm.campaigns.config import CampaignSettings, channels_from_settings
from shopcrm.campaigns.models import SyncCursor
from shopcrm.campaigns.respect import (
    ReceiptOutcome,
    ReplyOutcome,
    handle_receipts,
    handle_replies,
)

if TYPE_CHECKING:
    from shopcrm.context import AppContext


def pull_from_gateway(context: AppContext, config: CampaignSettings,
                      *, pages: int = 1000) -> tuple[ReceiptOutcome, ReplyOutcome]:
    """Every receipt and reply the gateway has after the stored cursors."""
    from shopcrm.channels.sms import HttpSmsChannel

    receipts, replies = ReceiptOutcome(), ReplyOutcome()
    channels = channels_from_settings(config)
    try:
        adapter = channels.get("sms")
        if not isinstance(adapter, HttpSmsChannel):
            raise TypeError("the SMS channel is not an HTTP gateway")
        for name, pull in (("sms:receipts", adapter.pull_receipts),
                           ("sms:replies", adapter.pull_replies)):
            for _ in range(pages):
                with context.sessions.begin() as session:
                    cursor_row = session.get(SyncCursor, name)
                    cursor = cursor_row.value if cursor_row else "0"
                    items, next_cursor = pull(cursor)
                    now = context.clock.now()
                    if name == "sms:receipts":
                        got = handle_receipts(session, items, now=now)  # type: ignore[arg-type]
                        for field in ("received", "duplicates", "delivered", "undelivered",
                                      "unknown"):
                            setattr(receipts, field,
                                    getattr(receipts, field) + getattr(got, field))
                    else:
                        said = handle_replies(session, items, now=now)  # type: ignore[arg-type]
                        for field in ("received", "duplicates", "unsubscribes",
                                      "customers_suppressed"):
                            setattr(replies, field, getattr(replies, field) + getattr(said, field))
                    if cursor_row is None:
                        session.add(SyncCursor(name=name, value=next_cursor, updated_at=now))
                    else:
                        cursor_row.value, cursor_row.updated_at = next_cursor, now
                if not items or next_cursor == cursor:
                    break
    finally:
        channels.close()
    return receipts, replies
