"""``make sam-env``: the ``env.json`` that makes ``sam local invoke`` and ``sam local start-api``
serve the synthesised stack on a developer's machine.

SAM CLI's ``--env-vars`` file maps a function's logical id to ``{VARIABLE: value}``, and SAM
applies only the variables the function's template declares (an entry for any other name is
ignored). Deployed, the functions require a Cognito identity, read the database credentials from
a secret, call the real providers and name AWS resources that do not exist locally (SAM turns a
``Ref`` into the resource's logical id). So every variable the template declares for a Prompter
function gets a value here, by name in :data:`LOCAL_VALUES` or kept as the template has it in
:data:`KEPT`; a variable in neither fails the build of the file instead of reaching a container
unchecked. Because every declared variable is overridden, nothing from the developer's shell (which
SAM also applies to declared names) reaches the functions either.

Locally: auth off, fake providers, ``DATABASE_URL`` (declared empty by the stack for this) from the
environment or ``make sam-env DATABASE_URL=...``, by default a PostgreSQL on the Docker host as seen
from inside SAM's container; no secret ARNs; no idempotency table (probes are not de-duplicated, an
``Idempotency-Key`` is not replayed); no state machines (``POST .../runs`` answers 503
``WORKFLOW_UNAVAILABLE``, a re-analysis does every page in the request); no work bucket (the
``sweep_targets`` and ``plan_run`` tasks fail with ``WorkListUnavailable``); no payload bucket
(results' request and response JSON are files under the container's ``/tmp``); model version change
and visibility shift events go to an event bus name no stack creates, so credentials SAM passes
into the container publish nothing. Monitors: no Scheduler (nothing fires a monitor by itself;
its trigger route and a firing need the state machines: 503 ``WORKFLOW_UNAVAILABLE``), no alerts
queue (a failed alert's back-off is the queue's own), and alert signing secrets under a prefix of their own
(:data:`LOCAL_ALERT_SECRET_PREFIX`), written with whatever credentials SAM passes (without any, a
monitor with a webhook is a 503 ``ALERT_SECRET_UNAVAILABLE``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "env.json"
DEFAULT_STAGE = "dev"
# A PostgreSQL on the machine running Docker, as a container reaches it (Docker Desktop names the
# host host.docker.internal; on Linux, `--add-host host.docker.internal:<docker0 address>`).
DEFAULT_DATABASE_URL = "postgresql+pg8000://prompter:prompter@host.docker.internal:5432/prompter"
# No stack creates a bus of this name: PutEvents fails (counted in DriftEventPublishFailures).
LOCAL_EVENT_BUS = "prompter-sam-local"
# Not a deployed stage's prefix: a secret written under sam local never signs a deployed alert.
LOCAL_ALERT_SECRET_PREFIX = "prompter/sam-local/monitors"  # noqa: S105 - a name prefix, not a secret
# Where results' request and response JSON go under sam local: Lambda's writable /tmp (the layer's
# own folder is read-only), for as long as the container lives.
LOCAL_PAYLOAD_DIR = "/tmp/prompter-payloads"  # noqa: S108 - the container's scratch space, by design
# Hosts that, inside SAM's container, are the container itself.
CONTAINER_LOOPBACK = {"localhost", "127.0.0.1", "::1"}

# Variables whose deployed value must not be used locally, and what they are instead.
LOCAL_VALUES: dict[str, str] = {
    "PROMPTER_REQUIRE_AUTH": "false",
    "PROMPTER_ENV": "local",
    "DD_ENV": "local",  # Datadog's env tag, as PROMPTER_ENV
    "PROMPTER_TRACING": "false",  # no X-Ray daemon next to SAM's container
    "PROMPTER_DB_SECRET_ARN": "",
    "PROMPTER_DB_HOST": "",
    "PROMPTER_DB_NAME": "",
    "PROMPTER_DB_SSL": "false",
    "PROMPTER_PROVIDER_MODE": "fake",
    "PROMPTER_OPENAI_SECRET_ARN": "",
    "PROMPTER_AZURE_OPENAI_SECRET_ARN": "",
    "PROMPTER_GOOGLE_SECRET_ARN": "",
    "PROMPTER_ANTHROPIC_SECRET_ARN": "",
    "PROMPTER_PERPLEXITY_SECRET_ARN": "",
    "PROMPTER_BEDROCK_REGION": "",
    "PROMPTER_IDEMPOTENCY_TABLE": "",
    "PROMPTER_BUDGET_TABLE": "",  # in-process rate budgets
    "PROMPTER_EVENT_BUS_NAME": LOCAL_EVENT_BUS,
    "PROMPTER_WORK_BUCKET": "",
    "PROMPTER_PAYLOAD_BUCKET": "",  # results' payloads in a folder of the container instead
    "PROMPTER_PAYLOAD_DIR": LOCAL_PAYLOAD_DIR,
    "PROMPTER_RUN_BATCH_STATE_MACHINE_ARN": "",
    "PROMPTER_REANALYZE_STATE_MACHINE_ARN": "",
    "PROMPTER_EXPORT_STATE_MACHINE_ARN": "",
    "PROMPTER_EXPORT_BUCKET": "",  # the export's files under the local export folder
    "PROMPTER_SCHEDULE_GROUP": "",
    "PROMPTER_SCHEDULER_ROLE_ARN": "",
    "PROMPTER_MONITOR_TARGET_ARN": "",
    "PROMPTER_SCHEDULER_DEAD_LETTER_ARN": "",
    "PROMPTER_ALERT_SECRET_PREFIX": LOCAL_ALERT_SECRET_PREFIX,
    "PROMPTER_ALERT_QUEUE_URL": "",
}
DATABASE_VARIABLE = "DATABASE_URL"
# Variables whose deployed (literal) value is right locally too.
KEPT = frozenset(
    {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "DD_SERVICE",  # Datadog's unified service tags: the function and its code's version
        "DD_VERSION",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_LOGGER_SAMPLE_RATE",
        "PROMPTER_CORS_ALLOW_ORIGINS",
        "PROMPTER_DB_POOL_SIZE",
        "PROMPTER_EXPORT_DIR",  # the container's /tmp
    }
)


class SamEnvError(ValueError):
    """The template or the database URL cannot give a working env.json."""


def template_path(stage: str = DEFAULT_STAGE) -> Path:
    return ROOT / "cdk.out" / f"Prompter-{stage}.template.json"


def prompter_functions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> declared environment of every function built from ``functions/<name>``
    (``POWERTOOLS_SERVICE_NAME`` ``prompter-<name>``); the CDK's own Node.js custom-resource
    handlers are not Prompter code and get nothing."""
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if str(variables.get("POWERTOOLS_SERVICE_NAME", "")).startswith("prompter-"):
            found[logical_id] = dict(variables)
    return found


