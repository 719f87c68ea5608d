"""Read-only views of accounts for the Settings pages: users with their role names, roles
with how many users hold them, and the values the audit log can be filtered by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.accounts.permissions import Permission
from shopcrm.store.models import ApiKey, AuditEntry, Role, User

_ORDER = {p.value: i for i, p in enumerate(Permission)}


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str | None
    role: str
    is_active: bool
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class RoleRow:
    id: int
    name: str
    description: str | None
    permissions: list[str]
    """In the order the permission matrix lists them."""
    builtin: bool
    users: int


@dataclass(frozen=True)
class AuditFacets:
    """The distinct actions and outcomes recorded so far (for filter drop-downs)."""

    actions: list[str]
    outcomes: list[str]


def list_users(session: Session) -> list[UserRow]:
    roles = {r.id: r.name for r in session.scalars(select(Role))}
    return [
        UserRow(id=u.id, username=u.username, display_name=u.display_name,
                role=roles.get(u.role_id, ""), is_active=u.is_active,
                locked_until=u.locked_until, created_at=u.created_at,
                last_login_at=u.last_login_at)
        for u in session.scalars(select(User).order_by(User.id))
    ]


def list_roles(session: Session) -> list[RoleRow]:
    counts = {role_id: int(count) for role_id, count in session.execute(
        select(User.role_id, func.count()).group_by(User.role_id))}
    return [
        RoleRow(id=r.id, name=r.name, description=r.description,
                permissions=sorted(r.permissions, key=lambda p: (_ORDER.get(p, len(_ORDER)), p)),
                builtin=r.builtin,
                users=int(counts.get(r.id, 0)))
        for r in session.scalars(select(Role).order_by(Role.id))
    ]


def audit_facets(session: Session) -> AuditFacets:
    actions = session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    outcomes = session.scalars(
        select(AuditEntry.outcome).distinct().order_by(AuditEntry.outcome))
    return AuditFacets(actions=list(actions), outcomes=list(outcomes))


def list_api_keys(session: Session, *, user_id: int) -> list[ApiKey]:
    """A user's API keys (hashes never leave the store), oldest first."""
    return list(session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)))
