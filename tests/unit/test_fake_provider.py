"""The local fake provider answers list-style prompts like a model: numbered lists of the run's
tracked brands and other names, drawn per call, moved by the generation."""

from __future__ import annotations

from scipy.stats import binomtest

from prompter.analytics.analysis import Brand, analyse
from prompter.probing.providers import registry
from prompter.probing.providers.base import ChatRequest, Credentials
from prompter.probing.providers.fake import FakeProvider
from prompter.settings import ProviderSettings

BRANDS = ("Avea", "Elysium", "Timeline")
KEY = Credentials(api_key="unused")


def ask(fake: FakeProvider, prompt: str, country: str = "US", brands: tuple[str, ...] = BRANDS) -> str:
    request = ChatRequest(model_id="gpt-4o", user_prompt=prompt, country=country, tracked_brands=brands)
    return fake.chat(request, KEY, 1.0).content


def test_a_list_style_prompt_gets_a_numbered_list_the_analysis_ranks() -> None:
    fake = FakeProvider("openai")
    answers = [ask(fake, "Which longevity brands do you recommend?") for _ in range(30)]
    listed = [a for a in answers if a.startswith("Here are options")]
    assert listed, answers
    brands = [Brand(name, primary=name == "Avea") for name in BRANDS]
    sources = {b.rank_source for a in listed for b in analyse(a, brands).brands if b.mentioned}
    assert sources == {"numbered"}
    assert len(set(answers)) > 1  # samples differ


def test_other_prompts_and_runs_without_brands_are_echoed() -> None:
    fake = FakeProvider("openai")
    assert ask(fake, "Say hello in US.") == "[openai:gpt-4o] Say hello in US."
    assert ask(fake, "Which brands?", brands=()) == "[openai:gpt-4o] Which brands?"


def test_the_same_calls_get_the_same_answers() -> None:
    first, second = FakeProvider("openai"), FakeProvider("openai")
    assert [ask(first, "Top brands?") for _ in range(5)] == [ask(second, "Top brands?") for _ in range(5)]
    # calls with other prompts in between change nothing
    third, fresh = FakeProvider("openai"), FakeProvider("openai")
    mixed = []
    for _ in range(5):
        ask(third, "Top brands in DE?", country="DE")
        mixed.append(ask(third, "Top brands?"))
    assert mixed == [ask(fresh, "Top brands?") for _ in range(5)]


def test_inclusion_follows_its_probability_and_the_generation_moves_it() -> None:
    fake = FakeProvider("openai")
    chance = fake.inclusion("Avea", "US", "gpt-4o")
    assert 0.1 <= chance <= 0.9
    answers = [ask(fake, "Which brands would you recommend in the US?") for _ in range(400)]
    brands = [Brand(name, primary=name == "Avea") for name in BRANDS]
    mentioned = sum(analyse(a, brands).brands[0].mentioned for a in answers)
    assert binomtest(mentioned, 400, chance).pvalue > 1e-4  # the draws are what the fake says
    moved = {
        round(FakeProvider("openai", generation=g).inclusion(b, c, "gpt-4o"), 6)
        for g in (1, 2)
        for b in BRANDS
        for c in ("US", "DE")
    }
    assert len(moved) == 12  # brand, country and generation each change it


def test_the_generation_is_set_for_every_fake_and_starts_from_the_settings() -> None:
    registry.reset_fakes()
    settings = ProviderSettings.from_env({"PROMPTER_FAKE_GENERATION": "7"})
    adapter = registry.adapter("openai", settings)
    assert adapter is registry.fake("openai") and adapter.generation == 7
    assert registry.fake_generation(settings.fake_generation) == 7
    registry.set_fake_generation(9)
    assert registry.fake("openai").generation == 9 and registry.fake("google").generation == 9
    registry.reset_fakes()
    assert registry.adapter("openai", ProviderSettings.from_env({})).generation == 1
    registry.reset_fakes()
