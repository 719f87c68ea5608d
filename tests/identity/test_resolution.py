"""Identity resolution on the real stores (SQLite and PostgreSQL): shared identifiers,
verified accounts, merge / un-merge with everything that follows, consent after a
merge, and the review queue."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.accounts.audit import Actor
from shopcrm.context import AppContext
from shopcrm.identity.merges import decide_review, merge_customers, unmerge
from shopcrm.identity.models import (
    IdentityKey,
    IdentityLink,
    IdentityMerge,
    MatchReview,
    SharedIdentifier,
)
from shopcrm.identity.resolve import resolve_full, resolve_incremental
from shopcrm.privacy.consents import contact_decision, record_consent
from shopcrm.privacy.rules import Channel, Purpose, Status
from shopcrm.store.models import AuditEntry, Customer, SourceIdentity

ALICE = Actor(1, "alice")
LOCKER = "+8617510078041"


def add(session: Session, context: AppContext, *, source: str, external_id: str,
        name: str | None, phone: str | None = None, email: str | None = None,
        kind: str = "buyer", city: str = "上海市",
        extra_phones: tuple[tuple[str, str], ...] = ()) -> int:
    """A source identity founding its own customer, with its keys — as an import makes."""
    now = context.clock.now()
    identity = SourceIdentity(source=source, external_id=external_id, kind=kind, name=name,
                              phone=phone, email=email, city=city, updated_at=now,
                              last_seen_at=now, first_seen_at=now)
    session.add(identity)
    session.flush()
    session.add(Customer(id=identity.id, status="active", name=name, phone=phone, email=email,
                         city=city, created_at=now, updated_at=now))
    session.flush()
    identity.customer_id = identity.id
    for kind_, value, seen in ([("phone", phone, name)] if phone else []) + (
            [("email", email, name)] if email else []) + [
            ("phone", p, n) for p, n in extra_phones]:
        session.add(IdentityKey(identity_id=identity.id, kind=kind_, value=value,
                                name_seen=seen, last_seen_at=now))
    session.flush()
    return identity.id


def customers_of(session: Session, *ids: int) -> list[int | None]:
    found = dict(session.execute(select(SourceIdentity.id, SourceIdentity.customer_id)
                                 .where(SourceIdentity.id.in_(ids))).all())
    return [found[i] for i in ids]


def test_over_connected_identifier_never_joins_anyone(context: AppContext) -> None:
    with context.sessions.begin() as session:
        lockers = [add(session, context, source="pdd", external_id=f"rcv:{i}",
                       name=f"顾客{i:02d}", phone=LOCKER, kind="receiver") for i in range(20)]
        a = add(session, context, source="taobao", external_id="wangfang", name="王芳",
                phone="+8613800000001", extra_phones=((LOCKER, "王芳"),))
        b = add(session, context, source="jd", external_id="wf_jd", name="王芳",
                phone="+8613800000001")
        result = resolve_full(session, now=context.clock.now())
    assert result.shared_identifiers == 1
    with context.sessions() as session:
        assert customers_of(session, a, b) == [a, a]
        assert customers_of(session, *lockers) == lockers
        shared = session.scalars(select(SharedIdentifier)).all()
        assert [(s.kind, s.value, s.identities) for s in shared] == [("phone", LOCKER, 21)]


def test_two_verified_accounts_go_to_review_not_merged(context: AppContext) -> None:
    with context.sessions.begin() as session:
        a = add(session, context, source="shopify", external_id="email:a@x.cn", name="李雷",
                phone="+8613900000001", email="a@x.cn", kind="customer")
        b = add(session, context, source="shopify", external_id="email:b@x.cn", name="李雷",
                phone="+8613900000001", email="b@x.cn", kind="customer")
        resolve_full(session, now=context.clock.now())
    with context.sessions.begin() as session:
        assert customers_of(session, a, b) == [a, b]
        review = session.scalars(select(MatchReview)).one()
        assert (review.identity_a, review.identity_b, review.reason, review.status) == (
            a, b, "verified-conflict", "pending")
        outcome = decide_review(session, review_id=review.id, accept=True, actor=ALICE,
                                now=context.clock.now())
        assert outcome is not None and outcome.customer_id == a
    with context.sessions() as session:
        assert customers_of(session, a, b) == [a, a]
        assert session.get(Customer, b).status == "merged"  # type: ignore[union-attr]
        assert session.scalars(select(AuditEntry.action)).all() == ["identity.review"]


def test_unmerge_restores_identities_customer_consents_and_stays_apart(
        context: AppContext) -> None:
    with context.sessions.begin() as session:
        a = add(session, context, source="taobao", external_id="zhangsan", name="张三",
                phone="+8613700000001")
        b = add(session, context, source="jd", external_id="zs_jd", name="张三",
                phone="+8613700000001")
        b2 = add(session, context, source="pdd", external_id="rcv:zs", name="张三",
                 phone="+8613700000009", kind="receiver",
                 extra_phones=(("+8613700000001", "张三"),))
        record_consent(session, customer_id=b, channel=Channel.SMS, purpose=Purpose.MARKETING,
                       status=Status.GRANTED, source="api", actor=ALICE,
                       now=context.clock.now())
        resolve_full(session, now=context.clock.now())
    with context.sessions() as session:
        assert customers_of(session, a, b, b2) == [a, a, a]
        merge = session.scalars(select(IdentityMerge).where(IdentityMerge.merged_id == b)).one()
        assert merge.action == "merge" and merge.method == "key"
        assert sorted(merge.moved) == [b]
        assert merge.evidence and merge.evidence["edges"][0]["evidence"] == "phone:…0001"

    context.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    with context.sessions.begin() as session:
        record_consent(session, customer_id=a, channel=Channel.SMS, purpose=Purpose.MARKETING,
                       status=Status.WITHDRAWN, source="sms-reply", actor=ALICE,
                       now=context.clock.now())
    context.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    with context.sessions.begin() as session:
        outcome = unmerge(session, merge_id=merge.id, reason="two people", actor=ALICE,
                          now=context.clock.now())
        assert outcome.customer_id == b
    with context.sessions() as session:
        restored = session.get(Customer, b)
        assert restored is not None and restored.status == "active"
        assert restored.merged_into is None and restored.name == "张三"
        undo = session.scalars(select(IdentityMerge).where(
            IdentityMerge.action == "unmerge")).one()
        assert undo.undoes_id == merge.id and sorted(undo.moved) == [b]
        assert session.get(IdentityMerge, merge.id).undone_by_id == undo.id  # type: ignore[union-attr]
        assert customers_of(session, a, b) == [a, b]
        # The withdrawal the merged customer received meanwhile holds for b too.
        decision = contact_decision(session, customer_id=b, channel=Channel.SMS,
                                    purpose=Purpose.MARKETING, now=context.clock.now())
        assert not decision.allowed
        assert "customer.unmerge" in session.scalars(select(AuditEntry.action)).all()
    with context.sessions.begin() as session:
        resolve_full(session, now=context.clock.now())
    with context.sessions() as session:
        assert customers_of(session, a, b) == [a, b]  # the never link holds


def test_consent_after_merge_is_the_stricter(context: AppContext) -> None:
    with context.sessions.begin() as session:
        a = add(session, context, source="shopify", external_id="email:m@x.cn", name="Mia",
                email="m@x.cn", kind="customer")
        b = add(session, context, source="own", external_id="m@x.cn", name=None,
                email="m@x.cn")
        now = context.clock.now()
        record_consent(session, customer_id=a, channel=Channel.EMAIL,
                       purpose=Purpose.MARKETING, status=Status.GRANTED, source="api",
                       actor=ALICE, now=now)
        record_consent(session, customer_id=b, channel=Channel.EMAIL,
                       purpose=Purpose.MARKETING, status=Status.WITHDRAWN, source="web",
                       actor=ALICE, now=now - timedelta(days=30))
        record_consent(session, customer_id=b, channel=Channel.SMS,
                       purpose=Purpose.MARKETING, status=Status.GRANTED, source="web",
                       actor=ALICE, now=now - timedelta(days=30))
    context.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    with context.sessions.begin() as session:
        resolve_full(session, now=context.clock.now())
    with context.sessions() as session:
        assert customers_of(session, a, b) == [a, a]
        email = contact_decision(session, customer_id=a, channel=Channel.EMAIL,
                                 purpose=Purpose.MARKETING, now=context.clock.now())
        sms = contact_decision(session, customer_id=a, channel=Channel.SMS,
                               purpose=Purpose.MARKETING, now=context.clock.now())
        # The older withdrawal beats the newer grant; the other side's grant carries over.
        assert not email.allowed
        assert sms.allowed


def test_manual_merge_refuses_two_verified_accounts_unless_confirmed(
        context: AppContext) -> None:
    with context.sessions.begin() as session:
        a = add(session, context, source="taobao", external_id="acct1", name="周杰",
                phone="+8613600000001")
        b = add(session, context, source="taobao", external_id="acct2", name="周杰",
                phone="+8613600000002")
    with context.sessions.begin() as session:
        try:
            merge_customers(session, customer_id=a, other_id=b, reason="same person",
                            actor=ALICE, now=context.clock.now())
        except Exception as exc:
            assert "verified taobao account" in str(exc)
        else:
            raise AssertionError("merging two verified accounts needs a confirmation")
    with context.sessions.begin() as session:
        outcome = merge_customers(session, customer_id=b, other_id=a, reason="same person",
                                  actor=ALICE, now=context.clock.now(), confirm_verified=True)
        assert outcome.customer_id == a and [e.method for e in outcome.events] == ["manual"]
    with context.sessions.begin() as session:
        assert customers_of(session, a, b) == [a, a]
        resolve_full(session, now=context.clock.now())  # the manual link holds
        assert customers_of(session, a, b) == [a, a]
        link = session.scalars(select(IdentityLink)).one()
        assert (link.kind, link.created_by) == ("manual", "alice")


def test_incremental_run_equals_full_run(context: AppContext) -> None:
    with context.sessions.begin() as session:
        first = [add(session, context, source="taobao", external_id=f"tb{i}", name=f"客户{i}",
                     phone=f"+86138000{i:05d}") for i in range(30)]
        resolve_full(session, now=context.clock.now())
    with context.sessions.begin() as session:
        # New records: some join old customers by phone, one joins two old customers.
        new = [add(session, context, source="jd", external_id=f"jd{i}", name=f"客户{i}",
                   phone=f"+86138000{i:05d}") for i in range(0, 30, 3)]
        bridge = add(session, context, source="own", external_id="b", name="客户1",
                     phone="+8613800000001", email="k1@x.cn")
        new.append(bridge)
        resolve_incremental(session, new, now=context.clock.now())
    with context.sessions() as session:
        incremental = dict(session.execute(
            select(SourceIdentity.id, SourceIdentity.customer_id)).all())
        events = session.scalars(select(IdentityMerge.id)).all()
    with context.sessions.begin() as session:
        result = resolve_full(session, now=context.clock.now())
        full = dict(session.execute(
            select(SourceIdentity.id, SourceIdentity.customer_id)).all())
    assert incremental == full
    assert result.merges == 0 and result.splits == 0
    with context.sessions() as session:
        assert session.scalars(select(IdentityMerge.id)).all() == events
    assert incremental[first[0]] == first[0]
    assert incremental[new[0]] == first[0]


def test_points_follow_the_merge_and_come_back_on_unmerge(context: AppContext) -> None:
    from shopcrm.accounts.permissions import Permission
    from shopcrm.loyalty.ledger import adjust, balance

    with context.sessions.begin() as session:
        a = add(session, context, source="taobao", external_id="pts_a", name="钱多多",
                phone="+8613100000001")
        b = add(session, context, source="jd", external_id="pts_b", name="钱多多",
                phone="+8613100000001")
        adjust(session, customer_id=b, points=300, reason="opening balance", key="open-b",
               now=context.clock.now(), actor=ALICE, granted={Permission.MANAGE_LOYALTY})
        adjust(session, customer_id=a, points=100, reason="opening balance", key="open-a",
               now=context.clock.now(), actor=ALICE, granted={Permission.MANAGE_LOYALTY})
        resolve_full(session, now=context.clock.now())
    with context.sessions.begin() as session:
        assert customers_of(session, a, b) == [a, a]
        assert balance(session, customer_id=a) == 400
        merge = session.scalars(select(IdentityMerge).where(IdentityMerge.merged_id == b)).one()
        unmerge(session, merge_id=merge.id, reason="two people", actor=ALICE,
                now=context.clock.now())
    with context.sessions() as session:
        assert balance(session, customer_id=a) == 100
        assert balance(session, customer_id=b) == 300
