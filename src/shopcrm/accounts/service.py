"""Users, roles, sessions and API keys — keyword-only service functions over a Session.

Secrets (session tokens, API keys) are random, shown once, and stored only as SHA-256
hashes: a leaked database does not leak a working credential.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shopcrm.accounts import audit
from shopcrm.accounts.passwords import DUMMY_HASH, hash_password, verify_password
from shopcrm.accounts.permissions import BUILTIN_ROLES, Permission, parse_permissions
from shopcrm.store.models import ApiKey, Role, User, WebSession

SESSION_IDLE = timedelta(hours=12)
SESSION_MAX = timedelta(days=7)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
API_KEY_PREFIX = "shk_"


class AccountError(Exception):
    """A request about accounts that cannot be done; the message is safe to show."""


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do (a signed-in user or an API key)."""

    user_id: int
    username: str
    role: str
    permissions: frozenset[Permission]
    via: str  # "session" | "api_key"
    csrf_token: str | None = None
    language: str | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def ensure_builtin_roles(session: Session, *, now: datetime) -> None:
    existing = set(session.scalars(select(Role.name)))
    for name, permissions in BUILTIN_ROLES.items():
        if name not in existing:
            session.add(Role(name=name, permissions=sorted(p.value for p in permissions),
                             builtin=True, created_at=now,
                             description=f"built-in {name} role"))
    session.flush()


def create_role(session: Session, *, name: str, permissions: list[str], now: datetime,
                description: str | None = None) -> Role:
    parsed = parse_permissions(permissions)
    if session.scalar(select(Role).where(Role.name == name)):
        raise AccountError(f"a role named {name!r} exists already")
    role = Role(name=name, permissions=sorted(p.value for p in parsed), builtin=False,
                created_at=now, description=description)
    session.add(role)
    session.flush()
    return role


def create_user(session: Session, *, username: str, password: str, role: str, now: datetime,
                display_name: str | None = None, language: str | None = None) -> User:
    ensure_builtin_roles(session, now=now)
    username = username.strip()
    if not username or len(username) > 64:
        raise AccountError("a username needs 1 to 64 characters")
    if session.scalar(select(User).where(User.username == username)):
        raise AccountError(f"user {username!r} exists already")
    found = session.scalar(select(Role).where(Role.name == role))
    if found is None:
        raise AccountError(f"no role named {role!r}")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise AccountError(str(exc)) from exc
    user = User(username=username, display_name=display_name, password_hash=password_hash,
                role_id=found.id, language=language, is_active=True, failed_logins=0,
                created_at=now)
    session.add(user)
    session.flush()
    return user


def _principal(session: Session, user: User, via: str, *, csrf: str | None = None,
               scopes: list[str] | None = None) -> Principal:
    role = session.get(Role, user.role_id)
    granted = parse_permissions(role.permissions) if role else frozenset()
    if scopes is not None:
        granted = granted & parse_permissions(scopes)
    return Principal(user_id=user.id, username=user.username, role=role.name if role else "",
                     permissions=frozenset(granted), via=via, csrf_token=csrf,
                     language=user.language)


@dataclass(frozen=True)
class LoginResult:
    """A successful login (token and principal) or the reason it failed (``error``)."""

    token: str | None = None
    principal: Principal | None = None
    error: str | None = None
    locked: bool = False


