"""Rendering ``{{var}}`` placeholders of a prompt template."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from prompter.errors import FieldError, InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
# The largest prompt sent to a provider, however it was made (SPEC §3); it also keeps a batch's
# execution input and each country's state under Step Functions' 256 KB.
MAX_PROMPT_BYTES = 64 * 1024


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
    size = len(template.encode("utf-8"))
    for match in PLACEHOLDER.finditer(template):  # the size before building it: bounded work
        size += len(str(variables[match.group(1)]).encode("utf-8")) - len(match.group(0).encode("utf-8"))
        if size > MAX_PROMPT_BYTES:
            raise prompt_too_large(size, rendered=True)
    return PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]), template)


def check_prompt_size(prompt: str) -> str:
    """``prompt`` when it is at most :data:`MAX_PROMPT_BYTES` of UTF-8, else a 422."""
    size = len(prompt.encode("utf-8"))
    if size > MAX_PROMPT_BYTES:
        raise prompt_too_large(size, rendered=False)
    return prompt


def prompt_too_large(size: int, rendered: bool) -> InvalidInput:
    made = "the prompt rendered from the template and runtime_vars" if rendered else "the prompt"
    return InvalidInput(
        [
            FieldError(
                ("rendered_prompt",),
                f"{made} is {'over ' if rendered else ''}{size} bytes; the limit is {MAX_PROMPT_BYTES} "
                "bytes (64 KiB) of UTF-8",
                "too_long",
            )
        ]
    )


def run_variables(
    runtime_vars: Mapping[str, str], brand_name: str | None, country: str | None
) -> dict[str, str | None]:
    """``brand``/``brand_name`` and ``country`` from the run's fields; ``runtime_vars`` win."""
    return {"brand": brand_name, "brand_name": brand_name, "country": country, **runtime_vars}


def prompt_hash(rendered: str) -> str:
    return hashlib.sha256(rendered.encode("utf-8")).hexdigest()
