"""Build the OpenAPI document from the function handlers' routes (``make openapi`` writes it).

Each function's resolver describes its own routes; the document of the whole API merges them.
The result is shipped in the layer (``prompter/openapi.json``) and served at ``/api/openapi.json``;
a test fails when the shipped copy differs from what the code generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.apigw import handler_module
from prompter.routes import FUNCTIONS, ROUTES

TITLE = "Prompter"
VERSION = "1.0.0"
DESCRIPTION = (
    "Registry of LLM prompt templates used to monitor how brands appear in LLM answers: one active "
    "template per generation config in each brand workspace, provider version tracking, per-country runs."
)
SHIPPED = Path(__file__).resolve().parents[1] / "shared" / "prompter" / "openapi.json"


def build_document() -> dict[str, Any]:
    document: dict[str, Any] = {}
    for function in FUNCTIONS:
        if not any(r.function == function for r in ROUTES):
            continue
        app = handler_module(function).app
        part = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION, description=DESCRIPTION))
        if not document:
            document = part
            continue
        document["paths"].update(part.get("paths", {}))
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(part.get("components", {}).get("schemas", {}))
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    SHIPPED.write_text(render(build_document()), encoding="utf-8")
    print(f"wrote {SHIPPED.relative_to(Path.cwd()) if SHIPPED.is_relative_to(Path.cwd()) else SHIPPED}")


if __name__ == "__main__":
    main()
