"""Do a piece of work once per key: Powertools Idempotency on a DynamoDB table.

Used for probe de-duplication (one provider call per template, provider, model and hour) and for
``Idempotency-Key`` replays of the run routes. A concurrent duplicate finds the first call in
progress and waits for its stored answer. When the table cannot be used, the work runs anyway and
the failure is counted: the store protects against duplicates, it never blocks the service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from prompter.errors import FieldError, InvalidInput, ProviderUnavailable
from prompter.observability import MetricName, add_metric, logger


class Once:
    def __init__(
        self,
        table_name: str,
        expires_after_seconds: int,
        wait_seconds: float,
        validate_payload: bool = False,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )
        from botocore.config import Config

        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            boto_config=Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2}),
        )
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="payload" if validate_payload else "",
            expires_after_seconds=expires_after_seconds,
        )
        self.wait_seconds = wait_seconds
        self._local = threading.local()
        self._run = idempotent_function(
            data_keyword_argument="item", persistence_store=persistence, config=self.config
        )(self._call)

    def _call(self, item: dict[str, str]) -> dict[str, Any]:
        self._local.ran = True
        result: dict[str, Any] = self._local.work()
        return result

    def register_lambda_context(self, context: Any) -> None:
        """In-progress records expire with the invocation, so a crashed call does not block others."""
        if context is not None:
            self.config.register_lambda_context(context)

    def run(
        self, key: str, work: Callable[[], dict[str, Any]], payload: str = ""
    ) -> tuple[dict[str, Any], bool]:
        """``(answer, ran)``: the answer for ``key``, and whether ``work`` ran in this call.

        With payload validation, the same key with another ``payload`` is refused (422).
        """
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        self._local.work = work
        self._local.ran = False
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.05
        while True:
            try:
                return self._run(item={"key": key, "payload": payload}), bool(self._local.ran)
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
                if self._local.ran:
                    raise  # the work itself failed and its record could not be cleaned up
                logger.warning(
                    "idempotency store unavailable; running without it",
                    extra={"cause": type(error.__cause__ or error).__name__},
                )
                add_metric(MetricName.IDEMPOTENCY_STORE_ERRORS)
                return work(), True
