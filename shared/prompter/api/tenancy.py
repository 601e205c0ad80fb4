"""Tenancy: the org a request acts for, from a verified identity or, locally, from what it names."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from prompter.api import summary
from prompter.api.vocabulary import DEFAULT_ORG, MAX_ORG_LENGTH, ORG_CLAIM, ORG_HEADER, text_problem
from prompter.errors import Forbidden, Unauthorized
from prompter.scope import Scope
from prompter.settings import ApiSettings


def request_scope(app: APIGatewayRestResolver, settings: ApiSettings, body_org: str | None = None) -> Scope:
    """The caller's org.

    With a verified identity (a Cognito authorizer in front), the org is the token's
    ``custom:org_id`` claim and a different ``org_id`` in the body is refused (403); a claim that
    is missing or not a well-formed org id is a 401. Without one (local, auth off), an org given by
    the ``X-Org-Id`` header or the ``org_id`` query parameter is enforced exactly as a claim is, and
    else the body's ``org_id``; with none given anywhere, creates and lists use ``default`` and a
    route naming a template or run by id finds it in whatever org holds it (the earlier service's
    contract, :attr:`Scope.any_org`).
    """
    event = app.current_event
    authorizer = (event.raw_event.get("requestContext") or {}).get("authorizer")
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    if claims is not None and claims != {}:
        if not isinstance(claims, dict):
            raise Unauthorized("the caller's identity claims are malformed")
        org = claims.get(ORG_CLAIM)
        if org is None or org == "":
            raise Forbidden(f"the caller's token carries no {ORG_CLAIM} claim")
        if not isinstance(org, str) or _org_problem(org):
            raise Unauthorized(f"the caller's {ORG_CLAIM} claim is not a valid org id")
        return _checked_against_body(org, body_org)
    if settings.require_auth:
        raise Unauthorized("this API requires a verified identity")
    header = event.headers.get(ORG_HEADER)
    query = (event.query_string_parameters or {}).get("org_id")
    if header and query and header != query:
        raise Forbidden(f"the {ORG_HEADER} header and the org_id query parameter differ", field="org_id")
    given = header or query
    if given:
        return _checked_against_body(given, body_org)
    if body_org:
        return _scoped(body_org)
    return _scoped(DEFAULT_ORG, any_org=True)


def _checked_against_body(org: str, body_org: str | None) -> Scope:
    if body_org is not None and body_org != org:
        raise Forbidden("org_id in the body differs from the caller's org", field="org_id")
    return _scoped(org)


def _org_problem(org: str) -> str | None:
    """Why a value cannot be an org id (the body's ``org_id`` rules: 1-128 characters, no control
    characters), or None."""
    if not org or len(org) > MAX_ORG_LENGTH:
        return f"must be 1 to {MAX_ORG_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in org) or text_problem(org):
        return "must not contain control characters"
    return None


def _scoped(org_id: str, any_org: bool = False) -> Scope:
    """The request's scope, noted for its log lines and its summary."""
    summary.note_org(org_id)
    return Scope(org_id=org_id, any_org=any_org)
