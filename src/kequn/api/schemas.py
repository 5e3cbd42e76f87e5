"""Request and response bodies of the REST API (separate from storage rows, so secrets cannot leak)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Me(BaseModel):
    username: str
    role: str
    branch_id: str | None
    permissions: list[str]
    via: str


class BranchFigure(BaseModel):
    branch_id: str | None
    branch: str | None
    customers: int
    active: int
    aum: str


class SegmentFigure(BaseModel):
    segment: str
    customers: int


class Overview(BaseModel):
    scope: str | list[str]
    customers: int
    active_customers: int
    aum: str
    branches: list[BranchFigure]
    segments: list[SegmentFigure]


class CustomerRow(BaseModel):
    customer_id: str
    name: str | None
    phone: str | None
    id_number: str | None
    gender: str | None
    city: str | None
    home_branch_id: str | None
    branch: str | None
    rm_id: str | None
    onboarded_on: str | None
    status: str | None


class CustomerPage(BaseModel):
    rows: list[CustomerRow]
    total: int
    page: int
    size: int
    pages: int


class UnmaskRequest(BaseModel):
    reason: str = Field(min_length=4, max_length=500, description="Why the unmasked data is needed (audited).")


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=128)
    role: str
    branch_id: str | None = None
    password: str | None = Field(None, description="Omit for an SSO-only account.")
    display_name: str | None = None


class RoleChange(BaseModel):
    role: str
    branch_id: str | None = None
    reason: str | None = None


class UserOut(BaseModel):
    username: str
    display_name: str | None
    role: str
    branch_id: str | None
    active: bool


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    username: str = Field(description="The account the token acts as (its role and branch apply).")
    days: int | None = Field(365, ge=1, le=3650)


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; only its keyed hash is stored.")


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    target: str
    reason: str | None
    details: Any = None
