"""Who am I, users and roles, API keys, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.accounts.queries import list_api_keys, list_roles, list_users
from shopcrm.accounts.service import (
    AccountError,
    Principal,
    create_api_key,
    create_role,
    create_user,
    revoke_api_key,
    update_user,
)
from shopcrm.api.deps import ContextDep, SessionDep, client_actor, require
from shopcrm.store.models import ApiKey

router = APIRouter(prefix="/api/v1", tags=["accounts"])
MAX_ID = 2**63 - 1
"""Path IDs beyond a 64-bit integer are refused with 422 instead of overflowing the driver."""


class MePublic(BaseModel):
    user_id: int
    username: str
    role: str
    permissions: list[str]
    via: str


@router.get("/me", response_model=MePublic)
def me(principal: Annotated[Principal, require(None)]) -> MePublic:
    return MePublic(user_id=principal.user_id, username=principal.username, role=principal.role,
                    permissions=sorted(p.value for p in principal.permissions),
                    via=principal.via)


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=200)
    role: str = Field(min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=200)


class UserPublic(BaseModel):
    id: int
    username: str
    display_name: str | None
    role: str
    is_active: bool
    last_login_at: datetime | None


@router.get("/users", response_model=list[UserPublic])
def users(session: SessionDep,
          _: Annotated[Principal, require(Permission.MANAGE_USERS)]) -> list[UserPublic]:
    return [UserPublic(id=u.id, username=u.username, display_name=u.display_name, role=u.role,
                       is_active=u.is_active, last_login_at=u.last_login_at)
            for u in list_users(session)]


class UserUpdate(BaseModel):
    role: str | None = Field(default=None, min_length=1, max_length=64)
    is_active: bool | None = None
    display_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, min_length=8, max_length=200)


@router.patch("/users/{user_id}", response_model=UserPublic)
def change_user(user_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: UserUpdate,
                request: Request, context: ContextDep,
                principal: Annotated[Principal, require(Permission.MANAGE_USERS)]
                ) -> UserPublic:
    with context.sessions.begin() as session:
        try:
            update_user(session, user_id=user_id, now=context.clock.now(),
                        actor=client_actor(request, principal), role=body.role,
                        is_active=body.is_active, display_name=body.display_name,
                        password=body.password)
        except AccountError as exc:
            status = 404 if str(exc).startswith("no user") else 422
            raise HTTPException(status, str(exc)) from exc
        row = next(u for u in list_users(session) if u.id == user_id)
        return UserPublic(id=row.id, username=row.username, display_name=row.display_name,
                          role=row.role, is_active=row.is_active,
                          last_login_at=row.last_login_at)


@router.post("/users", response_model=UserPublic, status_code=201)
def add_user(body: UserCreate, request: Request, context: ContextDep,
             principal: Annotated[Principal, require(Permission.MANAGE_USERS)]) -> UserPublic:
    now = context.clock.now()
    with context.sessions.begin() as session:
        try:
            user = create_user(session, username=body.username, password=body.password,
                               role=body.role, now=now, display_name=body.display_name)
        except AccountError as exc:
            raise HTTPException(422, str(exc)) from exc
        audit.record(session, client_actor(request, principal), "user.create", at=now,
                     target_type="user", target_id=str(user.id),
                     details={"username": user.username, "role": body.role})
        return UserPublic(id=user.id, username=user.username, display_name=user.display_name,
                          role=body.role, is_active=True, last_login_at=None)


class RoleCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    permissions: list[Permission]
    description: str | None = Field(default=None, max_length=500)


class RolePublic(BaseModel):
    id: int
    name: str
    permissions: list[str]
    builtin: bool
    description: str | None


@router.get("/roles", response_model=list[RolePublic])
def roles(session: SessionDep,
          _: Annotated[Principal, require(Permission.MANAGE_USERS)]) -> list[RolePublic]:
    return [RolePublic(id=r.id, name=r.name, permissions=list(r.permissions), builtin=r.builtin,
                       description=r.description)
            for r in list_roles(session)]


@router.post("/roles", response_model=RolePublic, status_code=201)
def add_role(body: RoleCreate, request: Request, context: ContextDep,
             principal: Annotated[Principal, require(Permission.MANAGE_USERS)]) -> RolePublic:
    now = context.clock.now()
    with context.sessions.begin() as session:
        try:
            role = create_role(session, name=body.name, now=now, description=body.description,
                               permissions=[p.value for p in body.permissions])
        except AccountError as exc:
            raise HTTPException(422, str(exc)) from exc
        audit.record(session, client_actor(request, principal), "role.create", at=now,
                     target_type="role", target_id=str(role.id),
                     details={"name": role.name, "permissions": role.permissions})
        return RolePublic(id=role.id, name=role.name, permissions=list(role.permissions),
                          builtin=False, description=role.description)


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Permission]


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="shown only now; store it safely")


@router.get("/api-keys", response_model=list[ApiKeyPublic])
def api_keys(session: SessionDep,
             principal: Annotated[Principal, require(None)]) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(k, from_attributes=True)
            for k in list_api_keys(session, user_id=principal.user_id)]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
def add_api_key(body: ApiKeyCreate, request: Request, context: ContextDep,
                principal: Annotated[Principal, require(None)]) -> ApiKeyCreated:
    beyond = sorted({s.value for s in body.scopes} - {p.value for p in principal.permissions})
    if beyond:
        raise HTTPException(403, f"you cannot grant permissions you do not hold: {beyond}")
    with context.sessions.begin() as session:
        created = create_api_key(session, user_id=principal.user_id, name=body.name,
                                 scopes=[s.value for s in body.scopes], now=context.clock.now(),
                                 actor=client_actor(request, principal))
        public = ApiKeyPublic.model_validate(created.record, from_attributes=True)
        return ApiKeyCreated(**public.model_dump(), key=created.key)


@router.delete("/api-keys/{key_id}", status_code=204)
def delete_api_key(key_id: Annotated[int, Path(ge=1, le=MAX_ID)], request: Request,
                   context: ContextDep,
                   principal: Annotated[Principal, require(None)]) -> None:
    with context.sessions.begin() as session:
        record = session.get(ApiKey, key_id)
        if record is None or (record.user_id != principal.user_id
                              and not principal.can(Permission.MANAGE_USERS)):
            raise HTTPException(404, f"no API key {key_id}")
        revoke_api_key(session, key_id=key_id, now=context.clock.now(),
                       actor=client_actor(request, principal))


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    details: dict[str, object] | None
    ip: str | None


class AuditPage(BaseModel):
    items: list[AuditPublic]
    total: int
    page: int
    size: int


@router.get("/audit", response_model=AuditPage)
def audit_log(
    session: SessionDep,
    _: Annotated[Principal, require(Permission.VIEW_AUDIT)],
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    entries, total = audit.list_entries(
        session, audit.AuditFilter(action=action, actor=actor, outcome=outcome, since=since,
                                   until=until), page=page, size=size)
    return AuditPage(items=[AuditPublic.model_validate(e, from_attributes=True) for e in entries],
                     total=total, page=page, size=size)
