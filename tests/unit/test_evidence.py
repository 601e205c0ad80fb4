"""The evidence of grounded answers (prompter.probing.providers.evidence, SPEC §2.8), read from each
provider's documented response shape: citation spans index ``answer_text`` whatever the provider
counts in (Gemini: UTF-8 bytes; OpenAI: within each output part; Anthropic: per text block)."""

from __future__ import annotations

from typing import Any

import pytest

from prompter.probing.providers.answers import answer_text, citation_urls, prompt_text
from prompter.probing.providers.evidence import MAX_ITEMS, domain_of, location_sent, read_evidence
from tests.providers.grounded_responses import (
    ANTHROPIC_GROUNDED,
    ANTHROPIC_QUERIES,
    ANTHROPIC_SEARCH_ERROR,
    ANTHROPIC_TEXTS,
    GEMINI_GROUNDED,
    GEMINI_NOT_SEARCHED,
    GEMINI_SEGMENTS,
)

# Responses API (OpenAI, Azure OpenAI): a web_search_call, then a message of two output_text parts.
RESPONSES: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "model": "gpt-5-2025-08-07",
    "status": "completed",
    "output": [
        {
            "type": "web_search_call",
            "id": "ws_1",
            "status": "completed",
            "action": {
                "type": "search",
                "query": "best longevity supplements France",
                "queries": ["best longevity supplements France", "NMN brands France"],
                "sources": [
                    {"type": "url", "url": "https://www.thorne.com/products"},
                    {"type": "url", "url": "https://avea-life.com/fr"},
                    {"type": "api", "name": "oai-weather"},
                ],
            },
        },
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [
                {
                    "type": "output_text",
                    "text": "Thorne est réputé. ",
                    "annotations": [
                        {
                            "type": "url_citation",
                            "start_index": 0,
                            "end_index": 6,
                            "url": "https://www.thorne.com/products",
                            "title": "Thorne",
                        }
                    ],
                },
                {
                    "type": "output_text",
                    "text": "AVEA fabrique en Suisse.",
                    "annotations": [
                        {
                            "type": "url_citation",
                            "start_index": 0,
                            "end_index": 4,
                            "url": "https://avea-life.com/fr",
                            "title": "AVEA",
                        }
                    ],
                },
            ],
        },
    ],
    "usage": {"input_tokens": 310, "output_tokens": 42, "total_tokens": 352},
}

# Gemini generateContent with google_search: non-ASCII text, byte offsets, redirect URIs.
GEMINI_TEXT = "Les marques réputées : Thorne (États-Unis) et AVEA (Suisse)."
GEMINI: dict[str, Any] = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": GEMINI_TEXT}]},
            "finishReason": "STOP",
            "groundingMetadata": {
                "webSearchQueries": ["marques longévité France", "marques longévité France"],
                "searchEntryPoint": {"renderedContent": "<div></div>"},
                "groundingChunks": [
                    {
                        "web": {
                            "uri": "https://vertexaisearch.cloud.google.com/grounding-api-redirect/AbC1",
                            "title": "thorne.com",
                        }
                    },
                    {
                        "web": {
                            "uri": "https://vertexaisearch.cloud.google.com/grounding-api-redirect/DeF2",
                            "title": "AVEA Life - NMN",
                            "domain": "avea-life.com",
                        }
                    },
                    {
                        "web": {
                            "uri": "https://vertexaisearch.cloud.google.com/grounding-api-redirect/GhI3",
                            "title": "Some article",
                        }
                    },
                ],
                "groundingSupports": [
                    {
                        "segment": {"endIndex": len("Les marques réputées : Thorne".encode()), "text": "x"},
                        "groundingChunkIndices": [0],
                    },
                    {
                        "segment": {
                            "startIndex": len("Les marques réputées : Thorne (États-Unis) et ".encode()),
                            "endIndex": len("Les marques réputées : Thorne (États-Unis) et AVEA".encode()),
                            "text": "AVEA",
                        },
                        "groundingChunkIndices": [1, 2, 7],
                    },
                ],
            },
        }
    ],
    "modelVersion": "gemini-2.5-flash-002",
}

