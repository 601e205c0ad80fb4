"""Bedrock Converse adapter: the real boto3 client, pointed at a local fake server that answers the
Converse REST shapes (``POST /model/{modelId}/converse``; errors as an HTTP status, an
``x-amzn-ErrorType`` header and a JSON ``{"message": ...}``).

Errors by status, timeouts, refused connections, unreadable bodies and the key's secrecy: the
contract every adapter keeps, in test_adapter_contract.py.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from prompter.api.errors import status_of
from prompter.errors import GroundingUnsupported, ProviderThrottled, ProviderUnavailable
from prompter.probing.providers import bedrock_converse, registry
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.bedrock_converse import BedrockProvider
from prompter.probing.providers.versioning import version_of
from prompter.settings import ProviderSettings
from prompter.workflow import error_code
from tests.providers.conftest import AWS_ACCESS_KEY_ID

pytestmark = pytest.mark.usefixtures("aws_env")

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"

CONVERSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Bonjour"}, {"text": " !"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17},
    "metrics": {"latencyMs": 412},
}


def _error_headers(code: str, request_id: str = "5f0c6d8e-1a2b-4c3d-9e8f-0123456789ab") -> dict[str, str]:
    return {
        "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": request_id,
    }


def request(**kw: Any) -> ChatRequest:
    base: dict[str, Any] = {
        "model_id": MODEL,
        "user_prompt": "Say hello in French.",
        "system_instructions": "You are terse.",
        "inference_params": {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "max_tokens": 200, "stop": "END"},
    }
    base.update(kw)
    return ChatRequest(**base)


def chat(
    url: str, req: ChatRequest | None = None, timeout: float = 5.0, region: str | None = "us-east-1"
) -> Any:
    return BedrockProvider().chat(req or request(), Credentials(endpoint=url, region=region), timeout)


def test_success_wire_request_reply_and_version(server: Any) -> None:
    server.reply(200, CONVERSE, headers={"x-amzn-RequestId": "5f0c6d8e-0000-4c3d-9e8f-0123456789ab"})
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "Find", "parameters": {"type": "object"}},
        }
    ]
    reply = chat(server.url, request(max_tokens=1, tools_spec=tools))

    sent = server.last
    assert sent.method == "POST"
    assert sent.path == f"/model/{MODEL}/converse"
    assert (
        sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY_ID}/")
        and "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    )
    converse_body = {
        "messages": [{"role": "user", "content": [{"text": "Say hello in French."}]}],
        "system": [{"text": "You are terse."}],
        "inferenceConfig": {"maxTokens": 1, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "lookup",
                        "inputSchema": {"json": {"type": "object"}},
                        "description": "Find",
                    }
                }
            ]
        },
        "additionalModelRequestFields": {"top_k": 40},
    }
    assert sent.body == converse_body
    assert reply.request == {"modelId": MODEL, **converse_body}
    assert reply.response == CONVERSE  # ResponseMetadata dropped
    assert reply.provider == "bedrock"
    assert reply.requested_model == MODEL
    assert reply.content == "Bonjour !"
    assert reply.metadata == {}  # Converse names no model: the requested id is the key
    assert reply.usage == CONVERSE["usage"]

    version = version_of("bedrock", reply.requested_model, reply.metadata)
    assert version.provider_version_key == MODEL
    assert version.resolved_model is None


def test_prompt_router_reports_the_invoked_model(server: Any) -> None:
    router = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"
    invoked = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    server.reply(200, {**CONVERSE, "trace": {"promptRouter": {"invokedModelId": invoked}}})
    reply = chat(server.url, request(model_id=router, inference_params={}, system_instructions=""))
    assert server.last.path == f"/model/{router}/converse"
    assert server.last.body == {"messages": [{"role": "user", "content": [{"text": "Say hello in French."}]}]}
    assert reply.metadata == {"modelId": invoked}
    assert version_of("bedrock", router, reply.metadata).provider_version_key == invoked


def test_client_is_created_once_per_region_and_endpoint(server: Any) -> None:
    server.reply(200, CONVERSE)
    clients: list[Any] = []
    barrier = threading.Barrier(8)

    def build() -> None:
        barrier.wait()
        clients.append(bedrock_converse.client("us-east-1", server.url, 5.0))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in clients}) == 1
    chat(server.url)
    chat(server.url)
    assert bedrock_converse.client("us-east-1", server.url, 5.0) is clients[0]
    assert bedrock_converse.client("eu-west-1", server.url, 5.0) is not clients[0]
    assert clients[0].meta.config.retries["total_max_attempts"] == 1
    assert clients[0].meta.config.read_timeout == 5.0


# The codes whose class is not their status's; the others are in the adapter contract.
ERRORS = [
    pytest.param(
        400,
        "ServiceQuotaExceededException",
        "Your request exceeds the service quota for your account.",
        ProviderThrottled,
        id="quota",
    ),
    pytest.param(
        408,
        "ModelTimeoutException",
        "Model has timed out in processing the request.",
        ProviderUnavailable,
        id="408",
    ),
    pytest.param(
        429,
        "ModelNotReadyException",
        "Model is not ready to serve inference requests.",
        ProviderUnavailable,
        id="not-ready",
    ),
]


@pytest.mark.parametrize(("status", "code", "message", "expected"), ERRORS)
def test_codes_that_overrule_their_status(
    server: Any, status: int, code: str, message: str, expected: type
) -> None:
    server.reply(status, {"message": message}, headers=_error_headers(code))
    with pytest.raises(expected) as caught:
        chat(server.url)
    error = caught.value
    assert len(server.requests) == 1  # botocore does not retry: Step Functions does
    assert error.details["provider"] == "bedrock"
    assert error.details["http_status"] == status
    assert error.details["error_type"] == code
    assert error.details["provider_request_id"] == "5f0c6d8e-1a2b-4c3d-9e8f-0123456789ab"
    assert message not in str(error)
    assert error.__suppress_context__


@pytest.mark.parametrize(
    ("environ", "signed"),
    [
        ({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-3"),
        ({"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2"),
        ({"PROMPTER_BEDROCK_REGION": "ap-south-1", "AWS_REGION": "eu-west-3"}, "ap-south-1"),
        ({}, "us-east-1"),
    ],
)
def test_region_falls_back_to_the_functions_region(server: Any, environ: dict[str, str], signed: str) -> None:
    settings = ProviderSettings.from_env({"PROMPTER_PROVIDER_MODE": "real", **environ})
    credentials = registry.credentials("bedrock", settings)
    server.reply(200, CONVERSE)
    BedrockProvider().chat(request(), dataclasses.replace(credentials, endpoint=server.url), 5.0)
    assert f"/{signed}/bedrock/aws4_request" in server.last.headers["authorization"]


@pytest.mark.parametrize("grounding", ["auto", "required"])
def test_grounding_is_refused_before_any_call(server: Any, grounding: str) -> None:
    server.reply(200, CONVERSE)
    with pytest.raises(GroundingUnsupported) as caught:
        chat(server.url, request(grounding=grounding, country="FR"))
    assert server.requests == []  # nothing sent, nothing paid
    assert bedrock_converse._clients == {}  # not even a client built
    error = caught.value
    assert error.code == "GROUNDING_UNSUPPORTED"
    assert status_of(error) == 422
    body = error.body()
    assert body["code"] == "GROUNDING_UNSUPPORTED"
    assert [e["field"] for e in body["errors"]] == ["grounding"]
    assert body["errors"][0]["type"] == "grounding_unsupported"
    assert repr(grounding) in body["errors"][0]["message"]
    # a workflow records the caught error under the same code
    assert error_code(type(error).__name__) == "GROUNDING_UNSUPPORTED"


def test_ungrounded_request_with_a_country_is_answered(server: Any) -> None:
    server.reply(200, CONVERSE)
    assert chat(server.url, request(country="FR")).content == "Bonjour !"
    assert "FR" not in server.last.raw_body.decode()
