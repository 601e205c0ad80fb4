"""Swagger UI in a real browser: headless Chromium loads ``/api/docs`` from the local server with every
host but the server unreachable, and renders every operation of the document from the assets the
API serves itself. The screenshot is kept as a test artefact (``test-artifacts/swagger-ui.png``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompter.routes import DOCS, OPENAPI, ROUTES
from tests.local_process import ROOT, ServerProcess, local_server

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
ARTIFACTS = Path(os.environ.get("PROMPTER_TEST_ARTIFACTS", ROOT / "test-artifacts"))
# Every name resolves to nothing except the local server's address: the network is off for the page.
OFFLINE = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
RENDERED_OPERATION = re.compile(r'id="operations-(?!tag-)[\w-]+?-(\w+)"')


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium: `make test` installs Debian's chromium (scripts/ensure-chromium.sh) as root")


def render(url: str, profile: Path, screenshot: Path | None = None) -> str:
    """The page's DOM once its scripts ran (and, with ``screenshot``, a PNG of it)."""
    profile.mkdir(parents=True, exist_ok=True)
    command = [
        browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--host-resolver-rules={OFFLINE}",
        "--virtual-time-budget=20000",
        "--window-size=1280,2400",
        *([f"--screenshot={screenshot}"] if screenshot else []),
        "--dump-dom",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, cwd=profile)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def documented_operations(base_url: str) -> set[str]:
    with urllib.request.urlopen(base_url + OPENAPI.path, timeout=10) as reply:
        document = json.load(reply)
    return {op["operationId"] for item in document["paths"].values() for op in item.values()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    browser()  # skip before starting a server when there is no browser
    with local_server(tmp_path_factory.mktemp("docs")) as running:
        yield running


def test_swagger_ui_renders_every_operation_offline(server: ServerProcess, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "swagger-ui.png"
    screenshot.unlink(missing_ok=True)
    dom = render(server.url + DOCS.path, tmp_path / "profile", screenshot)
    expected = documented_operations(server.url)
    assert expected == {r.operation_id for r in ROUTES if r.in_document}
    assert set(RENDERED_OPERATION.findall(dom)) == expected
    assert "Prompter" in dom
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


def test_the_same_page_with_its_assets_on_a_cdn_renders_nothing(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The control: with the network off, a page that loads Swagger UI from elsewhere (as the docs
    once did) renders no operation, so the test above proves the assets come from the API."""
    with urllib.request.urlopen(server.url + DOCS.path, timeout=10) as reply:
        page = reply.read().decode()
    cdn = page.replace('href="docs/', 'href="https://unpkg.com/swagger-ui-dist@5/').replace(
        'src="docs/', 'src="https://unpkg.com/swagger-ui-dist@5/'
    )
    assert cdn != page
    copy = tmp_path / "cdn.html"
    copy.write_text(cdn.replace('url: "openapi.json"', f'url: "{server.url}{OPENAPI.path}"'))
    dom = render(copy.as_uri(), tmp_path / "profile")
    assert RENDERED_OPERATION.findall(dom) == []