def check_database_url(url: str) -> list[str]:
    """Warnings about ``url`` as seen from inside SAM's container; a URL no function can use is an error."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise SamEnvError(f"DATABASE_URL is not a database URL: {error}") from None
    if parsed.get_backend_name() != "postgresql":
        raise SamEnvError(
            f"DATABASE_URL must name a PostgreSQL database (got {parsed.get_backend_name()!r}): "
            "a SQLite file on this machine is not inside SAM's container"
        )
    if parsed.host in CONTAINER_LOOPBACK:
        return [
            f"DATABASE_URL names {parsed.host}: inside SAM's container that is the container itself; "
            "use host.docker.internal (or the Docker host's address) for a PostgreSQL on this machine"
        ]
    return []


def env_json(template: Mapping[str, Any], database_url: str) -> dict[str, dict[str, str]]:
    """``{logical id: {variable: local value}}`` for every Prompter function, covering every
    variable its template declares."""
    functions = prompter_functions(template)
    if not functions:
        raise SamEnvError("the template has no Prompter functions (is it the synthesised stack?)")
    out: dict[str, dict[str, str]] = {}
    for logical_id, declared in sorted(functions.items()):
        if DATABASE_VARIABLE not in declared:
            raise SamEnvError(
                f"{logical_id} does not declare {DATABASE_VARIABLE}: SAM would not apply it "
                "(the stack declares it empty on every function: run `make synth` again)"
            )
        values: dict[str, str] = {}
        for name, value in sorted(declared.items()):
            if name == DATABASE_VARIABLE:
                values[name] = database_url
            elif name in LOCAL_VALUES:
                values[name] = LOCAL_VALUES[name]
            elif name in KEPT and isinstance(value, str):
                values[name] = value
            else:
                raise SamEnvError(
                    f"{logical_id} declares {name} = {json.dumps(value)}: give it a local value in "
                    "local/sam_env.py (LOCAL_VALUES), or keep a literal value (KEPT)"
                )
        out[logical_id] = values
    return out


def write(
    template_file: Path, database_url: str, out: Path = OUT
) -> tuple[dict[str, dict[str, str]], list[str]]:
    if not template_file.is_file():
        raise SamEnvError(f"no synthesised template at {template_file}: run `make synth` first")
    template = json.loads(template_file.read_text(encoding="utf-8"))
    warnings = check_database_url(database_url)
    content = env_json(template, database_url)
    out.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return content, warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.sam_env", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default=os.environ.get("STAGE") or DEFAULT_STAGE)
    parser.add_argument("--template", type=Path, help="default: cdk.out/Prompter-<stage>.template.json")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    database_url = os.environ.get(DATABASE_VARIABLE) or DEFAULT_DATABASE_URL
    try:
        content, warnings = write(args.template or template_path(args.stage), database_url, args.out)
    except SamEnvError as error:
        print(f"sam-env: {error}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"sam-env: warning: {warning}", file=sys.stderr)
    shown = make_url(database_url).render_as_string(hide_password=True)
    print(f"wrote {args.out.name} (DATABASE_URL {shown}) for the functions (logical id, code):")
    for logical_id, values in content.items():
        print(f"  {logical_id}  functions/{values['POWERTOOLS_SERVICE_NAME'].removeprefix('prompter-')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
