"""Secrets Manager: the signing secret of a monitor's alert webhook, kept as a secret of its own
(SPEC §2.9: shown once, when the monitor is created; never stored in the database or logged).

The one place Secrets Manager's SDK errors become a domain error: a secret that cannot be written or
read is :class:`AlertSecretUnavailable` (a 503 for the API; a retried delivery for alerts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prompter.errors import AlertSecretUnavailable


class AlertSecrets:
    def __init__(self, client: Callable[[], Any], prefix: str) -> None:
        self._client = client
        self.prefix = prefix.rstrip("/")

    def create(self, monitor_id: str, value: str) -> str:
        """Keep ``value`` as the monitor's secret; the reference to store (its ARN)."""
        try:
            answer = self._client().create_secret(
                Name=f"{self.prefix}/{monitor_id}/alert-signing",
                SecretString=value,
                Description="signs the alerts a Prompter monitor posts to its webhook",
            )
        except Exception as error:
            raise AlertSecretUnavailable("the alert secret could not be stored; try again shortly") from error
        return str(answer["ARN"])

    def read(self, reference: str) -> str:
        try:
            return str(self._client().get_secret_value(SecretId=reference)["SecretString"])
        except Exception as error:
            raise AlertSecretUnavailable("the alert secret could not be read") from error

    def delete(self, reference: str) -> None:
        """Delete the secret at once (no recovery window: the monitor it signed for is gone)."""
        try:
            self._client().delete_secret(SecretId=reference, ForceDeleteWithoutRecovery=True)
        except Exception as error:
            if type(error).__name__ == "ResourceNotFoundException":
                return
            raise AlertSecretUnavailable(
                "the alert secret could not be deleted; try again shortly"
            ) from error
