"""Realistic grounded (search on) answers of Gemini and Anthropic, as the providers document them.

Shared by the adapter tests (what the wire returns) and the grounding evidence tests (what is read
from a stored response). Each follows its provider's documented shape:

- ``GEMINI_GROUNDED``: a ``generateContent`` response with Google Search grounding, as "Grounding
  with Google Search" (https://ai.google.dev/gemini-api/docs/google-search) shows it and the REST
  reference "GroundingMetadata" defines it: ``candidates[0].groundingMetadata`` with
  ``webSearchQueries``, ``searchEntryPoint.renderedContent``, ``groundingChunks[].web.{uri,title}``
  (the Gemini API's uris are opaque ``vertexaisearch.cloud.google.com/grounding-api-redirect/...``
  URLs and its titles name the site; ``web.domain`` is Vertex AI's only) and ``groundingSupports[]``
  whose ``segment.startIndex``/``endIndex`` count UTF-8 **bytes** of the part's text (the first
  segment starts at 0, which the JSON leaves out). The answer is French, so bytes and characters
  differ: ``GEMINI_SEGMENTS`` gives each segment's byte span and text.
- ``GEMINI_NOT_SEARCHED``: the same call where the model answered without searching (no
  ``groundingMetadata``).
- ``ANTHROPIC_GROUNDED``: a Messages response with the web search tool, as "Web search tool"
  (https://platform.claude.com/docs/en/agents-and-tools/tool-use/web-search-tool) shows it: text
  blocks, ``server_tool_use`` blocks (``name: web_search``, ``input.query``),
  ``web_search_tool_result`` blocks (``content``: ``web_search_result`` items ``{url, title,
  encrypted_content, page_age}``), text blocks with ``web_search_result_location`` citations
  ``{url, title, cited_text, encrypted_index}``, and ``usage.server_tool_use.web_search_requests``.
- ``ANTHROPIC_SEARCH_ERROR``: a search that failed (``web_search_tool_result`` whose ``content``
  is a ``web_search_tool_result_error`` with an ``error_code``), answered without sources.
"""

from __future__ import annotations

from typing import Any

# ---------------------------------------------------------------- Gemini

_REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"

GEMINI_SENTENCES = (
    "En France, les marques de chaussures de running les plus recommandées en 2025 sont Asics, Nike et Hoka.",
    "Décathlon propose aussi sa gamme Kiprun, très appréciée pour son rapport qualité-prix.",
    "Les coureurs débutants privilégient souvent l\u2019amorti des modèles Gel-Nimbus ou Clifton.",
)
GEMINI_TEXT = " ".join(GEMINI_SENTENCES)

# (startIndex, endIndex, text) of each support's segment, in UTF-8 bytes of GEMINI_TEXT
GEMINI_SEGMENTS = (
    (0, 104, GEMINI_SENTENCES[0]),
    (105, 196, GEMINI_SENTENCES[1]),
    (197, 289, GEMINI_SENTENCES[2]),
)

GEMINI_CHUNKS = (
    {
        "web": {
            "uri": _REDIRECT
            + "AUZIYQGx3v7kq0Jm9bYp2XcL4r8TnW1sHd5eVfA6uKo3iPq7RzM0tB9yNjC2gE4hSxU8wIvD1lF5aZ6cO",
            "title": "lequipe.fr",
        }
    },
    {
        "web": {
            "uri": _REDIRECT
            + "AUZIYQHc8sK2pV5nX0qW7mL3bT9dR1fY6gJ4hE8uA2oI5kN0zM7xC3vB1jS9wP4rD6tF2yG8eU0lQ5aH",
            "title": "decathlon.fr",
        }
    },
    {
        "web": {
            "uri": _REDIRECT
            + "AUZIYQF7mD2kR9tX4bN1vL8pC5sW0qJ3hY6gA9eU2oK7iM4zT1xB8cV5nS0wE3rF6dG9yH2lP7aQ4jI",
            "title": "runnersworld.com",
        }
    },
)

