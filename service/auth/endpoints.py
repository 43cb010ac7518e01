"""API key management (admin): create (the secret is shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field

from service.auth import repository as agencies
from service.auth import service as keys
from service.auth.dependencies import State, authorize, parse_id
from service.auth.permissions import Principal, Role
from service.kit.http import API_V1, Cursor, Limit, problems
from service.kit.schemas import NOT_BLANK, Strict

router = APIRouter(prefix=API_V1, tags=["api keys"])
Reader = Annotated[Principal, Depends(authorize("api_keys:read"))]
Writer = Annotated[Principal, Depends(authorize("api_keys:write"))]


class ApiKeyIn(Strict):
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=NOT_BLANK,
        description="What the key is for (shown in listings)",
    )
    role: Role


class ApiKeyOut(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str = Field(description="The secret's first characters after `jm_`, to recognise it")
    created_at: datetime
    created_by: str | None = Field(description="id of the key that created this one")
    acted_by: str | None = Field(
        default=None, description="Staff id of the person who created it (Acting-Person)"
    )
    revoked_at: datetime | None
    revoked_acted_by: str | None = Field(
        default=None, description="Staff id of the person who revoked it (Acting-Person)"
    )


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="The key itself: shown in this answer only, store it now")


class ApiKeyPage(BaseModel):
    items: list[ApiKeyOut]
    next_cursor: str | None


def _out(key: agencies.ApiKeyRow) -> ApiKeyOut:
    return ApiKeyOut(
        id=str(key.id),
        name=key.name,
        role=key.role,
        prefix=key.prefix,
        created_at=key.created_at,
        created_by=str(key.created_by) if key.created_by else None,
        acted_by=key.acted_by,
        revoked_at=key.revoked_at,
        revoked_acted_by=key.revoked_acted_by,
    )


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problems(422),
    operation_id="create_api_key",
)
async def create_api_key(
    body: ApiKeyIn, response: Response, state: State, principal: Writer
) -> ApiKeyCreated:
    """A new key of your agency with the given role. Its secret is in this answer only: it is
    stored as a hash and can never be shown again."""
    key = await keys.create_key(state.pool, principal, role=body.role, name=body.name)
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated(
        **_out(agencies.ApiKeyRow(**key.model_dump(), created_by=principal.key_id)).model_dump(),
        secret=key.secret,
    )


@router.get(
    "/api-keys",
    response_model=ApiKeyPage,
    responses=problems(422),
    operation_id="list_api_keys",
)
async def list_api_keys(
    state: State, principal: Reader, limit: Limit = 50, cursor: Cursor = None
) -> ApiKeyPage:
    """Your agency's keys, revoked ones included, oldest first. Never their secrets."""
    rows, next_cursor = await keys.list_keys(
        state.pool, agency_id=principal.agency_id, limit=limit, cursor=cursor
    )
    return ApiKeyPage(items=[_out(r) for r in rows], next_cursor=next_cursor)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(404, 409),
    operation_id="revoke_api_key",
)
async def revoke_api_key(key_id: str, state: State, principal: Writer) -> Response:
    """Revoke a key: from the next request on it answers 401. Revoking a revoked key changes
    nothing; the agency's last active admin key cannot be revoked (409)."""
    await keys.revoke_key(state.pool, principal, parse_id(key_id, "API key"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