def login(session: Session, *, username: str, password: str, now: datetime,
          actor: audit.Actor) -> LoginResult:
    """Check the password; lock the account for a while after repeated failures.

    Failures are returned, not raised, so the caller's transaction keeps the failure
    count and the audit entry. Every failure says the same thing, whether the user
    exists or not.
    """
    user = session.scalar(select(User).where(User.username == username.strip()))
    failure = LoginResult(error="wrong username or password")
    if user is None:
        verify_password(DUMMY_HASH, password)
        audit.record(session, actor, "login", at=now, outcome="failed",
                     details={"username": username[:64], "reason": "unknown user"})
        return failure
    if user.locked_until and _aware(user.locked_until) > now:
        audit.record(session, actor, "login", at=now, outcome="locked",
                     target_type="user", target_id=str(user.id))
        minutes = max(1, int((_aware(user.locked_until) - now).total_seconds() // 60) + 1)
        return LoginResult(error="too many failed attempts: this account is locked for "
                           f"{minutes} more minute(s)", locked=True)
    if not user.is_active or not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        audit.record(session, actor, "login", at=now, outcome="failed",
                     target_type="user", target_id=str(user.id))
        return failure
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(WebSession(token_hash=_digest(token), csrf_token=csrf, user_id=user.id,
                           created_at=now, expires_at=now + SESSION_IDLE, last_seen_at=now,
                           ip=actor.ip, user_agent=(actor.user_agent or "")[:300] or None))
    audit.record(session, audit.Actor(user.id, user.username, actor.ip, actor.user_agent),
                 "login", at=now, target_type="user", target_id=str(user.id))
    session.flush()
    return LoginResult(token=token, principal=_principal(session, user, "session", csrf=csrf))


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive (they are stored as UTC)."""
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def resolve_session(session: Session, *, token: str, now: datetime) -> Principal | None:
    """The principal of a session cookie, sliding its idle expiry; None when expired."""
    web = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
    if web is None:
        return None
    if _aware(web.expires_at) <= now or _aware(web.created_at) + SESSION_MAX <= now:
        session.delete(web)
        return None
    user = session.get(User, web.user_id)
    if user is None or not user.is_active:
        return None
    if now - _aware(web.last_seen_at) > timedelta(minutes=1):
        web.last_seen_at = now
        web.expires_at = min(now + SESSION_IDLE, _aware(web.created_at) + SESSION_MAX)
    return _principal(session, user, "session", csrf=web.csrf_token)


def logout(session: Session, *, token: str, now: datetime, actor: audit.Actor) -> None:
    web = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
    if web is not None:
        session.delete(web)
        audit.record(session, actor, "logout", at=now, target_type="user",
                     target_id=str(web.user_id))


@dataclass(frozen=True)
class NewApiKey:
    key: str  # shown once
    record: ApiKey


def create_api_key(session: Session, *, user_id: int, name: str, scopes: list[str],
                   now: datetime, actor: audit.Actor) -> NewApiKey:
    parse_permissions(scopes)
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(name=name[:100], prefix=secret[:10], key_hash=_digest(secret),
                    user_id=user_id, scopes=sorted(set(scopes)), created_at=now)
    session.add(record)
    session.flush()
    audit.record(session, actor, "api_key.create", at=now, target_type="api_key",
                 target_id=str(record.id), details={"name": name, "scopes": record.scopes})
    return NewApiKey(secret, record)


def revoke_api_key(session: Session, *, key_id: int, now: datetime, actor: audit.Actor) -> None:
    record = session.get(ApiKey, key_id)
    if record is None:
        raise AccountError(f"no API key {key_id}")
    if record.revoked_at is None:
        record.revoked_at = now
        audit.record(session, actor, "api_key.revoke", at=now, target_type="api_key",
                     target_id=str(key_id))


def resolve_api_key(session: Session, *, key: str, now: datetime) -> Principal | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    record = session.scalar(select(ApiKey).where(ApiKey.key_hash == _digest(key)))
    if record is None or record.revoked_at is not None:
        return None
    user = session.get(User, record.user_id)
    if user is None or not user.is_active:
        return None
    if record.last_used_at is None or now - _aware(record.last_used_at) > timedelta(minutes=1):
        record.last_used_at = now
    return _principal(session, user, "api_key", scopes=list(record.scopes))


def update_user(session: Session, *, user_id: int, now: datetime, actor: audit.Actor,
                role: str | None = None, is_active: bool | None = None,
                display_name: str | None = None, password: str | None = None) -> User:
    """Change a user's role, activity, name or password; each change is audited.

    Deactivating or re-roling signs the user out everywhere (their sessions are removed),
    so a removed permission takes effect at once. The last active admin cannot be
    demoted or deactivated: an install must never lock itself out.
    """
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(f"no user {user_id}")
    changes: dict[str, object] = {}
    admin = session.scalar(select(Role).where(Role.name == "admin"))
    if role is not None:
        found = session.scalar(select(Role).where(Role.name == role))
        if found is None:
            raise AccountError(f"no role named {role!r}")
        if found.id != user.role_id:
            if admin is not None and user.role_id == admin.id:
                _keep_an_admin(session, user, admin)
            changes["role"] = role
            user.role_id = found.id
    if is_active is not None and is_active != user.is_active:
        if not is_active and admin is not None and user.role_id == admin.id:
            _keep_an_admin(session, user, admin)
        changes["is_active"] = is_active
        user.is_active = is_active
    if display_name is not None and display_name != user.display_name:
        changes["display_name"] = display_name
        user.display_name = display_name
    if password is not None:
        try:
            user.password_hash = hash_password(password)
        except ValueError as exc:
            raise AccountError(str(exc)) from exc
        user.failed_logins = 0
        user.locked_until = None
        changes["password"] = "reset"
    if {"role", "is_active", "password"} & set(changes):
        for web in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
            session.delete(web)
    if changes:
        audit.record(session, actor, "user.update", at=now, target_type="user",
                     target_id=str(user.id), details={"username": user.username, **changes})
    session.flush()
    return user


def _keep_an_admin(session: Session, user: User, admin: Role) -> None:
    others = session.scalar(
        select(func.count()).select_from(User).where(
            User.role_id == admin.id, User.is_active.is_(True), User.id != user.id)) or 0
    if others == 0:
        raise AccountError("this is the last active admin: make someone else admin first")