GEMINI_GROUNDED: dict[str, Any] = {
    "candidates": [
        {
            "content": {"parts": [{"text": GEMINI_TEXT}], "role": "model"},
            "finishReason": "STOP",
            "groundingMetadata": {
                "searchEntryPoint": {
                    "renderedContent": (
                        "<style>\n.container {\n  align-items: center;\n  border-radius: 8px;\n"
                        "  display: flex;\n}\n.chip {\n  display: inline-block;\n"
                        "  border: solid 1px;\n  border-radius: 16px;\n}\n</style>\n"
                        '<div class="container">\n  <div class="headline"></div>\n'
                        '  <div class="carousel">\n'
                        '    <a class="chip" href="https://www.google.com/search?q=meilleures+'
                        'chaussures+de+running+2025+France&client=app-vertex-grounding">'
                        "meilleures chaussures de running 2025 France</a>\n"
                        '    <a class="chip" href="https://www.google.com/search?q=Kiprun+avis+'
                        'rapport+qualit%C3%A9+prix&client=app-vertex-grounding">'
                        "Kiprun avis rapport qualité prix</a>\n  </div>\n</div>\n"
                    )
                },
                "groundingChunks": list(GEMINI_CHUNKS),
                "groundingSupports": [
                    {
                        # startIndex 0 is the proto default: the JSON leaves it out
                        "segment": {"endIndex": 104, "text": GEMINI_SENTENCES[0]},
                        "groundingChunkIndices": [0, 2],
                    },
                    {
                        "segment": {"startIndex": 105, "endIndex": 196, "text": GEMINI_SENTENCES[1]},
                        "groundingChunkIndices": [1],
                    },
                    {
                        "segment": {"startIndex": 197, "endIndex": 289, "text": GEMINI_SENTENCES[2]},
                        "groundingChunkIndices": [2, 0],
                    },
                ],
                "webSearchQueries": [
                    "meilleures chaussures de running 2025 France",
                    "Kiprun avis rapport qualité prix",
                ],
            },
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 31,
        "candidatesTokenCount": 68,
        "totalTokenCount": 412,
        "toolUsePromptTokenCount": 198,
        "thoughtsTokenCount": 115,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}],
        "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 198}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "Xq1oaN3tGOuQ1dkPpYvQ6Ak",
}

GEMINI_NOT_SEARCHED: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "parts": [{"text": "Asics, Nike et Hoka sont les marques les plus citées par les coureurs."}],
                "role": "model",
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 31,
        "candidatesTokenCount": 17,
        "totalTokenCount": 48,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "b61oaKqXC9mF1dkP_4TB0Qo",
}

# ---------------------------------------------------------------- Anthropic

ANTHROPIC_QUERIES = ("meilleures chaussures running 2025", "Kiprun avis qualité prix")

_RESULTS_1 = [
    {
        "type": "web_search_result",
        "url": "https://www.lequipe.fr/Running/Article/les-meilleures-chaussures-de-running-2025/1542871",
        "title": "Les meilleures chaussures de running en 2025 - L'Équipe",
        "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1kNjNjNTk1ZWI3Y2YS",
        "page_age": "March 12, 2025",
    },
    {
        "type": "web_search_result",
        "url": "https://www.runnersworld.com/gear/a19663621/best-running-shoes/",
        "title": "The 25 Best Running Shoes of 2025 | Runner's World",
        "encrypted_content": "EpkJCioIARgBIiQ0ZjY1ZTI3Ni1hYmY0LTQ1ZmEtOTc0Ni1hNjY2ZjVhODQwYmES",
        "page_age": "2 weeks ago",
    },
]