# Anthropic Messages with the web search server tool: a search, its results, cited text blocks.
ANTHROPIC: dict[str, Any] = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [
        {"type": "text", "text": "Je vais chercher."},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {"query": "meilleures marques NMN"},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_1",
            "content": [
                {
                    "type": "web_search_result",
                    "url": "https://www.thorne.com/",
                    "title": "Thorne",
                    "encrypted_content": "EqgfCioIARgBIiQ3...",
                    "page_age": "April 30, 2025",
                },
                {"type": "web_search_result", "url": "https://avea-life.com/", "title": "AVEA"},
            ],
        },
        {
            "type": "text",
            "text": "Thorne est connu",
            "citations": [
                {
                    "type": "web_search_result_location",
                    "url": "https://www.thorne.com/",
                    "title": "Thorne",
                    "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm..",
                    "cited_text": "Thorne makes supplements...",
                }
            ],
        },
        {"type": "text", "text": " et "},
        {
            "type": "text",
            "text": "AVEA aussi.",
            "citations": [
                {
                    "type": "web_search_result_location",
                    "url": "https://avea-life.com/",
                    "title": "AVEA",
                    "encrypted_index": "Eo8B",
                    "cited_text": "AVEA",
                }
            ],
        },
    ],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 6039, "output_tokens": 931, "server_tool_use": {"web_search_requests": 1}},
}

# Perplexity Sonar (Chat Completions plus search_results and citations).
PERPLEXITY: dict[str, Any] = {
    "id": "3c90c3cc",
    "model": "sonar-pro",
    "object": "chat.completion",
    "created": 1724369245,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Thorne [1] et AVEA [2]."},
        }
    ],
    "search_results": [
        {"title": "Thorne", "url": "https://www.thorne.com/", "date": "2025-03-01"},
        {"title": "AVEA", "url": "https://avea-life.com/", "date": None},
    ],
    "citations": ["https://www.thorne.com/", "https://avea-life.com/"],
    "usage": {"prompt_tokens": 14, "completion_tokens": 70, "total_tokens": 84},
}


def spans(evidence: dict[str, Any], text: str) -> list[str]:
    return [text[c["start"] : c["end"]] for c in evidence["citations"]]


def test_responses_api_citations_index_the_whole_answer_across_output_parts() -> None:
    evidence = read_evidence(
        RESPONSES,
        "auto",
        {"tools": [{"type": "web_search", "user_location": {"type": "approximate", "country": "FR"}}]},
    )
    assert evidence is not None
    text = answer_text(RESPONSES)
    assert text == "Thorne est réputé. AVEA fabrique en Suisse."
    assert evidence["searched"] is True
    assert evidence["search_queries"] == ["best longevity supplements France", "NMN brands France"]
    assert evidence["sources"] == [
        {"url": "https://www.thorne.com/products", "domain": "thorne.com", "title": None},
        {"url": "https://avea-life.com/fr", "domain": "avea-life.com", "title": None},
    ]
    assert spans(evidence, text) == ["Thorne", "AVEA"]
    assert [c["domain"] for c in evidence["citations"]] == ["thorne.com", "avea-life.com"]
    assert evidence["location_sent"] == {"country": "FR"}
    assert citation_urls(RESPONSES) == ["https://www.thorne.com/products", "https://avea-life.com/fr"]


def test_gemini_byte_offsets_become_character_offsets_and_redirects_are_never_fetched() -> None:
    evidence = read_evidence(GEMINI, "required")
    assert evidence is not None
    assert evidence["searched"] is True
    assert evidence["search_queries"] == ["marques longévité France"]
    assert spans(evidence, answer_text(GEMINI)) == ["Les marques réputées : Thorne", "AVEA", "AVEA"]
    # the domain the chunk names, else a title that is a host name, else none
    assert [s["domain"] for s in evidence["sources"]] == ["thorne.com", "avea-life.com", None]
    assert [c["domain"] for c in evidence["citations"]] == ["thorne.com", "avea-life.com", None]
    assert evidence["location_sent"] is None


def test_anthropic_citations_span_their_text_block() -> None:
    evidence = read_evidence(ANTHROPIC, "auto")
    assert evidence is not None
    text = answer_text(ANTHROPIC)
    assert text == "Je vais chercher.Thorne est connu et AVEA aussi."
    assert evidence["searched"] is True
    assert evidence["search_queries"] == ["meilleures marques NMN"]
    assert [s["url"] for s in evidence["sources"]] == ["https://www.thorne.com/", "https://avea-life.com/"]
    assert spans(evidence, text) == ["Thorne est connu", "AVEA aussi."]


def test_perplexity_sources_and_bare_citations() -> None:
    evidence = read_evidence(PERPLEXITY, "auto", {"web_search_options": {"user_location": {"country": "DE"}}})
    assert evidence is not None
    assert evidence["searched"] is True
    assert evidence["search_queries"] == []
    assert [(s["domain"], s["title"]) for s in evidence["sources"]] == [
        ("thorne.com", "Thorne"),
        ("avea-life.com", "AVEA"),
    ]
    assert evidence["citations"] == [
        {"url": "https://www.thorne.com/", "domain": "thorne.com", "title": None, "start": None, "end": None},
        {
            "url": "https://avea-life.com/",
            "domain": "avea-life.com",
            "title": None,
            "start": None,
            "end": None,
        },
    ]
    assert evidence["location_sent"] == {"country": "DE"}


