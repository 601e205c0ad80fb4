"""The README's settings table names every variable the functions read (one per settings field) and,
for a bounded one, its bounds as the code has them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from annotated_types import Ge, Gt, Le, MaxLen, MinLen
from pydantic import SecretStr

from prompter import settings
from tests.conftest import TESTS

README = (TESTS.parent / "README.md").read_text(encoding="utf-8")


def classes(base: type[Any]) -> Iterator[type[Any]]:
    for sub in base.__subclasses__():
        yield sub
        yield from classes(sub)


FIELDS = sorted(
    {
        (cls.env_key(name), name): field
        for cls in classes(settings._EnvModel)
        for name, field in cls.model_fields.items()
    }.items()
)


def row(variable: str) -> str:
    """The table row whose first cell names ``variable``."""
    for line in README.splitlines():
        if line.startswith("| ") and f"`{variable}`" in line.split(" | ")[0]:
            return line
    raise AssertionError(f"{variable} is not in the README's settings table")


def bounds(field: Any) -> str | None:
    """``1 to 50``, ``more than 0, at most 30``, ``at least 1024``, ``1 to 200 characters``: how the
    README writes a field's bounds."""
    low = next((f"{m.ge}" for m in field.metadata if isinstance(m, Ge)), None)
    above = next((f"{m.gt}" for m in field.metadata if isinstance(m, Gt)), None)
    high = next((f"{m.le}" for m in field.metadata if isinstance(m, Le)), None)
    if low and high:
        return f"{low} to {high}"
    if above and high:
        return f"more than {above}, at most {high}"
    if low:
        return f"at least {low}"
    shortest = next((m.min_length for m in field.metadata if isinstance(m, MinLen)), None)
    longest = next((m.max_length for m in field.metadata if isinstance(m, MaxLen)), None)
    if shortest is not None and longest is not None:
        return f"{shortest} to {longest} characters"
    if field.metadata:
        raise AssertionError(f"no README wording for the bounds {field.metadata}: add one here")
    return None


@pytest.mark.parametrize(
    ("key", "field"), [(key, field) for (key, _), field in FIELDS], ids=[k for (k, _), _ in FIELDS]
)
def test_every_setting_is_in_the_table_with_its_bounds(key: str, field: Any) -> None:
    line = row(key)
    expected = bounds(field)
    if expected is not None:
        assert re.search(rf"\({re.escape(expected)}\)", line), (
            f"{key}: the row should say ({expected}): {line}"
        )


@pytest.mark.parametrize(
    "cls", sorted(classes(settings._EnvModel), key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_a_settings_problem_names_the_variable_never_its_value(cls: type[Any]) -> None:
    """`make dev` prints these lines; a value may be a password (DATABASE_URL) or a key."""
    canary = "s3cret-Canary"
    environ = {cls.env_key(name): canary for name in cls.model_fields}
    problems = cls.problems(environ)
    assert all(canary not in line for line in problems), problems
    # every field but a text one refuses the canary, each in a line of its own
    text = (str, str | None, SecretStr | None)
    typed = [name for name, field in cls.model_fields.items() if field.annotation not in text]
    assert {line.split(":")[0] for line in problems} == {cls.env_key(name) for name in typed}
