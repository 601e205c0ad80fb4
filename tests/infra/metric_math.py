"""A CloudWatch metric-math evaluator for the expression forms the alarms and the dashboard use:
``+ - * /``, numbers, parentheses, ``FILL(m, value)``, ``PERIOD(m)``, comparisons (``>=`` and the
like, 1 when true and 0 when false) and ``IF(condition, then, else)``.

A missing datapoint is NaN while the expression is evaluated: arithmetic on it stays missing, as in
CloudWatch, unless ``FILL`` replaces it; ``IF`` takes the branch its condition selects, so a
division by zero in the branch not taken does not matter. A result that is missing or not finite
(a division by zero) is no datapoint: ``None``.
"""

from __future__ import annotations

import math
import re

import numpy as np

IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\b")
FUNCTIONS = {"FILL", "IF", "PERIOD"}


def _fill(value: np.float64, default: float) -> np.float64:
    return np.float64(default) if math.isnan(value) else value


def _if(condition: np.float64 | np.bool_, then: np.float64, otherwise: np.float64) -> np.float64:
    if isinstance(condition, np.floating) and math.isnan(condition):
        return np.float64(math.nan)
    return then if condition else otherwise


def operands(expression: str) -> set[str]:
    """The metric ids an expression reads."""
    return set(IDENTIFIER.findall(expression)) - FUNCTIONS


def evaluate(
    expression: str, values: dict[str, float | None], periods: dict[str, float] | None = None
) -> float | None:
    """``expression`` on one datapoint per id (None: no data); ``PERIOD(m)`` is m's period in
    seconds, from ``periods``."""
    unknown = operands(re.sub(r"PERIOD\(\w+\)", "", expression)) - set(values)
    assert not unknown, f"{expression}: no value for {sorted(unknown)}"
    text = re.sub(r"PERIOD\((\w+)\)", lambda m: repr(float((periods or {})[m.group(1)])), expression)
    text = re.sub(r"\bFILL\(", "_fill(", text)
    text = re.sub(r"\bIF\(", "_if(", text)
    names = {name: np.float64(math.nan if v is None else v) for name, v in values.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        result = eval(text, {"__builtins__": {}, "_fill": _fill, "_if": _if}, names)
    result = float(result)
    return result if math.isfinite(result) else None
