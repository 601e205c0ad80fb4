#!/usr/bin/env bash
# Run the tests that exercise the interpreter rather than the tooling (unit, provider adapters and
# their stdlib HTTPS client, the API contract on SQLite and PostgreSQL) on another CPython version,
# in its own virtualenv .venv-<version> installed from requirements/dev.lock (the lock is universal).
#
#   scripts/test-python.sh 3.13 [pytest arguments...]
#   scripts/test-python.sh 3.13 --install-only      (only create or update the virtualenv)
#
# The interpreter is found as the layer build finds the one it compiles bytecode with
# (infra.layer.find_python: PROMPTER_LAYER_PYTHON, python<version> on PATH, then pyenv's). With
# none on the machine it prints one line saying so and succeeds. The main virtualenv's interpreter
# (PY, default .venv/bin/python) only runs the finder; it is never the one tested.
set -euo pipefail

version="${1:?usage: scripts/test-python.sh <major.minor> [pytest arguments...]}"
shift
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
UV="${UV:-.venv/bin/uv}"
install_only=false
if [[ "${1:-}" == "--install-only" ]]; then
    install_only=true
    shift
fi
venv=".venv-$version"
suites=(tests/unit tests/providers tests/contract)
# The Lambda runtime's interpreter talks to PostgreSQL only: SQLite (make dev's database) is tested on
# the main run's interpreter, so here the contract tests run on PostgreSQL.
select=(-k "not sqlite")

main_version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$main_version" == "$version" ]]; then
    $install_only || echo "test-$version: skipped, the main test run already uses Python $version ($PY)"
    exit 0
fi

if ! python="$(PYTHONPATH=. "$PY" -c "
import sys
from infra.layer import LayerBuildError, find_python
try:
    print(find_python(sys.argv[1]))
except LayerBuildError:
    sys.exit(1)
" "$version")"; then
    $install_only || echo "test-$version: skipped, no Python $version interpreter (looked for PROMPTER_LAYER_PYTHON, python$version on PATH, pyenv's $version.*)"
    exit 0
fi

stamp="$venv/.installed"
if [[ ! -x "$venv/bin/python" ]] || [[ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$version" ]]; then
    rm -rf "$venv"
    "$UV" venv --quiet --python "$python" "$venv"
fi
if [[ ! -f "$stamp" || requirements/dev.lock -nt "$stamp" ]]; then
    echo "test-$version: installing requirements/dev.lock into $venv ($python)"
    # Not byte-compiled up front (over a minute of two cores for the whole lock): the run below
    # writes the bytecode of what it imports, whatever PYTHONDONTWRITEBYTECODE says.
    "$UV" pip install --quiet --python "$venv/bin/python" -r requirements/dev.lock
    touch "$stamp"
fi
if $install_only; then
    exit 0
fi

echo "test-$version: ${suites[*]} (PostgreSQL) on $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
started=$SECONDS
# A quarter of the generated examples (tests/examples.py, the fuzz's PROMPTER_FUZZ_EXAMPLES), and the
# fuzz on the deployed configuration only (PostgreSQL, auth on): this run checks the interpreter; the
# main run draws every example on every target.
env -u PYTHONDONTWRITEBYTECODE PROMPTER_HYPOTHESIS_SHARE=0.25 PROMPTER_FUZZ_EXAMPLES=10 \
    PROMPTER_FUZZ_TARGETS=postgresql-auth \
    "$venv/bin/python" -m pytest -n auto --dist loadfile -p no:cacheprovider "${select[@]}" "${suites[@]}" "$@"
echo "test-$version: done in $((SECONDS - started)) s"
