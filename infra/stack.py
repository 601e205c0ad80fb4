"""The Prompter stack: composes one construct per capability, and nothing else.

For now the API only (functions, domain layer, API Gateway, Cognito); the database, VPC, layer
dependencies, workflows and monitoring arrive in later issues.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.constructs.api import PrompterApi
from infra.constructs.functions import PrompterFunctions
from prompter.routes import ROUTES, Route


class PrompterStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        routes: Sequence[Route] = ROUTES,
        cors_allow_origins: Sequence[str] = ("*",),
        throttle_rate_limit: float = 50,
        throttle_burst_limit: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "prompter")
        Tags.of(self).add("stage", stage)

        self.functions = PrompterFunctions(self, "Functions", stage=stage, routes=routes)
        self.api = PrompterApi(
            self,
            "Api",
            stage=stage,
            functions=self.functions.functions,
            routes=routes,
            cors_allow_origins=cors_allow_origins,
            throttle_rate_limit=throttle_rate_limit,
            throttle_burst_limit=throttle_burst_limit,
        )

        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="Base URL of the API stage")
        CfnOutput(self, "UserPoolId", value=self.api.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.api.client.user_pool_client_id)
