"""cdk-nag's AwsSolutions pack passes with zero unacknowledged findings, every acknowledgement names a
construct that exists and a finding that is really raised, and says why it is accepted.

Nag runs on apps of its own (never on the session synth the assertion tests read): one with the
acknowledgements of infra/nag.py, checked both directly (``validate_scope``, for a readable list)
and through a real synthesis (the policy-validation plugin fails the synth on any finding), and one
without them, to show the pack is live and that no acknowledgement is stale.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from infra.nag import Acknowledgement, acknowledge, acknowledgements, enable_nag
from infra.stack import PrompterStack
from tests.infra.conftest import STAGE


@dataclass(frozen=True)
class Finding:
    rule: str  # the full finding id, e.g. "AwsSolutions-IAM5[Resource::*]"
    path: str  # construct path of the CfnResource, relative to the stack
    severity: str


def findings(report: Any, stack: cdk.Stack) -> list[Finding]:
    prefix = stack.node.path + "/"
    return [
        Finding(violation.rule_name, resource.construct_path.removeprefix(prefix), str(violation.severity))
        for violation in report.violations
        for resource in violation.violating_resources
    ]


def new_app() -> tuple[cdk.App, PrompterStack]:
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="nag-"))
    return app, PrompterStack(app, f"Prompter-{STAGE}", stage=STAGE)


@pytest.fixture(scope="module")
def acknowledged() -> tuple[cdk.App, PrompterStack, list[Acknowledgement]]:
    app, stack = new_app()
    missing = acknowledge(stack, stage=STAGE)
    enable_nag(app)
    return app, stack, missing


@pytest.fixture(scope="module")
def raw_findings() -> list[Finding]:
    """What the pack reports with no acknowledgement at all."""
    app, stack = new_app()
    return findings(AwsSolutionsChecks(app).validate_scope(app), stack)


def describe(found: list[Finding]) -> str:
    return "\n".join(f"  {f.severity:7} {f.rule} at {f.path}" for f in found)


def test_no_unacknowledged_finding(
    acknowledged: tuple[cdk.App, PrompterStack, list[Acknowledgement]],
) -> None:
    app, stack, _ = acknowledged
    # When the pack checks the acknowledged app
    report = AwsSolutionsChecks(app).validate_scope(app)
    # Then nothing is left, errors and warnings alike
    left = findings(report, stack)
    assert not left, (
        "unacknowledged cdk-nag findings (fix them, or acknowledge in infra/nag.py):\n" + describe(left)
    )
    assert report.success


def test_synth_with_nag_on_succeeds(
    acknowledged: tuple[cdk.App, PrompterStack, list[Acknowledgement]],
) -> None:
    app, _, _ = acknowledged
    # The plugin registered by enable_nag raises on any finding during synthesis.
    assembly = app.synth()
    assert assembly.get_stack_by_name(f"Prompter-{STAGE}").template["Resources"]


def test_every_acknowledgement_names_an_existing_construct(
    acknowledged: tuple[cdk.App, PrompterStack, list[Acknowledgement]],
) -> None:
    _, _, missing = acknowledged
    assert not missing, "acknowledgements for constructs that no longer exist: " + ", ".join(
        f"{a.path} {a.rule}" for a in missing
    )


def test_every_acknowledgement_has_a_reason(
    acknowledged: tuple[cdk.App, PrompterStack, list[Acknowledgement]],
) -> None:
    _, stack, _ = acknowledged
    acks = acknowledgements(stack, stage=STAGE)
    assert acks
    for ack in acks:
        assert ack.rule.startswith("AwsSolutions-"), ack
        assert len(ack.reason.strip()) >= 40, f"{ack.rule} at {ack.path}: the reason must say why"
    pairs = [(a.path, a.rule) for a in acks]
    assert len(pairs) == len(set(pairs)), "duplicate acknowledgements"


def test_the_pack_is_live_and_no_acknowledgement_is_stale(
    acknowledged: tuple[cdk.App, PrompterStack, list[Acknowledgement]], raw_findings: list[Finding]
) -> None:
    # Without the acknowledgements the pack reports findings (so the check above can fail) ...
    assert raw_findings
    # ... and each acknowledgement covers at least one of them: one that covers nothing is a
    # finding that was fixed, and its acknowledgement should go.
    _, stack, _ = acknowledged
    stale = [
        ack
        for ack in acknowledgements(stack, stage=STAGE)
        if not any(
            f.rule == ack.rule and (f.path == ack.path or f.path.startswith(ack.path + "/"))
            for f in raw_findings
        )
    ]
    assert not stale, "acknowledgements that match no finding: " + ", ".join(
        f"{a.path} {a.rule}" for a in stale
    )
