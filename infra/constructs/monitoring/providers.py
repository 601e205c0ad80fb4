"""Alarms on what the providers answer (SPEC §6, rules 2, 3 and 6):

- probe failures >= 10 % of probe attempts, one alarm per real provider;
- ensure-version p95 >= 3 s over 5 minutes;
- OpenAI fingerprint presence < 80 %, per function that records versions.

A rate is computed only for periods with a floor of attempts (or answers); below it the alarm sees a
value that does not breach.
"""

from __future__ import annotations

from aws_cdk import Duration

from infra.constructs.monitoring.alarms import EMITTERS
from infra.constructs.monitoring.catalogue import AlarmSpec, Comparison, Rate, Share, Signal, Value, Window
from infra.dashboards.panels import Series, Source
from prompter.observability import DIMENSION_VALUES, MetricName

PROBE_FAILURE_PERCENT = 10.0  # >= 10 % of probe attempts, per provider
PROBE_FAILURE_WINDOW = Window(Duration.minutes(5), datapoints=2, periods=3)
PROBE_MIN_ATTEMPTS = 10  # per 5 minutes: one failure among 10 attempts is the 10 % threshold
ENSURE_VERSION_P95_MS = 3000.0  # >= 3 s (EnsureVersionLatency is in milliseconds)
ENSURE_VERSION_PERIOD = Duration.minutes(5)
FINGERPRINT_PRESENCE_PERCENT = 80.0  # < 80 % of OpenAI answers carry a system_fingerprint
FINGERPRINT_WINDOW = Window(Duration.minutes(15), datapoints=2, periods=3)
FINGERPRINT_MIN_ANSWERS = 10  # per 15 minutes: below it one answer without a fingerprint is >= 10 %

# Providers that really answer probes ("fake" is the local/test stand-in), from the metric catalogue.
ALARMED_PROVIDERS: tuple[str, ...] = DIMENSION_VALUES["provider"]
PROBE_FUNCTION = "probe_provider"


def _custom(id_: str, name: MetricName, stat: str) -> Series:
    return Series(id_, Source.CUSTOM, str(name), stat)  # type: ignore[arg-type]


def probe_failure_alarms() -> list[AlarmSpec]:
    """``ProbeFailureRate-<provider>``: the share of probe_provider's attempts that failed."""
    window = PROBE_FAILURE_WINDOW
    failures = _custom("failures", MetricName.PROBE_FAILURES, "Sum")
    attempts = _custom("attempts", MetricName.PROBE_ATTEMPTS, "Sum")
    return [
        AlarmSpec(
            f"ProbeFailureRate-{provider}",
            "providers",
            Rate(
                Signal(failures, (PROBE_FUNCTION,), provider),
                (Signal(attempts, (PROBE_FUNCTION,), provider),),
                PROBE_MIN_ATTEMPTS,
            ),
            window,
            threshold=PROBE_FAILURE_PERCENT,
            label=f"{provider} probe failure %",
            description=f"Probes of {provider} fail >= {PROBE_FAILURE_PERCENT:g} % of attempts "
            f"{window.describe()} with >= {PROBE_MIN_ATTEMPTS} attempts each: check the provider's "
            "status and its secret (probe_provider logs, action=probe).",
        )
        for provider in ALARMED_PROVIDERS
    ]


def ensure_version_alarm() -> AlarmSpec:
    """``EnsureVersionP95``: the ensure-version route's p95 latency."""
    period = ENSURE_VERSION_PERIOD
    latency = _custom("latency", MetricName.ENSURE_VERSION_LATENCY, "p95")
    return AlarmSpec(
        "EnsureVersionP95",
        "providers",
        Value(Signal(latency, (PROBE_FUNCTION,))),
        Window(period),
        threshold=ENSURE_VERSION_P95_MS,
        description=f"ensure-version p95 latency is >= {ENSURE_VERSION_P95_MS / 1000:g} s over "
        f"{period.to_minutes():g} min: slow provider or database.",
    )


def fingerprint_alarms() -> list[AlarmSpec]:
    """``OpenAIFingerprintPresence-<function>``, per function that records versions: the Average of
    a 0/1 metric is the share, its SampleCount the number of OpenAI answers."""
    window, presence = FINGERPRINT_WINDOW, MetricName.OPENAI_FINGERPRINT_PRESENT
    present, answers = _custom("presence", presence, "Average"), _custom("answers", presence, "SampleCount")
    return [
        AlarmSpec(
            f"OpenAIFingerprintPresence-{function}",
            "providers",
            Share(Signal(present, (function,)), Signal(answers, (function,)), FINGERPRINT_MIN_ANSWERS),
            window,
            threshold=FINGERPRINT_PRESENCE_PERCENT,
            comparison=Comparison.LT,
            label=f"OpenAI fingerprint presence % ({function})",
            description=f"Fewer than {FINGERPRINT_PRESENCE_PERCENT:g} % of OpenAI answers recorded by "
            f"{function} carried a system_fingerprint {window.describe()} with >= "
            f"{FINGERPRINT_MIN_ANSWERS} answers each: version keys fall back to the resolved "
            "model, so drift detection is weaker.",
        )
        for function in EMITTERS[presence]
    ]
