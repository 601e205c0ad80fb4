"""`make test` also runs the unit, provider and contract tests on the Lambda runtime's Python (the
version the layer is built for), in its own virtualenv, and says so in one line when the machine
has no such interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra import layer
from infra.constructs.functions import RUNTIME

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "test-python.sh"


def recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"{target}:")))
    found = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        found.append(line.strip())
    return found


def run(version: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMPTER_LAYER_PYTHON"}
    env |= {"PY": sys.executable, "PYENV_ROOT": str(tmp_path / "no-pyenv")}
    return subprocess.run(
        ["bash", str(SCRIPT), version], capture_output=True, text=True, check=False, env=env, timeout=60
    )


def test_the_runtime_is_the_python_the_layer_is_built_for() -> None:
    assert layer.PYTHON_VERSION == "3.13"
    assert RUNTIME.name == f"python{layer.PYTHON_VERSION}"


def test_make_test_ends_with_the_run_on_the_runtime_python() -> None:
    version = layer.PYTHON_VERSION
    assert recipe("test")[0] == f"@$(MAKE) --no-print-directory -j3 $(STAMP) venv-{version} packages"
    assert recipe("test")[-1] == f"@$(MAKE) --no-print-directory test-{version}"
    assert recipe(f"venv-{version}") == [
        f"@PY=$(PY) UV=$(UV) bash scripts/test-python.sh {version} --install-only"
    ]
    assert recipe(f"test-{version}") == [f"@PY=$(PY) UV=$(UV) bash scripts/test-python.sh {version}"]


def test_the_extra_run_covers_unit_provider_and_contract_tests() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    assert "suites=(tests/unit tests/providers tests/contract)" in text
    assert "-r requirements/dev.lock" in text


def test_without_the_interpreter_it_is_one_line_and_no_failure(tmp_path: Path) -> None:
    done = run("3.99", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "test-3.99: skipped, no Python 3.99 interpreter "
        "(looked for PROMPTER_LAYER_PYTHON, python3.99 on PATH, pyenv's 3.99.*)"
    ]
    assert not (ROOT / ".venv-3.99").exists()


def test_the_main_interpreter_is_not_run_twice(tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    done = run(version, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"test-{version}: skipped, the main test run already uses Python {version}")


def test_the_extra_virtualenv_is_not_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", f".venv-{layer.PYTHON_VERSION}/bin/python"],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )
    assert ignored.returncode == 0, ".gitignore must list .venv-*/"
