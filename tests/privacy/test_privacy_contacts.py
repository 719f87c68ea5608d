"""Contact points and the in-site inbox in the data-subject export and erasure, and
through customer merges and un-merges. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.channels.base import Message
from shopcrm.clock import FakeClock
from shopcrm.contacts.inbox import StoreInboxChannel
from shopcrm.contacts.models import ContactMove, ContactPoint, InboxMessage
from shopcrm.contacts.rules import validate
from shopcrm.contacts.service import register
from shopcrm.context import AppContext
from shopcrm.identity.merges import merge_customers, unmerge
from shopcrm.privacy.erasure import erase_customer
from shopcrm.privacy.export import export_customer
from shopcrm.store.models import Customer, SourceIdentity

DPO = audit.Actor(None, "dpo")
CustomerOf = Callable[[AppContext, str, str], int]


def person(session: Session, context: AppContext, external_id: str, name: str,
           source: str) -> int:
    now = context.clock.now()
    identity = SourceIdentity(source=source, external_id=external_id, kind="buyer",
                              name=name, updated_at=now, last_seen_at=now, first_seen_at=now)
    session.add(identity)
    session.flush()
    session.add(Customer(id=identity.id, status="active", name=name, created_at=now,
                         updated_at=now))
    session.flush()
    identity.customer_id = identity.id
    return identity.id


def give(session: Session, context: AppContext, customer_id: int, kind: str,
         address: str) -> int:
    item = validate(kind=kind, app_id="wx-app" if kind == "wechat" else "com.shop.app",
                    address=address, platform=None if kind == "wechat" else "android")
    return register(session, customer_id=customer_id, item=item, source="test",
                    now=context.clock.now(), actor=DPO).contact.id


def inbox_message(context: AppContext, customer_id: int, key: str) -> None:
    channel = StoreInboxChannel(context.sessions, clock=context.clock)
    assert channel.send(Message(key=key, to=str(customer_id), body="您的积分即将到期",
                                subject="积分提醒")).ok


def owners(context: AppContext) -> dict[str, int]:
    with context.sessions() as session:
        found = {f"c:{a}": int(c) for a, c in session.execute(
            select(ContactPoint.address, ContactPoint.customer_id))}
        found |= {f"i:{k}": int(c) for k, c in session.execute(
            select(InboxMessage.delivery_key, InboxMessage.customer_id))}
        return found


def test_contacts_and_inbox_follow_a_merge_and_come_back(context: AppContext,
                                                         clock: FakeClock) -> None:
    with context.sessions.begin() as session:
        a = person(session, context, "buyer_a", "赵敏", "taobao")
        b = person(session, context, "buyer_b", "赵敏", "jd")
        give(session, context, a, "wechat", "oOpenidOfZhaoA")
        give(session, context, b, "push", "token-of-zhao-b")
    inbox_message(context, b, f"c1:s0:{b}")
    with context.sessions.begin() as session:
        merge_id = merge_customers(session, customer_id=a, other_id=b, reason="same person",
                                   actor=DPO, now=clock.now()).events[0].id
    assert owners(context) == {"c:oOpenidOfZhaoA": a, "c:token-of-zhao-b": a,
                               f"i:c1:s0:{b}": a}
    with context.sessions.begin() as session:
        # registered on the survivor after the merge: stays with it on un-merge
        give(session, context, a, "push", "token-after-merge")
        unmerge(session, merge_id=merge_id, reason="two people", actor=DPO, now=clock.now())
    assert owners(context) == {"c:oOpenidOfZhaoA": a, "c:token-of-zhao-b": b,
                               f"i:c1:s0:{b}": b, "c:token-after-merge": a}
    with context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ContactMove).where(
            ContactMove.undone_at.is_(None))) == 0


def test_export_lists_and_erasure_deletes_contacts_and_inbox(context: AppContext) -> None:
    with context.sessions.begin() as session:
        a = person(session, context, "buyer_e", "钱多多", "taobao")
        other = person(session, context, "buyer_f", "孙悟空", "taobao")
        give(session, context, a, "wechat", "oOpenidToErase1")
        give(session, context, a, "push", "token-to-erase-1")
        give(session, context, other, "push", "token-of-other-1")
    inbox_message(context, a, f"c7:s0:{a}")
    with context.sessions.begin() as session:
        document = export_customer(session, warehouse=context.warehouse, customer_id=a,
                                   actor=DPO, now=context.clock.now())
    assert sorted(c["address"] for c in document["contact_points"]) == [
        "oOpenidToErase1", "token-to-erase-1"]
    assert [m["subject"] for m in document["inbox_messages"]] == ["积分提醒"]
    with context.sessions.begin() as session:
        result = erase_customer(session, customer_id=a, reason="DSR-1", actor=DPO,
                                now=context.clock.now())
    assert result.erased
    assert owners(context) == {"c:token-of-other-1": other}
    with context.sessions.begin() as session:
        after = export_customer(session, warehouse=context.warehouse, customer_id=a,
                                actor=DPO, now=context.clock.now())
    assert after["contact_points"] == [] and after["inbox_messages"] == []
