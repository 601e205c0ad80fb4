"""Measure the service levels of SPEC §7 and print them against their targets.

``python -m bench.run`` from the repository root with ``PYTHONPATH=.:shared`` (``make bench``).
One run starts a throw-away PostgreSQL 15 cluster and measures, one module each:

1. statements sent to the database per create (new), create (duplicate) and check-duplicate,
   counted with a SQLAlchemy ``before_cursor_execute`` listener on the handler's engine after a
   warm-up (and, on PostgreSQL, cross-checked by counting the messages pg8000 flushes to the socket);
   then, for every route on PostgreSQL, its statements and wire round trips (socket flushes), and the
   largest number of round trips per statement over all routes (target 1): ``bench.statements``;
2. warm overhead: median in-process create through ``lambda_handler`` over the framework floor
   (``bench.floor``: the same Powertools resolver, validation, Logger and Metrics running one
   pipelined ``INSERT ... ON CONFLICT``; SPEC §7: ≤ 1.5), bare pg8000 inserts beside it, with the
   create's time by layer: ``bench.warm``;
3. scale: every list, results and versions query at 100,000 rows (``BENCH_SCALE=large``: 1,000,000)
   over the same query at 1,000 rows (target ≤ 2 each): ``bench.scale``;
4. the VersionSweep's largest state at 3,000 targets over 300 (target ≤ 1.1) and its targets per
   second, executed by the local Step Functions interpreter: ``bench.scale``;
4b. throughput: a 600-answer batch, then two at once, through the local workflow against a server
   that enforces 600 requests a minute and answers 429 past them (≤ 1.15x the time the limit
   allows, no failed answer, ≤ 2 % of calls answered 429): ``bench.throughput``;
4c. cost per answer: 200 answers through the local workflow, synchronously then through OpenAI's
   Batch API (local servers): Prompter's AWS cost per 1,000 answers (measured invocations, durations,
   transitions and requests at list prices, ``bench.aws_prices``) over the provider's cost of them
   (≤ 0.02), and the batch answers' stored cost over the synchronous ones' (≤ 0.52): ``bench.cost``;
4d. storage: the bytes a stored result takes in Aurora at a 30 KB answer (its row as stored, analysis
   included, and its index entries; target ≤ 4,096), 600 results stored through ``POST .../run``
   against a local OpenAI-shaped server, the payloads in a folder: ``bench.storage``;
5. answer analysis at its largest (a 200 KB answer, 51 brands of 15 nested aliases: ≤ 200 ms and
   ≤ 50 MB) and for an ordinary answer: ``bench.analysis``;
6. cold start: each function's handler import over the import of the equivalent FastAPI +
   SQLAlchemy ORM + prometheus-client app (``bench.fastapi_app``), each timed inside fresh
   interpreters (start-up excluded), alternating, on compiled bytecode (target ≤ 0.70 each):
   ``bench.cold_start``.

``bench.common`` holds what they share (figures, the table, the bench environment).
Benchmarks report; they do not fail the build: the exit status is 0 whatever the verdicts.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bench.analysis import analysis_cost
from bench.cold_start import IMPORT_TIMER, cold_start, smoke_test_baseline
from bench.common import (
    BENCH_ENV,
    PYTHON,
    TEMPLATES,
    Figure,
    Measured,
    apply_env,
    compile_bytecode,
    migrated,
    print_table,
    section,
)
from bench.cost import cost_per_answer
from bench.scale import query_scale, sweep_scale
from bench.statements import count_statements, route_round_trips
from bench.storage import storage
from bench.throughput import throughput
from bench.warm import BARE_INSERT, warm_overhead

DISTRIBUTIONS = ("aws-lambda-powertools", "sqlalchemy", "pg8000", "pydantic", "fastapi", "prometheus-client")


def print_environment() -> None:
    section("Environment")
    print(f"python {platform.python_version()} ({PYTHON}) on {platform.platform()}")
    cpus = len(os.sched_getaffinity(0))
    load = os.getloadavg()
    print(f"CPUs: {os.cpu_count()} (usable: {cpus}); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if load[0] > cpus / 2:
        print("note: the machine is busy with other work: timings are noisier and slower than when idle")
    versions = []
    for dist in DISTRIBUTIONS:
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions.append(f"{dist} {version(dist)}")
    print(", ".join(versions))
    print("bench env: " + " ".join(f"{k}={v}" for k, v in BENCH_ENV.items()))
    print("command: PYTHONPATH=.:shared " + shlex.join([PYTHON, "-m", "bench.run"]))
    compiled = compile_bytecode()
    print("bytecode: " + shlex.join(compiled))


def report(figures: list[Figure], measured: Measured) -> None:
    """Keep a benchmark's figures and print its detail lines."""
    found, lines = measured
    figures += found
    print("\n".join(lines))


