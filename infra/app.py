"""CDK entry point: ``python infra/app.py`` (what ``make synth`` and the ``cdk`` CLI run).

Synthesises offline: the stack is environment-agnostic and does no lookups, so no AWS credentials
are needed. The ``cdk`` CLI injects ``cdk.json`` context itself; a plain ``python infra/app.py``
does not, so the context is read here and passed to the App as defaults (context given on the CLI,
e.g. ``cdk synth -c stage=prod``, still wins).

cdk-nag's AwsSolutions pack is always on (``infra/nag.py``): an unacknowledged finding fails the
synthesis, and every acknowledgement carries its reason.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


def _fix_sys_path() -> None:
    """``python infra/app.py`` puts ``infra/`` first on ``sys.path``, where ``infra/constructs``
    would shadow the ``constructs`` library that aws-cdk-lib imports. Drop it and import the app's
    modules as ``infra.*`` from the repository root; ``shared/`` provides the ``prompter`` package
    (the route table)."""
    sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != INFRA]
    for path in (ROOT / "shared", ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text(encoding="utf-8")).get("context", {}))


def stage_of(value: object) -> str:
    stage = str(value)
    if not STAGE_PATTERN.match(stage):
        raise ValueError(
            f"stage {stage!r} must match {STAGE_PATTERN.pattern}: it names the stack and the API stage"
        )
    return stage


def origins_of(value: object) -> list[str]:
    """A list from cdk.json, or ``-c cors_allow_origins=https://a.example,https://b.example``."""
    if isinstance(value, str):
        value = json.loads(value) if value.startswith("[") else value.split(",")
    if not isinstance(value, list) or not value or not all(isinstance(o, str) and o for o in value):
        raise ValueError(f"cors_allow_origins must be a non-empty list of origins, got {value!r}")
    return [o.strip() for o in value]


def number_of(name: str, value: object, default: float) -> float:
    if value is None:
        return default
    try:
        return float(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def int_of(name: str, value: object, default: int) -> int:
    number = number_of(name, value, default)
    if number != int(number):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def main() -> None:
    _fix_sys_path()

    import aws_cdk as cdk

    from infra.constructs.database import DatabaseOptions
    from infra.constructs.function_context import bool_of
    from infra.nag import acknowledge, enable_nag
    from infra.stack import PrompterStack

    app = cdk.App(
        context=cdk_json_context(),
        # The CLI tells the app where it expects the assembly; on its own, synthesise into cdk.out/.
        outdir=os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out"),
    )
    context = app.node.try_get_context
    stage = stage_of(context("stage") or "dev")
    stack = PrompterStack(
        app,
        f"Prompter-{stage}",
        stage=stage,
        description=f"Prompter prompt-template registry ({stage})",
        cors_allow_origins=origins_of(context("cors_allow_origins") or ["*"]),
        throttle_rate_limit=float(context("api_throttle_rate_limit") or 50),
        throttle_burst_limit=int(context("api_throttle_burst_limit") or 100),
        database=DatabaseOptions(
            min_acu=number_of("db_min_acu", context("db_min_acu"), 0.5),
            max_acu=number_of("db_max_acu", context("db_max_acu"), 2),
            deletion_protection=bool_of("db_deletion_protection", context("db_deletion_protection"), True),
            backup_retention_days=int_of("db_backup_retention_days", context("db_backup_retention_days"), 7),
            nat_gateways=int_of("nat_gateways", context("nat_gateways"), 1),
            interface_endpoints=bool_of("interface_endpoints", context("interface_endpoints"), True),
        ),
        sweep_rate_minutes=int_of("sweep_rate_minutes", context("sweep_rate_minutes"), 60),
        alarm_email=str(context("alarm_email") or ""),
    )
    missing = acknowledge(stack, stage=stage)
    if missing:
        raise LookupError(
            "cdk-nag acknowledgements name constructs that do not exist (renamed? update infra/nag.py): "
            + ", ".join(f"{a.path} {a.rule}" for a in missing)
        )
    enable_nag(app)
    app.synth()


if __name__ == "__main__":
    main()
