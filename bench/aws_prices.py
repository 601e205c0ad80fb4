"""What Prompter's own AWS usage costs: the published unit prices (one definition, each with the page
it comes from and the day it was read) and the arithmetic from measured usage to dollars.

Prices are US East (N. Virginia) on-demand list prices, first tier, free tiers not taken off (a
deployment's free tier is shared with everything else in its account). ``verified``: the figure was
read on the service's own pricing page (or its pricing example); otherwise in copies quoting it
(the pages render their price tables client-side), which a maintainer should check against the page.
``bench.cost`` measures the usage; ``docs/decision_log.md`` ("What Prompter costs per answer") quotes
these prices and adds them up for 1,000 answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

READ = "2026-12-06"
MB_PER_GB = 1024


@dataclass(frozen=True)
class UnitPrice:
    usd: Decimal
    per: int  # the price is for this many units
    unit: str
    url: str
    read: str = READ
    verified: bool = False

    @property
    def each(self) -> Decimal:
        return self.usd / self.per


LAMBDA_PAGE = "https://aws.amazon.com/lambda/pricing/"
SFN_PAGE = "https://aws.amazon.com/step-functions/pricing/"
SFN_TRANSITIONS_DOC = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html"
DYNAMODB_PAGE = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
S3_PAGE = "https://aws.amazon.com/s3/pricing/"
CLOUDWATCH_PAGE = "https://aws.amazon.com/cloudwatch/pricing/"

# Lambda: requests, and duration per GB-second by architecture (first 7.5 billion Arm / 6 billion
# x86 GB-seconds a month); duration is rounded up to the millisecond.
LAMBDA_REQUEST = UnitPrice(Decimal("0.20"), 1_000_000, "requests", LAMBDA_PAGE, verified=True)
LAMBDA_GB_SECOND = {
    "arm64": UnitPrice(Decimal("0.0000133334"), 1, "GB-second (Arm)", LAMBDA_PAGE),
    "x86_64": UnitPrice(Decimal("0.0000166667"), 1, "GB-second (x86)", LAMBDA_PAGE),
}
LAMBDA_BILLED_MS = 1
# Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB (read in the page's
# Chinese copy, docs.amazonaws.cn): below that, code takes longer than on a full core.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MEMORY_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html"
# Step Functions Standard: per state transition, retries included; a Distributed Map is charged one
# transition for each child execution it starts (SFN_TRANSITIONS_DOC, read in its Korean and
# Japanese translations).
SFN_TRANSITION = UnitPrice(Decimal("0.025"), 1_000, "state transitions", SFN_PAGE, verified=True)
# Step Functions Express: per execution started, and per GB-second of duration (first 1,000 GB-hours
# a month: $0.06 per GB-hour), the duration rounded up to 100 ms and the memory billed in 64 MB
# chunks, memory used = 50 MB + the definition's size + the execution data's size (the page's
# pricing examples, read in a copy of the page; the rounding and chunk rules on the page itself).
SFN_EXPRESS_REQUEST = UnitPrice(Decimal("1.00"), 1_000_000, "requests", SFN_PAGE)
SFN_EXPRESS_GB_HOUR = UnitPrice(Decimal("0.06"), 1, "GB-hour", SFN_PAGE)
EXPRESS_BILLED_MS = 100
EXPRESS_MEMORY_CHUNK_MB = 64
EXPRESS_BASE_MEMORY_MB = 50
# DynamoDB on demand (since the November 2024 halving): a strongly consistent read of up to 4 KB is
# one read request unit, a write of up to 1 KB one write request unit (a failed conditional write too).
DYNAMODB_READ_UNIT = UnitPrice(Decimal("0.125"), 1_000_000, "read request units", DYNAMODB_PAGE)
DYNAMODB_WRITE_UNIT = UnitPrice(Decimal("0.625"), 1_000_000, "write request units", DYNAMODB_PAGE)
# S3 Standard requests.
S3_PUT = UnitPrice(Decimal("0.005"), 1_000, "PUT, COPY, POST, LIST requests", S3_PAGE)
S3_GET = UnitPrice(Decimal("0.0004"), 1_000, "GET, SELECT requests", S3_PAGE)
# CloudWatch Logs ingestion of Lambda logs, first tier (outside SPEC §7's list: reported beside it).
LOGS_INGESTED_GB = UnitPrice(Decimal("0.50"), 1, "GB ingested (Lambda logs, first tier)", CLOUDWATCH_PAGE)

PRICES: tuple[UnitPrice, ...] = (
    LAMBDA_REQUEST,
    *LAMBDA_GB_SECOND.values(),
    SFN_TRANSITION,
    SFN_EXPRESS_REQUEST,
    SFN_EXPRESS_GB_HOUR,
    DYNAMODB_READ_UNIT,
    DYNAMODB_WRITE_UNIT,
    S3_PUT,
    S3_GET,
    LOGS_INGESTED_GB,
)


def lambda_cpu_factor(memory_mb: int) -> float:
    """How much longer CPU-bound work takes at ``memory_mb`` than on one full core (at least 1)."""
    return max(1.0, LAMBDA_MB_PER_VCPU / memory_mb)


def lambda_gb_seconds(seconds: float, memory_mb: int) -> Decimal:
    """An invocation's billed GB-seconds: its duration rounded up to the millisecond."""
    billed_ms = math.ceil(seconds * 1000 / LAMBDA_BILLED_MS) * LAMBDA_BILLED_MS
    return Decimal(billed_ms) / 1000 * memory_mb / MB_PER_GB


