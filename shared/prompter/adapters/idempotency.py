"""Do a piece of work once per key: Powertools Idempotency on a DynamoDB table.

Used for probe de-duplication (one provider call per template, provider, model and hour) and for
``Idempotency-Key`` replays of the run routes. A concurrent duplicate finds the first call in
progress and waits for its stored answer. When the table cannot be used, the work runs anyway and
the failure is counted: the store protects against duplicates, it never blocks the service.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prompter.errors import FieldError, IdempotencyUnavailable, InvalidInput, ProviderUnavailable
from prompter.observability import MetricName, add_metric, logger

RETRY_AFTER_SECONDS = 5


@dataclass
class _Runner:
    config: Any
    run: Callable[..., dict[str, Any]]


class Once:
    """Powertools' persistence layer and config hold per-call state, so each concurrent caller in
    one process (the local server's threads, Step Functions Map iterations under moto) borrows its
    own from a small pool, exactly as separate Lambda execution environments would have their own.
    """

    def __init__(
        self,
        table_name: str,
        expires_after_seconds: int,
        wait_seconds: float,
        validate_payload: bool = False,
        fail_open: bool = True,
    ) -> None:
        self.table_name = table_name
        self.fail_open = fail_open
        self.expires_after_seconds = expires_after_seconds
        self.validate_payload = validate_payload
        self.wait_seconds = wait_seconds
        self._local = threading.local()
        self._pool: queue.SimpleQueue[_Runner] = queue.SimpleQueue()

    def _build(self) -> _Runner:
        import boto3
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )
        from botocore.config import Config

        persistence = DynamoDBPersistenceLayer(
            table_name=self.table_name,
            boto3_session=boto3.session.Session(),  # clients are not shared between threads
            boto_config=Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2}),
        )
        config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="payload" if self.validate_payload else "",
            expires_after_seconds=self.expires_after_seconds,
        )
        run = idempotent_function(data_keyword_argument="item", persistence_store=persistence, config=config)(
            self._call
        )
        return _Runner(config, run)

    def _call(self, item: dict[str, str]) -> dict[str, Any]:
        self._local.ran = True
        result: dict[str, Any] = self._local.work()
        self._local.answer = result
        return result

    def register_lambda_context(self, context: Any) -> None:
        """In-progress records expire with the invocation, so a crashed call does not block others."""
        self._local.context = context

    def run(
        self, key: str, work: Callable[[], dict[str, Any]], payload: str = ""
    ) -> tuple[dict[str, Any], bool]:
        """``(answer, ran)``: the answer for ``key``, and whether ``work`` ran in this call.

        With payload validation, the same key with another ``payload`` is refused (422).
        """
        try:
            runner = self._pool.get_nowait()
        except queue.Empty:
            runner = self._build()
        try:
            context = getattr(self._local, "context", None)
            if context is not None:
                runner.config.register_lambda_context(context)
            return self._run(runner, key, work, payload)
        finally:
            self._pool.put(runner)

    def _run(
        self, runner: _Runner, key: str, work: Callable[[], dict[str, Any]], payload: str
    ) -> tuple[dict[str, Any], bool]:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        self._local.work = work
        self._local.ran = False
        self._local.answer = None
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.05
        while True:
            try:
                return runner.run(item={"key": key, "payload": payload}), bool(self._local.ran)
            except IdempotencyAlreadyInProgressError:
                if time.monotonic() > deadline:
                    raise ProviderUnavailable(
                        "an identical request is still running; try again shortly"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 1.5, 0.5)
            except IdempotencyValidationError:
                raise InvalidInput(
                    [
                        FieldError(
                            ("header", "Idempotency-Key"),
                            "was already used with a different request body",
                            "idempotency_key_reused",
                        )
                    ]
                ) from None
            except IdempotencyPersistenceLayerError as error:
                add_metric(MetricName.IDEMPOTENCY_STORE_ERRORS)
                cause = type(error.__cause__ or error).__name__
                if self._local.ran:
                    if self._local.answer is None:
                        raise  # the work itself failed and its record could not be cleaned up
                    logger.warning("idempotency record not saved", extra={"cause": cause})
                    return self._local.answer, True
                if not self.fail_open:
                    logger.warning("idempotency store unavailable; refused", extra={"cause": cause})
                    raise IdempotencyUnavailable(
                        "the idempotency store is unavailable, so this Idempotency-Key cannot be "
                        "honoured; nothing was run. Retry later with the same key",
                        retry_after=RETRY_AFTER_SECONDS,
                    ) from None
                logger.warning("idempotency store unavailable; running without it", extra={"cause": cause})
                return work(), True
