"""Amazon Bedrock through the Converse API (``bedrock-runtime`` ``converse``).

Unlike the other adapters this one uses boto3: it is part of the Lambda runtime (no package to
ship) and does the SigV4 signing with the function's role. It is imported lazily, on the first
Bedrock call, so functions that never call Bedrock do not pay for it at cold start. One client per
(region, endpoint, timeouts) is created once and cached behind a lock (clients are thread-safe
once built). botocore does no retrying (``total_max_attempts=1``): Step Functions retries the
retryable errors.

Parameters: ``modelId``, one user message, ``system`` when the template has instructions,
``inferenceConfig`` (``maxTokens`` from the request's limit or the template's ``max_tokens``,
``temperature``, ``topP`` from ``top_p``, ``stopSequences`` from ``stop``/``stop_sequences``); every
other inference param goes to ``additionalModelRequestFields`` for the model itself (e.g.
``top_k`` for Claude). OpenAI-style function tools become ``toolConfig`` tool specs.
``response_format`` is not sent (Converse has no equivalent in every runtime's botocore).

No grounding: Converse has no generic web search tool (only Amazon Nova's own ``nova_grounding``),
so a grounded request (SPEC §2.8, ``grounding`` other than "none") is refused with
:class:`~prompter.errors.GroundingUnsupported` (a 422 naming ``grounding``) before any client is
built or any call made.

The reply's ``request`` is the Converse parameters as sent, ``response`` the parsed answer without
botocore's ``ResponseMetadata`` (JSON-serialisable). Converse does not name the model that
answered, except through a prompt router (``trace.promptRouter.invokedModelId``, reported as
``modelId``); otherwise the metadata has no model and the version key is the requested model id.
No documented Converse response header names the model, so none is read.

botocore logs signed requests (with the session token) and full response bodies at DEBUG; the
first client caps ``botocore.endpoint``, ``botocore.parsers`` and ``botocore.auth`` at INFO unless
a level was set for them explicitly, so raising the root log level never writes credentials or
provider answers to the logs.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import logging
import threading
import time
from typing import Any

from prompter.errors import GroundingUnsupported, ProviderAuthError, ProviderBadRequest
from prompter.probing.providers.base import ChatReply, ChatRequest, Credentials
from prompter.probing.providers.http import as_dict, classify, split_timeout
from prompter.probing.providers.openai_chat import chat_reply, token_limit

DEFAULT_REGION = "us-east-1"
INVALID_BODY = "invalid JSON body"  # as the HTTP adapters say it
_LIMIT_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "maxTokens")
_QUIET_LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.auth")

_clients: dict[tuple[str, str | None, float, float], tuple[Any, Any]] = {}  # key -> (client, session)
_lock = threading.Lock()


def _quiet_botocore() -> None:
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def _cached(region: str, endpoint: str | None, timeout: float) -> tuple[Any, Any]:
    connect, read = split_timeout(timeout)
    key = (region, endpoint, connect, read)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            _quiet_botocore()
            config = Config(connect_timeout=connect, read_timeout=read, retries={"total_max_attempts": 1})
            # Own session: creating clients from boto3's shared default session is not thread-safe.
            session = boto3.session.Session()
            runtime = session.client(
                "bedrock-runtime", region_name=region, endpoint_url=endpoint, config=config
            )
            found = _clients[key] = (runtime, session)
        return found


def client(region: str, endpoint: str | None, timeout: float) -> Any:
    """The cached ``bedrock-runtime`` client for a region, endpoint and timeout."""
    return _cached(region, endpoint, timeout)[0]


def _secrets(session: Any) -> tuple[str | None, ...]:
    """The signing secrets, so an error never repeats them (AWS never receives the secret key,
    but a proxy or a fake in front of it might echo anything)."""
    try:
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
    except Exception:  # no credentials to hide
        return ()
    return (frozen.secret_key, frozen.token) if frozen is not None else ()


def clear_clients() -> None:
    with _lock:
        _clients.clear()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _tools(tools_spec: list[dict[str, Any]]) -> dict[str, Any]:
    tools: list[dict[str, Any]] = []
    for tool in tools_spec:
        function = tool.get("function") if tool.get("type") == "function" else None
        if isinstance(function, dict):
            spec: dict[str, Any] = {
                "name": function.get("name"),
                "inputSchema": {"json": function.get("parameters") or {"type": "object"}},
            }
            if function.get("description"):
                spec["description"] = function["description"]
            tools.append({"toolSpec": spec})
        else:
            tools.append(tool)
    return {"tools": tools}


def converse_params(request: ChatRequest) -> dict[str, Any]:
    params = dict(request.inference_params)
    limit = token_limit(
        request, params, ("max_tokens", "max_completion_tokens", "max_output_tokens", "maxTokens")
    )
    inference: dict[str, Any] = {}
    if limit is not None:
        inference["maxTokens"] = limit
    extra: dict[str, Any] = {}
    for key, value in params.items():
        if key == "temperature":
            inference["temperature"] = value
        elif key in ("top_p", "topP"):
            inference["topP"] = value
        elif key in ("stop", "stop_sequences", "stopSequences"):
            inference["stopSequences"] = [value] if isinstance(value, str) else value
        elif key not in ("modelId", "messages", "system", "inferenceConfig", "toolConfig", "stream"):
            extra[key] = value
    sent: dict[str, Any] = {
        "modelId": request.model_id,
        "messages": [{"role": "user", "content": [{"text": request.user_prompt}]}],
    }
    if request.system_instructions:
        sent["system"] = [{"text": request.system_instructions}]
    if inference:
        sent["inferenceConfig"] = inference
    if request.tools_spec:
        sent["toolConfig"] = _tools(request.tools_spec)
    if extra:
        sent["additionalModelRequestFields"] = extra
    return sent


class BedrockProvider:
    name = "bedrock"

    def chat(self, request: ChatRequest, credentials: Credentials, timeout: float) -> ChatReply:
        if request.grounded:
            raise GroundingUnsupported(self.name, request.grounding)
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            HTTPClientError,
            NoCredentialsError,
            ParamValidationError,
            PartialCredentialsError,
            ReadTimeoutError,
        )
        from botocore.parsers import ResponseParserError

        region = credentials.region or DEFAULT_REGION
        runtime, session = _cached(region, credentials.endpoint, timeout)
        sent = converse_params(request)
        started = time.monotonic()
        try:
            answer = runtime.converse(**sent)
        except ClientError as exc:
            error = as_dict(exc.response.get("Error"))
            meta = as_dict(exc.response.get("ResponseMetadata"))
            raise classify(
                self.name,
                status=meta.get("HTTPStatusCode"),
                codes=(error.get("Code"),),
                headers=meta.get("HTTPHeaders"),
                secrets=_secrets(session),
            ) from None
        except (ReadTimeoutError, ConnectTimeoutError):
            raise classify(self.name, reason="timed out") from None
        except EndpointConnectionError:
            raise classify(self.name, reason="connection failed") from None
        except HTTPClientError:
            raise classify(self.name, reason="connection failed") from None
        except ParamValidationError:
            raise ProviderBadRequest(
                "bedrock refused the request (parameters rejected by the client)",
                provider=self.name,
                reason="parameters rejected by the client",
            ) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise ProviderAuthError(
                "bedrock refused the credentials (no AWS credentials found)",
                provider=self.name,
                reason="no AWS credentials",
            ) from None
        except (ResponseParserError, AttributeError, TypeError, ValueError):
            # botocore parses a 2xx body itself: one that is not a JSON object fails in its parser
            raise classify(self.name, reason=INVALID_BODY) from None
        meta = as_dict(answer.get("ResponseMetadata"))
        if not isinstance(answer.get("output"), dict):  # a truncated body parses as an empty answer
            raise classify(
                self.name,
                status=meta.get("HTTPStatusCode"),
                headers=meta.get("HTTPHeaders"),
                reason=INVALID_BODY,
            )
        latency_ms = int((time.monotonic() - started) * 1000)
        data = _jsonable({k: v for k, v in answer.items() if k != "ResponseMetadata"})
        metadata: dict[str, Any] = {}
        invoked = as_dict(as_dict(data.get("trace")).get("promptRouter")).get("invokedModelId")
        if isinstance(invoked, str) and invoked:
            metadata["modelId"] = invoked
        return chat_reply(self.name, request, sent, data, metadata, data.get("usage"), latency_ms)
