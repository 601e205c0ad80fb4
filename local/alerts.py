"""``make dev`` delivers monitors' alerts the way a deployed stage does: the event bus's rule (moto,
``local/aws.py``) queues each event that names a monitor on the alerts queue, and this poller does
what the queue's Lambda event source does when deployed: it receives up to a batch of messages,
hands them to deliver_alerts as SQS records, and deletes the ones the function did not report as
failed (SQS partial batch responses). A failed alert stays in the queue, invisible for the back-off
the function set, and after its last receive moves to the dead-letter queue, as deployed.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from local.apigw import LambdaContext, environment, handler_module
from local.aws import ALERT_QUEUE_ENV

FUNCTION = "deliver_alerts"
log = logging.getLogger("local.alerts")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """ReceiveMessage's messages as the Lambda event source hands them to a function."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for message in messages
        ]
    }


def deliver_once(queue_url: str | None = None) -> tuple[int, int]:
    """One batch from the alerts queue through deliver_alerts: (done, to retry). Done is every alert
    the function did not report failed: posted, or with nobody to tell (its monitor deleted, or
    without a webhook)."""
    import boto3

    from prompter.adapters.queues import BATCH_SIZE

    url = queue_url or os.environ[ALERT_QUEUE_ENV]
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=BATCH_SIZE, AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    if not messages:
        return 0, 0
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with environment(FUNCTION):  # one invocation at a time, as in a Lambda environment
        answer = handler_module(FUNCTION).lambda_handler(
            sqs_event(messages, arn), LambdaContext(function_name=f"prompter-{FUNCTION}")
        )
    failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
    taken = [m for m in messages if m["MessageId"] not in failed]
    for message in taken:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return len(taken), len(failed)


def start_alert_delivery(interval_seconds: float) -> threading.Event:
    """Poll the alerts queue every ``interval_seconds`` (0: never); returns the event that stops it."""
    stop = threading.Event()
    if interval_seconds <= 0 or not os.environ.get(ALERT_QUEUE_ENV):
        return stop

    def loop() -> None:
        while not stop.wait(interval_seconds):
            try:
                while True:  # drain what is visible, a batch at a time
                    taken, failed = deliver_once()
                    if taken or failed:
                        log.info("alerts: %d done, %d to retry after their back-off", taken, failed)
                    if taken + failed == 0 or failed:
                        break
            except Exception:
                log.exception("alerts not delivered")

    threading.Thread(target=loop, name="alert-delivery", daemon=True).start()
    return stop
