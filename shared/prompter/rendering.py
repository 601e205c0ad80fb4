"""Rendering ``{{var}}`` placeholders of a prompt template."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from prompter.errors import FieldError, InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


def placeholders(template: str) -> list[str]:
    """The variable names a template uses, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))


def render(template: str, variables: Mapping[str, str | None]) -> str:
    """Fill every placeholder; :class:`InvalidInput` names each missing variable."""
    missing = [name for name in placeholders(template) if variables.get(name) in (None, "")]
    if missing:
        raise InvalidInput(
            [
                FieldError(
                    ("runtime_vars", name),
                    f"the template uses {{{{{name}}}}} but no value was given",
                    "missing",
                )
                for name in missing
            ]
        )
    return PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]), template)


def run_variables(
    runtime_vars: Mapping[str, str], brand_name: str | None, country: str | None
) -> dict[str, str | None]:
    """``brand``/``brand_name`` and ``country`` from the run's fields; ``runtime_vars`` win."""
    return {"brand": brand_name, "brand_name": brand_name, "country": country, **runtime_vars}


def prompt_hash(rendered: str) -> str:
    return hashlib.sha256(rendered.encode("utf-8")).hexdigest()
