"""Who is asking: the tenant a request or a workflow task acts for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is asking: the tenant (org) resolved from the caller's identity or the local default.

    ``any_org`` is the earlier service's contract when running locally with auth off and no org
    given anywhere: creates and lists use ``org_id`` (``default``), and a route naming a template
    or run by id finds it in whatever org holds it.
    """

    org_id: str
    any_org: bool = False

    @property
    def lookup_org(self) -> str | None:
        """The org a by-id lookup is confined to; None: any org."""
        return None if self.any_org else self.org_id
