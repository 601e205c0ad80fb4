"""Alarms on what the providers answer (SPEC §6, rules 2, 3 and 6):

- probe failures >= 10 % of probe attempts, one alarm per real provider;
- ensure-version p95 >= 3 s over 5 minutes;
- OpenAI fingerprint presence < 80 %, per function that records versions.

A rate is computed only for periods with a floor of attempts (or answers); below it the alarm sees a
value that does not breach.
"""

from __future__ import annotations

from aws_cdk import Duration

from infra.constructs.monitoring.alarms import EMITTERS, LT, AlarmSet, Window, expression
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


def add_probe_failure_alarms(alarms: AlarmSet) -> None:
    """``ProbeFailureRate-<provider>``: the share of probe_provider's attempts that failed."""
    window = PROBE_FAILURE_WINDOW
    for provider in ALARMED_PROVIDERS:
        failures, attempts = (
            alarms.metric(name, "probe_provider", "Sum", window.period, provider)
            for name in (MetricName.PROBE_FAILURES, MetricName.PROBE_ATTEMPTS)
        )
        alarms.add_rate(
            f"ProbeFailureRate-{provider}",
            {"failures": failures, "attempts": attempts},
            window,
            failures="failures",
            attempts=["attempts"],
            floor=PROBE_MIN_ATTEMPTS,
            label=f"{provider} probe failure %",
            threshold=PROBE_FAILURE_PERCENT,
            description=f"Probes of {provider} fail >= {PROBE_FAILURE_PERCENT:g} % of attempts "
            f"{window.describe()} with >= {PROBE_MIN_ATTEMPTS} attempts each: check the provider's "
            "status and its secret (probe_provider logs, action=probe).",
        )


def add_ensure_version_alarm(alarms: AlarmSet) -> None:
    """``EnsureVersionP95``: the ensure-version route's p95 latency."""
    period = ENSURE_VERSION_PERIOD
    alarms.add(
        "EnsureVersionP95",
        alarms.metric(MetricName.ENSURE_VERSION_LATENCY, "probe_provider", "p95", period),
        Window(period),
        threshold=ENSURE_VERSION_P95_MS,
        description=f"ensure-version p95 latency is >= {ENSURE_VERSION_P95_MS / 1000:g} s over "
        f"{period.to_minutes():g} min: slow provider or database.",
    )


def add_fingerprint_alarms(alarms: AlarmSet) -> None:
    """``OpenAIFingerprintPresence-<function>``, per function that records versions: the Average of
    a 0/1 metric is the share, its SampleCount the number of OpenAI answers."""
    window, presence = FINGERPRINT_WINDOW, MetricName.OPENAI_FINGERPRINT_PRESENT
    for function in EMITTERS[presence]:
        alarms.add(
            f"OpenAIFingerprintPresence-{function}",
            expression(
                f"IF(FILL(answers, 0) >= {FINGERPRINT_MIN_ANSWERS}, 100 * presence, 100)",
                {
                    "presence": alarms.metric(presence, function, "Average", window.period),
                    "answers": alarms.metric(presence, function, "SampleCount", window.period),
                },
                window,
                f"OpenAI fingerprint presence % ({function})",
            ),
            window,
            threshold=FINGERPRINT_PRESENCE_PERCENT,
            comparison=LT,
            description=f"Fewer than {FINGERPRINT_PRESENCE_PERCENT:g} % of OpenAI answers recorded by "
            f"{function} carried a system_fingerprint {window.describe()} with >= "
            f"{FINGERPRINT_MIN_ANSWERS} answers each: version keys fall back to the resolved "
            "model, so drift detection is weaker.",
        )
