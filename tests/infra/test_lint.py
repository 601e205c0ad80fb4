"""cfn-lint finds no error in the synthesised template (the session synth's cdk.out/<stack>.template.json,
including the ``AWS::SecretsManager-2024-09-16`` transform that hosted rotation adds), and no warning
outside the short list below, each with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, Match, lint_file

from tests.infra.conftest import STAGE

# Warnings accepted, by rule id, with the reason. Anything else fails the test.
IGNORED_WARNINGS = {
    "W3005": "CDK writes an explicit DependsOn next to the Ref/GetAtt it generates (a role before its "
    "function, the cluster before the proxy target group, migrations before the functions): redundant, "
    "harmless, and not under the app's control.",
}
REGIONS = ["us-east-1"]


@pytest.fixture(scope="module")
def matches(outdir: Path) -> list[Match]:
    template = outdir / f"Prompter-{STAGE}.template.json"
    assert template.is_file(), f"no synthesised template at {template}"
    return lint_file(template, config=ManualArgs(regions=REGIONS))


def describe(found: list[Match]) -> str:
    return "\n".join(f"  {m.rule.id} line {m.linenumber}: {m.message}" for m in found)


def test_the_template_uses_the_rotation_transform(outdir: Path) -> None:
    # The hosted-rotation transform is what cfn-lint must understand for the checks below to mean anything.
    text = (outdir / f"Prompter-{STAGE}.template.json").read_text(encoding="utf-8")
    assert "AWS::SecretsManager-2024-09-16" in text


def test_no_errors(matches: list[Match]) -> None:
    errors = [m for m in matches if m.rule.severity == "error"]
    assert not errors, "cfn-lint errors:\n" + describe(errors)


def test_no_unlisted_warnings(matches: list[Match]) -> None:
    warnings = [m for m in matches if m.rule.severity == "warning" and m.rule.id not in IGNORED_WARNINGS]
    assert not warnings, "cfn-lint warnings (fix, or list in IGNORED_WARNINGS with a reason):\n" + describe(
        warnings
    )


def test_every_ignored_warning_has_a_reason() -> None:
    for rule, reason in IGNORED_WARNINGS.items():
        assert rule.startswith("W"), f"{rule}: only warnings may be ignored"
        assert len(reason) >= 40, f"{rule}: say why it is accepted"