_RESULTS_2 = [
    {
        "type": "web_search_result",
        "url": "https://www.decathlon.fr/browse/c0-sport/c1-running/_/N-1qtb7hm",
        "title": "Chaussures de running Kiprun | Decathlon",
        "encrypted_content": "EusKCioIARgBIiQ5YzFiNmE1My0zMjQ4LTRkNmMtOTVhYS1jY2E2NmE3YTM5ZTIS",
        "page_age": None,
    },
]

ANTHROPIC_TEXTS = (
    "Je vais rechercher les recommandations actuelles.",
    "D'après les résultats de recherche, ",
    "les marques les plus recommandées en France en 2025 sont Asics, Nike et Hoka",
    ". ",
    "La gamme Kiprun de Décathlon est très appréciée pour son rapport qualité-prix",
    ".",
)

ANTHROPIC_GROUNDED: dict[str, Any] = {
    "id": "msg_01G8kU6oDAqXb3rrJ2Vbq2Rq",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": ANTHROPIC_TEXTS[0]},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
            "name": "web_search",
            "input": {"query": ANTHROPIC_QUERIES[0]},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
            "content": _RESULTS_1,
        },
        {
            "type": "server_tool_use",
            "id": "srvtoolu_01Q8fBv3Yk7pLxT2mN4cR9sD",
            "name": "web_search",
            "input": {"query": ANTHROPIC_QUERIES[1]},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_01Q8fBv3Yk7pLxT2mN4cR9sD",
            "content": _RESULTS_2,
        },
        {"type": "text", "text": ANTHROPIC_TEXTS[1]},
        {
            "type": "text",
            "text": ANTHROPIC_TEXTS[2],
            "citations": [
                {
                    "type": "web_search_result_location",
                    "url": _RESULTS_1[0]["url"],
                    "title": _RESULTS_1[0]["title"],
                    "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm..",
                    "cited_text": "Asics, Nike et Hoka dominent notre sélection des meilleures chaussures "
                    "de running de l'année, ",
                },
                {
                    "type": "web_search_result_location",
                    "url": _RESULTS_1[1]["url"],
                    "title": _RESULTS_1[1]["title"],
                    "encrypted_index": "EpABCioIAhgBIiQ3ZDFmMjk0Ny1hYz..",
                    "cited_text": "Our testers' top picks this year come from Asics, Nike and Hoka. ",
                },
            ],
        },
        {"type": "text", "text": ANTHROPIC_TEXTS[3]},
        {
            "type": "text",
            "text": ANTHROPIC_TEXTS[4],
            "citations": [
                {
                    "type": "web_search_result_location",
                    "url": _RESULTS_2[0]["url"],
                    "title": _RESULTS_2[0]["title"],
                    "encrypted_index": "EpEBCioIAhgBIiRjMzk1ZDQ5Zi0xZD..",
                    "cited_text": "Kiprun, la marque running de Decathlon, offre un excellent rapport "
                    "qualité-prix. ",
                }
            ],
        },
        {"type": "text", "text": ANTHROPIC_TEXTS[5]},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 7139,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 412,
        "server_tool_use": {"web_search_requests": 2},
        "service_tier": "standard",
    },
}

ANTHROPIC_SEARCH_ERROR: dict[str, Any] = {
    "id": "msg_01Hq2vN8cT5xR3mK7pL9wB4s",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {
            "type": "server_tool_use",
            "id": "srvtoolu_01Lm5nP8qR2sT4vW6xY8zA1b",
            "name": "web_search",
            "input": {"query": ANTHROPIC_QUERIES[0]},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_01Lm5nP8qR2sT4vW6xY8zA1b",
            "content": {"type": "web_search_tool_result_error", "error_code": "unavailable"},
        },
        {
            "type": "text",
            "text": "La recherche n'a pas abouti ; d'après mes connaissances, Asics, Nike et Hoka "
            "sont parmi les marques les plus recommandées.",
        },
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2210,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 64,
        # whether a failed search counts here is not documented (the page says it is not billed)
        "server_tool_use": {"web_search_requests": 0},
        "service_tier": "standard",
    },
}
