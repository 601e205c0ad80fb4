"""Swagger UI, served by the API itself: the page and the script and stylesheet it loads, from the
copy of Swagger UI that Powertools ships (in the layer already), so the docs work with no network
beyond the API: no CDN, nothing fetched from elsewhere.

Every URL on the page is relative to it (``/api/docs``, or ``/<stage>/api/docs`` behind the gateway):
the assets are ``docs/<file>`` and the document is ``openapi.json`` beside it.
"""

from __future__ import annotations

import functools
import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response

from prompter import routes

# route -> (Powertools' file, content type)
ASSETS = {
    routes.DOCS_SCRIPT: ("swagger-ui-bundle.min.js", "text/javascript; charset=utf-8"),
    routes.DOCS_STYLESHEET: ("swagger-ui.min.css", "text/css; charset=utf-8"),
}
ASSET_PACKAGE = "aws_lambda_powertools.event_handler.openapi.swagger_ui"
# The assets change only with a new layer (a new deployment); the page is always fetched anew.
ASSET_CACHE_CONTROL = "public, max-age=86400"
PAGE_CACHE_CONTROL = "no-cache"


def _relative(route: routes.Route) -> str:
    """``route``'s path relative to the page's directory (the page is ``/api/docs``)."""
    return route.path.removeprefix(routes.DOCS.path.rsplit("/", 1)[0] + "/")


# Behind the gateway the page is ``/<stage>/api/docs`` while the document's paths start at ``/api``:
# "Try it out" requests to this origin get the page's prefix (none locally).
_DOCS_PATTERN = routes.DOCS.path.replace("/", "\\/")  # the page's path as a JavaScript regex
PREFIX_SCRIPT = f"""
var prefix = window.location.pathname.replace(/{_DOCS_PATTERN}\\/?$/, "");
function withPrefix(request) {{
  var url = new URL(request.url, window.location.href);
  if (prefix && url.origin === window.location.origin && !url.pathname.startsWith(prefix + "/")) {{
    url.pathname = prefix + url.pathname;
    request.url = url.href;
  }}
  return request;
}}
"""

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Prompter API</title>
<link rel="stylesheet" href="{_relative(routes.DOCS_STYLESHEET)}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_relative(routes.DOCS_SCRIPT)}"></script>
<script>{PREFIX_SCRIPT}
window.ui = SwaggerUIBundle({{
  url: "{_relative(routes.OPENAPI)}",
  dom_id: "#swagger-ui",
  docExpansion: "list",
  deepLinking: true,
  validatorUrl: null,
  requestInterceptor: withPrefix
}});
</script>
</body>
</html>
"""


@functools.cache
def asset(route: routes.Route) -> tuple[str, str]:
    """(body, content type) of a Swagger UI asset, read once per execution environment."""
    from importlib import resources  # only these routes read a resource: not paid at start-up

    name, content_type = ASSETS[route]
    return resources.files(ASSET_PACKAGE).joinpath(name).read_text(encoding="utf-8"), content_type


def page_response() -> Response[str]:
    """Swagger UI's page, as the route answers it."""
    return Response(
        status_code=HTTPStatus.OK,
        content_type="text/html; charset=utf-8",
        body=PAGE,
        headers={"Cache-Control": PAGE_CACHE_CONTROL},
    )


def asset_response(route: routes.Route) -> Response[str]:
    """One of Swagger UI's assets, as its route answers it (cached a day)."""
    body, content_type = asset(route)
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_type,
        body=body,
        headers={"Cache-Control": ASSET_CACHE_CONTROL},
    )


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The shipped OpenAPI document (``prompter/openapi.json``), read on first use."""
    from importlib import resources

    return json.loads(resources.files("prompter").joinpath("openapi.json").read_text("utf-8"))
