"""The HTTP route table: the one definition used by the function handlers, the local server, the
CDK app and the tests. Paths use API Gateway's ``{param}`` syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass

FUNCTIONS = ("create_template", "probe_provider", "store_result", "monitors")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    function: str
    operation_id: str
    summary: str
    authorized: bool = True
    # False for the pages a person reads (Swagger UI and its assets): routed and deployed like every
    # route, but not operations of the OpenAPI document (a generated client has no use for them).
    in_document: bool = True

    @property
    def resolver_path(self) -> str:
        """The path in Powertools' ``<param>`` syntax."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when ``method path`` is this route, else None."""
        if method.upper() != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


TEMPLATES = "/api/prompt-templates"

CREATE_TEMPLATE = Route("POST", TEMPLATES, "create_template", "createTemplate", "Create a template")
CHECK_DUPLICATE = Route(
    "POST",
    f"{TEMPLATES}/check-duplicate",
    "create_template",
    "checkDuplicate",
    "Is there an active template with this generation config?",
)
LIST_TEMPLATES = Route(
    "GET", TEMPLATES, "create_template", "listTemplates", "Active templates of a workspace"
)
HEALTH = Route(
    "GET", f"{TEMPLATES}/health", "create_template", "health", "Service and database health", authorized=False
)
GET_TEMPLATE = Route("GET", f"{TEMPLATES}/{{template_id}}", "create_template", "getTemplate", "One template")
DELETE_TEMPLATE = Route(
    "DELETE", f"{TEMPLATES}/{{template_id}}", "create_template", "deleteTemplate", "Soft-delete a template"
)
OPENAPI = Route(
    "GET", "/api/openapi.json", "create_template", "openapi", "This API's OpenAPI document", authorized=False
)
DOCS = Route(
    "GET",
    "/api/docs",
    "create_template",
    "docs",
    "Swagger UI for this API",
    authorized=False,
    in_document=False,
)
DOCS_SCRIPT = Route(
    "GET",
    "/api/docs/swagger-ui-bundle.js",
    "create_template",
    "docsScript",
    "Swagger UI's script, served by the API itself",
    authorized=False,
    in_document=False,
)
DOCS_STYLESHEET = Route(
    "GET",
    "/api/docs/swagger-ui.css",
    "create_template",
    "docsStylesheet",
    "Swagger UI's stylesheet, served by the API itself",
    authorized=False,
    in_document=False,
)

ENSURE_VERSION = Route(
    "POST",
    f"{TEMPLATES}/{{template_id}}/ensure-version",
    "probe_provider",
    "ensureVersion",
    "Probe the provider and record the model version that answers",
)
LIST_VERSIONS = Route(
    "GET",
    f"{TEMPLATES}/{{template_id}}/versions",
    "probe_provider",
    "listVersions",
    "Provider versions seen for a template, newest first",
)

RUN_ONCE = Route(
    "POST",
    f"{TEMPLATES}/{{template_id}}/run",
    "store_result",
    "runOnce",
    "Run the template for one country now and store the result",
)
START_RUNS = Route(
    "POST",
    f"{TEMPLATES}/{{template_id}}/runs",
    "store_result",
    "startRuns",
    "Run the template over its countries (or a subset) as a batch",
)
GET_RUN = Route("GET", "/api/runs/{run_id}", "store_result", "getRun", "A batch run's status, per country")
LIST_RESULTS = Route(
    "GET",
    f"{TEMPLATES}/{{template_id}}/results",
    "store_result",
    "listResults",
    "Stored results of a template, newest first",
)

