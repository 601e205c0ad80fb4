"""Logs and traces of the synthesised functions follow the context: the Powertools log level, the
DEBUG sample rate (``log_debug_sample_rate``), the X-Ray SDK switch (``tracer``), active tracing;
and the layer ships the X-Ray SDK without the botocore it requires (the Lambda runtime's is used).

The session's stack (``conftest.py``) is synthesised with cdk.json's context; one more synthesis
here uses other values.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import cdk_json_context
from infra.constructs.function_context import (
    DEFAULT_LOG_DEBUG_SAMPLE_RATE,
    debug_sample_rate_of,
    tracer_of,
)
from infra.stack import PrompterStack
from prompter.routes import FUNCTIONS
from tests.infra.conftest import STAGE
from tests.infra.helpers import function_named, the

ALL_FUNCTIONS = (*FUNCTIONS, "migrate")


def environment(template: dict[str, Any], name: str) -> dict[str, str]:
    _, function = function_named(template, name)
    return dict(function["Properties"]["Environment"]["Variables"])


@pytest.fixture(scope="module")
def other_context_template() -> dict[str, Any]:
    context = {**cdk_json_context(), "log_debug_sample_rate": "0.25", "tracer": "true"}  # as `-c` gives
    app = cdk.App(context=context)
    stack = PrompterStack(app, f"Prompter-{STAGE}-traced", stage=STAGE)
    return dict(Template.from_stack(stack).to_json())


def test_cdk_json_holds_the_defaults() -> None:
    context = cdk_json_context()
    assert context["log_debug_sample_rate"] == DEFAULT_LOG_DEBUG_SAMPLE_RATE == 0.01
    assert context["tracer"] is False


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_every_function_logs_at_info_with_the_sample_rate_and_tracing_of_cdk_json(
    template: dict[str, Any], name: str
) -> None:
    env = environment(template, name)
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["POWERTOOLS_LOGGER_SAMPLE_RATE"] == "0.01"
    assert env["PROMPTER_TRACING"] == "false"
    _, function = function_named(template, name)
    props = function["Properties"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    # No Lambda log-level filtering: it would drop the sampled DEBUG lines (or, at DEBUG, override
    # POWERTOOLS_LOG_LEVEL and the root logger's level).
    assert props["LoggingConfig"]["LogFormat"] == "Text"
    assert "ApplicationLogLevel" not in props["LoggingConfig"]
    assert "SystemLogLevel" not in props["LoggingConfig"]


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_the_context_sets_the_sample_rate_and_the_tracer(
    other_context_template: dict[str, Any], name: str
) -> None:
    env = environment(other_context_template, name)
    assert env["POWERTOOLS_LOGGER_SAMPLE_RATE"] == "0.25"
    assert env["PROMPTER_TRACING"] == "true"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    _, function = function_named(other_context_template, name)
    assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0.01), (0, 0.0), (1, 1.0), ("0.5", 0.5), (0.001, 0.001), ("1e-3", 0.001)],
)
def test_sample_rate_values(value: object, expected: float) -> None:
    assert debug_sample_rate_of(value) == expected


@pytest.mark.parametrize("value", [-0.01, 1.5, "2", "abc", "nan", "inf", True, ""])
def test_sample_rate_outside_0_to_1_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"log_debug_sample_rate must be a number from 0 to 1"):
        debug_sample_rate_of(value)


def test_tracer_values() -> None:
    assert tracer_of(None) is False
    assert tracer_of(True) is True and tracer_of("true") is True and tracer_of("1") is True
    assert tracer_of(False) is False and tracer_of("False") is False and tracer_of("no") is False
    with pytest.raises(ValueError, match="tracer must be true or false, got 'sometimes'"):
        tracer_of("sometimes")


def test_a_bad_sample_rate_fails_the_synth() -> None:
    app = cdk.App(context={**cdk_json_context(), "log_debug_sample_rate": 5})
    with pytest.raises(ValueError, match=r"log_debug_sample_rate must be a number from 0 to 1.*got 5"):
        PrompterStack(app, f"Prompter-{STAGE}-bad", stage=STAGE)


def test_the_layer_ships_the_xray_sdk_but_not_botocore(template: dict[str, Any], outdir: Path) -> None:
    _, layer_version = the(template, "AWS::Lambda::LayerVersion", "DomainLayer")
    key = re.fullmatch(r"([0-9a-f]{64})\.zip", layer_version["Properties"]["Content"]["S3Key"])
    assert key, layer_version["Properties"]["Content"]
    site = outdir / f"asset.{key.group(1)}" / "python"
    assert (site / "aws_xray_sdk" / "core" / "__init__.py").is_file()
    assert list(site.glob("wrapt/_wrappers*.so")), "wrapt's extension, built for the layer's platform"
    # botocore (which aws-xray-sdk requires) and its urllib3 are the Lambda runtime's
    for provided in ("boto3", "botocore", "s3transfer", "urllib3"):
        assert not (site / provided).exists(), provided
        assert not list(site.glob(f"{provided}-*.dist-info")), provided