def main() -> int:
    apply_env()
    started = time.perf_counter()
    from local.pgcluster import running_cluster

    print_environment()
    figures: list[Figure] = []
    with running_cluster() as cluster, tempfile.TemporaryDirectory(prefix="prompter-bench-") as tmp:
        print(f"PostgreSQL: throw-away cluster on 127.0.0.1:{cluster.port} (fsync off)")
        # results' payloads (no bucket named) go to a folder of the run's, never the checkout's .data
        os.environ.setdefault("PROMPTER_PAYLOAD_DIR", str(Path(tmp) / "payloads"))
        pg_url = migrated(cluster.create_database("bench"))
        sqlite_url = migrated(f"sqlite:///{Path(tmp) / 'bench.db'}")

        section("1. Statements per request (SQLAlchemy before_cursor_execute, after warm-up)")
        details: list[str] = []
        for label, url in (("PostgreSQL", pg_url), ("SQLite", sqlite_url)):
            found, lines = count_statements(url, label)
            figures += found
            details += lines
        print("\n".join(details))

        section("1b. Every route's statements and wire round trips (PostgreSQL, warm, moto for AWS)")
        report(figures, route_round_trips(pg_url))

        section("2. Warm overhead (in-process create vs bare pg8000 insert, same cluster)")
        print(f"handler: lambda_handler(rest_event('POST', '{TEMPLATES}', body=<new config>), LambdaContext)")
        print(f"bare:    pg8000.native, unnamed and named-prepared: {BARE_INSERT[:90]}…")
        report(figures, warm_overhead(pg_url))

        section("3. Scale (each query at N rows / at 1,000 rows, PostgreSQL, on the stores)")
        report(figures, query_scale(cluster))

        section("4. VersionSweep at 300 and 3,000 targets (local Step Functions, PostgreSQL)")
        report(figures, sweep_scale(cluster))

        section("4b. Throughput at a provider's limit (local workflow, PostgreSQL, rate budget)")
        report(figures, throughput(cluster))

        section("4c. Cost per answer (local workflow, PostgreSQL, measured usage at AWS list prices)")
        report(figures, cost_per_answer(cluster))

        section("4d. Storage per result (PostgreSQL, a 30 KB answer, payloads out of the database)")
        report(figures, storage(cluster))

        section("Baseline check (bench.fastapi_app is a working equivalent)")
        fastapi_url = cluster.create_database("bench_fastapi")
        lines = smoke_test_baseline({"PostgreSQL": fastapi_url, "SQLite": f"sqlite:///{Path(tmp) / 'fa.db'}"})
        print("\n".join(lines))
        from prompter import runtime

        runtime.reset()

    section("5. Answer analysis (in process, no I/O)")
    report(figures, analysis_cost())

    section("6. Cold start (import time in fresh interpreters, start-up excluded)")
    print(
        "each: PYTHONPATH=.:shared "
        + shlex.join([PYTHON, "-c", IMPORT_TIMER, "<module>"]).replace("\n", "\\n")
    )
    report(figures, cold_start())

    section("Results")
    print_table(figures)
    missed = [f for f in figures if f.verdict == "MISS"]
    print(
        f"\n{len([f for f in figures if f.verdict == 'PASS'])} PASS, {len(missed)} MISS "
        f"(benchmarks report, they do not fail the build); took {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
