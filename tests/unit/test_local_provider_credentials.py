"""Locally, a provider's key and base URL from the environment (SPEC §4): read into the adapter's
credentials, never shown by the settings, and a bad base URL named without its value."""

from __future__ import annotations

import pytest

from prompter.errors import ProviderNotConfigured
from prompter.probing.providers import registry
from prompter.settings import ProviderSettings

KEY = "sk-unit-canary-0042"


def test_the_environments_key_and_endpoint_become_the_credentials() -> None:
    settings = ProviderSettings.from_env(
        {
            "PROMPTER_PROVIDER_MODE": "real",
            "PROMPTER_AZURE_OPENAI_API_KEY": KEY,
            "PROMPTER_AZURE_OPENAI_ENDPOINT": "https://my-resource.openai.azure.com/",
        }
    )
    found = registry.credentials("azure-openai", settings)
    assert (found.api_key, found.endpoint) == (KEY, "https://my-resource.openai.azure.com/")
    # The key shows in neither the settings' nor the credentials' text
    assert KEY not in repr(settings) and KEY not in str(settings) and KEY not in repr(found)
    assert KEY not in settings.model_dump_json()


def test_a_provider_without_a_key_names_the_variables_to_set() -> None:
    settings = ProviderSettings.from_env({"PROMPTER_PROVIDER_MODE": "real", "PROMPTER_OPENAI_API_KEY": KEY})
    with pytest.raises(ProviderNotConfigured) as raised:
        registry.credentials("anthropic", settings)
    assert "PROMPTER_ANTHROPIC_API_KEY" in str(raised.value) and KEY not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["gateway.example.com", "ftp://gateway.example.com", "https://user:pw@gw.example.com", "https://"]
)
def test_a_bad_endpoint_is_a_settings_problem_naming_the_variable(url: str) -> None:
    problems = ProviderSettings.problems({"PROMPTER_GOOGLE_ENDPOINT": url})
    assert [line.split(":")[0] for line in problems] == ["PROMPTER_GOOGLE_ENDPOINT"]
    assert all("pw@" not in line for line in problems)
