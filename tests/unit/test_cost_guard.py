"""The cost guard's rules on numbers of any size (a template stored before the body limits)."""

from __future__ import annotations

from prompter.registry.costguard import cost_problems

HUGE = 10**4000 - 1  # 4000 digits: no float holds it


def test_an_integer_of_any_size_is_compared_not_converted() -> None:
    assert cost_problems({"t": HUGE, "seed": -HUGE}) == []
    refused = cost_problems({"n": HUGE, "max_tokens": HUGE, "top_logprobs": -HUGE})
    assert [e.field for e in refused] == [
        "inference_params.n",
        "inference_params.max_tokens",
        "inference_params.top_logprobs",
    ]
