"""Shapes of the error bodies, for the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FieldProblem(BaseModel):
    field: str
    loc: list[str | int]
    message: str
    type: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    errors: list[FieldProblem] | None = None
    template_id: str | None = None
    correlation_id: str | None = None


class ErrorBody(BaseModel):
    detail: ErrorDetail
