"""Dispatch: resumable, idempotent sending of launched campaigns.

One delivery row per (campaign, step, customer) is the unit of work. A dispatcher
works in batches:

1. **claim + prepare** (one transaction): due ``pending`` rows become ``sending``
   with the dispatcher's claim token (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   workers never share a row; SQLite serialises writers). The respect rules run at
   this moment, per customer, on data loaded for the whole batch: suppression list,
   consent for the channel and purpose, frequency caps across campaigns, quiet hours
   in the customer's time zone. A row that may not go is *skipped* with its reason or
   *held* (back to ``pending`` with a later ``due_at`` — quiet hours and caps delay,
   they never drop). Rows that go get their coupon code and points grant here, so
   the offer on record is the offer in the message. Commit.
2. **send** outside any transaction, throttled per channel (token bucket) and, for
   the file sink, flushed to the OS before anything is recorded.
3. **record** (one transaction): accepted → ``sent`` with the provider's ID;
   transient failure → back to ``pending`` after a jittered exponential backoff (the
   provider's Retry-After as a floor) until the attempts run out; permanent failure
   or attempts exhausted → ``failed`` (the dead letters) with the reason.

A crash (even ``kill -9``) between 1 and 3 leaves rows ``sending``. The next
dispatcher **recovers** them once their claim is older than the lease (or at once
with ``take_over``, when the operator knows the old one is dead): an adapter that can
tell what it already accepted (``find_sent``: the file sink reads its file back)
settles them as sent; the others are sent again under the same idempotency key,
which providers that de-duplicate (the SMS gateway's ``out_id``, webhooks'
``Idempotency-Key``) turn into a no-op. So: no duplicate and no gap with those; SMTP
has no such key, so an e-mail in flight at a crash may arrive twice (at least once).
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.campaigns.config import CampaignSettings, ChannelSet
from shopcrm.campaigns.content import (
    CompiledVariant,
    RenderFailed,
    compile_content,
    render_values,
    used_variables,
)
from shopcrm.campaigns.coupons import assign_codes
from shopcrm.campaigns.models import Campaign, CouponPool, Delivery
from shopcrm.campaigns.personalize import (
    Recipient,
    customer_language,
    customer_timezone,
    loyalty_values,
    recipients,
)
from shopcrm.campaigns.respect import (
    CONSENT_CHANNEL,
    address_hash,
    delivery_key,
    suppressed,
)
from shopcrm.campaigns.rules import (
    Action,
    BucketState,
    SendDecision,
    SentRecord,
    assemble_sms,
    cap_release_time,
    decide_send,
    retry_delay,
    sms_segments,
    take_token,
    unsubscribe_token,
)
from shopcrm.campaigns.service import finish_if_done, spec_of
from shopcrm.campaigns.specs import CampaignSpec
from shopcrm.campaigns.states import ACCEPTED, DISPATCHABLE, CampaignStatus, DeliveryStatus
from shopcrm.campaigns.tracking import click_url, open_pixel_url
from shopcrm.channels.base import DeliveryStatus as SendStatus
from shopcrm.channels.base import Message, SendResult
from shopcrm.contacts.service import disable_addresses, with_another_address
from shopcrm.privacy.rules import (
    DEFAULT_WITHOUT_RECORD,
    Channel,
    ConsentRecord,
    Purpose,
    Status,
    current_consents,
    may_contact,
)
from shopcrm.store.idlist import in_list, list_value

if TYPE_CHECKING:
    from shopcrm.campaigns.recommend import Recommender
    from shopcrm.context import AppContext

_CHUNK = 2000
TABLE: Table = Delivery.__table__  # type: ignore[assignment]


class ConsentCheck:
    """Consent of many customers against the pure rule, memoized by the shape of their
    history: the rule's answer depends only on the (channel, purpose, status) of the
    records in force, in their order, so a million customers who each gave one SMS
    grant cost one call of :func:`~shopcrm.privacy.rules.may_contact` — not a million.
    Histories are read as plain rows (no ORM objects) in a few ``IN (…)`` queries."""

    def __init__(self, *, channel: str, purpose: str, now: datetime) -> None:
        self.channel, self.purpose, self.now = channel, purpose, now
        self._memo: dict[tuple[tuple[str, str, str], ...], bool] = {}

    def load(self, session: Session, customer_ids: Sequence[int]
             ) -> dict[int, list[tuple[Any, ...]]]:
        from shopcrm.store.models import Consent

        rows: dict[int, list[tuple[Any, ...]]] = {}
        if not customer_ids:
            return rows
        dialect = session.get_bind().dialect.name
        c = Consent.__table__.c
        query = select(c.customer_id, c.channel, c.purpose, c.status, c.at, c.id).where(
            in_list(c.customer_id, dialect, "ids"))
        for cid, channel, purpose, status, at, seq in session.execute(
                query, {"ids": list_value(set(customer_ids), dialect)}):
            rows.setdefault(int(cid), []).append((channel, purpose, status, _utc(at), seq))
        return rows

    def allowed(self, history: list[tuple[Any, ...]]) -> bool:
        now = self.now
        if len(history) == 1:  # the usual case: one record, nothing to order
            channel, purpose, status, at, seq = history[0]
            in_force = [(at, seq, channel, purpose, status)] if at <= now else []
            shape: tuple[tuple[str, str, str], ...] = (
                ((channel, purpose, status),) if in_force else ())
        else:
            in_force = sorted((at, seq, channel, purpose, status)
                              for channel, purpose, status, at, seq in history if at <= now)
            shape = tuple((c, p, s) for _, _, c, p, s in in_force)
        found = self._memo.get(shape)
        if found is None:
            records = [ConsentRecord(channel=Channel(c), purpose=Purpose(p), status=Status(s),
                                     at=at, seq=seq) for at, seq, c, p, s in in_force]
            found = consent_allows(records, channel=self.channel, purpose=self.purpose,
                                   now=now)
            self._memo[shape] = found
        return found


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def consent_allows(records: Sequence[ConsentRecord], *, channel: str, purpose: str,
                   now: datetime) -> bool:
    """Consent for the campaign channel (channels without a consent channel of their
    own — webhook, file — answer to ``any`` records only)."""
    concrete = CONSENT_CHANNEL.get(channel)
    wanted = Purpose(purpose)
    if concrete is not None:
        return may_contact(records, channel=concrete, purpose=wanted, now=now)
    record = current_consents(records, now=now).get((Channel.ANY, wanted))
    if record is None:
        return DEFAULT_WITHOUT_RECORD[wanted]
    return record.status is Status.GRANTED


def worker_token() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(6)}"


@dataclass
class Tally:
    """What a run did to one campaign (also the audit entry's details)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    held: int = 0
    retried: int = 0
    recovered_sent: int = 0
    recovered_pending: int = 0

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class RunReport:
    batches: int = 0
    total: Tally = field(default_factory=Tally)
    by_campaign: dict[int, Tally] = field(default_factory=dict)
    finished: list[int] = field(default_factory=list)

    def tally(self, campaign_id: int) -> Tally:
        return self.by_campaign.setdefault(campaign_id, Tally())


@dataclass(slots=True)
class _Row:
    """A claimed delivery and what becomes of it."""

    id: int
    step: int
    customer_id: int
    arm: str
    attempts: int
    coupon_code: str | None
    due_at: datetime
    status: str = DeliveryStatus.SENDING.value
    reason: str | None = None
    sent_at: datetime | None = None
    provider_message_id: str | None = None
    segments: int | None = None
    keep_claim: bool = True
    message: Message | None = None

    def settle(self, status: DeliveryStatus, reason: str | None, *,
               due: datetime | None = None) -> None:
        self.status, self.reason, self.keep_claim = status.value, reason, False
        if due is not None:
            self.due_at = due


@dataclass
class _CampaignPlan:
    """What a dispatcher keeps about one campaign between batches."""

    id: int
    name: str
    updated_at: datetime
    spec: CampaignSpec
    variants: dict[str, CompiledVariant]
    needs: set[str]
    pool: dict[str, Any] | None


class Dispatcher:
    """Sends due deliveries; one instance per process (or thread)."""

    def __init__(self, context: AppContext, *, channels: ChannelSet, config: CampaignSettings,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 token: str | None = None, batch_size: int | None = None) -> None:
        self.context = context
        self.channels = channels
        self.config = config
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.token = (token or worker_token())[:64]
        self.batch_size = batch_size or config.batch_size
        self.caps = config.frequency_caps()
        self.quiet = config.quiet()
        self.retry = config.retry_policy()
        self._plans: dict[int, _CampaignPlan] = {}
        self._buckets: dict[str, BucketState] = {}
        self._recommenders: dict[int, Recommender] = {}

    # -- the loop --------------------------------------------------------------------

    def now(self) -> datetime:
        return self.context.clock.now()

    def run(self, *, campaign_id: int | None = None, take_over: bool = False,
            max_batches: int | None = None, actor: audit.Actor = audit.SYSTEM) -> RunReport:
        """Recover abandoned claims, then send batches until nothing is due (or
        ``max_batches``). Each campaign touched gets one ``campaign.dispatch`` audit
        entry with what this run did to it."""
        report = RunReport()
        self.recover(campaign_id=campaign_id, take_over=take_over, report=report)
        while max_batches is None or report.batches < max_batches:
            ids = [campaign_id] if campaign_id is not None else self.due_campaigns()
            progressed = False
            for cid in ids:
                if max_batches is not None and report.batches >= max_batches:
                    break
                if self.batch(cid, report):
                    progressed = True
            if not progressed:
                break
        self._finish_all(report, campaign_id)
        if report.by_campaign:
            now = self.now()
            with self.context.sessions.begin() as session:
                for cid, tally in sorted(report.by_campaign.items()):
                    audit.record(session, actor, "campaign.dispatch", at=now,
                                 target_type="campaign", target_id=str(cid),
                                 details={**tally.__dict__, "worker": self.token})
        return report

    def due_campaigns(self) -> list[int]:
        now = self.now()
        with self.context.sessions() as session:
            ids = list(session.scalars(select(Campaign.id).where(
                Campaign.status.in_([s.value for s in DISPATCHABLE])).order_by(Campaign.id)))
            return [cid for cid in ids if session.scalar(
                select(Delivery.id).where(Delivery.campaign_id == cid,
                                          Delivery.status == DeliveryStatus.PENDING.value,
                                          Delivery.due_at <= now).limit(1)) is not None]

    def next_due(self, campaign_id: int | None = None) -> datetime | None:
        """When the next held or scheduled message of a dispatchable campaign is due."""
        with self.context.sessions() as session:
            query = select(Delivery.due_at).join(Campaign, Campaign.id == Delivery.campaign_id) \
                .where(Delivery.status == DeliveryStatus.PENDING.value,
                       Campaign.status.in_([s.value for s in DISPATCHABLE])) \
                .order_by(Delivery.due_at).limit(1)
            if campaign_id is not None:
                query = query.where(Delivery.campaign_id == campaign_id)
            found: datetime | None = session.scalar(query)
            return found

    def _finish_all(self, report: RunReport, campaign_id: int | None) -> None:
        now = self.now()
        with self.context.sessions.begin() as session:
            query = select(Campaign).where(Campaign.status.in_(
                [CampaignStatus.SCHEDULED.value, CampaignStatus.SENDING.value,
                 CampaignStatus.CANCELLED.value]))
            if campaign_id is not None:
                query = query.where(Campaign.id == campaign_id)
            for campaign in session.scalars(query):
                if campaign.status == CampaignStatus.CANCELLED and campaign.final_counts:
                    continue
                if finish_if_done(session, campaign, now=now):
                    report.finished.append(campaign.id)

    # -- one batch --------------------------------------------------------------------

    def _plan(self, campaign: Campaign) -> _CampaignPlan:
        plan = self._plans.get(campaign.id)
        if plan is not None and plan.updated_at == campaign.updated_at:
            return plan
        spec = spec_of(campaign, audience=False)
        pool = None
        if spec.offer.kind == "coupon" and spec.offer.pool_id is not None:
            with self.context.sessions() as session:
                found = session.get(CouponPool, spec.offer.pool_id)
            if found is not None:
                pool = {"id": found.id, "kind": found.kind, "value": found.value,
                        "min_spend": found.min_spend, "valid_until": found.valid_until}
        plan = _CampaignPlan(campaign.id, campaign.name, campaign.updated_at, spec,
                             compile_content(spec.content, spec.language),
                             used_variables(spec.content, spec.language), pool)
        self._plans[campaign.id] = plan
        return plan

    def batch(self, campaign_id: int, report: RunReport) -> int:
        """Claim, prepare, send and record one batch; the number of rows claimed."""
        now = self.now()
        tally = Tally()
        # 1. claim: a short write transaction (other dispatchers wait only for this)
        with self.context.sessions.begin() as session:
            # status and version only: the plan (JSON columns) is read again only when
            # the campaign was edited since this dispatcher last parsed it
            found = session.execute(select(Campaign.status, Campaign.updated_at).where(
                Campaign.id == campaign_id)).first()
            if found is None or found.status not in DISPATCHABLE:
                return 0
            plan = self._plans.get(campaign_id)
            if plan is None or plan.updated_at != found.updated_at:
                campaign = session.get(Campaign, campaign_id)
                if campaign is None:
                    return 0
                plan = self._plan(campaign)
            rows = self._claim(session, campaign_id, now)
            if not rows:
                return 0
            if found.status == CampaignStatus.SCHEDULED:
                session.execute(update(Campaign).where(
                    Campaign.id == campaign_id, Campaign.status == CampaignStatus.SCHEDULED.value)
                    .values(status=CampaignStatus.SENDING.value)
                    .execution_options(synchronize_session=False))
        tally.claimed = len(rows)
        # 2. the respect rules on data read for the whole batch (no write lock held) …
        with self.context.sessions() as session:
            going = self._decide(session, plan, rows, now, tally)
        # … then skips, holds and the offers (codes, points) are written before sending
        settled = [r for r in rows if not r.keep_claim]
        if settled or plan.spec.offer.kind in ("coupon", "points"):
            with self.context.sessions.begin() as session:
                going = self._offer(session, plan, going, now, tally)
                self._write(session, [r for r in rows if not r.keep_claim or r.coupon_code])
        with self.context.sessions() as session:
            self._messages(session, plan, going, now, tally)
        outgoing = [r for r in rows if r.keep_claim and r.message is not None]
        failed = [r for r, _, _ in going if not r.keep_claim]
        if failed:
            with self.context.sessions.begin() as session:
                self._write(session, failed)
        if outgoing:
            # 3. send (no transaction open), then record in one short transaction
            results = self._retry_elsewhere(plan, outgoing, self._send(plan.spec, outgoing))
            done_at = self.now()
            for row, result in zip(outgoing, results, strict=True):
                self._outcome(row, result, done_at, tally)
            with self.context.sessions.begin() as session:
                self._record(session, outgoing, done_at)
                disable_addresses(session, kind=plan.spec.channel,
                                  app_id=self.config.contact_app_id(plan.spec.channel),
                                  gone=[(r.message.to, x.reason or "gone")
                                        for r, x in zip(outgoing, results, strict=True)
                                        if x.address_gone and r.message is not None],
                                  now=done_at)
        report.batches += 1
        report.tally(campaign_id).add(tally)
        report.total.add(tally)
        return len(rows)

    def _claim(self, session: Session, campaign_id: int, now: datetime) -> list[_Row]:
        """Take up to a batch of due rows.

        PostgreSQL: the IDs are selected ``FOR UPDATE SKIP LOCKED`` (concurrent workers
        take disjoint rows; a LIMIT inside ``UPDATE … WHERE id IN (subquery)`` is no
        bound there, the planner may run the subquery more than once), then flipped to
        ``sending``. SQLite: one ``UPDATE … WHERE id IN (SELECT … LIMIT n)`` statement,
        atomic under the database's write lock, so two dispatchers never pick the same
        first rows and come away empty-handed.
        """
        t = TABLE
        due = (select(t.c.id).where(t.c.campaign_id == campaign_id,
                                    t.c.status == DeliveryStatus.PENDING.value,
                                    t.c.due_at <= now)
               .order_by(t.c.due_at, t.c.id).limit(self.batch_size))
        flip = (update(t).values(status=DeliveryStatus.SENDING.value, claim=self.token,
                                 claimed_at=now)
                .returning(t.c.id, t.c.step, t.c.customer_id, t.c.arm, t.c.attempts,
                           t.c.coupon_code, t.c.due_at))
        if session.get_bind().dialect.name == "postgresql":
            ids = list(session.scalars(due.with_for_update(skip_locked=True)))
            if not ids:
                return []
            claimed = session.execute(
                flip.where(t.c.id.in_(bindparam("ids", expanding=True)),
                           t.c.status == DeliveryStatus.PENDING.value), {"ids": ids}).all()
        else:
            claimed = session.execute(flip.where(t.c.id.in_(due.scalar_subquery()))).all()
        rows = [_Row(int(r[0]), int(r[1]), int(r[2]), str(r[3]), int(r[4]), r[5], r[6])
                for r in claimed]
        rows.sort(key=lambda r: r.id)
        return rows

    # -- respect, offer, content ---------------------------------------------------------

    def _history(self, session: Session, customer_ids: Sequence[int], *, channel: str,
                 purpose: str, now: datetime) -> dict[int, list[SentRecord]]:
        """The earlier messages of the customers a frequency cap may hold back — and of
        no one else. The database counts each customer's messages per cap window
        (``GROUP BY``); only customers who reached a limit have their history read, for
        :func:`~shopcrm.campaigns.rules.cap_release_time` to say until when. Everyone
        else is below every cap, which the rules answer exactly as for no history."""
        caps = [c for c in self.caps if c.applies_to(channel, purpose)]
        if not caps or not customer_ids or any(c.limit == 0 for c in caps):
            return {}  # limit 0 forbids every message whatever the history
        dialect = session.get_bind().dialect.name
        t = TABLE
        window = max(c.window for c in caps)
        channels = {c.channel for c in caps}
        where = [in_list(t.c.customer_id, dialect, "ids"), t.c.sent_at > now - window,
                 t.c.purpose == purpose, t.c.status.in_([s.value for s in ACCEPTED])]
        if "any" not in channels:
            where.append(t.c.channel.in_(sorted(channels)))
        over = [func.sum(case((and_(t.c.sent_at > now - cap.window,
                                    *([] if cap.channel == "any"
                                      else [t.c.channel == cap.channel])), 1), else_=0))
                >= cap.limit for cap in caps]
        ids = list_value(set(customer_ids), dialect)
        capped = list(session.scalars(select(t.c.customer_id).where(*where)
                                      .group_by(t.c.customer_id).having(or_(*over)),
                                      {"ids": ids}))
        found: dict[int, list[SentRecord]] = {}
        if not capped:
            return found
        for cid, at, ch in session.execute(
                select(t.c.customer_id, t.c.sent_at, t.c.channel).where(*where),
                {"ids": list_value(capped, dialect)}):
            if at is not None:
                found.setdefault(int(cid), []).append(SentRecord(at, ch, purpose))
        return found

    def _decide(self, session: Session, plan: _CampaignPlan, rows: list[_Row], now: datetime,
                tally: Tally) -> list[tuple[_Row, Recipient, str]]:
        """Settle what may not go now (skipped with the reason, or held until when it
        may); the rest — (row, recipient, address) — goes on to the offer and message."""
        spec = plan.spec
        channel, purpose = spec.channel, spec.purpose
        ids = [r.customer_id for r in rows]
        people = recipients(session, ids, channel=channel,
                            app_id=self.config.contact_app_id(channel))
        digests: dict[int, str | None] = {}
        for row in rows:
            person = people.get(row.customer_id)
            address = person.address(channel) if person else None
            digests[row.customer_id] = address_hash(address) if address and channel in (
                "sms", "email") else None
        blocked = suppressed(session, channel=channel, customer_ids=ids,
                             address_hashes=[d for d in digests.values() if d])
        consent = ConsentCheck(channel=channel, purpose=purpose, now=now)
        consents = consent.load(session, ids)
        history = self._history(session, ids, channel=channel, purpose=purpose, now=now)
        default_zone = self.config.timezone or self.context.settings.timezone
        going: list[tuple[_Row, Recipient, str]] = []
        # decide_send is pure: without history its answer depends only on these three
        # values within a batch (same now, caps, quiet hours), so it is asked once each.
        decided: dict[tuple[bool, bool, str], SendDecision] = {}
        for row in rows:
            person = people.get(row.customer_id)
            if person is None or person.status in ("erased", "merged"):
                row.settle(DeliveryStatus.SKIPPED, "customer erased" if person and
                           person.status == "erased" else "customer no longer exists"
                           if person is None else "customer merged into another")
                tally.skipped += 1
                continue
            address = person.address(channel)
            if not address:
                row.settle(DeliveryStatus.SKIPPED, person.no_address_reason(channel))
                tally.skipped += 1
                continue
            allowed = consent.allowed(consents.get(row.customer_id, []))
            is_blocked = blocked.holds(row.customer_id, digests[row.customer_id])
            zone = customer_timezone(person.phone, default_zone)
            past = history.get(row.customer_id)
            # earlier messages that no cap counts against leave the answer as if there
            # were none (cap_release_time is now): then the memo applies too
            plain = not past or cap_release_time(past, channel=channel, purpose=purpose,
                                                 caps=self.caps, now=now) == now
            key = (allowed, is_blocked, zone)
            decision = decided.get(key) if plain else None
            if decision is None:
                decision = decide_send(
                    now=now, channel=channel, purpose=purpose, consent_allowed=allowed,
                    suppressed=is_blocked, history=past or (), caps=self.caps,
                    timezone=zone, quiet_hours=self.quiet)
                if plain:
                    decided[key] = decision
            if decision.action is Action.SKIP:
                row.settle(DeliveryStatus.SKIPPED, decision.reason)
                tally.skipped += 1
            elif decision.action is Action.HOLD:
                row.settle(DeliveryStatus.PENDING, f"held: {decision.reason}", due=decision.at)
                tally.held += 1
            else:
                going.append((row, person, address))
        return going

    def _messages(self, session: Session, plan: _CampaignPlan,
                  going: list[tuple[_Row, Recipient, str]], now: datetime,
                  tally: Tally) -> None:
        """Render each going row's message (after the offer, so points include the
        grant); a template that fails for a customer is a dead letter."""
        loyalty = (loyalty_values(session, [r.customer_id for r, _, _ in going], now=now)
                   if plan.needs & {"tier", "points"} else {})
        recs = (self._recommender(plan.id, now).recommend([r.customer_id for r, _, _ in going])
                if "recommendations" in plan.needs and going else {})
        kit = _MessageKit(plan, self.config)
        for row, person, address in going:
            try:
                row.message, row.segments = self._message(
                    plan, row, person, address, loyalty.get(row.customer_id), recs, now,
                    kit)
            except RenderFailed as exc:
                row.settle(DeliveryStatus.FAILED, str(exc)[:500])
                tally.failed += 1

    def _recommender(self, campaign_id: int, now: datetime) -> Recommender:
        from shopcrm.campaigns.recommend import Recommender

        if campaign_id not in self._recommenders:
            self._recommenders[campaign_id] = Recommender(self.context.warehouse, as_of=now)
        return self._recommenders[campaign_id]

    def _offer(self, session: Session, plan: _CampaignPlan,
               going: list[tuple[_Row, Recipient, str]], now: datetime,
               tally: Tally) -> list[tuple[_Row, Recipient, str]]:
        offer = plan.spec.offer
        if offer.kind == "coupon":
            if plan.pool is None:
                for row, _, _ in going:
                    row.settle(DeliveryStatus.SKIPPED, "the coupon pool no longer exists")
                    tally.skipped += 1
                return []
            if plan.pool["valid_until"] <= now:
                for row, _, _ in going:
                    row.settle(DeliveryStatus.SKIPPED, "the coupon pool has expired")
                    tally.skipped += 1
                return []
            need = [row for row, _, _ in going if not row.coupon_code]
            given = assign_codes(session, pool_id=plan.pool["id"], campaign_id=plan.id,
                                 customer_ids=[r.customer_id for r in need], now=now)
            for row in need:
                row.coupon_code = given.get(row.customer_id)
            kept = []
            for item in going:
                if item[0].coupon_code:
                    kept.append(item)
                else:
                    item[0].settle(DeliveryStatus.SKIPPED, "the coupon pool is exhausted")
                    tally.skipped += 1
            return kept
        if offer.kind == "points":
            from shopcrm.loyalty import LoyaltyError
            from shopcrm.loyalty.ledger import grant_bonus

            kept = []
            for item in going:
                row = item[0]
                try:
                    with session.begin_nested():
                        grant_bonus(session, customer_id=row.customer_id, rule_code=offer.rule,
                                    key=f"campaign:{plan.id}:{row.step}:{row.customer_id}",
                                    now=now, points=offer.points,
                                    reason=f"campaign {plan.name}"[:500],
                                    actor=audit.Actor(None, f"campaign:{plan.id}"))
                except LoyaltyError as exc:
                    row.settle(DeliveryStatus.SKIPPED, f"points not granted: {exc}"[:500])
                    tally.skipped += 1
                    continue
                kept.append(item)
            return kept
        return going

    def _message(self, plan: _CampaignPlan, row: _Row, person: Recipient, address: str,
                 loyalty: tuple[dict[str, Any], dict[str, Any]] | None,
                 recs: dict[int, list[dict[str, Any]]], now: datetime,
                 kit: _MessageKit | None = None) -> tuple[Message, int]:
        kit = kit or _MessageKit(plan, self.config)
        spec, public, secret = plan.spec, kit.public, kit.secret
        variant = plan.variants[row.arm]
        unsub = unsubscribe_url = None
        if kit.signs_unsubscribe:
            # SMS opt out by reply: no token to sign for them unless a template asks
            unsub = unsubscribe_token(secret, customer_id=row.customer_id,
                                      channel=spec.channel, campaign_id=plan.id)
            unsubscribe_url = f"{public}/u/{unsub}"
        coupon = None
        if row.coupon_code and plan.pool is not None:
            pool = plan.pool
            coupon = {"code": row.coupon_code, "kind": pool["kind"],
                      "value": _plain(pool["value"]),
                      "min_spend": _plain(pool["min_spend"]) if pool["min_spend"] else "",
                      "valid_until": pool["valid_until"].date().isoformat()}

        def link(url: str) -> str:
            try:
                return click_url(public, secret, delivery_id=row.id, url=url)
            except ValueError as exc:
                raise RenderFailed(str(exc)) from exc

        # the variables as RenderData.variables() gives them, built directly
        rendered = render_values(variant, {
            "customer": person.profile(), "tier": loyalty[0] if loyalty else {},
            "points": loyalty[1] if loyalty else {}, "coupon": coupon or {},
            "recommendations": recs.get(row.customer_id, []), "gift": kit.gift,
            "shop": kit.shop, "campaign": kit.campaign, "unsubscribe_url": unsubscribe_url,
            "link": link}, customer_language(person.phone, person.email, spec.language))
        key = delivery_key(plan.id, row.step, row.customer_id)
        metadata = {"campaign": kit.campaign_id, "variant": row.arm,
                    "customer": str(row.customer_id)}
        if unsub:
            metadata["unsubscribe_token"] = unsub
        segments = 1
        body, html, one_click = rendered.body, rendered.html, None
        if kit.channel == "sms":
            try:
                body = assemble_sms(body, signature=kit.signature, language=rendered.language)
            except ValueError as exc:
                raise RenderFailed(str(exc)) from exc
            segments = sms_segments(body)
        elif kit.channel == "email":
            if "unsubscribe_url" not in plan.needs:
                label = "退订" if rendered.language == "zh" else "Unsubscribe"
                body = f"{body}\n\n{label}: {unsubscribe_url}"
            if html is not None:
                pixel = open_pixel_url(public, secret, delivery_id=row.id)
                tag = f'<img src="{pixel}" width="1" height="1" alt="" style="display:none">'
                html = html.replace("</body>", tag + "</body>") if "</body>" in html \
                    else html + tag
            one_click = unsubscribe_url if public.startswith("https://") else None
        url = link(rendered.url) if rendered.url else None
        message = Message(key=key, to=address, body=body, subject=rendered.subject, html=html,
                          language=rendered.language, template_id=variant.template_id,
                          params=rendered.params, url=url, unsubscribe_url=one_click,
                          metadata=metadata)
        return message, segments

    # -- sending ---------------------------------------------------------------------------

    def _throttle(self, channel: str, spec: CampaignSpec, count: int) -> None:
        limits = [x for x in (self.config.rate_limit(channel),) if x is not None]
        if spec.schedule.rate_per_second:
            from shopcrm.campaigns.rules import RateLimit

            rate = spec.schedule.rate_per_second
            limits.append(RateLimit(per_second=rate, burst=max(1, int(rate))))
        if not limits:
            return
        limit = min(limits, key=lambda x: x.per_second)
        key = f"{channel}:{limit.per_second}"
        now = self.now()
        at = now
        state = self._buckets.get(key)
        for _ in range(count):
            state, at = take_token(state, limit=limit, now=now)
        self._buckets[key] = state  # type: ignore[assignment]
        wait = (at - now).total_seconds()
        if wait > 0:
            self.sleep(wait)

    def _send(self, spec: CampaignSpec, rows: list[_Row]) -> list[SendResult]:
        adapter = self.channels.get(spec.channel)
        messages = [r.message for r in rows if r.message is not None]
        results: list[SendResult] = []
        batch_send = getattr(adapter, "send_batch", None)
        size = getattr(adapter, "max_batch", None) or (
            self.config.sms.batch_size if (spec.channel == "sms" and self.config.sms) else 100)
        if batch_send is not None and size > 1:
            for start in range(0, len(messages), size):
                chunk = messages[start:start + size]
                self._throttle(spec.channel, spec, len(chunk))
                try:
                    results.extend(batch_send(chunk))
                except Exception as exc:  # an adapter bug must not lose the batch
                    results.extend(SendResult.transient(f"adapter error: {exc!r}")
                                   for _ in chunk)
        else:
            for message in messages:
                self._throttle(spec.channel, spec, 1)
                try:
                    results.append(adapter.send(message))
                except Exception as exc:
                    results.append(SendResult.transient(f"adapter error: {exc!r}"))
        flush = getattr(adapter, "flush", None)
        if flush is not None:
            flush(sync=True)  # durable before it is recorded as sent
        return results

    def _retry_elsewhere(self, plan: Any, outgoing: Sequence[_Row],
                         results: list[SendResult]) -> list[SendResult]:
        """A dead device token or openid of a customer who has another active one: the
        delivery is retried (on that one — the dead one is disabled when the batch is
        recorded) instead of dead-lettered; a customer with no other stays failed."""
        gone = [(r.customer_id, r.message.to) for r, x in zip(outgoing, results, strict=True)
                if x.address_gone and r.message is not None]
        if not gone:
            return results
        channel = plan.spec.channel
        with self.context.sessions() as session:
            reachable = with_another_address(session, gone, kind=channel,
                                             app_id=self.config.contact_app_id(channel))
        return [replace(x, status=SendStatus.TRANSIENT,
                        reason=f"{x.reason}; retrying on the customer's next address")
                if x.address_gone and r.customer_id in reachable else x
                for r, x in zip(outgoing, results, strict=True)]

    def _outcome(self, row: _Row, result: SendResult, now: datetime, tally: Tally) -> None:
        row.attempts += 1
        if result.ok:
            row.settle(DeliveryStatus.SENT, None)
            row.sent_at = now
            row.provider_message_id = (result.provider_message_id or "")[:200] or None
            tally.sent += 1
            return
        reason = (result.reason or "unknown error")[:400]
        if result.status.value == "transient-failure":
            delay = retry_delay(row.attempts, policy=self.retry, rng=self.rng,
                                retry_after=result.retry_after)
            if delay is not None:
                row.settle(DeliveryStatus.PENDING, f"retry {row.attempts}: {reason}",
                           due=now + delay)
                tally.retried += 1
                return
            reason = f"gave up after {row.attempts} attempts: {reason}"
        row.settle(DeliveryStatus.FAILED, reason[:500])
        tally.failed += 1

    def _record(self, session: Session, rows: Sequence[_Row], done_at: datetime) -> None:
        """Record a batch's outcomes: the accepted ones (nearly all) set-wise at driver
        speed (:func:`_record_sent`; other dialects: two Core statements), the rest —
        retries, dead letters — by one ``executemany``."""
        t = TABLE
        sent = [r for r in rows if r.status == DeliveryStatus.SENT.value]
        connection = session.connection()
        if sent and connection.dialect.name in ("sqlite", "postgresql"):
            _record_sent(connection, sent, done_at, self.token)
        elif sent:
            session.connection().execute(
                update(t).where(t.c.id == bindparam("b_id"), t.c.claim == self.token)
                .values(provider_message_id=bindparam("b_pid"),
                        segments=bindparam("b_segments")),
                [{"b_id": r.id, "b_pid": r.provider_message_id, "b_segments": r.segments}
                 for r in sent])
            ids = [r.id for r in sent]
            mark = (update(t).where(t.c.id.in_(bindparam("ids", expanding=True)),
                                    t.c.claim == self.token)
                    .values(status=DeliveryStatus.SENT.value, sent_at=done_at, reason=None,
                            claim=None, attempts=t.c.attempts + 1))
            for start in range(0, len(ids), _CHUNK):
                session.execute(mark, {"ids": ids[start:start + _CHUNK]})
        self._write(session, [r for r in rows if r.status != DeliveryStatus.SENT.value])

    def _write(self, session: Session, rows: Sequence[_Row]) -> None:
        if not rows:
            return
        t = TABLE
        statement = update(t).where(t.c.id == bindparam("b_id"),
                                    t.c.claim == bindparam("b_token")).values(
            status=bindparam("b_status"), reason=bindparam("b_reason"),
            due_at=bindparam("b_due"), attempts=bindparam("b_attempts"),
            sent_at=bindparam("b_sent"), provider_message_id=bindparam("b_pid"),
            segments=bindparam("b_segments"), coupon_code=bindparam("b_coupon"),
            claim=bindparam("b_claim"))
        session.connection().execute(statement, [
            {"b_id": r.id, "b_token": self.token, "b_status": r.status, "b_reason": r.reason,
             "b_due": r.due_at, "b_attempts": r.attempts, "b_sent": r.sent_at,
             "b_pid": r.provider_message_id, "b_segments": r.segments,
             "b_coupon": r.coupon_code, "b_claim": self.token if r.keep_claim else None}
            for r in rows])

    # -- recovery ------------------------------------------------------------------------

    def recover(self, *, campaign_id: int | None = None, take_over: bool = False,
                report: RunReport | None = None) -> Tally:
        """Settle deliveries left ``sending`` by a dispatcher that died: sent if the
        channel can tell it accepted them, else due again now (see the module doc)."""
        report = report or RunReport()
        now = self.now()
        cutoff = now - timedelta(seconds=self.config.lease_seconds)
        t = TABLE
        query = select(t.c.id, t.c.campaign_id, t.c.step, t.c.customer_id, t.c.channel,
                       t.c.claim, t.c.claimed_at, t.c.attempts).where(
            t.c.status == DeliveryStatus.SENDING.value,
            or_(t.c.claim.is_(None), t.c.claim != self.token))
        if campaign_id is not None:
            query = query.where(t.c.campaign_id == campaign_id)
        if not take_over:
            query = query.where(t.c.claimed_at < cutoff)
        total = Tally()
        with self.context.sessions.begin() as session:
            stuck = session.execute(query).all()
            by_channel: dict[str, list[Any]] = {}
            for row in stuck:
                by_channel.setdefault(str(row.channel), []).append(row)
            params = []
            for channel, found_rows in by_channel.items():
                keys = {delivery_key(r.campaign_id, r.step, r.customer_id): r
                        for r in found_rows}
                accepted: dict[str, str] = {}
                finder = None
                if self.channels.has(channel):
                    finder = getattr(self.channels.get(channel), "find_sent", None)
                if finder is not None:
                    accepted = finder(set(keys))
                for key, r in keys.items():
                    tally = report.tally(int(r.campaign_id))
                    if key in accepted:
                        params.append({"b_id": r.id, "b_old": r.claim,
                                       "b_status": DeliveryStatus.SENT.value,
                                       "b_sent": r.claimed_at, "b_pid": accepted[key][:200],
                                       "b_due": now, "b_attempts": int(r.attempts) + 1,
                                       "b_reason": "recovered: the channel had accepted it"})
                        tally.recovered_sent += 1
                        total.recovered_sent += 1
                    else:
                        params.append({"b_id": r.id, "b_old": r.claim,
                                       "b_status": DeliveryStatus.PENDING.value,
                                       "b_sent": None, "b_pid": None, "b_due": now,
                                       "b_attempts": int(r.attempts),
                                       "b_reason": "resumed after an interrupted send"})
                        tally.recovered_pending += 1
                        total.recovered_pending += 1
            if params:
                session.connection().execute(
                    update(t).where(t.c.id == bindparam("b_id"),
                                    t.c.status == DeliveryStatus.SENDING.value,
                                    t.c.claim == bindparam("b_old"))
                    .values(status=bindparam("b_status"), sent_at=bindparam("b_sent"),
                            provider_message_id=bindparam("b_pid"), due_at=bindparam("b_due"),
                            attempts=bindparam("b_attempts"), reason=bindparam("b_reason"),
                            claim=None), params)
        report.total.add(total)
        return total


_MARK_SENT = ("UPDATE campaign_deliveries SET status = 'sent', sent_at = {at}, reason = NULL, "
              "claim = NULL, attempts = attempts + 1, provider_message_id = {pid}, "
              "segments = {segments} ")


def _record_sent(connection: Connection, rows: Sequence[_Row], done_at: datetime,
                 token: str) -> None:
    """Accepted messages marked sent at driver speed, each row only while this
    dispatcher still holds its claim: one ``executemany`` on SQLite (its statements
    cost microseconds; SQLAlchemy's per-row parameter handling cost more than the
    database), one ``UPDATE … FROM unnest(arrays)`` on PostgreSQL."""
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        stamp = done_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as UtcDateTime
        cursor = raw.cursor()
        try:
            cursor.executemany(
                _MARK_SENT.format(at="?", pid="?", segments="?")
                + "WHERE id = ? AND claim = ?",
                [(stamp, r.provider_message_id, r.segments, r.id, token) for r in rows])
        finally:
            cursor.close()
        return
    with raw.cursor() as cursor:
        cursor.execute(
            _MARK_SENT.format(at="%s", pid="v.pid", segments="v.segments")
            + "FROM unnest(%s::bigint[], %s::text[], %s::int[]) AS v(id, pid, segments) "
            "WHERE campaign_deliveries.id = v.id AND campaign_deliveries.claim = %s",
            (done_at, [r.id for r in rows], [r.provider_message_id for r in rows],
             [r.segments for r in rows], token))


class _MessageKit:
    """What every message of a batch shares, worked out once per batch (secrets, URLs,
    the signature, the shop and campaign variables) instead of once per message."""

    def __init__(self, plan: _CampaignPlan, config: CampaignSettings) -> None:
        spec = plan.spec
        self.channel = spec.channel
        self.secret = config.secrets()[0]
        self.public = config.public_url.rstrip("/")
        self.signs_unsubscribe = spec.channel == "email" or "unsubscribe_url" in plan.needs
        self.signature = config.signature() if spec.channel == "sms" else ""
        self.gift = spec.offer.gift if spec.offer.kind == "gift" else None
        self.shop = {"name": config.shop_name}
        self.campaign = {"id": plan.id, "name": plan.name}
        self.campaign_id = str(plan.id)


def _plain(value: Decimal | None) -> str:
    """``50`` for 50.00, ``8.5`` for 8.50 (coupon values in messages)."""
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return text


def run_once(context: AppContext, *, config: CampaignSettings, channels: ChannelSet,
             campaign_id: int | None = None, take_over: bool = False,
             actor: audit.Actor = audit.SYSTEM) -> RunReport:
    """One in-process dispatch pass (what ``shopcrm campaign dispatch`` and the API
    call): recover, send everything due, finish what is complete."""
    return Dispatcher(context, channels=channels, config=config).run(
        campaign_id=campaign_id, take_over=take_over, actor=actor)