GET_VISIBILITY = Route(
    "GET",
    f"{TEMPLATES}/{{template_id}}/visibility",
    "store_result",
    "getVisibility",
    "Brand visibility per version (or day) and country, with 95 % intervals",
)
GET_DRIFT = Route(
    "GET",
    f"{TEMPLATES}/{{template_id}}/drift",
    "store_result",
    "getDrift",
    "Did a new model version change how each brand appears, and where?",
)
GET_SOURCES = Route(
    "GET",
    f"{TEMPLATES}/{{template_id}}/sources",
    "store_result",
    "getSources",
    "The domains grounded answers cite most, and the searches their engines ran, per version and country",
)
WORKSPACES = "/api/workspaces"
MONITORS = "/api/monitors"
CREATE_MONITOR = Route(
    "POST",
    f"{WORKSPACES}/{{workspace_id}}/monitors",
    "monitors",
    "createMonitor",
    "Create a monitor: templates x targets run on a schedule, with alerts",
)
LIST_MONITORS = Route(
    "GET", f"{WORKSPACES}/{{workspace_id}}/monitors", "monitors", "listMonitors", "A workspace's monitors"
)
GET_MONITOR = Route(
    "GET", f"{MONITORS}/{{monitor_id}}", "monitors", "getMonitor", "One monitor (with its ETag)"
)
UPDATE_MONITOR = Route(
    "PATCH", f"{MONITORS}/{{monitor_id}}", "monitors", "updateMonitor", "Change a monitor (If-Match its ETag)"
)
DELETE_MONITOR = Route(
    "DELETE", f"{MONITORS}/{{monitor_id}}", "monitors", "deleteMonitor", "Delete a monitor and its schedule"
)
TRIGGER_MONITOR = Route(
    "POST", f"{MONITORS}/{{monitor_id}}/trigger", "monitors", "triggerMonitor", "Fire a monitor now"
)
WORKSPACE = f"{WORKSPACES}/{{workspace_id}}"
GET_WORKSPACE_VISIBILITY = Route(
    "GET",
    f"{WORKSPACE}/visibility",
    "store_result",
    "getWorkspaceVisibility",
    "A brand's visibility pooled over the workspace's templates, per version (or day) and country",
)
GET_MODEL_VERSIONS = Route(
    "GET",
    f"{WORKSPACE}/model-versions",
    "store_result",
    "getWorkspaceModelVersions",
    "The model versions that answered the workspace's templates, and when each changed",
)
GET_WORKSPACE_DRIFT = Route(
    "GET",
    f"{WORKSPACE}/drift",
    "store_result",
    "getWorkspaceDrift",
    "Did a new model version change how each brand appears across the workspace, and where?",
)
GET_WORKSPACE_COSTS = Route(
    "GET",
    f"{WORKSPACE}/costs",
    "store_result",
    "getWorkspaceCosts",
    "What the providers charged for the workspace's answers, per day, provider, model or monitor",
)
CREATE_EXPORT = Route(
    "POST",
    f"{WORKSPACE}/exports",
    "store_result",
    "createExport",
    "Export the workspace's answers, brand mentions and citations over a window of days as Parquet",
)
GET_EXPORT = Route(
    "GET", "/api/exports/{export_id}", "store_result", "getExport", "An export's status and files"
)
REANALYZE = Route(
    "POST",
    f"{TEMPLATES}/{{template_id}}/reanalyze",
    "store_result",
    "reanalyzeTemplate",
    "Re-analyse a template's stored answers with its workspace's current brand profile",
)
BRAND_PROFILE = f"{WORKSPACE}/brand-profile"
PUT_BRAND_PROFILE = Route(
    "PUT", BRAND_PROFILE, "create_template", "putBrandProfile", "Set a workspace's brand profile"
)
GET_BRAND_PROFILE = Route(
    "GET", BRAND_PROFILE, "create_template", "getBrandProfile", "A workspace's current brand profile"
)
ANALYSIS_PREVIEW = Route(
    "POST",
    "/api/analysis/preview",
    "create_template",
    "previewAnalysis",
    "Analyse an answer for a brand and its competitors, storing nothing",
)

ROUTES: tuple[Route, ...] = (
    CREATE_TEMPLATE,
    CHECK_DUPLICATE,
    LIST_TEMPLATES,
    HEALTH,
    GET_TEMPLATE,
    DELETE_TEMPLATE,
    OPENAPI,
    DOCS,
    DOCS_SCRIPT,
    DOCS_STYLESHEET,
    ENSURE_VERSION,
    LIST_VERSIONS,
    RUN_ONCE,
    START_RUNS,
    GET_RUN,
    LIST_RESULTS,
    GET_VISIBILITY,
    GET_DRIFT,
    GET_SOURCES,
    GET_WORKSPACE_VISIBILITY,
    GET_MODEL_VERSIONS,
    GET_WORKSPACE_DRIFT,
    GET_WORKSPACE_COSTS,
    CREATE_EXPORT,
    GET_EXPORT,
    REANALYZE,
    PUT_BRAND_PROFILE,
    GET_BRAND_PROFILE,
    ANALYSIS_PREVIEW,
    CREATE_MONITOR,
    LIST_MONITORS,
    GET_MONITOR,
    UPDATE_MONITOR,
    DELETE_MONITOR,
    TRIGGER_MONITOR,
)


def routes_of(function: str) -> tuple[Route, ...]:
    return tuple(r for r in ROUTES if r.function == function)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route serving ``method path`` (static paths win over parameterised ones, as in API Gateway)."""
    candidates = sorted(ROUTES, key=lambda r: len(r.path_params))
    for route in candidates:
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


def path_exists(path: str) -> bool:
    return any(r.match(r.method, path) is not None for r in ROUTES)


def methods_of(path: str) -> list[str]:
    """The methods some route answers on ``path`` (empty: no route has this path)."""
    return sorted({r.method for r in ROUTES if r.match(r.method, path) is not None})


# CORS: what a browser may send and read (the gateway's preflight, and the local server's).
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-Correlation-Id",
    "X-Amz-Date",
    "X-Amz-Security-Token",
)
# What a browser's script may read of an answer: the correlation id, a created run's Location, how
# long to wait after a 503 or 429, and the ETag a conditional write names.
CORS_EXPOSE_HEADERS = ("X-Correlation-Id", "Location", "Retry-After", "ETag")
CORS_MAX_AGE_SECONDS = 3600
