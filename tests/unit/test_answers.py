"""The answer text and citations of each provider's wire format (prompter.probing.providers.answers)."""

from __future__ import annotations

from typing import Any

import pytest

from prompter.probing.providers.answers import answer_text, citation_urls

FORMATS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        "openai chat completions",
        {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": "1. Avea\n2. Thorne",
                        "annotations": [
                            {"type": "url_citation", "url_citation": {"url": "https://avea-life.com/nmn"}}
                        ],
                    }
                },
                {"message": {"content": "a second choice is not the answer"}},
            ],
            "system_fingerprint": "fp_1",
        },
        "1. Avea\n2. Thorne",
        ["https://avea-life.com/nmn"],
    ),
    (
        "chat completions content parts",
        {
            "choices": [
                {
                    "message": {
                        "content": [{"type": "text", "text": "Avea "}, {"type": "text", "text": "and Thorne"}]
                    }
                }
            ]
        },
        "Avea and Thorne",
        [],
    ),
    (
        "gemini candidates",
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"text": "thinking...", "thought": True},
                            {"text": "Avea, "},
                            {"text": "Thorne"},
                        ]
                    },
                    "groundingMetadata": {
                        "groundingChunks": [{"web": {"uri": "https://thorne.com", "title": "t"}}]
                    },
                }
            ],
            "modelVersion": "gemini-2.0-flash-001",
        },
        "Avea, Thorne",
        ["https://thorne.com"],
    ),
    (
        "anthropic content blocks",
        {
            "content": [
                {"type": "thinking", "thinking": "hmm", "text": "not this"},
                {"type": "text", "text": "Avea leads", "citations": [{"url": "https://example.org/a"}]},
                {"type": "tool_use", "name": "x", "input": {}},
                {"type": "text", "text": ", then Thorne."},
            ],
            "model": "claude-sonnet-4-20250514",
        },
        "Avea leads, then Thorne.",
        ["https://example.org/a"],
    ),
    (
        "bedrock converse output",
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"text": "Avea"},
                        {
                            "citationsContent": {
                                "citations": [{"location": {"web": {"url": "https://avea.com"}}}]
                            }
                        },
                        {"text": " and Thorne"},
                    ],
                }
            },
            "stopReason": "end_turn",
        },
        "Avea and Thorne",
        ["https://avea.com"],
    ),
]


@pytest.mark.parametrize(("name", "response", "text", "urls"), FORMATS, ids=[f[0] for f in FORMATS])
def test_each_format(name: str, response: dict[str, Any], text: str, urls: list[str]) -> None:
    assert answer_text(response) == text
    assert citation_urls(response) == urls


@pytest.mark.parametrize(
    "response",
    [
        None,
        {},
        {"choices": []},
        {"choices": [{"message": None}]},
        {"candidates": [{}]},
        {"output": "x"},
        {"content": "x"},
    ],
)
def test_no_answer_is_empty_text(response: Any) -> None:
    assert answer_text(response) == ""
    assert citation_urls(response) == []
