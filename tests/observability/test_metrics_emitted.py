"""Every metric of the catalogue (``prompter.observability.METRICS``) is emitted by the code, as the
catalogue says: namespace, unit, dimensions, the functions that emit it and the env. The alarms and
dashboards query the catalogue, so this is what proves they watch metrics that exist (SPEC §6).

``emitted`` (conftest.py) is what one realistic scenario printed through the deployed handlers.
"""

from __future__ import annotations

import pytest

from prompter.db.schema import prompt_results, prompt_templates
from prompter.observability import METRICS, NAMESPACE, MetricName
from tests.observability.conftest import DEFAULT_DIMENSIONS, Emitted

# Metrics Powertools itself may add to the namespace (the cold start count, when captured).
POWERTOOLS_METRICS = {"ColdStart"}


@pytest.mark.parametrize("name", list(MetricName), ids=str)
def test_the_metric_is_emitted(emitted: Emitted, name: MetricName) -> None:
    assert emitted.observed.get(name), f"{name} was never emitted by the scenario"


@pytest.mark.parametrize("name", list(MetricName), ids=str)
def test_namespace_and_unit_are_the_catalogues(emitted: Emitted, name: MetricName) -> None:
    assert emitted.namespaces[name] == {"Prompter"} == {NAMESPACE}
    assert {o.unit for o in emitted.observed[name]} == {METRICS[name].unit}


@pytest.mark.parametrize("name", list(MetricName), ids=str)
def test_dimensions_are_service_env_and_the_catalogues(emitted: Emitted, name: MetricName) -> None:
    expected = DEFAULT_DIMENSIONS | set(METRICS[name].dimensions)
    assert emitted.dimension_keys[name] == {expected}
    # every declared dimension has a value in the document
    assert all(value for o in emitted.observed[name] for _, value in o.dimensions)


@pytest.mark.parametrize("name", list(MetricName), ids=str)
def test_emitted_by_exactly_the_catalogued_functions(emitted: Emitted, name: MetricName) -> None:
    expected = {f"prompter-{function}" for function in METRICS[name].emitters}
    assert emitted.services(name) == expected


@pytest.mark.parametrize("name", list(MetricName), ids=str)
def test_env_is_the_configured_one(emitted: Emitted, name: MetricName) -> None:
    assert emitted.envs[name] == {emitted.env}


def test_every_metric_in_the_namespace_is_catalogued(emitted: Emitted) -> None:
    ours = {name for name, namespaces in emitted.namespaces.items() if NAMESPACE in namespaces}
    assert ours - POWERTOOLS_METRICS <= set(MetricName), ours - set(MetricName)
    assert ours >= set(MetricName)


# ------------------------------------------------------------------ what the dimensions say


def test_unique_violations_name_the_table_of_each_write(emitted: Emitted) -> None:
    assert emitted.dimension_values(MetricName.DB_UNIQUE_VIOLATION, "table") == {
        ("prompter-create_template", prompt_templates.name),  # a create of an active config (409)
        ("prompter-store_result", prompt_results.name),  # a replayed store task
    }


def test_probe_metrics_name_each_provider(emitted: Emitted) -> None:
    attempts = {p for _, p in emitted.dimension_values(MetricName.PROBE_ATTEMPTS, "provider")}
    assert attempts == {"openai", "google", "anthropic"}
    failures = {p for _, p in emitted.dimension_values(MetricName.PROBE_FAILURES, "provider")}
    assert failures == {"anthropic", "openai"}  # refused (401); throttled in the sweep
    assert emitted.dimension_values(MetricName.PROBES_DEDUPLICATED, "provider") == {
        ("prompter-probe_provider", "openai")
    }


def test_retries_and_drift_name_the_provider(emitted: Emitted) -> None:
    assert emitted.dimension_values(MetricName.PROVIDER_RETRIES, "provider") == {
        ("prompter-probe_provider", "openai")
    }
    assert emitted.values[MetricName.PROVIDER_RETRIES] == [1.0, 1.0]  # the batch's and the sweep's
    assert emitted.dimension_values(MetricName.PROVIDER_VERSION_CHANGED, "provider") == {
        ("prompter-probe_provider", "openai"),
        ("prompter-store_result", "openai"),
    }


def test_fingerprint_presence_is_a_share_of_openai_answers(emitted: Emitted) -> None:
    assert set(emitted.values[MetricName.OPENAI_FINGERPRINT_PRESENT]) == {0.0, 1.0}


def test_ensure_version_latency_is_positive_milliseconds(emitted: Emitted) -> None:
    latencies = emitted.values[MetricName.ENSURE_VERSION_LATENCY]
    assert latencies and all(0 < value < 60_000 for value in latencies)


def test_idempotency_store_errors_are_counted_by_both_users_of_the_store(emitted: Emitted) -> None:
    """Probe de-duplication (probe_provider) and Idempotency-Key replays of the run routes
    (store_result) use the same store (prompter.adapters.idempotency), which counts its failures."""
    assert emitted.services(MetricName.IDEMPOTENCY_STORE_ERRORS) == {
        "prompter-probe_provider",
        "prompter-store_result",
    }


def test_metrics_disabled_silences_dimensioned_metrics_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """POWERTOOLS_METRICS_DISABLED turns off every metric, also those emitted on their own with a
    dimension (Powertools' single_metric prints them regardless)."""
    from prompter.observability import add_metric

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    add_metric(MetricName.DB_UNIQUE_VIOLATION, table="prompt_templates")
    assert "_aws" not in capsys.readouterr().out
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    add_metric(MetricName.DB_UNIQUE_VIOLATION, table="prompt_templates")
    assert '"DbUniqueViolation"' in capsys.readouterr().out
