"""Where tags hook into other capabilities: identity merges and the customer profile.

Imported (through ``store.schema``) by every application context, so the hooks are in
place before any merge runs or profile is shown. Light on purpose: SQLAlchemy only.

**Merges.** A merge closes the merged customer's open stays (``closed_by``
``merge:<id>``) and opens them for the survivor (``opened_by`` ``merge:<id>``, same
source, so a computed tag's next run treats them as its own), unless the survivor is
already in that tag. An un-merge reverses exactly that: the survivor's stays the merge
opened are closed, the merged customer's stays it closed are opened again. Computed
tags then settle on the next compute.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shopcrm.accounts.audit import Actor
from shopcrm.customers.profile import register_slot
from shopcrm.identity import followers
from shopcrm.identity.followers import CustomerMove
from shopcrm.segments.library_models import Tag, TagMembership


def _open(session: Session, customer_id: int) -> list[TagMembership]:
    return list(session.scalars(select(TagMembership).where(
        TagMembership.customer_id == customer_id, TagMembership.until.is_(None))))


def _merge_mark(session: Session, move: CustomerMove) -> str | None:
    """The ``merge:<id>`` mark of the merge an un-merge undoes: the newest one that closed
    stays of the merged customer (the move carries the un-merge's own ID)."""
    query = select(TagMembership.closed_by).where(
        TagMembership.customer_id == move.merged_id,
        TagMembership.closed_by.like("merge:%"))
    if move.since is not None:
        since = move.since if move.since.tzinfo else move.since.replace(tzinfo=UTC)
        query = query.where(TagMembership.until >= since)
    mark = session.scalars(query.order_by(TagMembership.until.desc(),
                                          TagMembership.id.desc()).limit(1)).first()
    return str(mark) if mark else None


def follow_moves(session: Session, moves: list[CustomerMove], now: datetime,
                 actor: Actor) -> None:
    for move in moves:
        mark = f"merge:{move.merge_id}"
        if not move.undo:
            theirs = _open(session, move.merged_id)
            if not theirs:
                continue
            mine = {m.tag_id for m in _open(session, move.survivor_id)}
            for stay in theirs:
                stay.until, stay.closed_by = now, mark
                if stay.tag_id not in mine:
                    mine.add(stay.tag_id)
                    session.add(TagMembership(
                        tag_id=stay.tag_id, customer_id=move.survivor_id, source=stay.source,
                        since=now, until=None, opened_by=mark, closed_by=None))
        else:
            undo = f"unmerge:{move.merge_id}"
            undone = _merge_mark(session, move)
            if undone is None:
                continue
            session.execute(update(TagMembership).where(
                TagMembership.customer_id == move.survivor_id, TagMembership.until.is_(None),
                TagMembership.opened_by == undone).values(until=now, closed_by=undo))
            current = {m.tag_id for m in _open(session, move.merged_id)}
            for stay in session.scalars(select(TagMembership).where(
                    TagMembership.customer_id == move.merged_id,
                    TagMembership.closed_by == undone)):
                if stay.tag_id not in current:
                    current.add(stay.tag_id)
                    session.add(TagMembership(
                        tag_id=stay.tag_id, customer_id=move.merged_id, source=stay.source,
                        since=now, until=None, opened_by=undo, closed_by=None))
    session.flush()


def profile_tags(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """The profile's ``tags`` slot: current tags with when and how each began."""
    rows = session.execute(
        select(Tag.key, Tag.name, Tag.category, Tag.seeded, TagMembership.source,
               TagMembership.since)
        .join(Tag, Tag.id == TagMembership.tag_id)
        .where(TagMembership.customer_id == customer_id, TagMembership.until.is_(None))
        .order_by(Tag.category, Tag.name))
    return [{"key": k, "name": n, "category": c, "seeded": seeded, "source": s, "since": since}
            for k, n, c, seeded, s, since in rows]


followers.register(follow_moves)
register_slot("tags", profile_tags)
