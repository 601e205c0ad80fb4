"""Shapes of the error bodies, for the OpenAPI document."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from prompter.api.errors import ERROR_CODES
from prompter.schema_base import Model


class FieldProblem(Model):
    field: str
    loc: list[str | int]
    message: str
    type: str


class ErrorDetail(Model):
    model_config = ConfigDict(extra="allow")

    code: str = Field(
        description="The error's stable code (part of the contract)",
        json_schema_extra={"enum": list(ERROR_CODES)},
    )
    message: str
    errors: list[FieldProblem] | None = None
    template_id: str | None = None
    correlation_id: str | None = None


class ErrorBody(Model):
    detail: ErrorDetail
