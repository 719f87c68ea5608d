"""The operational store's side of a rule: profile attributes, loyalty, tag members.

Profile fields, points and tags live in the operational store (SQLite / PostgreSQL), not
in the warehouse. A rule's ``attribute``, ``loyalty`` and ``tag`` nodes are evaluated
here, by SQLAlchemy with bound parameters, and only the matching customer IDs go to the
Ibis side (as a small in-memory table). Why not copy these tables into the warehouse:
balances and tags change by the second (a redemption, a manual tag) and personal data
must stay in the operational store (erasure is a row-store operation); the matching IDs
are what a segment needs, and the store's indexes find them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import ColumnElement, and_, exists, not_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from shopcrm.segments.library_models import Tag, TagMembership
from shopcrm.segments.rules import (
    ATTRIBUTE_FIELDS,
    LOYALTY_FIELDS,
    Attribute,
    FieldType,
    Loyalty,
    Op,
)
from shopcrm.store.models import Customer, SourceIdentity


def ids_table(ids: Any) -> pa.Table:
    return pa.table({"customer_id": pa.array(sorted({int(i) for i in ids}), pa.int64())})


def sa_condition(column: Any, kind: FieldType, op: Op, value: Any, *, today: date,
                 timezone: str) -> ColumnElement[bool]:
    """``column op value`` in SQLAlchemy (bound parameters; LIKE patterns escaped),
    with the compiler's meaning (:func:`shopcrm.segments.compiler.condition`)."""
    if op is Op.IS_NULL:
        return column.is_(None)  # type: ignore[no-any-return]
    if op is Op.NOT_NULL:
        return column.is_not(None)  # type: ignore[no-any-return]
    if kind is FieldType.STRING:
        if op is Op.CONTAINS:
            return column.contains(value, autoescape=True)  # type: ignore[no-any-return]
        if op is Op.CONTAINS_ANY:
            return or_(*(column.contains(v, autoescape=True) for v in value))
        if op is Op.NOT_CONTAINS:
            return and_(column.is_not(None), not_(column.contains(value, autoescape=True)))
        if op is Op.STARTS_WITH:
            return column.startswith(value, autoescape=True)  # type: ignore[no-any-return]
    if kind.temporal:
        return _temporal(column, kind, op, value, today=today, timezone=timezone)
    if op is Op.EQ:
        return column == value  # type: ignore[no-any-return]
    if op is Op.NE:
        return column != value  # type: ignore[no-any-return]
    if op is Op.GT:
        return column > value  # type: ignore[no-any-return]
    if op is Op.GTE:
        return column >= value  # type: ignore[no-any-return]
    if op is Op.LT:
        return column < value  # type: ignore[no-any-return]
    if op is Op.LTE:
        return column <= value  # type: ignore[no-any-return]
    if op is Op.BETWEEN:
        return column.between(value[0], value[1])  # type: ignore[no-any-return]
    if op is Op.IN:
        return column.in_(list(value))  # type: ignore[no-any-return]
    if op is Op.NOT_IN:
        return column.not_in(list(value))  # type: ignore[no-any-return]
    raise ValueError(f"{op.value} does not apply here")


def _temporal(column: Any, kind: FieldType, op: Op, value: Any, *, today: date,
              timezone: str) -> ColumnElement[bool]:
    low: date | None
    high: date | None
    if op is Op.WITHIN_DAYS:
        low, high = today - timedelta(days=int(value)), today
    elif op is Op.OLDER_THAN_DAYS:
        low, high = None, today - timedelta(days=int(value) + 1)
    elif op is Op.BETWEEN:
        low, high = (date.fromisoformat(v) for v in value)
    else:
        day = date.fromisoformat(value)
        low, high = {Op.EQ: (day, day), Op.GT: (day + timedelta(days=1), None),
                     Op.GTE: (day, None), Op.LT: (None, day - timedelta(days=1)),
                     Op.LTE: (None, day), Op.NE: (day, day)}[op]
    zone = ZoneInfo(timezone)

    def start(d: date) -> datetime:
        # UTC: SQLite keeps the digits of what it is given, without the offset
        return datetime.combine(d, time(), zone).astimezone(UTC)

    parts = []
    if low is not None:
        parts.append(column >= (start(low) if kind is FieldType.TIMESTAMP else low))
    if high is not None:
        parts.append(column < start(high + timedelta(days=1)) if kind is FieldType.TIMESTAMP
                     else column <= high)
    test = and_(*parts)
    return and_(column.is_not(None), not_(test)) if op is Op.NE else test


_CUSTOMER_COLUMNS = {"province": Customer.province, "city": Customer.city,
                     "district": Customer.district, "gender": Customer.gender,
                     "first_seen": Customer.first_seen_at, "last_seen": Customer.last_seen_at}


class StoreSets:
    """:class:`~shopcrm.segments.compiler.ExternalSets` over the operational store."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def _ids(self, query: Any) -> pa.Table:
        with self.sessions() as session:
            return ids_table(session.scalars(query))

    def attribute(self, node: Attribute, *, today: date, timezone: str) -> pa.Table:
        kind = ATTRIBUTE_FIELDS[node.field]
        if node.field == "source":
            condition = sa_condition(SourceIdentity.source, kind, node.op, node.value,
                                     today=today, timezone=timezone)
            if node.op in (Op.NE, Op.NOT_IN, Op.NOT_CONTAINS, Op.IS_NULL):
                # "not from taobao": no record from taobao at all
                positive = {Op.NE: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_CONTAINS: Op.CONTAINS,
                            Op.IS_NULL: Op.NOT_NULL}[node.op]
                inner = sa_condition(SourceIdentity.source, kind, positive, node.value,
                                     today=today, timezone=timezone)
                return self._ids(select(Customer.id).where(
                    Customer.status == "active",
                    ~exists().where(SourceIdentity.customer_id == Customer.id, inner)))
            return self._ids(select(SourceIdentity.customer_id).where(condition).distinct())
        condition = sa_condition(_CUSTOMER_COLUMNS[node.field], kind, node.op, node.value,
                                 today=today, timezone=timezone)
        return self._ids(select(Customer.id).where(Customer.status == "active", condition))

    def loyalty(self, node: Loyalty, *, complement: bool) -> pa.Table:
        from shopcrm.loyalty.models import LoyaltyAccount

        column = LoyaltyAccount.balance if node.field == "points" else LoyaltyAccount.tier
        condition = sa_condition(column, LOYALTY_FIELDS[node.field], node.op, node.value,
                                 today=date.min, timezone="UTC")
        if complement:
            condition = or_(column.is_(None), not_(condition))
        return self._ids(select(LoyaltyAccount.customer_id).where(condition))

    def tag(self, key: str) -> pa.Table:
        return self._ids(select(TagMembership.customer_id).join(
            Tag, Tag.id == TagMembership.tag_id).where(
            Tag.key == key, TagMembership.until.is_(None)).distinct())
