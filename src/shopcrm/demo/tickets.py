"""Service tickets for the demo shop: a month of consultations, complaints and
after-sales cases worked by the demo agent, made through the real ticket services
(with past times), so the service desk opens with a realistic queue — some late, some
waiting on the customer, most resolved and rated. Deterministic by seed."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopcrm.accounts.audit import Actor
from shopcrm.store.models import Customer, User
from shopcrm.tickets import service
from shopcrm.tickets.models import Ticket
from shopcrm.tickets.rules import TicketChannel, TicketKind, TicketStatus

SUBJECTS: dict[TicketKind, list[tuple[str, str]]] = {
    TicketKind.CONSULTATION: [
        ("什么时候发货？", "拍下两天了还没发货，能加急吗"),
        ("尺码怎么选", "身高165体重50公斤穿什么码"),
        ("能开发票吗", "需要公司抬头的增值税普通发票"),
        ("地址填错了", "麻烦帮我改一下收货地址"),
    ],
    TicketKind.COMPLAINT: [
        ("快递太慢", "一周了物流还没更新"),
        ("客服态度差", "上次咨询没有人回复"),
        ("价格保护", "刚买就降价了，能退差价吗"),
    ],
    TicketKind.AFTER_SALES: [
        ("收到商品破损", "外包装压坏了，杯子碎了一个"),
        ("申请退货", "颜色和图片不一样，七天无理由退货"),
        ("少发了赠品", "活动说送的赠品没有收到"),
        ("质量问题换货", "用了三天就坏了"),
    ],
}
CHANNELS = [TicketChannel.WANGWANG, TicketChannel.WANGWANG, TicketChannel.JD_DONGDONG,
            TicketChannel.WECHAT, TicketChannel.PHONE, TicketChannel.PDD, TicketChannel.EMAIL]
REPLIES = ["您好，已为您查询，请稍等", "非常抱歉给您带来不便，已为您登记处理",
           "已联系仓库加急", "请提供一下商品照片，我们马上处理"]


def seed_demo_tickets(session: Session, *, now: datetime, count: int = 240,
                      seed: int = 42, agent_username: str = "agent") -> int:
    """Create ``count`` tickets over the 30 days before ``now`` (nothing when the desk
    already has tickets, so re-running the demo changes nothing)."""
    if session.scalar(select(Ticket.id).limit(1)) is not None:
        return 0
    rng = random.Random(seed)
    customers = list(session.scalars(select(Customer.id).where(Customer.status == "active")
                                     .order_by(Customer.id).limit(5000)))
    agent = session.scalar(select(User).where(User.username == agent_username))
    agent_actor = Actor(agent.id if agent else None, agent_username)
    kinds = [TicketKind.CONSULTATION] * 5 + [TicketKind.AFTER_SALES] * 4 + [
        TicketKind.COMPLAINT] * 2
    made = 0
    for _ in range(count):
        kind = rng.choice(kinds)
        subject, body = rng.choice(SUBJECTS[kind])
        opened = now - timedelta(minutes=rng.randint(10, 30 * 24 * 60))
        ticket = service.open_ticket(session, service.NewTicket(
            channel=rng.choice(CHANNELS), kind=kind, subject=subject, body=body,
            customer_id=rng.choice(customers) if customers else None,
            contact=None if customers else f"访客{rng.randint(1000, 9999)}",
            assignee_id=agent.id if agent and rng.random() < 0.8 else None),
            actor=Actor(None, "demo"), now=opened)
        made += 1
        moment = opened + timedelta(minutes=rng.expovariate(1 / 90))
        if moment >= now or rng.random() < 0.08:
            continue  # still unanswered
        service.reply(session, ticket.id, rng.choice(REPLIES), internal=False,
                      actor=agent_actor, now=moment)
        if rng.random() < 0.2:
            moment += timedelta(minutes=rng.randint(5, 600))
            if moment >= now:
                continue
            service.change_status(session, ticket.id, TicketStatus.PENDING,
                                  actor=agent_actor, now=moment)
            moment += timedelta(hours=rng.expovariate(1 / 20))
            if moment >= now:
                continue
            service.change_status(session, ticket.id, TicketStatus.OPEN, actor=agent_actor,
                                  now=moment)
        moment += timedelta(hours=rng.expovariate(1 / 18))
        if moment >= now or rng.random() < 0.1:
            continue
        service.change_status(session, ticket.id, TicketStatus.RESOLVED, actor=agent_actor,
                              now=moment)
        if rng.random() < 0.6:
            score = rng.choices([5, 4, 3, 2, 1], weights=[55, 25, 10, 6, 4])[0]
            service.rate(session, ticket.id, score, comment=None, actor=agent_actor,
                         now=moment + timedelta(minutes=rng.randint(1, 120)))
        if rng.random() < 0.5 and moment + timedelta(days=3) < now:
            service.change_status(session, ticket.id, TicketStatus.CLOSED,
                                  actor=agent_actor, now=moment + timedelta(days=3))
    return made