@pytest.mark.parametrize(
    "response",
    [
        {
            "output": [
                {"type": "message", "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}
            ]
        },
        {"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]},
        {"content": [{"type": "text", "text": "Hi"}]},
        {"choices": [{"message": {"content": "Hi"}}], "search_results": [], "citations": []},
    ],
    ids=["responses", "gemini", "anthropic", "perplexity"],
)
def test_an_answer_that_did_not_search_says_so(response: dict[str, Any]) -> None:
    evidence = read_evidence(response, "required")
    assert evidence == {
        "mode": "required",
        "searched": False,
        "search_queries": [],
        "sources": [],
        "citations": [],
        "location_sent": None,
    }


def test_an_ungrounded_request_has_no_evidence() -> None:
    assert read_evidence(RESPONSES, "none") is None


def test_sources_and_citations_are_deduplicated_in_order_and_capped() -> None:
    many = [{"title": f"t{i}", "url": f"https://s{i}.example/"} for i in range(150)]
    response = {**PERPLEXITY, "search_results": [many[1], many[0], many[1], *many], "citations": []}
    evidence = read_evidence(response, "auto")
    assert evidence is not None
    urls = [s["url"] for s in evidence["sources"]]
    assert len(urls) == MAX_ITEMS and urls[:3] == [many[1]["url"], many[0]["url"], many[2]["url"]]


def test_domains() -> None:
    assert domain_of("https://WWW.Thorne.com/x?y") == "thorne.com"
    assert domain_of("avea-life.com/fr") == "avea-life.com"
    assert domain_of("https://[::1") is None
    assert location_sent({"tools": [{"type": "google_search"}]}) is None


def test_the_prompt_of_a_responses_request() -> None:
    request = {
        "model": "gpt-5",
        "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Which brands?"}],
    }
    assert prompt_text(request) == "Which brands?"


# ---------------------------------------------------------------- the documented fixtures


def test_gemini_documented_answer_segments_are_its_sentences() -> None:
    evidence = read_evidence(GEMINI_GROUNDED, "auto")
    assert evidence is not None and evidence["searched"] is True
    text = answer_text(GEMINI_GROUNDED)
    assert len(text.encode()) > len(text)  # bytes and characters differ
    cited = {text[c["start"] : c["end"]] for c in evidence["citations"]}
    assert cited == {sentence for *_, sentence in GEMINI_SEGMENTS}
    assert {s["domain"] for s in evidence["sources"]} == {"lequipe.fr", "decathlon.fr", "runnersworld.com"}
    assert read_evidence(GEMINI_NOT_SEARCHED, "required")["searched"] is False  # type: ignore[index]


def test_gemini_segments_count_bytes_of_their_own_part() -> None:
    # Given an answer in two text parts (a thought part between them), each segment naming its part
    first, second = "Café d'abord. ", "Thé ensuite: Avea."
    response = {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": first}, {"text": "thinking…", "thought": True}, {"text": second}]
                },
                "groundingMetadata": {
                    "webSearchQueries": ["thé"],
                    "groundingChunks": [{"web": {"uri": "https://avea-life.com/", "title": "avea-life.com"}}],
                    "groundingSupports": [
                        {
                            "segment": {
                                "partIndex": 2,
                                "startIndex": len("Thé ensuite: ".encode()),
                                "endIndex": len(second.encode()) - 1,
                                "text": "Avea",
                            },
                            "groundingChunkIndices": [0],
                        }
                    ],
                },
            }
        ]
    }
    evidence = read_evidence(response, "auto")
    assert evidence is not None
    assert spans(evidence, answer_text(response)) == ["Avea"]


def test_anthropic_documented_answer_cites_its_text_blocks() -> None:
    evidence = read_evidence(
        ANTHROPIC_GROUNDED,
        "auto",
        {
            "tools": [
                {"type": "web_search_20250305", "user_location": {"type": "approximate", "country": "FR"}}
            ]
        },
    )
    assert evidence is not None
    assert evidence["search_queries"] == list(ANTHROPIC_QUERIES)
    assert set(spans(evidence, answer_text(ANTHROPIC_GROUNDED))) <= set(ANTHROPIC_TEXTS)
    assert evidence["citations"] and evidence["location_sent"] == {"country": "FR"}
    failed = read_evidence(ANTHROPIC_SEARCH_ERROR, "auto")
    assert failed is not None and failed["searched"] is True and failed["sources"] == []
