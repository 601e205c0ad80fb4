"""What every benchmark shares: the figures and their table, the bench environment, the request
bodies, and the helpers that point the functions at a database and keep their output quiet."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TEMPLATES = "/api/prompt-templates"
CHECK_DUPLICATE = f"{TEMPLATES}/check-duplicate"

# Quiet but realistic: logging at WARNING (nothing is logged on success), metrics enabled (EMF is
# serialised and printed as in Lambda; stdout is sent to /dev/null during the timed loop).
# POWERTOOLS_METRICS_DISABLED is not used: Powertools 3.x then skips the flush *and* the clear, so
# the metric set grows and is printed every 100 values, which is neither quiet nor realistic.
BENCH_ENV = {
    "POWERTOOLS_SERVICE_NAME": "prompter",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "LOG_LEVEL": "WARNING",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PROMPTER_ENV": "bench",
}

# The "base" request of shared/vectors/identity.json.
BASE_REQUEST: dict[str, Any] = {
    "workspace_id": "ws-avea",
    "name": "AVEA top brands",
    "system_instructions": "Be concise.",
    "user_prompt_template": "List top 10 longevity supplement brands.",
    "country_set": ["US", "GB"],
    "model_id": "gpt-4o",
    "inference_params": {"temperature": 0.7, "max_tokens": 128},
    "tools_spec": [],
    "response_format": {"type": "text"},
}


def request_body(tag: str) -> dict[str, Any]:
    """A create body whose generation config (and so its hash) is unique to ``tag``."""
    return {**BASE_REQUEST, "user_prompt_template": f"{BASE_REQUEST['user_prompt_template']} [{tag}]"}


# ---------------------------------------------------------------- results


@dataclass
class Figure:
    section: str
    name: str
    measured: float
    unit: str
    target: float | None = None  # upper bound; None: printed for information
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.measured / self.target if self.target else None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "info"
        return "PASS" if self.measured <= self.target else "MISS"


Measured = tuple[list[Figure], list[str]]  # a benchmark's figures and its detail lines


def fmt(value: float, unit: str) -> str:
    if unit in ("stmts", "RT"):
        return f"{value:g}"
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "ratio":  # a share well below 1: four places
        return f"{value:.4f}"
    return f"{value:.2f}{unit}"


def print_table(figures: list[Figure]) -> None:
    head = ("Figure", "Measured", "Target", "Ratio", "Verdict")
    rows = []
    for f in figures:
        target = f"≤ {fmt(f.target, f.unit)}" if f.target is not None else "-"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "-"
        rows.append((f"{f.section}: {f.name}", fmt(f.measured, f.unit), target, ratio, f.verdict))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    notes = [f for f in figures if f.note]
    if notes:
        print()
        for f in notes:
            print(f"  {f.section}: {f.name}: {f.note}")


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def median_ms(values_ns: Iterable[int]) -> float:
    return statistics.median(values_ns) / 1e6


def percentile(values_ns: list[int], pct: int) -> float:
    ordered = sorted(values_ns)
    return ordered[min(len(ordered) - 1, len(ordered) * pct // 100)] / 1e6


# ---------------------------------------------------------------- set-up


def apply_env() -> None:
    for key, value in BENCH_ENV.items():
        os.environ.setdefault(key, value)


def child_env() -> dict[str, str]:
    env = {**os.environ, **BENCH_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "shared")])
    env.pop("DATABASE_URL", None)
    return env


def compile_bytecode() -> list[str]:
    command = [PYTHON, "-m", "compileall", "-q", "shared", "functions", "local", "bench"]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return command


def migrated(url: str) -> str:
    from sqlalchemy import create_engine

    from prompter.db.migrate import upgrade

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    upgrade(engine)
    engine.dispose()
    return url


def use_database(url: str) -> Any:
    """Point the handler at ``url`` and return the handler module with fresh settings/engine."""
    from prompter import runtime

    os.environ["DATABASE_URL"] = url
    runtime.reset()
    import functions.create_template.handler as handler

    return handler


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send stdout (Powertools' EMF metric lines) to /dev/null: still serialised and written."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables (and fresh settings and engines) for the block, then put back what
    was there."""
    from prompter import runtime

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    runtime.reset()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        runtime.reset()
