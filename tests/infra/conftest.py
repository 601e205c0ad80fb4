"""One synthesis of the stack for the whole infra test session (synth costs seconds): every module
reads the same template and assembly directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import cdk_json_context
from infra.stack import PrompterStack

STAGE = "test"


@pytest.fixture(scope="session")
def synthesized() -> tuple[dict[str, Any], Path]:
    app = cdk.App(context=cdk_json_context())  # as `make synth` does: asset metadata for SAM included
    stack = PrompterStack(app, f"Prompter-{STAGE}", stage=STAGE)
    template = dict(Template.from_stack(stack).to_json())
    return template, Path(app.outdir)


@pytest.fixture(scope="session")
def template(synthesized: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return synthesized[0]


@pytest.fixture(scope="session")
def outdir(synthesized: tuple[dict[str, Any], Path]) -> Path:
    return synthesized[1]
