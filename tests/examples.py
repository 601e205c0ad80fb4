"""How many examples a property test draws: all it asks for, or the share
``PROMPTER_HYPOTHESIS_SHARE`` sets (``make test-3.13`` draws a quarter: that run checks the
interpreter, the main run the properties' depth)."""

from __future__ import annotations

import os

SHARE = float(os.environ.get("PROMPTER_HYPOTHESIS_SHARE", "1"))


def examples(wanted: int) -> int:
    return max(10, round(wanted * SHARE))
