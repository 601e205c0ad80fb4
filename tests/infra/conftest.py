"""One synthesis of the stack for the whole infra test session (synth costs seconds): every module
reads the same template and assembly directory."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import cdk_json_context
from infra.stack import PrompterStack

STAGE = "test"


def synthesize(outdir: Path | None = None) -> tuple[dict[str, Any], Path]:
    app = cdk.App(  # as `make synth` does: asset metadata for SAM included
        context=cdk_json_context(), outdir=str(outdir) if outdir else None
    )
    stack = PrompterStack(app, f"Prompter-{STAGE}", stage=STAGE)
    template = dict(Template.from_stack(stack).to_json())
    return template, Path(app.outdir)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> tuple[dict[str, Any], Path]:
    """The stack, synthesised once per test run: under pytest-xdist the first worker that needs it
    synthesises into a directory the run's workers share, the others wait for it and read that."""
    if worker_id == "master":  # not distributed
        return synthesize()
    shared = tmp_path_factory.getbasetemp().parent / "synthesized"
    with (shared.parent / "synthesized.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = shared / "template.json"
        if saved.exists():
            return json.loads(saved.read_text(encoding="utf-8")), shared / "cdk.out"
        template, outdir = synthesize(shared / "cdk.out")
        saved.write_text(json.dumps(template), encoding="utf-8")
        return template, outdir


@pytest.fixture(scope="session")
def template(synthesized: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return synthesized[0]


@pytest.fixture(scope="session")
def outdir(synthesized: tuple[dict[str, Any], Path]) -> Path:
    return synthesized[1]