def express_memory_mb(definition_bytes: int, data_bytes: int) -> int:
    """An Express execution's billed memory: 50 MB + definition + execution data, in 64 MB chunks."""
    used = EXPRESS_BASE_MEMORY_MB + (definition_bytes + data_bytes) / (1024 * 1024)
    return math.ceil(used / EXPRESS_MEMORY_CHUNK_MB) * EXPRESS_MEMORY_CHUNK_MB


def express_gb_seconds(seconds: float, memory_mb: int) -> Decimal:
    """An Express execution's billed GB-seconds: its duration rounded up to 100 ms."""
    billed_ms = math.ceil(seconds * 1000 / EXPRESS_BILLED_MS) * EXPRESS_BILLED_MS
    return Decimal(billed_ms) / 1000 * memory_mb / MB_PER_GB


@dataclass
class AwsUsage:
    """What a number of answers used of each billed AWS dimension (measured by ``bench.cost``)."""

    answers: int
    lambda_requests: int = 0
    lambda_gb_seconds: Decimal = Decimal(0)
    architecture: str = "arm64"
    state_transitions: int = 0  # STANDARD executions, Distributed Map child starts included
    express_requests: int = 0
    express_gb_seconds: Decimal = Decimal(0)
    dynamodb_read_units: int = 0
    dynamodb_write_units: int = 0
    s3_puts: int = 0
    s3_gets: int = 0
    log_bytes: int = 0  # outside SPEC §7's list: priced apart (:func:`logs_cost`)


def aws_cost(usage: AwsUsage) -> dict[str, Decimal]:
    """USD by component (SPEC §7's list: Lambda, Step Functions, DynamoDB, S3)."""
    express_gb_hours = usage.express_gb_seconds / 3600
    return {
        "Lambda requests": usage.lambda_requests * LAMBDA_REQUEST.each,
        "Lambda duration": usage.lambda_gb_seconds * LAMBDA_GB_SECOND[usage.architecture].each,
        "Step Functions transitions": usage.state_transitions * SFN_TRANSITION.each,
        "Express requests": usage.express_requests * SFN_EXPRESS_REQUEST.each,
        "Express duration": express_gb_hours * SFN_EXPRESS_GB_HOUR.each,
        "DynamoDB reads": usage.dynamodb_read_units * DYNAMODB_READ_UNIT.each,
        "DynamoDB writes": usage.dynamodb_write_units * DYNAMODB_WRITE_UNIT.each,
        "S3 PUT": usage.s3_puts * S3_PUT.each,
        "S3 GET": usage.s3_gets * S3_GET.each,
    }


def logs_cost(usage: AwsUsage) -> Decimal:
    """USD of the Lambda log bytes ingested by CloudWatch Logs."""
    return Decimal(usage.log_bytes) / 1024**3 * LOGS_INGESTED_GB.each


def per_thousand(usd: Decimal, answers: int) -> Decimal:
    """``usd`` spent on ``answers`` answers, per 1,000 answers."""
    return usd * 1000 / answers
