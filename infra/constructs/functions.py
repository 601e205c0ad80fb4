"""The Lambda functions and the domain layer they share.

One helper, :meth:`PrompterFunctions.build_function`, builds every function, so runtime,
architecture, logging, layer and environment are decided in one place. Only functions that serve
at least one route of ``prompter.routes.ROUTES`` are built for now: ``probe_provider`` and
``store_result`` have no routes and no handler yet (they arrive with their routes and with the
workflows, which will call the same helper).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
)
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from prompter.routes import FUNCTIONS, ROUTES, Route

ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = ROOT / "shared"
FUNCTIONS_DIR = ROOT / "functions"
DOMAIN_PACKAGE = "prompter"

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "handler.lambda_handler"
METRICS_NAMESPACE = "Prompter"
# API Gateway REST integrations time out after 29 s: an API function never needs longer.
API_TIMEOUT = Duration.seconds(29)
API_MEMORY_MB = 512
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Never ship local bytecode caches (they are built for the developer's interpreter).
ASSET_EXCLUDES = ["__pycache__", "*.pyc"]


def functions_with_routes(routes: Iterable[Route] = ROUTES, names: Sequence[str] = FUNCTIONS) -> list[str]:
    """The functions that serve at least one route, in ``FUNCTIONS`` order.

    A route naming a function that ``FUNCTIONS`` does not list is a mistake in the route table:
    fail the synth rather than deploy an API with a dangling integration.
    """
    routed = {route.function for route in routes}
    unknown = sorted(routed - set(names))
    if unknown:
        raise ValueError(f"routes name unknown functions {unknown}; FUNCTIONS lists {list(names)}")
    return [name for name in names if name in routed]


@jsii.implements(ILocalBundling)
class CopyDomainPackage:
    """Local (Docker-free) bundling of the domain layer: ``shared/prompter`` → ``python/prompter``.

    Lambda puts ``/opt/python`` on ``sys.path``, so the package must sit under ``python/`` in the
    layer. This copies the package and nothing else.

    Not done yet (a later issue): installing the runtime dependencies of pyproject.toml
    (aws-lambda-powertools, pydantic, SQLAlchemy, pg8000, alembic) into ``python/`` for
    manylinux aarch64 / CPython 3.12, and shipping compiled bytecode. Until then this layer holds
    only the domain package, and the functions cannot import their dependencies when deployed.
    """

    def __init__(self, source: Path = SHARED_DIR / DOMAIN_PACKAGE) -> None:
        self.source = source

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        if not (self.source / "__init__.py").is_file():
            raise FileNotFoundError(f"the domain package is missing: {self.source}")
        target = Path(output_dir) / "python" / self.source.name
        shutil.copytree(self.source, target, ignore=shutil.ignore_patterns(*ASSET_EXCLUDES))
        return True  # bundled locally: CDK never starts the Docker image


class PrompterFunctions(Construct):
    """The domain layer and one function per routed entry of ``FUNCTIONS`` (``self.functions``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        routes: Sequence[Route] = ROUTES,
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        self.layer = lambda_.LayerVersion(
            self,
            "DomainLayer",
            description="Prompter domain package (python/prompter)",
            code=lambda_.Code.from_asset(
                str(SHARED_DIR),
                exclude=ASSET_EXCLUDES,
                # Hash what is shipped, so any change to the copied package (or to the bundling)
                # produces a new layer version.
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(image=RUNTIME.bundling_image, local=CopyDomainPackage()),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
        )
        self.functions: dict[str, lambda_.Function] = {
            name: self.build_function(name) for name in functions_with_routes(routes)
        }

    def build_function(
        self,
        name: str,
        *,
        memory_size: int = API_MEMORY_MB,
        timeout: Duration = API_TIMEOUT,
        environment: Mapping[str, str] | None = None,
    ) -> lambda_.Function:
        """The one way a Prompter function is built: code from ``functions/<name>``, the domain layer,
        Python 3.12 on arm64, JSON logs kept one month, and the settings every function reads."""
        code_dir = FUNCTIONS_DIR / name
        if not (code_dir / "handler.py").is_file():
            raise FileNotFoundError(f"function {name!r} has no handler: {code_dir / 'handler.py'}")
        construct_id = "".join(part.capitalize() for part in name.split("_"))
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=LOG_RETENTION)
        return lambda_.Function(
            self,
            construct_id,
            description=f"Prompter {name} ({self.stage})",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(code_dir), exclude=ASSET_EXCLUDES),
            layers=[self.layer],
            memory_size=memory_size,
            timeout=timeout,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            # Lambda and API Gateway segments only; the X-Ray SDK stays out of the bundle.
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": f"prompter-{name}",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "PROMPTER_ENV": self.stage,
                "PROMPTER_REQUIRE_AUTH": "true",
                **(environment or {}),
            },
        )
