"""Template identity (SPEC §2.1, §2.3), driven by the golden vectors and by Hypothesis properties."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prompter.errors import InvalidInput
from prompter.registry.identity import (
    CANONICAL_FIELDS,
    canonical_config,
    canonical_json,
    config_hash,
    effective_provider,
    hash_canonical,
    infer_provider,
    normalize_text,
)
from tests.conftest import VECTORS_PATH
from tests.examples import examples

VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
CASES = {case["name"]: case for case in VECTORS["config_hash_cases"]}
BASE = CASES["base"]["request"]


@pytest.mark.parametrize("case", VECTORS["config_hash_cases"], ids=lambda c: c["name"])
def test_golden_canonical_object_and_hash(case: dict[str, Any]) -> None:
    # Given a create-template body from the earlier service, When it is canonicalised,
    canonical = canonical_config(case["request"])
    # Then the canonical object, its key order and its hash are the ones the earlier service computed.
    assert canonical == case["canonical"]
    assert list(canonical) == list(CANONICAL_FIELDS)
    assert hash_canonical(canonical) == case["config_hash"]
    assert config_hash(case["request"]) == case["config_hash"]


@pytest.mark.parametrize("group", VECTORS["equal_hash_groups"], ids=lambda g: "=".join(g))
def test_equal_hash_groups(group: list[str]) -> None:
    hashes = {config_hash(CASES[name]["request"]) for name in group}
    assert len(hashes) == 1


def test_groups_hash_apart() -> None:
    representatives = {config_hash(CASES[group[0]]["request"]) for group in VECTORS["equal_hash_groups"]}
    assert len(representatives) == len(VECTORS["equal_hash_groups"])


@pytest.mark.parametrize(("model_id", "provider"), sorted(VECTORS["infer_provider"].items()))
def test_infer_provider(model_id: str, provider: str) -> None:
    expected = None if provider == "unknown" else provider
    assert infer_provider(model_id) == expected


@pytest.mark.parametrize(
    "model_id", ["sonar", "sonar-pro", "sonar-reasoning-pro", "sonar-deep-research", " Sonar-Pro "]
)
def test_sonar_models_belong_to_perplexity(model_id: str) -> None:
    assert infer_provider(model_id) == "perplexity"
    assert effective_provider(None, model_id) == "perplexity"
    assert effective_provider("perplexity", model_id) == "perplexity"


def test_perplexity_cannot_serve_another_vendors_model() -> None:
    with pytest.raises(InvalidInput) as raised:
        effective_provider("perplexity", "gpt-4o")
    assert [e.field for e in raised.value.errors] == ["provider"]
    with pytest.raises(InvalidInput):
        effective_provider("openai", "sonar-pro")


def test_unknown_model_without_provider_names_model_id() -> None:
    with pytest.raises(InvalidInput) as raised:
        effective_provider(None, "llama-3-70b")
    assert [e.field for e in raised.value.errors] == ["model_id"]
    assert effective_provider("bedrock", "llama-3-70b") == "bedrock"


def test_serialisation_is_compact_utf8() -> None:
    canonical = canonical_config(CASES["unicode_text"]["request"])
    text = canonical_json(canonical)
    assert "Zürich" in text and "日本語" in text
    assert ", " not in text and ": " not in text


def test_bad_countries_are_named_by_index() -> None:
    body = {**BASE, "country_set": ["US", "XX", "usa", " gb "]}
    with pytest.raises(InvalidInput) as raised:
        canonical_config(body)
    assert [e.field for e in raised.value.errors] == ["country_set[1]", "country_set[2]"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_params_are_rejected_with_their_path(bad: float) -> None:
    body = {**BASE, "inference_params": {"nested": {"t": [1, bad]}}}
    with pytest.raises(InvalidInput) as raised:
        canonical_config(body)
    assert [e.field for e in raised.value.errors] == ["inference_params.nested.t[1]"]


def test_empty_prompt_text_is_rejected() -> None:
    with pytest.raises(InvalidInput) as raised:
        canonical_config({**BASE, "user_prompt_template": " \t\r\n "})
    assert [e.field for e in raised.value.errors] == ["user_prompt_template"]


def test_placeholders_are_kept_verbatim() -> None:
    assert normalize_text("Top {{brand}}  in {{ country }}") == "Top {{brand}} in {{ country }}"


# ------------------------------------------------------------------ properties

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e6, max_value=1e6),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
params = st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=4)


def _shuffled(value: Any, rnd: Any) -> Any:
    """The same JSON value with every dict's key order permuted."""
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: _shuffled(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


@settings(max_examples=examples(150))
@given(inference=params, retrieval=params, response_format=params, rnd=st.randoms(use_true_random=False))
def test_key_order_never_changes_the_hash(
    inference: dict[str, Any], retrieval: dict[str, Any], response_format: dict[str, Any], rnd: Any
) -> None:
    body = {
        **BASE,
        "inference_params": inference,
        "retrieval_params": retrieval,
        "response_format": response_format,
        "tools_spec": [response_format, inference],
    }
    assert config_hash(_shuffled(body, rnd)) == config_hash(body)


words = st.lists(st.text(alphabet="abcXYZ{}_.!?é日", min_size=1, max_size=6), min_size=1, max_size=6)


@settings(max_examples=examples(150))
@given(
    lines=st.lists(words, min_size=1, max_size=4),
    gaps=st.lists(st.text(alphabet=" \t", min_size=1, max_size=4), min_size=40, max_size=40),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_whitespace_runs_never_change_the_hash(lines: list[list[str]], gaps: list[str], newline: str) -> None:
    tidy = "\n".join(" ".join(line) for line in lines)
    gap = iter(gaps * 4)
    messy = next(gap) + newline.join(next(gap).join(line) for line in lines) + next(gap)
    a = {**BASE, "user_prompt_template": tidy, "system_instructions": tidy}
    b = {**BASE, "user_prompt_template": messy, "system_instructions": " " + messy + "\t"}
    assert config_hash(a) == config_hash(b)


GENERATION_CHANGES: dict[str, Any] = {
    "system_instructions": "Be verbose.",
    "user_prompt_template": "List top 5 brands.",
    "country_set": ["US", "DE"],
    "model_id": "gpt-4o-mini",
    "inference_params": {"temperature": 0.2, "max_tokens": 128},
    "tools_spec": [{"type": "function", "function": {"name": "search"}}],
    "response_format": {"type": "json_object"},
    "grounding_profile_id": "gp-1",
    "grounding_snapshot_id": "snap-1",
    "retrieval_params": {"top_k": 3},
    "preprocess_pipeline_id": "pre-1",
    "postprocess_pipeline_id": "post-1",
}


def test_every_generation_field_is_in_the_identity() -> None:
    assert set(GENERATION_CHANGES) == set(CANONICAL_FIELDS)


@pytest.mark.parametrize("field", sorted(GENERATION_CHANGES))
def test_changing_a_generation_field_changes_the_hash(field: str) -> None:
    changed = {**copy.deepcopy(BASE), field: GENERATION_CHANGES[field]}
    assert config_hash(changed) != config_hash(BASE)


@settings(max_examples=examples(100))
@given(
    org_id=st.text(max_size=10),
    workspace_id=st.text(max_size=10),
    name=st.text(max_size=10),
    provider=st.sampled_from(["openai", "google", "anthropic", "bedrock", None]),
    created_by=st.none() | st.text(max_size=10),
    aliases=st.lists(st.text(max_size=5), max_size=3),
)
def test_scope_fields_never_enter_the_hash(
    org_id: str,
    workspace_id: str,
    name: str,
    provider: str | None,
    created_by: str | None,
    aliases: list[str],
) -> None:
    scoped = {
        **BASE,
        "org_id": org_id,
        "workspace_id": workspace_id,
        "name": name,
        "provider": provider,
        "created_by": created_by,
        "brand_names": aliases,
        "aliases": aliases,
    }
    assert config_hash(scoped) == CASES["base"]["config_hash"]


@settings(max_examples=examples(100))
@given(value=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_float_rounding_is_idempotent_and_integral_floats_are_ints(value: float) -> None:
    once = canonical_config({**BASE, "inference_params": {"x": value}})["inference_params"]["x"]
    twice = canonical_config({**BASE, "inference_params": {"x": once}})["inference_params"]["x"]
    assert once == twice
    if isinstance(once, float):
        assert not once.is_integer()
