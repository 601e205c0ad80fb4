"""A stored result as the export's rows: one ``answers`` row, a ``brand_mentions`` row per brand of its
analysis and a ``citations`` row per citation of its grounding evidence. Pure functions, no I/O.

Values are JSON-ready (the writer reads them as newline-delimited JSON and casts each to its column's
type): timestamps as ISO 8601 in UTC without an offset, the cost as a decimal string."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from prompter.exports.schema import ANSWERS, BRAND_MENTIONS, CITATIONS


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return bool(value) if value is not None else None


def answer_row(result: Mapping[str, Any]) -> dict[str, Any]:
    """The ``answers`` row of a result (its row joined with its run's ``monitor_id``)."""
    grounding = result.get("grounding")
    analysis = result.get("analysis")
    usage = _mapping(result.get("usage"))
    cost = result.get("cost_usd")
    return {
        "result_id": result["id"],
        "run_id": result["run_id"],
        "template_id": result["template_id"],
        "monitor_id": result.get("monitor_id"),
        "country": result["run_country"],
        "sample": result["sample"],
        "status": result["status"],
        "provider": result["provider"],
        "model_id": result["model_id"],
        "provider_version_key": result.get("provider_version_key"),
        "grounded": grounding is not None,
        "searched": bool(_mapping(grounding).get("searched")),
        "branded_prompt": _bool(analysis.get("branded_prompt")) if isinstance(analysis, Mapping) else None,
        "finish_reason": result.get("finish_reason"),
        "input_tokens": _int(usage.get("input_tokens")),
        "output_tokens": _int(usage.get("output_tokens")),
        "search_calls": _int(usage.get("search_calls")),
        "cost_usd": str(Decimal(str(cost))) if cost is not None else None,
        "created_at": _utc_text(result["created_at"]),
        "answer_text": result.get("answer_text"),
    }


def brand_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``brand_mentions`` rows of a result: one per brand of its analysis (none if unanalysed)."""
    analysis = _mapping(result.get("analysis"))
    return [
        {
            "result_id": result["id"],
            "brand": _text(brand.get("name")),
            "primary": bool(brand.get("primary")),
            "mentioned": bool(brand.get("mentioned")),
            "count": _int(brand.get("count")),
            "rank": _int(brand.get("rank")),
            "rank_source": _text(brand.get("rank_source")),
            "cited": _bool(brand.get("cited")),
            "sourced": _bool(brand.get("sourced")),
        }
        for brand in analysis.get("brands") or ()
        if isinstance(brand, Mapping)
    ]


def citation_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``citations`` rows of a result: its evidence's citations, in order (none if ungrounded)."""
    grounding = _mapping(result.get("grounding"))
    return [
        {
            "result_id": result["id"],
            "url": _text(citation.get("url")),
            "domain": _text(citation.get("domain")),
            "title": _text(citation.get("title")),
            "start": _int(citation.get("start")),
            "end": _int(citation.get("end")),
        }
        for citation in grounding.get("citations") or ()
        if isinstance(citation, Mapping)
    ]


def table_rows(result: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every row a result adds, by table."""
    return {
        ANSWERS: [answer_row(result)],
        BRAND_MENTIONS: brand_rows(result),
        CITATIONS: citation_rows(result),
    }
