"""A deterministic fake provider for local use and tests: no network, no key.

It answers like the provider a template names, including that provider's version metadata:
OpenAI gets a ``system_fingerprint``, Gemini a ``modelVersion``, Anthropic a resolved dated model
for a ``-latest`` alias, Azure OpenAI only the model name (no fingerprint, so the fallbacks are
exercised), Perplexity the model it was asked for (as Sonar reports it) and Bedrock nothing (the
requested id is the key); usage counts words.

It answers like a model: a list-style prompt ("top", "best", "which", "recommend", ...) from a run
that tracks brands gets a numbered list of some of those brands and some other names, each included
with a probability fixed by (brand, country, model, generation) and drawn again for every call, so
samples differ and a new generation moves visibility as well as the version key. Any other prompt
is echoed back. ``generation`` stands for the provider's model build: bumping it changes every
version the fake reports, which is how tests and local users make a model version change happen.
``calls`` counts calls, so tests can prove de-duplication; ``answer_next`` scripts exact answers.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from typing import Any

from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.evidence import read_evidence

LIST_PROMPT = re.compile(
    r"\b(top|best|list|which|recommend\w*|leading|popular|alternatives?|compare\w*)\b", re.IGNORECASE
)
OTHER_NAMES = ("Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Tailspin", "Wingtip")


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


class FakeProvider:
    def __init__(self, name: str, generation: int = 1) -> None:
        self.name = name
        self.generation = generation
        self.calls = 0
        self.failures: list[Exception] = []  # raised, in order, by the next calls (tests)
        self.scripted: list[str] = []  # answered, in order, by the next calls (tests)
        self._asked: dict[tuple[str, str], int] = {}  # (model, prompt) -> calls so far
        self._lock = threading.Lock()

    def fail_next(self, *errors: Exception) -> None:
        with self._lock:
            self.failures.extend(errors)

    def answer_next(self, *texts: str) -> None:
        with self._lock:
            self.scripted.extend(texts)

    def inclusion(self, brand: str, country: str | None, model: str) -> float:
        """How likely an answer lists ``brand`` (0.1 to 0.9): fixed by brand, country, model and
        generation."""
        share = int(_digest("include", brand.casefold(), country, model, self.generation)[:8], 16)
        return 0.1 + 0.8 * share / 0xFFFFFFFF

    def _answer(self, request: ChatRequest, asked: int) -> str:
        """The answer to the ``asked``-th call with this prompt: the same sequence of answers for
        the same sequence of calls, whatever else runs between them."""
        prompt = request.user_prompt
        if not (request.tracked_brands and LIST_PROMPT.search(prompt)):
            return f"[{self.name}:{request.model_id}] {prompt}"[:2000]
        draw = random.Random(_digest(self.name, request.model_id, prompt, self.generation, asked))
        where = request.country or "your market"
        scored = []
        for name in dict.fromkeys((*request.tracked_brands, *OTHER_NAMES)):
            chance = self.inclusion(name, request.country, request.model_id)
            if draw.random() < chance:
                scored.append((chance + draw.uniform(-0.2, 0.2), name))
        if not scored:
            return f"I could not name brands I would recommend in {where} with confidence."
        ranked = [name for _, name in sorted(scored, reverse=True)]
        lines = [f"{i}. {name}: often mentioned in {where}." for i, name in enumerate(ranked, 1)]
        return "\n".join([f"Here are options people often consider in {where}:", "", *lines])

    def metadata(self, model: str) -> dict[str, Any]:
        build = _digest(self.name, model, self.generation)
        if self.name == "openai":
            return {"system_fingerprint": f"fp_{build[:10]}", "model": f"{model}-2024-08-06"}
        if self.name in ("azure-openai", "perplexity"):
            return {"model": model}
        if self.name == "google":
            return {"modelVersion": f"{model.removeprefix('models/')}-{int(build[:4], 16) % 900 + 100:03d}"}
        if self.name == "anthropic":
            dated = f"2024{int(build[:4], 16) % 12 + 1:02d}{int(build[4:6], 16) % 28 + 1:02d}"
            return {
                "model": model.removesuffix("-latest") + f"-{dated}" if model.endswith("-latest") else model
            }
        return {}

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        started = time.perf_counter()
        with self._lock:
            self.calls += 1
            asked = self._asked[(request.model_id, request.user_prompt)] = (
                self._asked.get((request.model_id, request.user_prompt), 0) + 1
            )
            failure = self.failures.pop(0) if self.failures else None
            scripted = self.scripted.pop(0) if self.scripted and failure is None else None
        if failure is not None:
            raise failure
        params = dict(request.inference_params)
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        messages = [{"role": "user", "content": request.user_prompt}]
        if request.system_instructions:
            messages.insert(0, {"role": "system", "content": request.system_instructions})
        sent = {"model": request.model_id, "messages": messages, **params}
        if request.response_format:
            sent["response_format"] = request.response_format
        content = scripted if scripted is not None else self._answer(request, asked)
        prompt_tokens = len(request.user_prompt.split()) + len(request.system_instructions.split())
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split())}
        metadata = self.metadata(request.model_id)
        received = {
            "id": f"fake-{_digest(request.model_id, request.user_prompt, asked)[:16]}",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": usage,
            **metadata,
        }
        return ChatReply(
            provider=self.name,
            requested_model=request.model_id,
            content=content,
            request=sent,
            response=received,
            metadata=metadata,
            usage=usage,
            latency_ms=int((time.perf_counter() - started) * 1000),
            # It offers no search: a grounded request's evidence says it did not search.
            grounding=read_evidence(received, request.grounding, sent),
        )
