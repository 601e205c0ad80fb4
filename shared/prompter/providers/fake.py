"""A deterministic fake provider for local use and tests: no network, no key.

It answers like the provider a template names, including that provider's version metadata:
OpenAI gets a ``system_fingerprint``, Gemini a ``modelVersion``, Anthropic a resolved dated model
for a ``-latest`` alias, Azure OpenAI only the model name (no fingerprint, so the fallbacks are
exercised) and Bedrock nothing (the requested id is the key). Content echoes the prompt; usage
counts words. ``generation`` stands for the provider's model build: bumping it changes every
version the fake reports, which is how tests and local users make drift happen. ``calls`` counts
calls, so tests can prove de-duplication.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from prompter.providers.base import ChatReply, ChatRequest, Credentials


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


class FakeProvider:
    def __init__(self, name: str, generation: int = 1) -> None:
        self.name = name
        self.generation = generation
        self.calls = 0
        self.failures: list[Exception] = []  # raised, in order, by the next calls (tests)
        self._lock = threading.Lock()

    def fail_next(self, *errors: Exception) -> None:
        with self._lock:
            self.failures.extend(errors)

    def metadata(self, model: str) -> dict[str, Any]:
        build = _digest(self.name, model, self.generation)
        if self.name == "openai":
            return {"system_fingerprint": f"fp_{build[:10]}", "model": f"{model}-2024-08-06"}
        if self.name == "azure-openai":
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
            failure = self.failures.pop(0) if self.failures else None
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
        content = f"[{self.name}:{request.model_id}] {request.user_prompt}"[:2000]
        prompt_tokens = len(request.user_prompt.split()) + len(request.system_instructions.split())
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split())}
        metadata = self.metadata(request.model_id)
        received = {
            "id": f"fake-{_digest(request.model_id, request.user_prompt, self.calls)[:16]}",
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
        )
