"""GET .../sources (SPEC §3): per grounded cell, the domains its answers cite most and the search
queries its engines ran most, from answers stored by the run route (each provider's real adapter
against a local fake HTTP server), on SQLite and PostgreSQL. Expected figures are worked by hand."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from prompter.db.engine import build_engine
from prompter.db.migrate import upgrade
from prompter.db.schema import prompt_results, prompt_templates
from prompter.settings import DatabaseSettings
from tests.conftest import Api
from tests.fake_http import FakeServer
from tests.integration.test_grounded_runs import CASES, PROMPT, Case
from tests.integration.test_probe_api import create
from tests.integration.test_templates_api import TEMPLATES
from tests.providers.grounded_responses import GEMINI_GROUNDED, GEMINI_NOT_SEARCHED
from tests.providers.test_openai_responses import RESPONSE as OPENAI_GROUNDED

# Each case's one answer: its cited domains with (answers, share), most cited first, ties by name
EXPECTED_DOMAINS = {
    "openai": [("decathlon.fr", 1, 0.5), ("runnersworld.com", 1, 0.5)],
    # two supports cite lequipe.fr and runnersworld.com, one decathlon.fr: 5 citations
    "google": [("lequipe.fr", 1, 0.4), ("runnersworld.com", 1, 0.4), ("decathlon.fr", 1, 0.2)],
    "anthropic": [("decathlon.fr", 1, 1 / 3), ("lequipe.fr", 1, 1 / 3), ("runnersworld.com", 1, 1 / 3)],
    "perplexity": [("eu.puma.com", 1, 0.5), ("runnersworld.de", 1, 0.5)],
}


def sources(api: Api, template_id: str, **query: str) -> Any:
    return api.get(f"{TEMPLATES}/{template_id}/sources", query=query or None)


def openai_answer(queries: list[str], cited: list[str], model: str = "gpt-4o-2024-08-06") -> dict[str, Any]:
    """A Responses API answer that ran ``queries`` and cites each URL of ``cited`` once (a
    one-character span each)."""
    answer = copy.deepcopy(OPENAI_GROUNDED)
    answer["model"] = model
    text_part = "x" * max(len(cited), 1)
    answer["output"] = [
        {
            "type": "web_search_call",
            "id": "ws_1",
            "status": "completed",
            "action": {"type": "search", "queries": queries, "sources": []},
        },
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": text_part,
                    "annotations": [
                        {
                            "type": "url_citation",
                            "start_index": i,
                            "end_index": i + 1,
                            "url": url,
                            "title": url,
                        }
                        for i, url in enumerate(cited)
                    ],
                    "logprobs": [],
                }
            ],
        },
    ]
    return answer


def run(api: Api, server: FakeServer, template_id: str, answer: dict[str, Any], **body: Any) -> None:
    server.reply(200, answer)
    reply = api.post(f"{TEMPLATES}/{template_id}/run", {"grounding": "auto", **body})
    assert reply.status == 200, reply.body


@pytest.mark.parametrize("case", CASES, ids=[c.provider for c in CASES])
def test_a_grounded_answer_s_citations_and_queries_make_its_cell(
    api: Api, provider_server: FakeServer, case: Case
) -> None:
    template = create(api, model_id=case.model_id, country_set=["FR", "DE"], user_prompt_template=PROMPT)
    run(api, provider_server, template["id"], case.answer, country=case.country)
    [version] = api.get(f"{TEMPLATES}/{template['id']}/versions").body["items"]
    report = sources(api, template["id"]).body
    assert report["template_id"] == template["id"] and report["group_by"] == "version"
    [cell] = report["cells"]
    assert {k: cell[k] for k in ("country", "provider", "model_id", "provider_version_key", "grounded")} == {
        "country": case.country,
        "provider": case.provider,
        "model_id": case.model_id,
        "provider_version_key": version["provider_version_key"],
        "grounded": True,
    }
    assert (cell["n"], cell["searched"]) == (1, 1)
    got = [(d["domain"], d["answers"], d["share"]) for d in cell["domains"]]
    assert got == [(d, a, pytest.approx(s)) for d, a, s in EXPECTED_DOMAINS[case.provider]]
    # each ran once: in code point order
    assert cell["queries"] == [{"query": q, "answers": 1} for q in sorted(case.queries)]


def test_domains_rank_by_citations_and_queries_by_answers_top_20(
    api: Api, provider_server: FakeServer
) -> None:
    template = create(api, model_id="gpt-4o", country_set=["US"], user_prompt_template=PROMPT)
    # Answer 1 cites a.com three times, b.com once and 22 one-off sites; answer 2 cites b.com twice,
    # a.com once. Queries: "q common" in both, 24 others once each.
    many = [f"https://site{i:02d}.example/page" for i in range(22)]
    first = ["https://a.com/1", "https://www.a.com/2", "https://a.com/3", "https://b.com/1", *many]
    second = ["https://b.com/2", "https://b.com/3", "https://A.com/4"]
    run(
        api,
        provider_server,
        template["id"],
        openai_answer(["q common", *(f"q{i:02d}" for i in range(12))], first),
    )
    run(
        api,
        provider_server,
        template["id"],
        openai_answer(["q  common ", *(f"r{i:02d}" for i in range(12))], second),
    )
    [cell] = sources(api, template["id"]).body["cells"]
    assert (cell["n"], cell["searched"]) == (2, 2)
    # 29 citations with a domain: a.com 4 (in 2 answers), b.com 3 (2), each site 1 (1)
    domains = [(d["domain"], d["answers"], d["share"]) for d in cell["domains"]]
    assert len(domains) == 20
    assert domains[:3] == [
        ("a.com", 2, pytest.approx(4 / 29)),
        ("b.com", 2, pytest.approx(3 / 29)),
        ("site00.example", 1, pytest.approx(1 / 29)),
    ]
    assert [d for d, _, _ in domains[2:]] == [f"site{i:02d}.example" for i in range(18)]
    queries = [(q["query"], q["answers"]) for q in cell["queries"]]
    assert len(queries) == 20
    assert queries[0] == ("q common", 2)  # whitespace made one space: the same query
    assert queries[1:] == [(f"q{i:02d}", 1) for i in range(12)] + [(f"r{i:02d}", 1) for i in range(7)]


def test_only_successful_grounded_answers_count_each_once(
    api: Api, provider_server: FakeServer, database_url: str
) -> None:
    template = create(api, model_id="gemini-2.5-flash", country_set=["FR"], user_prompt_template=PROMPT)
    run(api, provider_server, template["id"], GEMINI_GROUNDED)
    # an ungrounded answer (even one carrying grounding metadata) has no sources
    run(api, provider_server, template["id"], GEMINI_GROUNDED, grounding="none")
    # a required search that did not happen is stored failed, counted nowhere
    provider_server.reply(200, GEMINI_NOT_SEARCHED)
    assert api.post(f"{TEMPLATES}/{template['id']}/run", {"grounding": "required"}).status == 502
    # an "auto" answer that did not search counts as an answer, not as searched
    run(api, provider_server, template["id"], GEMINI_NOT_SEARCHED)
    [cell] = sources(api, template["id"]).body["cells"]
    assert (cell["n"], cell["searched"]) == (2, 1)
    assert [(d["domain"], d["answers"]) for d in cell["domains"]] == [
        ("lequipe.fr", 1),
        ("runnersworld.com", 1),
        ("decathlon.fr", 1),
    ]


def test_cells_per_country_version_and_day_with_filters(api: Api, provider_server: FakeServer) -> None:
    template = create(api, model_id="gpt-4o", country_set=["FR", "DE"], user_prompt_template=PROMPT)
    tid = template["id"]
    run(api, provider_server, tid, openai_answer(["fr"], ["https://fr.example/"]), country="FR")
    run(api, provider_server, tid, openai_answer(["de"], ["https://de.example/"]), country="DE")
    newer = "gpt-4o-2024-11-20"
    run(api, provider_server, tid, openai_answer(["de new"], ["https://de.example/"], newer), country="DE")
    cells = sources(api, tid).body["cells"]
    assert [(c["country"], c["provider_version_key"], c["domains"][0]["domain"]) for c in cells] == [
        ("DE", "gpt-4o-2024-08-06", "de.example"),
        ("FR", "gpt-4o-2024-08-06", "fr.example"),
        ("DE", newer, "de.example"),
    ]
    only_fr = sources(api, tid, country="fr").body["cells"]
    assert [c["country"] for c in only_fr] == ["FR"]
    assert sources(api, tid, provider="google").body["cells"] == []
    today = datetime.now(UTC).date().isoformat()
    by_day = sources(api, tid, group_by="day").body
    assert by_day["group_by"] == "day" and {c["day"] for c in by_day["cells"]} == {today}
    assert len(sources(api, tid, **{"from": today, "to": today}).body["cells"]) == 3
    assert sources(api, tid, **{"from": "2020-01-01", "to": "2020-12-31"}).body["cells"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"group_by": "week"}, "group_by"),
        ({"country": "XX"}, "country"),
    ],
)
def test_bad_filters_are_422s_naming_the_field(
    api: Api, provider_server: FakeServer, query: dict[str, str], field: str
) -> None:
    template = create(api, model_id="gpt-4o", country_set=["US"], user_prompt_template=PROMPT)
    reply = sources(api, template["id"], **query)
    assert reply.status == 422, reply.body
    assert any(e["loc"][-1] == field for e in reply.detail["errors"]), reply.detail


def test_unknown_and_foreign_templates_are_404_and_a_template_without_answers_has_no_cells(
    api: Api, provider_server: FakeServer
) -> None:
    template = create(api, model_id="gpt-4o", country_set=["US"], user_prompt_template=PROMPT)
    assert sources(api, template["id"]).body == {
        "template_id": template["id"],
        "group_by": "version",
        "cells": [],
    }
    missing = sources(api, "00000000-0000-0000-0000-000000000000")
    assert missing.status == 404 and missing.detail["code"] == "TEMPLATE_NOT_FOUND"
    foreign = sources(api, template["id"], org_id="another-org")
    assert foreign.status == 404 and foreign.detail["code"] == "TEMPLATE_NOT_FOUND"


def test_the_migration_counts_grounded_answers_stored_before_it(tmp_path: Any, pg_cluster: Any) -> None:
    from prompter.probing.providers.evidence import read_evidence

    evidence = read_evidence(OPENAI_GROUNDED, "auto", None)
    for url in (f"sqlite:///{tmp_path}/before.db", pg_cluster.create_database("sources_migration")):
        # Given a grounded and an ungrounded answer stored at the previous revision
        engine = build_engine(DatabaseSettings(database_url=url))
        upgrade(engine, "0008_grounding")
        now = datetime(2026, 12, 1, 12, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                prompt_templates.insert().values(
                    id="t1",
                    org_id="o",
                    workspace_id="w",
                    name="n",
                    provider="openai",
                    model_id="gpt-4o",
                    config_hash="h" * 64,
                    canonical_config={},
                    system_instructions="",
                    user_prompt_template="p",
                    country_set=["FR"],
                    inference_params={},
                    tools_spec=[],
                    created_at=now,
                )
            )
            common = {
                "org_id": "o",
                "workspace_id": "w",
                "template_id": "t1",
                "run_country": "FR",
                "status": "succeeded",
                "provider": "openai",
                "model_id": "gpt-4o",
                "provider_version_key": "gpt-4o-2024-08-06",
                "created_at": now,
            }
            conn.execute(
                prompt_results.insert(),
                [
                    {**common, "id": "r1", "run_id": "run1", "grounding": evidence, "used_grounding": True},
                    {**common, "id": "r2", "run_id": "run2", "grounding": None, "used_grounding": False},
                ],
            )
        # When the database is migrated
        upgrade(engine)
        # Then the grounded answer is in the sources counters, for its day and for all days
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT day, kind, value, answers, searched, citations FROM source_counts"
                    " ORDER BY 1, 2, 3"
                )
            ).all()
        engine.dispose()
        assert [tuple(row) for row in rows if row[0] == ""] == [
            ("", "answer", "", 1, 1, 2),
            ("", "domain", "decathlon.fr", 1, 0, 1),
            ("", "domain", "runnersworld.com", 1, 0, 1),
            ("", "query", "Kalenji running shoes review", 1, 0, 0),
            ("", "query", "best running shoe brands France", 1, 0, 0),
        ]
        assert [tuple(row[1:]) for row in rows if row[0] == "2026-12-01"] == [
            tuple(row[1:]) for row in rows if row[0] == ""
        ]
